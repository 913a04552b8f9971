// The Cloudcoin explorer: a static page served by the node that reads ONLY the public JSON-RPC
// (read-tier methods, POST to the same origin). Views are addressed by the URL hash:
//   #/  #/block/<height|hash>  #/tx/<hash>  #/account/<address>  #/channel/<id>
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
  const opRows = Object.entries(op).filter(([k]) => k !== "type").map(([k, v]) => [k, k === "to" || k === "payee" ? link("account", v) : k === "channel" ? link("channel", v) : /amount|deposit/.test(k) ? clc(v) : esc(typeof v === "object" ? JSON.stringify(v) : v)]);
  return `
    <h2>Transaction</h2>
    ${rows([["hash", `<span class="mono">${esc(r.hash)}</span>`], ["status", `<span id="tx-status">${esc(r.status)}</span>`], ["block", r.height ? link("block", r.height) : ""],
      ["from", link("account", t.sender)], ["operation", `<span id="tx-op">${esc(op.type)}</span>`], ...opRows, ["fee", clc(t.fee)], ["nonce", esc(t.nonce)],
      ["result", r.receipt ? (r.receipt.ok ? "ok" : `<span class="error">${esc(r.receipt.code)}</span>`) : "pending"]])}`;
}

async function account(address) {
  const [a, txs, paid, payee] = await Promise.all([
    rpc("state_getAccount", { address }), rpc("tx_listByAddress", { address, limit: 20 }),
    rpc("paych_list", { payer: address, limit: 20 }), rpc("paych_list", { payee: address, limit: 20 }),
  ]);
  const channels = [...paid.channels, ...payee.channels];
  return `
    <h2>Account</h2>
    ${rows([["address", `<span class="mono" id="account-address">${esc(a.address)}</span>`], ["balance", `<span id="account-balance" data-units="${esc(a.balance)}">${clc(a.balance)}</span>`],
      ["staked", clc(a.staked)], ["nonce", esc(a.nonce)], ["as of height", esc(a.height)]])}
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

const routes = { block, tx, account, channel };

async function render() {
  const [, kind, id] = decodeURIComponent(location.hash).split("/");
  view.setAttribute("aria-busy", "true");
  try {
    view.innerHTML = kind && routes[kind] && id ? await routes[kind](id) : await home();
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
    rpc("tx_get", { hash: q }).then((r) => (location.hash = r.status !== "unknown" ? `#/tx/${q}` : `#/block/${q}`));
  }
});
window.addEventListener("hashchange", render);
rpc("node_status").then((s) => (document.getElementById("chain").textContent = `${s.chainId} · height ${s.head.height}`)).catch(() => {});
render();
