import t from "tap";
import { Lifecycle } from "../../../node/lifecycle.ts";

t.test("parts stop in reverse order, once, and the signal aborts first", async (t) => {
  const order: string[] = [];
  const life = new Lifecycle();
  life.onStop("store", () => void order.push("store"));
  life.onStop("p2p", async () => {
    await new Promise((r) => setTimeout(r, 5));
    order.push(`p2p (aborted: ${life.signal.aborted})`);
  });
  life.onStop("rpc", () => void order.push("rpc"));
  await Promise.all([life.stop(), life.stop()]);
  await life.stop();
  t.same(order, ["rpc", "p2p (aborted: true)", "store"]);
  t.throws(() => life.onStop("late", () => undefined), /after the node began to stop/);
});

t.test("a part that fails to stop is reported and the rest still stop", async (t) => {
  const errors: string[] = [];
  const order: string[] = [];
  const life = new Lifecycle({ onError: (name) => errors.push(name) });
  life.onStop("a", () => void order.push("a"));
  life.onStop("b", () => {
    throw new Error("boom");
  });
  await life.stop();
  t.same(errors, ["b"]);
  t.same(order, ["a"]);
});

t.test("the caller's signal stops the node", async (t) => {
  const ac = new AbortController();
  const life = new Lifecycle({ signal: ac.signal });
  let stopped = false;
  life.onStop("x", () => {
    stopped = true;
  });
  ac.abort();
  await life.stop();
  t.equal(stopped, true);
  t.equal(life.signal.aborted, true);
});
