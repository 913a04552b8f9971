/** Logs: JSON lines on a pipe, human-readable lines on a terminal, either on demand. */
import { Writable } from "node:stream";
import t from "tap";
import { createLogger, logFormatFor } from "../../../common/logging.ts";

function sink(): { stream: Writable; text: () => string } {
  const chunks: string[] = [];
  return { stream: new Writable({ write: (c, _e, cb) => (chunks.push(String(c)), cb()) }), text: () => chunks.join("") };
}

t.test("the format follows the destination unless one is asked for", async (t) => {
  t.equal(logFormatFor(undefined, true), "pretty");
  t.equal(logFormatFor(undefined, false), "json");
  t.equal(logFormatFor("json", true), "json");
  t.equal(logFormatFor("pretty", false), "pretty");
});

t.test("json: one object a line with a numeric level; pretty: the level's name and the message", async (t) => {
  const j = sink();
  createLogger("info", "json", j.stream).info({ height: 7 }, "finalized block");
  const line = JSON.parse(j.text().trim()) as { level: number; msg: string; height: number };
  t.match(line, { level: 30, msg: "finalized block", height: 7 });

  const p = sink();
  const log = createLogger("info", "pretty", p.stream);
  log.child({ module: "chain" }).warn({ height: 8 }, "validator jailed");
  log.debug("not shown at info");
  const text = p.text();
  t.match(text, /WARN/, "the level by name");
  t.match(text, /validator jailed/);
  t.match(text, /"height":8/, "fields on the same line");
  t.notMatch(text, /^\{/, "not JSON");
  t.notMatch(text, /not shown/, "the level still filters");
});

t.test("the plugins' logger: the node's, from --log-format/--log-level, with the plugin's name; bad values refused", async (t) => {
  const { loggerFromOptions } = await import("../../../common/logging.ts");
  t.throws(() => loggerFromOptions({ "log-format": "xml" }), { code: "BAD_LOG_OPTION", message: /--log-format must be one of json, pretty/ }, "an unknown format");
  t.throws(() => loggerFromOptions({ "log-level": "loud" }), { code: "BAD_LOG_OPTION", message: /--log-level/ }, "an unknown level");
  const log = loggerFromOptions({ "log-format": "json", "log-level": "warn" }, { plugin: "relay" });
  t.equal(log.level, "warn");
  t.same(log.bindings(), { plugin: "relay" }, "every line names the plugin");
  const j = sink();
  createLogger("info", "json", j.stream, { base: { plugin: "relay" } }).info({ height: 3 }, "relay ready");
  t.match(JSON.parse(j.text().trim()), { level: 30, plugin: "relay", msg: "relay ready", height: 3 });
});
