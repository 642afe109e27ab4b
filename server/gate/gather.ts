/**
 * One gathered request (route `{gather: field}`, shared/key_routes.ts): the gate sends it to
 * every instance (every link here; in cluster mode, every gate that serves it, which gathers its
 * own links) and answers once all have answered. When every answer is OK, the answer is the
 * first one with `data[field]` the arrays of all joined in order; otherwise it is the first answer
 * that is not OK, as the instance gave it. A part with nothing to add (a gate whose links left
 * meanwhile) is skipped; when every part is skipped the request is answered `SERVER_OFF`.
 *
 * @example
 * ```ts ignore
 * const gather = new Gather({ request, field: "groups", parts: 2, reply, refuse });
 * dispatcher.forward({ link: a, request: { ...request }, reply: gather.part() });
 * gather.part().skip(); // a gate with nothing to add
 * dispatcher.forward({ link: b, request: { ...request }, reply: gather.part() });
 * ```
 * @module
 */

import { makeResponse, type RequestEnvelope, State } from "../../shared/mod.ts";
import type { Reply } from "./session.ts";

/** Options of {@linkcode Gather}. */
export interface GatherOptions {
  request: RequestEnvelope;
  /** The array field of `data` to join. */
  field: string;
  /** How many parts will answer (each made by {@linkcode Gather.part}). */
  parts: number;
  /** Where the joined answer goes. */
  reply: Reply;
}

/** The reply of one part of a gather, or its `skip()`. */
export type GatherPart = Reply & { skip(): void };

interface Part {
  text: string;
  state: number;
}

/** Collects the answers of one gathered request and joins them. */
export class Gather {
  #options: GatherOptions;
  #answers: (Part | undefined)[] = [];
  #waiting: number;
  #next = 0;

  constructor(options: GatherOptions) {
    this.#options = options;
    this.#waiting = options.parts;
  }

  /**
   * The reply of the next part; its `skip()` says the part has nothing to add. Only the first
   * of the two calls counts.
   */
  part(): GatherPart {
    const i = this.#next++;
    let done = false;
    const reply = ((text: string, state: number) => {
      if (done) return;
      done = true;
      this.#answers[i] = { text, state };
      this.#settle();
    }) as GatherPart;
    reply.skip = () => {
      if (done) return;
      done = true;
      this.#settle();
    };
    return reply;
  }

  #settle(): void {
    if (--this.#waiting > 0) return;
    const { request, field, reply } = this.#options;
    const answers = this.#answers.filter((a): a is Part => a !== undefined);
    const failed = answers.find((a) => a.state !== State.OK);
    if (failed) {
      reply(failed.text, failed.state);
      return;
    }
    if (answers.length === 0) {
      const state = State.SERVER_OFF;
      reply(
        JSON.stringify(makeResponse(request, {
          state,
          msg: `No service for ${request.cmd} is connected`,
        })),
        state,
      );
      return;
    }
    let joined: { data?: Record<string, unknown> } | undefined;
    const items: unknown[] = [];
    for (const answer of answers) {
      let response: { data?: Record<string, unknown> };
      try {
        response = JSON.parse(answer.text);
      } catch {
        continue;
      }
      joined ??= response;
      const part = response.data?.[field];
      if (!Array.isArray(part)) {
        const state = State.FAIL;
        reply(
          JSON.stringify(makeResponse(request, {
            state,
            msg: `The answers to ${request.cmd} cannot be joined: field ${field} is not an array`,
          })),
          state,
        );
        return;
      }
      for (const item of part) items.push(item);
    }
    if (!joined?.data) {
      reply(answers[0].text, State.OK);
      return;
    }
    joined.data[field] = items;
    reply(JSON.stringify(joined), State.OK);
  }
}
