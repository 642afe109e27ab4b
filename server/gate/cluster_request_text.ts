/**
 * The text of a request sent from one gate to another over NATS: the request envelope's JSON
 * with `msgId` and `cmd` first, `{"msgId":7,"cmd":"echo",…}`. The serving gate reads those two
 * from the front of the text, checks them, and passes the text on to its link with only the
 * digits of `msgId` replaced by its own pending id: no `JSON.parse` and no `JSON.stringify` of
 * the whole envelope on the way (bench/FINDINGS.md, finding 18). A text that does not start so
 * (a gate of an older version, a forged message) is parsed and checked as a whole instead.
 *
 * @example
 * ```ts ignore
 * const text = requestText(request); // on the gate the request entered
 * const head = readRequestHead(text, cmdField("echo")); // on the serving gate
 * if (head) send(withMsgId(text, { head, msgId: 42 }));
 * ```
 * @module
 */

import type { RequestEnvelope } from "../../shared/mod.ts";

/** What every cross-gate request text starts with. */
const PREFIX = '{"msgId":';

/** The longest run of digits a safe integer has. */
const MAX_DIGITS = 16;

/** The request's JSON, `msgId` and `cmd` first (the request object is left as it was). */
export function requestText(request: RequestEnvelope): string {
  const { msgId, cmd } = request;
  const fields = request as { msgId?: number; cmd?: string };
  // Left out of the text by JSON.stringify, then put back: no copy of the request, and no
  // `delete` (which would turn the object into a slow dictionary).
  fields.msgId = undefined;
  fields.cmd = undefined;
  let rest: string;
  try {
    rest = JSON.stringify(request);
  } finally {
    request.msgId = msgId;
    request.cmd = cmd;
  }
  const head = PREFIX + msgId + cmdField(cmd);
  return rest.length <= 2 ? head + "}" : head + "," + rest.slice(1);
}

/** The `cmd` field as it follows `msgId` in a request text: `,"cmd":"echo"`. */
export function cmdField(cmd: string): string {
  return ',"cmd":' + JSON.stringify(cmd);
}

/** The front of a request text: the requester's `msgId` and where the text after it starts. */
export interface RequestHead {
  msgId: number;
  /** The index of the `,"cmd":` that follows the digits of `msgId`. */
  rest: number;
}

/**
 * Reads `msgId` and checks `cmd` (given as {@linkcode cmdField}) at the front of a request text;
 * undefined when the text does not start so, or does not end as an object does.
 */
export function readRequestHead(text: string, field: string): RequestHead | undefined {
  if (!text.startsWith(PREFIX) || text.charCodeAt(text.length - 1) !== 0x7d) return undefined;
  let i = PREFIX.length;
  let msgId = 0;
  const first = text.charCodeAt(i);
  if (first < 0x31 || first > 0x39) return undefined; // a positive integer, no leading zero
  for (; i < text.length && i - PREFIX.length <= MAX_DIGITS; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) break;
    msgId = msgId * 10 + (c - 0x30);
  }
  if (!Number.isSafeInteger(msgId) || !text.startsWith(field, i)) return undefined;
  const after = text.charCodeAt(i + field.length);
  if (after !== 0x2c && after !== 0x7d) return undefined; // `,` or `}`
  return { msgId, rest: i };
}

/** The request text with another `msgId` (the serving gate's pending id). */
export function withMsgId(text: string, options: { head: RequestHead; msgId: number }): string {
  return PREFIX + options.msgId + text.slice(options.head.rest);
}
