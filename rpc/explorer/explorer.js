// The Cloudcoin explorer: a static page served by the node that reads ONLY the public JSON-RPC
// (read-tier methods, POST to the same origin) and its WebSocket (the `finalizedBlocks`
// subscription, for live updates). Views are addressed by the URL hash:
//   #/  #/blocks/<height>  #/block/<height|hash>  #/tx/<hash>  #/account/<address>[/<cursor>]
//   #/channel/<id>  #/epoch/<n>  #/providers[/<cursor>]  #/provider/<address>[/<deal cursor>]  #/deal/<id>  #/order/<id>
// The ledger's views are in chain.js, the providers' in storage.js, the shared helpers in lib.js.
// A URL that names no view, or an id that is malformed or unknown, shows a not-found page.
import * as chain from "./chain.js";
import * as storage from "./storage.js";
import { BadParams, NotFound, esc, rpc } from "./lib.js";

const view = document.getElementById("view");
const routes = { ...chain.routes, ...storage.routes };
/** Views that show something without an id. */
const listViews = new Set(["blocks", ...storage.listViews]);

/** What a route's id names, for not-found pages. */
const NAMES = { blocks: "block page", tx: "transaction", channel: "payment channel", providers: "providers page" };

function notFound(e) {
  const what = `No ${esc(e.what)} <span class="mono">${esc(e.id)}</span>`;
  const why = e.why ? `<p class="muted">${esc(e.why.replace(/\.$/, ""))}.</p>` : "";
  return `<div id="not-found"><h2>Not found</h2><p>${what}.</p>${why}<p><a href="#/">Back to the latest blocks</a></p></div>`;
}

async function render() {
  const [root, kind, id, page] = decodeURIComponent(location.hash).split("/");
  view.setAttribute("aria-busy", "true");
  view.innerHTML = `<p class="muted">Loading…</p>`;
  try {
    if (root !== "" && root !== "#") throw new NotFound("page", location.hash);
    if (kind === undefined || kind === "") view.innerHTML = await chain.home();
    else if (!Object.hasOwn(routes, kind) || (id === undefined && !listViews.has(kind))) throw new NotFound("page", location.hash);
    else view.innerHTML = await routes[kind](id || undefined, page || undefined);
  } catch (e) {
    // the node refused the id as a parameter (a bad address checksum): not found, saying why
    if (e instanceof BadParams) view.innerHTML = notFound(new NotFound(NAMES[kind] ?? kind, id, e.message));
    else if (e instanceof NotFound) view.innerHTML = notFound(e);
    else view.innerHTML = `<div id="error"><h2>The node could not answer</h2><p class="error">${esc(e.message)}</p><p><a href="#/">Back to the latest blocks</a></p></div>`;
  }
  view.setAttribute("aria-busy", "false");
}

document.getElementById("search").addEventListener("submit", (e) => {
  e.preventDefault();
  const q = document.getElementById("q").value.trim();
  if (/^[0-9]+$/.test(q)) location.hash = `#/block/${q}`;
  else if (q.startsWith("cc1")) location.hash = `#/account/${q}`;
  else if (/^[0-9a-fA-F]{64}$/.test(q)) {
    // a transaction, else a storage deal, else a block hash
    rpc("tx_get", { hash: q })
      .then(async (r) => (r.status !== "unknown" ? `#/tx/${q}` : (await rpc("storage_getDeal", { id: q })) ? `#/deal/${q}`
        : (await rpc("storage_getOrder", { id: q })) ? `#/order/${q}` : `#/block/${q}`))
      .then((h) => (location.hash = h), () => (location.hash = `#/block/${q}`));
  } else location.hash = `#/search/${q}`;
});

// Live updates: one socket for the page's life, subscribed to finalized blocks; it reconnects
// after a drop (the node restarting) with a growing pause.
const live = document.getElementById("live");
let retryMs = 1000;
function connect() {
  const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/`);
  ws.onopen = () => {
    retryMs = 1000;
    ws.send(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "chain_subscribe", params: { topic: "finalizedBlocks" } }));
  };
  ws.onmessage = (m) => {
    const msg = JSON.parse(m.data);
    if (msg.id === 1 && msg.result) {
      live.textContent = "live";
      live.className = "live";
    }
    if (msg.method !== "chain_subscription") return;
    const b = msg.params.result;
    document.getElementById("chain").textContent = `${b.header.chainId} · height ${b.header.height}`;
    chain.onBlock(b);
  };
  ws.onclose = () => {
    live.textContent = "offline";
    live.className = "muted";
    setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 30_000);
  };
}

window.addEventListener("hashchange", render);
rpc("node_status").then((s) => (document.getElementById("chain").textContent = `${s.chainId} · height ${s.head.height}`)).catch(() => {});
render();
connect();
