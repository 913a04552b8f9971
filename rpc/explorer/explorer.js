// The Cloudcoin explorer: a static page served by the node that reads ONLY the public JSON-RPC
// (read-tier methods, POST to the same origin). Views are addressed by the URL hash:
//   #/  #/block/<height|hash>  #/tx/<hash>  #/account/<address>  #/channel/<id>
//   #/providers[/<cursor>]  #/provider/<address>[/<deal cursor>]  #/deal/<id>  #/order/<id>
// Lists page with the cursor their method returns (nextCursor), PAGE entries a page.
const view = document.getElementById("view");
let nextId = 1;

async function rpc(method, params = {}) {
  const res = await fetch("/", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: nextId++, method, params }) });
  const body = await res.json();
  if (body.error) throw new Error(`${method}: ${body.error.message}${body.error.data?.code ? ` (${body.error.data.code})` : ""}`);
  return body.result;
}

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
const clc = (units) => {
  const u = BigInt(units);
  const frac = (u % 1000000000n).toString().padStart(9, "0").replace(/0+$/, "");
  return `${u / 1000000000n}${frac ? "." + frac : ""} CLC`;
};
const link = (kind, id, text = id) => `<a href="#/${kind}/${encodeURIComponent(id)}" data-kind="${kind}" class="mono">${esc(text)}</a>`;
const rows = (pairs) => `<table>${pairs.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${v}</td></tr>`).join("")}</table>`;
const time = (ms) => (ms ? new Date(ms).toISOString().replace("T", " ").replace(".000Z", "Z") : "");
const PAGE = 20;
const units = (id, v) => `<span id="${id}" data-units="${esc(v)}">${clc(v)}</span>`;
const text = (id, v) => `<span id="${id}">${esc(v)}</span>`;
const percent = (bps) => `${(bps / 100).toFixed(2)}%`;
const bytes = (n) => `${BigInt(n).toLocaleString("en-US")} bytes`;

async function home() {
  const [status, vals] = await Promise.all([rpc("node_status"), rpc("chain_getValidators")]);
  const top = status.head.height;
  const blocks = [];
  for (let h = top; h >= Math.max(1, top - 9); h--) blocks.push(rpc("chain_getBlock", { height: h }));
  const list = (await Promise.all(blocks)).filter(Boolean);
  return `
    <h2>Latest blocks</h2>
    <table id="blocks"><tr><th>height</th><th>hash</th><th>txs</th><th>time</th></tr>
    ${list.map((b) => `<tr><td>${link("block", b.header.height)}</td><td>${link("block", b.header.hash)}</td><td class="txcount">${b.txs.length}</td><td>${time(b.header.time)}</td></tr>`).join("")}
    </table>
    <h2>Validators for height ${vals.height}</h2>
    <table id="validators"><tr><th>address</th><th>name</th><th>power</th></tr>
    ${vals.validators.map((v) => `<tr><td>${link("account", v.address)}</td><td>${esc(v.name)}</td><td>${clc(v.power)}</td></tr>`).join("")}
    </table>`;
}

async function block(id) {
  const b = /^[0-9]+$/.test(id) ? await rpc("chain_getBlock", { height: Number(id), full: true }) : await rpc("chain_getBlock", { hash: id, full: true });
  if (!b) return `<p class="error">No block ${esc(id)}.</p>`;
  const h = b.header;
  return `
    <h2>Block ${esc(h.height)}</h2>
    ${rows([["hash", `<span class="mono" id="block-hash">${esc(h.hash)}</span>`], ["time", time(h.time)], ["proposer", link("account", h.proposer)],
      ["parent", h.height > 1 ? link("block", h.height - 1, h.parentHash) : `<span class="mono">${esc(h.parentHash)}</span>`], ["state root", `<span class="mono">${esc(h.stateRoot)}</span>`],
      ["commit signatures", String(b.lastCommit ? b.lastCommit.signatures.length : 0)], ["evidence", String(b.evidence.length)]])}
    <h2>Transactions (${b.txs.length})</h2>
    <table id="txs"><tr><th>hash</th><th>from</th><th>operation</th></tr>
    ${b.txs.map((t) => `<tr><td>${link("tx", t.hash)}</td><td>${link("account", t.sender)}</td><td>${esc(t.op.type)}${t.op.amount ? " " + clc(t.op.amount) : ""}</td></tr>`).join("")}
    </table>`;
}

async function tx(hash) {
  const r = await rpc("tx_get", { hash });
  if (r.status === "unknown") return `<p class="error">Unknown transaction ${esc(hash)}.</p>`;
  const t = r.tx;
  const op = t.op;
  const opRows = Object.entries(op).filter(([k]) => k !== "type").map(([k, v]) => [k, k === "to" || k === "payee" ? link("account", v) : k === "channel" ? link("channel", v) : k === "deal" ? link("deal", v) : /amount|deposit/.test(k) ? clc(v) : esc(typeof v === "object" ? JSON.stringify(v) : v)]);
  return `
    <h2>Transaction</h2>
    ${rows([["hash", `<span class="mono">${esc(r.hash)}</span>`], ["status", `<span id="tx-status">${esc(r.status)}</span>`], ["block", r.height ? link("block", r.height) : ""],
      ["from", link("account", t.sender)], ["operation", `<span id="tx-op">${esc(op.type)}</span>`], ...opRows, ["fee", clc(t.fee)], ["nonce", esc(t.nonce)],
      ["result", r.receipt ? (r.receipt.ok ? "ok" : `<span class="error">${esc(r.receipt.code)}</span>`) : "pending"]])}`;
}

async function account(address) {
  const [a, txs, paid, payee, provider] = await Promise.all([
    rpc("state_getAccount", { address }), rpc("tx_listByAddress", { address, limit: 20 }),
    rpc("paych_list", { payer: address, limit: 20 }), rpc("paych_list", { payee: address, limit: 20 }), rpc("provider_get", { address }),
  ]);
  const channels = [...paid.channels, ...payee.channels];
  const providerRow = provider ? [["provider", `<a id="account-provider" href="#/provider/${encodeURIComponent(provider.address)}" data-kind="provider">${esc(provider.kind)} provider, ${esc(provider.status)}</a>`]] : [];
  return `
    <h2>Account</h2>
    ${rows([["address", `<span class="mono" id="account-address">${esc(a.address)}</span>`], ["balance", `<span id="account-balance" data-units="${esc(a.balance)}">${clc(a.balance)}</span>`],
      ["staked", clc(a.staked)], ["nonce", esc(a.nonce)], ["as of height", esc(a.height)], ...providerRow])}
    <h2>Transactions</h2>
    <table id="account-txs"><tr><th>hash</th><th>block</th><th>operation</th><th>result</th></tr>
    ${txs.txs.map((t) => `<tr><td>${link("tx", t.hash)}</td><td>${link("block", t.height)}</td><td>${esc(t.tx.op.type)}</td><td>${t.receipt.ok ? "ok" : esc(t.receipt.code)}</td></tr>`).join("")}
    </table>
    <h2>Payment channels</h2>
    <table><tr><th>channel</th><th>payer</th><th>payee</th><th>deposit</th><th>state</th></tr>
    ${channels.map((c) => `<tr><td>${link("channel", c.id)}</td><td>${link("account", c.payer)}</td><td>${link("account", c.payee)}</td><td>${clc(c.deposit)}</td><td>${esc(c.state)}</td></tr>`).join("")}
    </table>`;
}

async function channel(id) {
  const c = await rpc("paych_get", { channel: id });
  if (!c) return `<p class="error">No channel ${esc(id)}.</p>`;
  return `<h2>Payment channel</h2>${rows([["id", `<span class="mono">${esc(c.id)}</span>`], ["payer", link("account", c.payer)], ["payee", link("account", c.payee)],
    ["deposit", clc(c.deposit)], ["redeemed", clc(c.redeemed)], ["remaining", clc(c.remaining)], ["state", esc(c.state)], ["settle delay", `${esc(c.settleDelay)} blocks`]])}`;
}

// Storage and bandwidth providers, exited ones included, in public-key order.
async function providers(cursor) {
  const page = await rpc("provider_list", { includeExited: true, limit: PAGE, ...(cursor ? { cursor } : {}) });
  return `
    <h2>Providers</h2>
    <table id="providers"><tr><th>address</th><th>kind</th><th>status</th><th>collateral</th><th>capacity</th><th>reputation</th><th>banned</th></tr>
    ${page.providers.map((p) => `<tr data-address="${esc(p.address)}"><td>${link("provider", p.address)}</td><td class="kind">${esc(p.kind)}</td><td class="status">${esc(p.status)}</td>
      <td class="collateral" data-units="${esc(p.collateral)}">${clc(p.collateral)}</td><td class="capacity" data-bytes="${esc(p.capacity)}">${bytes(p.capacity)}</td>
      <td class="reputation" data-bps="${esc(p.reputationBps)}">${percent(p.reputationBps)}</td><td class="banned">${p.banned ? `yes (until epoch ${esc(p.bannedUntil)})` : "no"}</td></tr>`).join("")}
    </table>
    ${page.providers.length === 0 ? `<p class="muted">No providers${cursor ? " after this one" : ""}.</p>` : ""}
    <p>${cursor ? `<a href="#/providers">first page</a> ` : ""}${page.nextCursor ? `<a id="providers-next" href="#/providers/${esc(page.nextCursor)}">next page</a>` : ""}</p>`;
}

async function provider(address, dealCursor) {
  const [p, deals] = await Promise.all([
    rpc("provider_get", { address }),
    rpc("storage_listDeals", { provider: address, limit: PAGE, ...(dealCursor ? { cursor: dealCursor } : {}) }),
  ]);
  if (!p) return `<p class="error">${esc(address)} is not a provider.</p>`;
  return `
    <h2>Provider</h2>
    ${rows([["address", `<span class="mono" id="provider-address">${esc(p.address)}</span> (${link("account", p.address, "account")})`], ["kind", text("provider-kind", p.kind)],
      ["status", text("provider-status", p.status)], ["collateral", units("provider-collateral", p.collateral)], ["locked for deals", units("provider-locked", p.locked)],
      ["free collateral", units("provider-free", p.freeCollateral)], ["capacity", `<span id="provider-capacity" data-bytes="${esc(p.capacity)}">${bytes(p.capacity)}</span>`],
      ["used", `<span id="provider-used" data-bytes="${esc(p.used)}">${bytes(p.used)}</span>`], ["active deals", text("provider-active-deals", p.activeDeals)],
      ["reputation", `<span id="provider-reputation" data-bps="${esc(p.reputationBps)}">${percent(p.reputationBps)}</span>`],
      ["banned", `<span id="provider-banned">${p.banned ? `yes (until epoch ${esc(p.bannedUntil)})` : "no"}</span>`], ["strikes", esc(p.strikes)],
      ["multiaddr", `<span class="mono">${esc(p.multiaddr)}</span>`], ["registered at", link("block", p.registeredAt)]])}
    <h2>Storage deals</h2>
    <table id="provider-deals"><tr><th>deal</th><th>client</th><th>size</th><th>price per epoch</th><th>status</th><th>epochs challenged / missed</th></tr>
    ${deals.deals.map((d) => `<tr><td>${link("deal", d.id)}</td><td>${link("account", d.client)}</td><td>${bytes(d.size)}</td><td>${clc(d.pricePerEpoch)}</td><td>${esc(d.status)}</td><td>${esc(d.challenged)} / ${esc(d.misses)}</td></tr>`).join("")}
    </table>
    <p>${dealCursor ? `<a href="#/provider/${encodeURIComponent(p.address)}">first page</a> ` : ""}${deals.nextCursor ? `<a id="deals-next" href="#/provider/${encodeURIComponent(p.address)}/${esc(deals.nextCursor)}">next page</a>` : ""}</p>`;
}

async function deal(id) {
  const d = await rpc("storage_getDeal", { id });
  if (!d) return `<p class="error">No deal ${esc(id)}.</p>`;
  return `
    <h2>Storage deal</h2>
    ${rows([["id", `<span class="mono" id="deal-id">${esc(d.id)}</span>`], ["status", text("deal-status", d.status)],
      ["client", link("account", d.client)], ["provider", `<a id="deal-provider" href="#/provider/${encodeURIComponent(d.provider)}" data-kind="provider" class="mono">${esc(d.provider)}</a>`],
      ["root", `<span class="mono" id="deal-root">${esc(d.root)}</span>`], ["size", `<span id="deal-size" data-bytes="${esc(d.size)}">${bytes(d.size)}</span>`],
      ["chunks", `${esc(d.chunkCount)} of ${esc(d.chunkSize)} bytes`], ["price per epoch", units("deal-price", d.pricePerEpoch)],
      ["duration", `${esc(d.durationEpochs)} epochs from epoch ${esc(d.startEpoch)}`], ["escrow left", units("deal-escrow", d.escrow)],
      ["collateral", units("deal-collateral", d.collateral)], ["collateral left", units("deal-collateral-left", d.collateralLeft)],
      ["epochs challenged", text("deal-challenged", d.challenged)], ["epochs missed", text("deal-misses", d.misses)],
      ["last proven epoch", d.lastProvenEpoch === null ? "none yet" : esc(d.lastProvenEpoch)], ["made at", link("block", d.createdAt)],
      ["ended at", d.endedAt === null ? "" : link("block", d.endedAt)],
      ["placed by", d.order ? `<a id="deal-order" href="#/order/${esc(d.order)}" data-kind="order" class="mono">storage order ${esc(d.order)}</a>`
        : `<span id="deal-order">direct deal (paid its price only)</span>`]])}`;
}

async function order(id) {
  const o = await rpc("storage_getOrder", { id });
  if (!o) return `<p class="error">No storage order ${esc(id)}.</p>`;
  return `
    <h2>Storage order</h2>
    ${rows([["id", `<span class="mono" id="order-id">${esc(o.id)}</span> (${link("tx", o.id, "transaction")})`], ["status", text("order-status", o.status)],
      ["client", link("account", o.client)], ["root", `<span class="mono" id="order-root">${esc(o.root)}</span>`],
      ["size", `<span id="order-size" data-bytes="${esc(o.size)}">${bytes(o.size)}</span>`], ["chunk size", `${esc(o.chunkSize)} bytes`],
      ["replicas", `<span id="order-replicas">${esc(o.accepted)} of ${esc(o.replicas)} accepted, ${esc(o.pending)} pending</span>`],
      ["price per replica-epoch", units("order-price", o.pricePerEpoch)], ["duration", `${esc(o.durationEpochs)} epochs`],
      ["escrow held", units("order-escrow", o.escrow)], ["placed", `from epoch ${esc(o.firstPlacementEpoch)}; closes after epoch ${esc(o.closeEpoch)}`],
      ["made at", link("block", o.createdAt)]])}
    <h2>Placements</h2>
    <table id="order-placements"><tr><th>provider</th><th>drawn in epoch</th><th>accept by epoch</th><th>status</th><th>deal</th></tr>
    ${o.placements.map((p) => `<tr data-provider="${esc(p.provider)}"><td><a href="#/provider/${encodeURIComponent(p.provider)}" data-kind="provider" class="mono">${esc(p.provider)}</a></td>` +
      `<td>${esc(p.epoch)}</td><td>${esc(p.deadline)}</td><td class="status">${esc(p.status)}</td><td>${p.deal ? link("deal", p.deal) : ""}</td></tr>`).join("")}
    </table>`;
}

const routes = { block, tx, account, channel, providers, provider, deal, order };
/** Views that show something without an id. */
const listViews = new Set(["providers"]);

async function render() {
  const [, kind, id, page] = decodeURIComponent(location.hash).split("/");
  view.setAttribute("aria-busy", "true");
  try {
    const route = kind && Object.hasOwn(routes, kind) ? routes[kind] : undefined;
    view.innerHTML = route && (id || listViews.has(kind)) ? await route(id, page) : await home();
  } catch (e) {
    view.innerHTML = `<p class="error">${esc(e.message)}</p>`;
  }
  view.setAttribute("aria-busy", "false");
}

document.getElementById("search").addEventListener("submit", (e) => {
  e.preventDefault();
  const q = document.getElementById("q").value.trim();
  if (/^[0-9]+$/.test(q)) location.hash = `#/block/${q}`;
  else if (q.startsWith("cc1")) location.hash = `#/account/${q}`;
  else if (/^[0-9a-fA-F]{64}$/.test(q)) {
    // a transaction, else a storage deal, else a storage order, else a block hash
    rpc("tx_get", { hash: q })
      .then(async (r) => (r.status !== "unknown" ? `#/tx/${q}` : (await rpc("storage_getDeal", { id: q })) ? `#/deal/${q}`
        : (await rpc("storage_getOrder", { id: q })) ? `#/order/${q}` : `#/block/${q}`))
      .then((h) => (location.hash = h));
  }
});
window.addEventListener("hashchange", render);
rpc("node_status").then((s) => (document.getElementById("chain").textContent = `${s.chainId} · height ${s.head.height}`)).catch(() => {});
render();
