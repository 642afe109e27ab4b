import assert from "node:assert/strict";
import * as shared from "../../shared/mod.ts";

const DOC_URL = new URL("../../shared/PROTOCOL.md", import.meta.url);

/** A protocol command or push name: `cs_msg_*`, `sc_msg_*`, `ss_*` or `license_*`. */
const NAME = /`((?:cs_msg|sc_msg|ss|license)_[a-z_]+)`/g;

/** The echo service's test commands (PROTOCOL.md section 7) are not protocol commands. */
function withoutEchoSection(doc: string): string {
  const start = doc.indexOf("## 7. The echo service");
  const end = doc.indexOf("## 8.", start);
  assert.ok(start > 0 && end > start, "PROTOCOL.md keeps its echo section 7 before section 8");
  return doc.slice(0, start) + doc.slice(end);
}

function namesInDoc(doc: string): Set<string> {
  return new Set([...withoutEchoSection(doc).matchAll(NAME)].map((m) => m[1]));
}

/** Every string value of the command tables `shared/` exports. */
function namesInShared(): Set<string> {
  const tables = [shared.GateCmd, shared.LoginCmd, shared.GroupCmd, shared.LicenseCmd];
  return new Set(tables.flatMap((table) => Object.values(table) as string[]));
}

Deno.test("every command and push named in PROTOCOL.md exists in shared/", async () => {
  const doc = await Deno.readTextFile(DOC_URL);
  const known = namesInShared();
  const missing = [...namesInDoc(doc)].filter((name) => !known.has(name));
  assert.deepEqual(missing, [], "names in PROTOCOL.md that shared/ does not export");
});

Deno.test("every command and push in shared/ is described in PROTOCOL.md", async () => {
  const doc = await Deno.readTextFile(DOC_URL);
  const named = namesInDoc(doc);
  const missing = [...namesInShared()].filter((name) => !named.has(name));
  assert.deepEqual(missing, [], "names in shared/ that PROTOCOL.md does not describe");
});

Deno.test("PROTOCOL.md gives every state code and message type with its number", async () => {
  const doc = await Deno.readTextFile(DOC_URL);
  for (const [name, code] of Object.entries(shared.State)) {
    assert.match(doc, new RegExp(`\\|\\s*${code}\\s*\\|\\s*${name}\\s*\\|`), `state ${name}`);
  }
  for (const [name, number] of Object.entries(shared.DEFAULT_MESSAGE_TYPES)) {
    assert.match(doc, new RegExp(`\\|\\s*${name}\\s*\\|\\s*${number}\\s*\\|`), `type ${name}`);
  }
});

Deno.test("PROTOCOL.md states the limits shared/ enforces", async () => {
  const doc = await Deno.readTextFile(DOC_URL);
  assert.ok(doc.includes(`1 to ${shared.MAX_CMD_LENGTH} characters`), "cmd length");
  assert.ok(doc.includes(`at most ${shared.MAX_MSG_LENGTH} characters`), "msg length");
  assert.ok(doc.includes(`deeper than ${shared.MAX_JSON_DEPTH} levels`), "nesting");
  assert.ok(doc.includes(String(Number.MAX_SAFE_INTEGER)), "largest msgId");
});

Deno.test("the drift check sees names in the document", () => {
  const names = namesInDoc(
    "x `cs_msg_a` `ss_b` y `sc_msg_c` `license_d` `echo` `cs_msg_` " +
      "## 7. The echo service `sc_msg_echo` ## 8. z",
  );
  assert.deepEqual([...names].sort(), ["cs_msg_a", "license_d", "sc_msg_c", "ss_b"]);
});
