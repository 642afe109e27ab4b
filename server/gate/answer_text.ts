/**
 * The text of a service link's answer as the gate passes it on: the link's own text with only
 * the digits of `msgId` replaced by the requester's, instead of `JSON.stringify` of the parsed
 * answer (bench/FINDINGS.md, finding 19). The gate still parses and validates every answer
 * first (`parseEnvelope`); the text is passed on only when it reads as the object the gate would
 * have written: it starts `{"cmd":"<the request's cmd>","is_resp":true,"msgId":<the gate's id>,`
 * (the order `makeResponse` and `JSON.stringify` give), has neither `cmd` nor `msgId` anywhere
 * after that (in a key or a value) nor a `\u` escape, has no top-level `clientId` (which the
 * gate strips), and validation filled in nothing. Any other answer is re-encoded, as before.
 *
 * @example
 * ```ts ignore
 * const text = answerText(linkText, { cmd: "echo", msgId: 42, clientMsgId: 7 });
 * // '{"cmd":"echo","is_resp":true,"msgId":7,…}', or undefined: stringify the parsed answer
 * ```
 * @module
 */

/** What an answer text starts with, up to the command's name. */
const CMD_HEAD = '{"cmd":"';

/** What follows the command's name (and its closing quote) up to the digits of `msgId`. */
const AFTER_CMD = ',"is_resp":true,"msgId":';

/** The longest run of digits a safe integer has. */
const MAX_DIGITS = 16;

/** Options of {@linkcode answerText}. */
export interface AnswerTextOptions {
  /** The request's command (it matches `CMD_PATTERN`: no character needs escaping). */
  cmd: string;
  /** The gate's pending id the link answered. */
  msgId: number;
  /** The requester's `msgId`, which replaces it. */
  clientMsgId: number;
}

/**
 * The answer's text with the requester's `msgId`, or undefined when the text does not start as
 * described in the module's doc or has `cmd`, `msgId` or `\u` after it (then the caller encodes
 * the parsed answer). `text` must have been parsed and validated as a response already, with no
 * field filled in and no `clientId`.
 */
export function answerText(text: string, options: AnswerTextOptions): string | undefined {
  const { cmd, msgId, clientMsgId } = options;
  const cmdEnd = CMD_HEAD.length + cmd.length;
  if (
    !text.startsWith(CMD_HEAD) || !text.startsWith(cmd, CMD_HEAD.length) ||
    text.charCodeAt(cmdEnd) !== 0x22 || !text.startsWith(AFTER_CMD, cmdEnd + 1)
  ) {
    return undefined;
  }
  const digits = cmdEnd + 1 + AFTER_CMD.length;
  let i = digits;
  let value = 0;
  for (; i < text.length && i - digits <= MAX_DIGITS; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x30 || c > 0x39) break;
    value = value * 10 + (c - 0x30);
  }
  if (i === digits || value !== msgId || text.charCodeAt(i) !== 0x2c) return undefined; // `,`
  // A key repeated later would be the one a reader keeps (the last): not passed on unread. Only a
  // `\u` escape can spell a key's letters otherwise, and any spacing keeps them in a row.
  if (
    text.indexOf("msgId", i) !== -1 || text.indexOf("cmd", i) !== -1 ||
    text.indexOf("\\u", i) !== -1
  ) {
    return undefined;
  }
  return text.slice(0, digits) + clientMsgId + text.slice(i);
}
