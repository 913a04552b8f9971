// What every explorer view shares: the JSON-RPC call (POST to the page's own origin), HTML
// escaping, links between views, and how amounts, sizes, rates and times are written.

let nextId = 1;

/** The id was well formed but names nothing the chain knows (or was not well formed at all). */
export class NotFound extends Error {
  constructor(what, id, why = "") {
    super(`${what} ${id}`);
    this.what = what;
    this.id = id;
    this.why = why;
  }
}

/** The node's answer to an invalid parameter (-32602): the id in the URL is not well formed. */
export class BadParams extends Error {}

export async function rpc(method, params = {}) {
  const res = await fetch("/", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ jsonrpc: "2.0", id: nextId++, method, params }) });
  const body = await res.json();
  if (body.error) {
    const msg = `${method}: ${body.error.message}${body.error.data?.code ? ` (${body.error.data.code})` : ""}`;
    throw body.error.code === -32602 ? new BadParams(msg) : new Error(msg);
  }
  return body.result;
}

/** Rows a list page shows: 20, or `?per=N` (1..100) in the page's URL. */
export const PAGE = Math.min(100, Math.max(1, Number(new URLSearchParams(location.search).get("per")) || 20));
export const HEX32 = /^[0-9a-fA-F]{64}$/;
export const ADDRESS = /^cc1[02-9ac-hj-np-z]{6,}$/;
export const HEIGHT = /^[0-9]{1,15}$/;

export const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
/** Base units (1 CLC = 10^9) as CLC with no trailing zeros. */
export const clc = (units) => {
  const u = BigInt(units);
  const neg = u < 0n;
  const a = neg ? -u : u;
  const frac = (a % 1000000000n).toString().padStart(9, "0").replace(/0+$/, "");
  return `${neg ? "-" : ""}${(a / 1000000000n).toLocaleString("en-US")}${frac ? "." + frac : ""} CLC`;
};
export const link = (kind, id, text = id) => `<a href="#/${kind}/${encodeURIComponent(id)}" data-kind="${kind}" class="mono">${esc(text)}</a>`;
export const rows = (pairs) => `<table>${pairs.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${v}</td></tr>`).join("")}</table>`;
export const time = (ms) => (ms ? new Date(ms).toISOString().replace("T", " ").replace(".000Z", "Z") : "");
export const units = (id, v) => `<span id="${id}" data-units="${esc(v)}">${clc(v)}</span>`;
export const text = (id, v) => `<span id="${id}">${esc(v)}</span>`;
export const percent = (bps) => `${(bps / 100).toFixed(2)}%`;
export const bytes = (n) => `${BigInt(n).toLocaleString("en-US")} bytes`;
/** A relay's capacity is a rate: bytes per second. */
export const rate = (n) => `${BigInt(n).toLocaleString("en-US")} B/s`;
/** A storage provider's capacity is bytes; a bandwidth relay's, bytes per second. */
export const capacity = (kind, n) => (kind === "bandwidth" ? rate(n) : bytes(n));
/** Milliseconds as seconds with two decimals. */
export const seconds = (ms) => `${(ms / 1000).toFixed(2)} s`;
/** Epoch numbers link to the epoch view, never to the block of the same number. */
export const epochLink = (n) => (n === null || n === undefined ? "" : `<a href="#/epoch/${encodeURIComponent(n)}" data-kind="epoch">epoch ${esc(n)}</a>`);
/** First/next page links; `base` is the view's hash without the page part. */
export const pager = (id, base, cursor, next, labels = ["newest", "older"]) =>
  `<p class="pager">${cursor ? `<a id="${id}-first" href="${base}">${labels[0]}</a> ` : ""}${next ? `<a id="${id}-next" href="${base}/${encodeURIComponent(next)}">${labels[1]}</a>` : ""}</p>`;
