/**
 * The message-type table (DESIGN.md, "Frames"): name ↔ number, loadable from a JSON file so that
 * a deployment can renumber it. Client and server must hold the same table.
 *
 * @example
 * ```ts
 * import { MessageTypes } from "./message_types.ts";
 * const types = MessageTypes.fromJson('{"HeartbeatReq": 11, "HeartbeatRsp": 12}');
 * types.number("HeartbeatReq"); // 11
 * types.number("Envelope"); // 100, from the defaults
 * ```
 * @module
 */

import { MAX_U32 } from "./frame.ts";

/** The names every table holds. */
export type MessageTypeName =
  | "HeartbeatReq"
  | "HeartbeatRsp"
  | "LoginReq"
  | "LoginRsp"
  | "LogoutReq"
  | "LogoutRsp"
  | "GetDogStatusReq"
  | "GetDogStatusRsp"
  | "Envelope"
  | "Error";

/** The default numbering of DESIGN.md. */
export const DEFAULT_MESSAGE_TYPES: Readonly<Record<MessageTypeName, number>> = Object.freeze({
  HeartbeatReq: 1,
  HeartbeatRsp: 2,
  LoginReq: 3,
  LoginRsp: 4,
  LogoutReq: 5,
  LogoutRsp: 6,
  GetDogStatusReq: 7,
  GetDogStatusRsp: 8,
  Envelope: 100,
  Error: 255,
});

/** A name ↔ number table of message types. */
export class MessageTypes {
  #byName: Map<string, number>;
  #byNumber: Map<number, MessageTypeName>;

  /** A table from a record of numbers; names left out keep their default number. */
  constructor(overrides: Partial<Record<MessageTypeName, number>> = {}) {
    const merged = { ...DEFAULT_MESSAGE_TYPES, ...overrides };
    this.#byName = new Map();
    this.#byNumber = new Map();
    for (const [name, number] of Object.entries(merged)) {
      if (!Object.hasOwn(DEFAULT_MESSAGE_TYPES, name)) {
        throw new TypeError(
          `Message type ${JSON.stringify(name)} is not one the protocol knows`,
        );
      }
      if (!Number.isInteger(number) || number < 0 || number > MAX_U32) {
        throw new TypeError(
          `Message type ${name} must be an unsigned 32-bit integer`,
        );
      }
      const other = this.#byNumber.get(number);
      if (other !== undefined) {
        throw new TypeError(
          `Message types ${other} and ${name} share the number ${number}`,
        );
      }
      this.#byName.set(name, number);
      this.#byNumber.set(number, name as MessageTypeName);
    }
  }

  /**
   * A table from JSON text: an object of name → number. Throws `TypeError` with a sentence
   * naming the fault.
   */
  static fromJson(text: string): MessageTypes {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new TypeError("The message-type file is not valid JSON");
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw new TypeError(
        "The message-type file must hold a JSON object of name to number",
      );
    }
    return new MessageTypes(value as Partial<Record<MessageTypeName, number>>);
  }

  /** The number of a type. */
  number(name: MessageTypeName): number {
    return this.#byName.get(name)!;
  }

  /** The name of a number, or `undefined` when the table does not know it. */
  name(number: number): MessageTypeName | undefined {
    return this.#byNumber.get(number);
  }

  /** The table as a plain record. */
  toJSON(): Record<MessageTypeName, number> {
    return Object.fromEntries(this.#byName) as Record<MessageTypeName, number>;
  }
}
