/**
 * The pure parts of the relay and bandwidth-witness plugins: the witness's job schedule (what to
 * probe next, retries with backoff, never a second probe once an attestation is signed, one probe
 * per relay at a time, closed epochs dropped), its nonce tracker, the relay's announced multiaddr
 * and the flag parsers.
 */
import t from "tap";
import { NonceTracker, NONCE_ERROR_CODES, onNonceError } from "../../../plugins/bandwidth-witness/nonces.ts";
import { backoffMs, jobId, WitnessSchedule, type SignedAttestation } from "../../../plugins/bandwidth-witness/schedule.ts";
import { announcedMultiaddr, defaultP2pKeyPath } from "../../../plugins/relay/relay.ts";
import { decimalFlag, errorCode, intFlag } from "../../../plugins/shared/bandwidth.ts";

const relays = (...names: string[]) => names.map((relay) => ({ relay, multiaddr: `/ip4/127.0.0.1/tcp/1/p2p/${relay}` }));
const att = (throughput: bigint): SignedAttestation => ({ bytes: 1n << 20n, throughput, latency: 100n });

t.test("schedule: observe is idempotent and take respects slots, time and one job per relay", async (t) => {
  const s = new WitnessSchedule({ retryBaseMs: 100, retryMaxMs: 1000 });
  t.equal(s.observe("w1", 5, relays("r1", "r2", "r3"), 0).length, 3);
  t.equal(s.observe("w1", 5, relays("r1", "r2", "r3"), 10).length, 0, "seen before: nothing new");
  t.equal(s.observe("w2", 5, relays("r1"), 0).length, 1, "another witness key gets its own job for the same relay");
  t.equal(s.jobs().length, 4);

  const first = s.take(0, 2, 5);
  t.same(first.map((j) => j.id), [jobId("w1", "r1", 5), jobId("w1", "r2", 5)], "oldest epoch, then id order, at most `slots`");
  t.ok(first.every((j) => j.state === "running"));
  const second = s.take(0, 10, 5);
  t.same(second.map((j) => j.id), [jobId("w1", "r3", 5)], "w2's job for r1 waits: r1 is being probed");
  t.same(s.take(0, 0, 5), [], "no slot, no job");
  t.equal(s.running(), 3);
  t.same(s.take(0, 10, 6), [], "jobs of another epoch are not taken");
});

t.test("schedule: failed probes back off, then the failure is attested; a signed attestation is never probed again", async (t) => {
  const s = new WitnessSchedule<SignedAttestation>({ maxProbeAttempts: 3, maxSubmitAttempts: 2, retryBaseMs: 100, retryMaxMs: 150 });
  s.observe("w", 1, relays("r"), 0);
  let [j] = s.take(0, 1, 1);
  t.equal(s.probeFailed(j!, 1000), "retry");
  t.equal(j!.notBefore, 1100, "first retry after retryBaseMs");
  t.same(s.take(1099, 1, 1), [], "not before its time");
  [j] = s.take(1100, 1, 1);
  t.equal(s.probeFailed(j!, 2000), "retry");
  t.equal(j!.notBefore, 2150, "doubled, capped at retryMaxMs");
  [j] = s.take(2150, 1, 1);
  t.equal(s.probeFailed(j!, 3000), "attest", "the third failure is to be attested");
  t.equal(j!.state, "running", "the job stays with the witness, which signs the failure");
  t.same(s.take(1e9, 1, 1), [], "and is not probed again");
  s.signed(j!, att(0n));
  s.submitted(j!, "h0");
  t.same(s.submittedJobs().map((x) => x.hash), ["h0"], "sent like any attestation");
  s.done(j!);

  s.observe("w", 1, relays("q"), 0);
  const [k] = s.take(0, 1, 1);
  s.signed(k!, att(5n));
  t.throws(() => s.signed(k!, att(6n)), "a second signature for the same job is refused");
  t.equal(s.submitFailed(k!, 10, true), "retry");
  t.equal(k!.notBefore, 10, "a nonce race retries at once");
  t.same(k!.attestation, att(5n), "the signed attestation is kept for the retry");
  s.take(10, 1, 1);
  t.equal(s.submitFailed(k!, 20), "failed", "maxSubmitAttempts");
});

t.test("schedule: submitted, dropped, done; prune reports what never got on chain", async (t) => {
  const s = new WitnessSchedule();
  s.observe("w", 2, relays("a", "b", "c"), 0);
  const [a, b] = s.take(0, 2, 2);
  s.signed(a!, att(1n));
  s.submitted(a!, "h1");
  t.same(s.submittedJobs().map((j) => j.hash), ["h1"]);
  t.equal(s.dropped("nope", 5, 2), undefined);
  t.same(s.dropped("h1", 5, 2), { job: a, retry: true }, "a dropped transaction makes the job ready again");
  t.equal(a!.state, "ready");
  t.equal(a!.hash, undefined);
  t.ok(a!.attestation, "with its attestation");
  s.done(b!);

  // a relay that changed its multiaddr before the job started is probed at the new one
  s.observe("w", 2, [{ relay: "c", multiaddr: "/new" }], 0);
  t.equal(s.get(jobId("w", "c", 2))!.multiaddr, "/new");

  s.observe("w", 2, relays("d"), 0);
  const taken = s.take(5, 10, 2);
  t.same(taken.map((j) => j.relay), ["a", "c", "d"], "the ready ones, a again among them");
  const d = taken[2];
  s.signed(d!, att(2n));
  for (const j of taken.slice(0, 2)) s.submitFailed(j, 0);
  s.submitted(d!, "h2");

  s.observe("w", 3, relays("a"), 0);
  const missed = s.prune(3);
  t.same(missed.map((j) => j.relay).sort(), ["a", "c"], "epoch 2: a (resubmit pending) and c (never probed) missed; b done");
  t.same(s.jobs().map((j) => j.id).sort(), [jobId("w", "a", 3), jobId("w", "d", 2)].sort(), "the current epoch's jobs, and d, still in the mempool");
  t.same(s.dropped("h2", 10, 3), { job: d, retry: false }, "d left the mempool after its epoch: missed, not resent");
  t.equal(s.get(jobId("w", "d", 2)), undefined);
});

t.test("schedule: closeFailing takes the waiting failed jobs of the epoch, and nothing else", async (t) => {
  const s = new WitnessSchedule<SignedAttestation>({ maxProbeAttempts: 5, retryBaseMs: 60_000, retryMaxMs: 60_000 });
  s.observe("w", 4, relays("failed", "fresh", "signed", "probing"), 0);
  s.observe("w", 3, relays("old"), 0);
  const taken = s.take(0, 10, 4);
  const byRelay = (r: string) => taken.find((j) => j.relay === r)!;
  s.probeFailed(byRelay("failed"), 0); // waits a minute for its next attempt
  const [fresh, signed] = [byRelay("fresh"), byRelay("signed")];
  fresh.state = "ready"; // never probed
  s.probeFailed(signed, 0);
  s.signed(signed, att(0n)); // already holds an attestation: it is sent, not signed again
  const [old] = s.take(0, 1, 3);
  s.probeFailed(old!, 0); // another epoch
  // "probing": running (a probe in flight)
  const closed = s.closeFailing(4);
  t.same(closed.map((j) => j.relay), ["failed"], "only the job that failed a probe and waits, of this epoch");
  t.equal(byRelay("failed").state, "running", "marked running: the witness attests its failure");
  t.same(s.closeFailing(4), [], "taken once");
  t.same(s.take(1e9, 10, 4).map((j) => j.relay).sort(), ["fresh", "signed"], "the others are left to take");
});

t.test("backoffMs", async (t) => {
  const o = { retryBaseMs: 500, retryMaxMs: 3000 };
  t.same([1, 2, 3, 4, 5].map((f) => backoffMs(f, o)), [500, 1000, 2000, 3000, 3000]);
});

t.test("nonces: after our pending transactions, gaps filled first, resync on disagreement", async (t) => {
  const n = new NonceTracker();
  t.equal(n.next(7n), 7n);
  n.sent("a", 7n);
  t.equal(n.next(7n), 8n, "7 is pending: next is 8");
  n.sent("b", 8n);
  n.sent("c", 9n);
  t.equal(n.next(7n), 10n);
  n.forget("b"); // dropped from the mempool
  t.equal(n.next(7n), 8n, "the gap left by a dropped transaction is filled first");
  t.equal(n.next(9n), 10n, "finalized ones (below the account nonce) are forgotten");
  t.same(n.pendingHashes(), ["c"]);
  n.taken(10n);
  t.equal(n.next(9n), 11n, "a nonce another process holds is skipped");
  t.same(n.pendingHashes(), ["c"], "and is not one of our hashes");
  n.resync();
  t.equal(n.next(9n), 9n);
  t.equal(n.size, 0);

  onNonceError(n, "MEMPOOL_REPLACEMENT_UNDERPRICED", 9n);
  t.equal(n.next(9n), 10n, "replacement underpriced: someone else holds 9");
  onNonceError(n, "MEMPOOL_NONCE_TOO_HIGH", 10n);
  t.equal(n.next(9n), 9n, "too high: resync");
  t.ok(["TX_WRONG_NONCE", "MEMPOOL_NONCE_TOO_LOW", "MEMPOOL_NONCE_TOO_HIGH"].every((c) => NONCE_ERROR_CODES.has(c)));
  t.notOk(NONCE_ERROR_CODES.has("BANDWIDTH_ATTEST_DUPLICATE"));
});

t.test("relay: the announced multiaddr", async (t) => {
  const peer = "12D3KooWExample";
  const bound = ["/ip4/10.0.0.5/tcp/4100/p2p/" + peer, "/ip4/127.0.0.1/tcp/4100/p2p/" + peer, "/ip4/127.0.0.1/tcp/39001/p2p/" + peer];
  t.equal(announcedMultiaddr("/ip4/127.0.0.1/tcp/4100", bound, peer), `/ip4/127.0.0.1/tcp/4100/p2p/${peer}`, "the bound address of the listen address");
  t.equal(announcedMultiaddr("/ip4/0.0.0.0/tcp/4100", bound, peer), `/ip4/10.0.0.5/tcp/4100/p2p/${peer}`, "a wildcard listen: the first interface on that port");
  t.equal(announcedMultiaddr("/ip4/127.0.0.1/tcp/0", bound.slice(2), peer), `/ip4/127.0.0.1/tcp/39001/p2p/${peer}`, "port 0: the port the OS chose");
  t.equal(announcedMultiaddr("/ip4/127.0.0.1/tcp/5000", bound, peer), undefined, "nothing bound there");
  t.equal(announcedMultiaddr("/ip4/127.0.0.1/tcp/4100", bound, peer, "/dns4/relay.example/tcp/443"), `/dns4/relay.example/tcp/443/p2p/${peer}`, "--announce wins");
  t.equal(announcedMultiaddr("/ip4/127.0.0.1/tcp/4100", bound, peer, `/ip4/1.2.3.4/tcp/1/p2p/${peer}`), `/ip4/1.2.3.4/tcp/1/p2p/${peer}`, "already with /p2p/");
  t.equal(defaultP2pKeyPath("/home/x/keys/relay.json"), "/home/x/keys/relay.p2p.key");
  t.equal(defaultP2pKeyPath("relay-key"), "relay-key.p2p.key");
});

t.test("flags and error codes", async (t) => {
  t.equal(decimalFlag("capacity", "125000000"), 125_000_000n);
  t.throws(() => decimalFlag("capacity", "-1"), { code: "BAD_ARGS" });
  t.throws(() => decimalFlag("capacity", "1e6"), { code: "BAD_ARGS" });
  t.equal(intFlag("poll-ms", "250"), 250);
  t.throws(() => intFlag("poll-ms", "0"), { code: "BAD_ARGS" });
  t.throws(() => intFlag("probe-bytes", "1000", 65536), { code: "BAD_ARGS" });
  t.equal(errorCode({ code: "BANDWIDTH_ATTEST_DUPLICATE" }), "BANDWIDTH_ATTEST_DUPLICATE");
  t.equal(errorCode(new Error("x")), "ERROR");
  t.equal(errorCode(null), "ERROR");
});
