/**
 * The least a gate B can cost: a process on a raw NATS connection that announces itself as a gate
 * serving `echo` (as `server/gate/cluster_announce.ts` does, batches read) and answers every
 * request itself, OK with empty data, in one batch per message it read. No service link, no
 * validation, no pending table. `bench/cluster_pairs.ts --variants played` puts it behind a real
 * gate A, to bound what the cross-gate hop costs apart from gate B's own work and its service
 * (bench/FINDINGS.md, finding 21). A measuring tool, not a gate.
 *
 * ```sh
 * deno run --allow-net --config deno.json bench/played_gate.ts nats://127.0.0.1:4222
 * ```
 *
 * @module
 */

import { connect } from "@nats-io/transport-node";
import { ANNOUNCE_SUBJECT, commandSubject } from "../server/gate/cluster_subjects.ts";
import { BATCH_TOKEN, encodeBatch, readAnswerBatch } from "../server/gate/cluster_answers.ts";
import { CLIENTS_PER_GATE } from "../server/gate/cluster_ids.ts";

/** The gate number it plays (a real gate takes 1 and up from the KV; the bench's are few). */
const GATE = 900;
/** How often it announces (gates count one silent for 3 s as down). */
const ANNOUNCE_EVERY_MS = 1000;

const url = Deno.args[0];
if (!url) throw new TypeError("Give the NATS URL as the first argument");
const nc = await connect({ servers: url });
const announcement = JSON.stringify({
  gate: GATE,
  gateId: "played",
  epoch: 1,
  firstId: GATE * CLIENTS_PER_GATE + 1,
  serves: { echo: 1 },
  types: ["echo"],
  batches: 1,
});
nc.publish(ANNOUNCE_SUBJECT, announcement);
setInterval(() => nc.publish(ANNOUNCE_SUBJECT, announcement), ANNOUNCE_EVERY_MS);

const decoder = new TextDecoder();
/** The answer to the request whose text starts `{"msgId":<id>` (cluster_request_text.ts). */
function answer(text: string): string {
  const msgId = /^\{"msgId":(\d+)/.exec(text)?.[1] ?? "0";
  return `{"cmd":"echo","is_resp":true,"msgId":${msgId},"state":1,"time":${Date.now()},"data":{}}`;
}

nc.subscribe(commandSubject(GATE, "echo"), {
  callback: (_error, msg) => {
    const to = msg.reply;
    if (!to) return;
    const dot = to.lastIndexOf(".");
    if (to.charCodeAt(dot + 1) !== 0x71) { // not `q`: one request
      nc.publish(to, answer(msg.string()));
      return;
    }
    const { answers: requests } = readAnswerBatch(msg.data);
    const answers = requests.map(({ id, bytes }) => ({
      id,
      state: 1,
      text: answer(decoder.decode(bytes)),
    }));
    nc.publish(to.slice(0, dot + 1) + BATCH_TOKEN, encodeBatch(answers));
  },
});
console.log(`played gate ${GATE} on ${url}`);
