# The Cloudcoin node in a container: `docker build -t cloudcoin .` then
#   docker run -v cloudcoin-data:/data -p 127.0.0.1:8645:8645 -p 8646:8646 cloudcoin
# The home (genesis, keys, chain data) is the /data volume. Without a genesis.json there, the node
# joins the embedded devnet. The RPC listens on all interfaces inside the container: publish its
# port on loopback only (as above) unless you mean to serve it, and set tokens for the sign and
# admin tiers (CLOUDCOIN_RPC_TOKENS).
FROM node:20-bookworm-slim
WORKDIR /opt/cloudcoin
# sources first: npm ci's prepare step compiles them to dist/ (TypeScript is a dev dependency,
# pruned after the build), so the CLI in the container runs JavaScript, not tsx
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY scripts/build.mjs ./scripts/
COPY bin ./bin
COPY common ./common
COPY primitives ./primitives
COPY proofs ./proofs
COPY chain ./chain
COPY modules ./modules
COPY genesis ./genesis
COPY p2p ./p2p
COPY rpc ./rpc
COPY node ./node
COPY plugins ./plugins
RUN npm ci --no-audit --no-fund && test -f dist/BUILD && npm prune --omit=dev && npm cache clean --force
RUN mkdir -p /data && chown node:node /data
USER node
ENV CLOUDCOIN_HOME=/data
VOLUME /data
EXPOSE 8645 8646
# --max-semi-space-size=32: a young generation that stays large under RPC load (docs/operator-guide.md, Memory)
ENTRYPOINT ["node", "--max-semi-space-size=32", "bin/cloudcoin.js"]
CMD ["start", "--rpc-host", "0.0.0.0", "--p2p-listen", "/ip4/0.0.0.0/tcp/8646", "--log-format", "json"]
