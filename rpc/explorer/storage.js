// The storage and bandwidth providers' views: the provider list, a provider with its deals, a deal.
//
// Storage orders and placements (the network placing each replica of a client's order on
// providers) get their views here, beside deals: add the view functions, list them in `routes`
// below, and link them from `deal` and `provider` (and from the nav in index.html if they have a
// list). Epoch numbers go through `epochLink`, heights through `link("block", …)`.
import { ADDRESS, HEX32, NotFound, PAGE, bytes, capacity, clc, epochLink, esc, link, pager, percent, rows, rpc, text, units } from "./lib.js";

/** Storage and bandwidth providers, exited ones included, in public-key order. */
export async function providers(cursor) {
  if (cursor !== undefined && !HEX32.test(cursor)) throw new NotFound("providers page", cursor);
  const page = await rpc("provider_list", { includeExited: true, limit: PAGE, ...(cursor ? { cursor } : {}) });
  return `
    <h2>Providers</h2>
    <table id="providers"><tr><th>address</th><th>kind</th><th>status</th><th>collateral</th><th>capacity</th><th>reputation</th><th>banned</th></tr>
    ${page.providers.map((p) => `<tr data-address="${esc(p.address)}"><td>${link("provider", p.address)}</td><td class="kind">${esc(p.kind)}</td><td class="status">${esc(p.status)}</td>
      <td class="collateral" data-units="${esc(p.collateral)}">${clc(p.collateral)}</td><td class="capacity" data-bytes="${esc(p.capacity)}">${capacity(p.kind, p.capacity)}</td>
      <td class="reputation" data-bps="${esc(p.reputationBps)}">${percent(p.reputationBps)}</td><td class="banned">${p.banned ? `yes (until ${epochLink(p.bannedUntil)})` : "no"}</td></tr>`).join("")}
    </table>
    ${page.providers.length === 0 ? `<p class="muted">No providers${cursor ? " after these" : ""}.</p>` : ""}
    ${pager("providers", "#/providers", cursor, page.nextCursor, ["first page", "next page"])}`;
}

export async function provider(address, dealCursor) {
  if (!ADDRESS.test(address)) throw new NotFound("provider", address, "an address starts with cc1");
  const [p, deals] = await Promise.all([
    rpc("provider_get", { address }),
    rpc("storage_listDeals", { provider: address, limit: PAGE, ...(dealCursor ? { cursor: dealCursor } : {}) }),
  ]);
  if (!p) throw new NotFound("provider", address, "this account never registered as a provider");
  const relay = p.kind === "bandwidth";
  return `
    <h2>${relay ? "Bandwidth relay" : "Storage provider"}</h2>
    ${rows([["address", `<span class="mono" id="provider-address">${esc(p.address)}</span> (${link("account", p.address, "account")})`], ["kind", text("provider-kind", p.kind)],
      ["status", text("provider-status", p.status)], ["collateral", units("provider-collateral", p.collateral)], ["locked for deals", units("provider-locked", p.locked)],
      ["free collateral", units("provider-free", p.freeCollateral)], ["capacity", `<span id="provider-capacity" data-bytes="${esc(p.capacity)}">${capacity(p.kind, p.capacity)}</span>`],
      ...(relay ? [] : [["used", `<span id="provider-used" data-bytes="${esc(p.used)}">${bytes(p.used)}</span>`], ["active deals", text("provider-active-deals", p.activeDeals)]]),
      ["reputation", `<span id="provider-reputation" data-bps="${esc(p.reputationBps)}">${percent(p.reputationBps)}</span>`],
      ["banned", `<span id="provider-banned">${p.banned ? `yes (until ${epochLink(p.bannedUntil)})` : "no"}</span>`], ["strikes", esc(p.strikes)],
      ["multiaddr", `<span class="mono">${esc(p.multiaddr)}</span>`], ["registered at", `block ${link("block", p.registeredAt)}`]])}
    ${relay ? "" : `<h2>Storage deals</h2>
    <table id="provider-deals"><tr><th>deal</th><th>client</th><th>size</th><th>price per epoch</th><th>status</th><th>epochs challenged / missed</th></tr>
    ${deals.deals.map((d) => `<tr><td>${link("deal", d.id)}</td><td>${link("account", d.client)}</td><td>${bytes(d.size)}</td><td>${clc(d.pricePerEpoch)}</td><td>${esc(d.status)}</td><td>${esc(d.challenged)} / ${esc(d.misses)}</td></tr>`).join("")}
    </table>
    ${pager("deals", `#/provider/${encodeURIComponent(p.address)}`, dealCursor, deals.nextCursor, ["first page", "next page"])}`}`;
}

export async function deal(id) {
  if (!HEX32.test(id)) throw new NotFound("deal", id, "a deal id is 64 hex digits");
  const d = await rpc("storage_getDeal", { id });
  if (!d) throw new NotFound("deal", id);
  return `
    <h2>Storage deal</h2>
    ${rows([["id", `<span class="mono" id="deal-id">${esc(d.id)}</span>`], ["status", text("deal-status", d.status)],
      ["client", link("account", d.client)], ["provider", `<a id="deal-provider" href="#/provider/${encodeURIComponent(d.provider)}" data-kind="provider" class="mono">${esc(d.provider)}</a>`],
      ["root", `<span class="mono" id="deal-root">${esc(d.root)}</span>`], ["size", `<span id="deal-size" data-bytes="${esc(d.size)}">${bytes(d.size)}</span>`],
      ["chunks", `${esc(d.chunkCount)} of ${esc(d.chunkSize)} bytes`], ["price per epoch", units("deal-price", d.pricePerEpoch)],
      ["duration", `<span id="deal-duration">${esc(d.durationEpochs)} epochs from ${epochLink(d.startEpoch)}</span>`], ["escrow left", units("deal-escrow", d.escrow)],
      ["collateral", units("deal-collateral", d.collateral)], ["collateral left", units("deal-collateral-left", d.collateralLeft)],
      ["epochs challenged", text("deal-challenged", d.challenged)], ["epochs missed", text("deal-misses", d.misses)],
      ["last proven", d.lastProvenEpoch === null ? "none yet" : epochLink(d.lastProvenEpoch)], ["made in", `<span id="deal-created">block ${link("block", d.createdAt)}</span>`],
      ["ended", `<span id="deal-ended">${d.endedAt === null ? "not yet" : `at the end of ${epochLink(d.endedAt)}`}</span>`],
      ["placed by", d.order ? `<a id="deal-order" href="#/order/${esc(d.order)}" data-kind="order" class="mono">storage order ${esc(d.order)}</a>`
        : `<span id="deal-order">direct deal (paid its price only)</span>`]])}`;
}

/** A storage order: its terms, and every placement the network drew for it. */
export async function order(id) {
  if (!HEX32.test(id)) throw new NotFound("storage order", id, "an order id is 64 hex digits");
  const o = await rpc("storage_getOrder", { id });
  if (!o) throw new NotFound("storage order", id);
  return `
    <h2>Storage order</h2>
    ${rows([["id", `<span class="mono" id="order-id">${esc(o.id)}</span> (${link("tx", o.id, "transaction")})`], ["status", text("order-status", o.status)],
      ["client", link("account", o.client)], ["root", `<span class="mono" id="order-root">${esc(o.root)}</span>`],
      ["size", `<span id="order-size" data-bytes="${esc(o.size)}">${bytes(o.size)}</span>`], ["chunk size", `${esc(o.chunkSize)} bytes`],
      ["replicas", `<span id="order-replicas">${esc(o.accepted)} of ${esc(o.replicas)} accepted, ${esc(o.pending)} pending</span>`],
      ["price per replica-epoch", units("order-price", o.pricePerEpoch)], ["duration", `${esc(o.durationEpochs)} epochs`],
      ["escrow held", units("order-escrow", o.escrow)], ["placed", `from ${epochLink(o.firstPlacementEpoch)}; closes after ${epochLink(o.closeEpoch)}`],
      ["made in", `block ${link("block", o.createdAt)}`]])}
    <h2>Placements</h2>
    <table id="order-placements"><tr><th>provider</th><th>drawn in epoch</th><th>accept by epoch</th><th>status</th><th>deal</th></tr>
    ${o.placements.map((p) => `<tr data-provider="${esc(p.provider)}"><td><a href="#/provider/${encodeURIComponent(p.provider)}" data-kind="provider" class="mono">${esc(p.provider)}</a></td>` +
      `<td>${epochLink(p.epoch)}</td><td>${epochLink(p.deadline)}</td><td class="status">${esc(p.status)}</td><td>${p.deal ? link("deal", p.deal) : ""}</td></tr>`).join("")}
    </table>`;
}

export const routes = { providers, provider, deal, order };
/** Views that show something without an id. */
export const listViews = ["providers"];
