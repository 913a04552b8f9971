# The Cloudcoin node in a container: `docker build -t cloudcoin .` then
#   docker run -v cloudcoin-data:/data -p 127.0.0.1:8645:8645 -p 8646:8646 cloudcoin
# The home (genesis, keys, chain data) is the /data volume. Without a genesis.json there, the node
# joins the embedded devnet. The RPC listens on all interfaces inside the container: publish its
# port on loopback only (as above) unless you mean to serve it, and set tokens for the sign and
# admin tiers (CLOUDCOIN_RPC_TOKENS).
FROM node:20-bookworm-slim
WORKDIR /opt/cloudcoin
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force
COPY bin ./bin
COPY primitives ./primitives
COPY proofs ./proofs
COPY chain ./chain
COPY modules ./modules
COPY genesis ./genesis
COPY p2p ./p2p
COPY rpc ./rpc
COPY node ./node
COPY plugins ./plugins
RUN mkdir -p /data && chown node:node /data
USER node
ENV CLOUDCOIN_HOME=/data
VOLUME /data
EXPOSE 8645 8646
ENTRYPOINT ["node", "bin/cloudcoin.js"]
CMD ["start", "--rpc-host", "0.0.0.0", "--p2p-listen", "/ip4/0.0.0.0/tcp/8646", "--log-format", "json"]
