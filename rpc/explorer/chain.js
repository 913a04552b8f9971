// The ledger's views: blocks (latest, live, and older pages), a block, a transaction, an account
// (its transactions with amount and direction, paged), a payment channel, an epoch.
import { ADDRESS, HEIGHT, HEX32, NotFound, PAGE, clc, epochLink, esc, link, pager, rows, rpc, seconds, text, time, units } from "./lib.js";

const blockRow = (b) =>
  `<tr data-height="${esc(b.header.height)}"><td>${link("block", b.header.height)}</td><td>${link("block", b.header.hash)}</td><td class="txcount">${b.txs.length}</td><td>${time(b.header.time)}</td><td>${link("account", b.header.proposer)}</td></tr>`;
const BLOCKS_HEAD = `<tr><th>height</th><th>hash</th><th>txs</th><th>time</th><th>proposer</th></tr>`;

async function blockRange(top) {
  const reads = [];
  for (let h = top; h >= Math.max(1, top - PAGE + 1); h--) reads.push(rpc("chain_getBlock", { height: h }));
  return (await Promise.all(reads)).filter(Boolean);
}

/** Mean time between consecutive blocks of a list (newest first), in ms; null with fewer than 2. */
function meanBlockTime(list) {
  if (list.length < 2) return null;
  return (list[0].header.time - list[list.length - 1].header.time) / (list.length - 1);
}

/** The home page: chain figures, the latest blocks (kept current by `onBlock`), the validators. */
export async function home() {
  const [status, vals, supply, params] = await Promise.all([rpc("node_status"), rpc("chain_getValidators"), rpc("chain_getSupply"), rpc("chain_getParams")]);
  const list = await blockRange(status.head.height);
  const mean = meanBlockTime(list);
  return `
    <h2>Chain</h2>
    ${rows([["height", text("stat-height", status.head.height)],
      ["total supply", units("stat-supply", supply.total)],
      ["minted / burned", `${units("stat-minted", supply.minted)} / ${units("stat-burned", supply.burned)}`],
      ["block time", `<span id="stat-blocktime" data-ms="${mean ?? ""}">${mean === null ? "not enough blocks yet" : `${seconds(mean)} (mean of the last ${list.length - 1})`}</span> · target ${seconds(params.params.blockIntervalMs)}`],
      ["epoch", `${epochLink(Math.max(0, Math.floor((status.head.height - 1) / params.params.epochLength)))} of ${esc(params.params.epochLength)} blocks`]])}
    <h2>Latest blocks</h2>
    <table id="blocks" data-live="true">${BLOCKS_HEAD}${list.map(blockRow).join("")}</table>
    ${pager("blocks", "#/blocks", null, list.length && list[list.length - 1].header.height > 1 ? list[list.length - 1].header.height - 1 : null)}
    <h2>Validators for height ${esc(vals.height)}</h2>
    <table id="validators"><tr><th>address</th><th>name</th><th>power</th></tr>
    ${vals.validators.map((v) => `<tr><td>${link("account", v.address)}</td><td>${esc(v.name)}</td><td>${clc(v.power)}</td></tr>`).join("")}
    </table>`;
}

/** Older blocks: a page of PAGE blocks from height `top` down. */
export async function blocks(top) {
  if (top === undefined) return home();
  if (!HEIGHT.test(top)) throw new NotFound("block page", top, "a block page is a height");
  const list = await blockRange(Number(top));
  if (list.length === 0) throw new NotFound("block", top);
  const last = list[list.length - 1].header.height;
  return `
    <h2>Blocks ${esc(last)} to ${esc(list[0].header.height)}</h2>
    <table id="blocks">${BLOCKS_HEAD}${list.map(blockRow).join("")}</table>
    ${pager("blocks", "#/blocks", top, last > 1 ? last - 1 : null)}`;
}

/**
 * A new finalized block (the `finalizedBlocks` subscription): the home page puts it on top of its
 * list (keeping PAGE rows) and refreshes the height; other views are left alone. Blocks between
 * the list's top and this one are fetched first: one finalized while the page was still loading
 * (no list yet to put it in) or while the socket was reconnecting would otherwise leave a gap.
 */
export async function onBlock(b) {
  const table = document.querySelector('#blocks[data-live="true"]');
  if (!table || table.querySelector(`tr[data-height="${b.header.height}"]`)) return;
  const topRow = table.querySelector("tr[data-height]");
  const top = topRow ? Number(topRow.dataset.height) : b.header.height - 1;
  if (b.header.height < top) return; // older than the list's top: a late message
  const missing = [];
  for (let h = Math.max(top + 1, b.header.height - PAGE + 1); h < b.header.height; h++) missing.push(h);
  const filled = (await Promise.all(missing.map((h) => rpc("chain_getBlock", { height: h }).catch(() => null)))).filter(Boolean);
  if (!table.isConnected) return; // the page moved on meanwhile
  for (const x of [...filled, b]) insertRow(table, x);
  while (table.rows.length > PAGE + 1) table.deleteRow(table.rows.length - 1);
  const height = document.getElementById("stat-height");
  const shownTop = Number(table.querySelector("tr[data-height]")?.dataset.height ?? b.header.height);
  if (height) height.textContent = String(shownTop);
  rpc("chain_getSupply").then((s) => {
    const el = document.getElementById("stat-supply");
    if (el) el.outerHTML = units("stat-supply", s.total);
  }, () => {});
}

/** Puts a block's row in height order (newest first), once. */
function insertRow(table, b) {
  const h = b.header.height;
  if (table.querySelector(`tr[data-height="${h}"]`)) return;
  const below = [...table.querySelectorAll("tr[data-height]")].find((r) => Number(r.dataset.height) < h);
  if (below) below.insertAdjacentHTML("beforebegin", blockRow(b));
  else table.insertAdjacentHTML("beforeend", blockRow(b));
}

export async function block(id) {
  let b;
  if (HEIGHT.test(id)) b = await rpc("chain_getBlock", { height: Number(id), full: true });
  else if (HEX32.test(id)) b = await rpc("chain_getBlock", { hash: id, full: true });
  else throw new NotFound("block", id, "a block is named by its height or its 64-hex-digit hash");
  if (!b) throw new NotFound("block", id);
  const h = b.header;
  return `
    <h2>Block ${esc(h.height)}</h2>
    ${rows([["hash", `<span class="mono" id="block-hash">${esc(h.hash)}</span>`], ["time", time(h.time)], ["proposer", link("account", h.proposer)],
      ["parent", h.height > 1 ? link("block", h.height - 1, h.parentHash) : `<span class="mono">${esc(h.parentHash)}</span>`], ["state root", `<span class="mono">${esc(h.stateRoot)}</span>`],
      ["commit signatures", String(b.lastCommit ? b.lastCommit.signatures.length : 0)], ["evidence", String(b.evidence.length)]])}
    <p>${h.height > 1 ? `<a id="block-prev" href="#/block/${h.height - 1}">previous block</a> ` : ""}<a id="block-next" href="#/block/${h.height + 1}">next block</a></p>
    <h2>Transactions (${b.txs.length})</h2>
    <table id="txs"><tr><th>hash</th><th>from</th><th>operation</th><th>amount</th></tr>
    ${b.txs.map((t) => `<tr><td>${link("tx", t.hash)}</td><td>${link("account", t.sender)}</td><td>${esc(t.op.type)}</td><td>${amountOf(t.op) === null ? "" : clc(amountOf(t.op))}</td></tr>`).join("")}
    </table>`;
}

export async function tx(hash) {
  if (!HEX32.test(hash)) throw new NotFound("transaction", hash, "a transaction hash is 64 hex digits");
  const r = await rpc("tx_get", { hash });
  if (r.status === "unknown") throw new NotFound("transaction", hash);
  const t = r.tx;
  const op = t.op;
  const opRows = Object.entries(op).filter(([k]) => k !== "type").map(([k, v]) => [k, k === "to" || k === "payee" ? link("account", v) : k === "channel" ? link("channel", v) : k === "deal" ? link("deal", v) : /amount|deposit|collateral/.test(k) ? clc(v) : esc(typeof v === "object" ? JSON.stringify(v) : v)]);
  return `
    <h2>Transaction</h2>
    ${rows([["hash", `<span class="mono">${esc(r.hash)}</span>`], ["status", `<span id="tx-status">${esc(r.status)}</span>`], ["block", r.height ? link("block", r.height) : ""],
      ["from", link("account", t.sender)], ["operation", `<span id="tx-op">${esc(op.type)}</span>`], ...opRows, ["fee", clc(t.fee)], ["nonce", esc(t.nonce)],
      ["result", r.receipt ? (r.receipt.ok ? "ok" : `<span class="error">${esc(r.receipt.code)}</span>`) : "pending"]])}`;
}

/** The coins an operation moves, in base units, or null for one that moves none. */
function amountOf(op) {
  return op.amount ?? op.deposit ?? op.collateral ?? null;
}

/** Operations whose sender receives the amount (a payee redeeming a voucher) rather than paying it. */
const SENDER_RECEIVES = new Set(["paych.redeem"]);

/**
 * Which way a transaction moves coins for `address`: `out` when the account pays (it sent a
 * transfer, a stake, a deposit, a collateral), `in` when it receives (a transfer to it, a voucher
 * it redeemed), `self` for a transfer to itself; `-` when it only takes part (a channel's payee).
 */
export function direction(t, address) {
  const op = t.op;
  const sent = t.sender === address;
  if (op.type === "transfer" && sent && op.to === address) return "self";
  if (sent) return SENDER_RECEIVES.has(op.type) ? "in" : "out";
  if (op.to === address) return "in";
  return "-";
}

export async function account(address, cursor) {
  if (!ADDRESS.test(address)) throw new NotFound("account", address, "an address starts with cc1");
  const [a, txs, paid, payee, provider] = await Promise.all([
    rpc("state_getAccount", { address }), rpc("tx_listByAddress", { address, limit: PAGE, ...(cursor ? { cursor } : {}) }),
    rpc("paych_list", { payer: address, limit: 20 }), rpc("paych_list", { payee: address, limit: 20 }), rpc("provider_get", { address }),
  ]);
  const channels = [...paid.channels, ...payee.channels];
  const providerRow = provider ? [["provider", `<a id="account-provider" href="#/provider/${encodeURIComponent(provider.address)}" data-kind="provider">${esc(provider.kind)} provider, ${esc(provider.status)}</a>`]] : [];
  const txRow = (t) => {
    const dir = direction(t.tx, address);
    const amount = amountOf(t.tx.op);
    const sign = dir === "out" ? "−" : dir === "in" ? "+" : "";
    return `<tr data-hash="${esc(t.hash)}"><td>${link("tx", t.hash)}</td><td>${link("block", t.height)}</td><td>${esc(t.tx.op.type)}</td>
      <td class="dir dir-${dir === "-" ? "none" : dir}">${esc(dir)}</td><td class="amount" data-units="${esc(amount ?? "")}">${amount === null ? "" : sign + clc(amount)}</td>
      <td class="fee" data-units="${esc(t.tx.fee)}">${t.tx.sender === address ? clc(t.tx.fee) : ""}</td>
      <td>${dir === "in" && t.tx.sender !== address ? link("account", t.tx.sender) : t.tx.op.to && t.tx.op.to !== address ? link("account", t.tx.op.to) : t.tx.op.payee ? link("account", t.tx.op.payee) : ""}</td>
      <td>${t.receipt.ok ? "ok" : `<span class="error">${esc(t.receipt.code)}</span>`}</td></tr>`;
  };
  const base = `#/account/${encodeURIComponent(address)}`;
  return `
    <h2>Account</h2>
    ${rows([["address", `<span class="mono" id="account-address">${esc(a.address)}</span>`], ["balance", `<span id="account-balance" data-units="${esc(a.balance)}">${clc(a.balance)}</span>`],
      ["staked", clc(a.staked)], ["nonce", esc(a.nonce)], ["as of height", esc(a.height)], ...providerRow])}
    <h2>Transactions${cursor ? " (older)" : ""}</h2>
    <table id="account-txs"><tr><th>hash</th><th>block</th><th>operation</th><th>direction</th><th>amount</th><th>fee paid</th><th>counterparty</th><th>result</th></tr>
    ${txs.txs.map(txRow).join("")}
    </table>
    ${txs.txs.length === 0 ? `<p class="muted">No transactions${cursor ? " before these" : ""}.</p>` : ""}
    ${pager("account-txs", base, cursor, txs.nextCursor)}
    <h2>Payment channels</h2>
    <table><tr><th>channel</th><th>payer</th><th>payee</th><th>deposit</th><th>state</th></tr>
    ${channels.map((c) => `<tr><td>${link("channel", c.id)}</td><td>${link("account", c.payer)}</td><td>${link("account", c.payee)}</td><td>${clc(c.deposit)}</td><td>${esc(c.state)}</td></tr>`).join("")}
    </table>`;
}

export async function channel(id) {
  if (!HEX32.test(id)) throw new NotFound("payment channel", id, "a channel id is 64 hex digits");
  const c = await rpc("paych_get", { channel: id });
  if (!c) throw new NotFound("payment channel", id);
  return `<h2>Payment channel</h2>${rows([["id", `<span class="mono">${esc(c.id)}</span>`], ["payer", link("account", c.payer)], ["payee", link("account", c.payee)],
    ["deposit", clc(c.deposit)], ["redeemed", clc(c.redeemed)], ["remaining", clc(c.remaining)], ["state", esc(c.state)], ["settle delay", `${esc(c.settleDelay)} blocks`]])}`;
}

/** An epoch: its span of blocks, its reward and pools, and once ended what was minted to whom. */
export async function epoch(n) {
  if (!HEIGHT.test(n)) throw new NotFound("epoch", n, "an epoch is a number");
  const [e, params, status] = await Promise.all([rpc("rewards_getEpoch", { epoch: Number(n) }), rpc("chain_getParams"), rpc("node_status")]);
  if (!e) {
    const L = params.params.epochLength;
    const first = Number(n) * L + 1;
    if (first <= status.head.height) throw new NotFound("epoch", n, "it ended before this node kept its records");
    return `
      <h2>Epoch ${esc(n)}</h2>
      ${rows([["status", text("epoch-status", "future")], ["blocks", `${esc(first)} to ${esc(first + L - 1)} (the chain is at ${esc(status.head.height)})`],
        ["begins in", `about ${esc(first - status.head.height)} blocks`]])}
      <p><a id="epoch-prev" href="#/epoch/${Number(n) - 1}">previous epoch</a></p>`;
  }
  return `
    <h2>Epoch ${esc(e.epoch)}</h2>
    ${rows([["status", text("epoch-status", e.status)], ["blocks", `${link("block", e.firstHeight)} to ${link("block", e.lastHeight)}`],
      ["reward", units("epoch-reward", e.reward)], ["storage pool", clc(e.pools.storage)], ["bandwidth pool", clc(e.pools.bandwidth)], ["of it for witnesses", clc(e.pools.witness)],
      ["validator pool", clc(e.pools.validator)], ["minted", units("epoch-minted", e.minted)], ["ended at", e.endedAtHeight === null ? "in progress" : link("block", e.endedAtHeight)]])}
    <p>${e.epoch > 0 ? `<a id="epoch-prev" href="#/epoch/${e.epoch - 1}">previous epoch</a> ` : ""}${e.status === "ended" ? `<a id="epoch-next" href="#/epoch/${e.epoch + 1}">next epoch</a>` : ""}</p>
    <h2>Mints</h2>
    <table id="epoch-mints"><tr><th>to</th><th>pool</th><th>amount</th><th>basis</th><th>reputation</th></tr>
    ${e.mints.map((m) => `<tr><td>${link("account", m.to)}</td><td>${esc(m.pool)}</td><td>${clc(m.amount)}</td><td>${esc(m.basis)}</td><td>${(m.reputationBps / 100).toFixed(2)}%</td></tr>`).join("")}
    </table>
    ${e.mints.length === 0 ? `<p class="muted">${e.status === "current" ? "Rewards are minted when the epoch ends." : "Nothing was minted."}</p>` : ""}`;
}

export const routes = { blocks, block, tx, account, channel, epoch };
