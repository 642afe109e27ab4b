/**
 * Route by key across gates (shared/key_routes.ts; PROTOCOL.md section 4, "Route by key"). The
 * gate a request enters learns a command's route from its own links or from the other gates'
 * announcements, then:
 *
 * - `{by: field}`: a key held by one of this gate's links goes to it; a key held on another
 *   gate (the cluster's directory, cluster_keys.ts) goes to that gate, which hands it to its
 *   link (cluster_serving.ts); a key nobody holds — or whose gate no longer serves the command —
 *   goes to any instance, which answers as for a key it does not know. A busy owner is
 *   `SERVER_BUSY`, never another instance.
 * - `{gather: field}`: the request goes to every gate serving it, each gathers its own links,
 *   and the answers are joined (gather.ts).
 *
 * Claims are create-only writes to the directory; this gate's own links' keys also live in its
 * {@linkcode KeyDirectory} (the dispatcher's), which is what its links are routed by. A link that
 * leaves has its keys deleted and their notify pushes sent by this gate; keys of a gate found
 * down (or of an earlier run of a gate, or of a gate not heard since this one joined) are deleted
 * by whichever gate's delete wins, which then sends their notify pushes.
 *
 * @module
 */

import {
  type KeyClaim,
  type KeyNotifyChange,
  makeResponse,
  type RequestEnvelope,
  State,
} from "../../shared/mod.ts";
import type { Logger } from "../log.ts";
import type { ClusterKeys, KeyEntry, KeyValue } from "./cluster_keys.ts";
import { kvKeyOf } from "./cluster_keys.ts";
import type { ClusterRequests } from "./cluster_requests.ts";
import { ANNOUNCE_MS, GATE_LAPSE_MS, type GateDirectory, type GateGone } from "./gate_directory.ts";
import { Gather } from "./gather.ts";
import type { ClaimOutcome, HeldKey } from "./key_directory.ts";
import { type LinkDispatcher, routeKeyOf } from "./link_dispatcher.ts";
import { type LocalSessions, notifyLocal, releaseLocal, tellKeysLost } from "./local_router.ts";
import type { LinkRoute, ServiceLink } from "./service_links.ts";
import type { Reply, Session } from "./session.ts";

/** Options of {@linkcode ClusterKeyRoutes}. */
export interface ClusterKeyRoutesOptions {
  /** This gate's number. */
  gate: number;
  /** This gate's sessions and dispatcher. */
  local: LocalSessions;
  requests: ClusterRequests;
  directory: GateDirectory;
  keys: ClusterKeys;
  log: Logger;
  /** Pushes to clients of any gate (the router's push). */
  push(clientIds: number[], text: string): number;
  /** This gate's run (its epoch), written in its entries. */
  epoch(): number;
}

const UNREACHABLE = "The cluster's key directory cannot be reached now: try again";

/** Keyed and gathered requests, and key claims, across the gates of a cluster. */
export class ClusterKeyRoutes {
  #options: ClusterKeyRoutesOptions;
  #dispatcher: LinkDispatcher;
  #keys: ClusterKeys;
  #connected = false;
  /** When NATS was (re)joined: gates not heard for a lapse since are gone. */
  #since = Date.now();
  /** KV keys this gate is claiming now (the sweep leaves them alone). */
  #claiming = new Set<string>();

  constructor(options: ClusterKeyRoutesOptions) {
    this.#options = options;
    this.#dispatcher = options.local.dispatcher;
    this.#keys = options.keys;
  }

  /** Whether NATS is connected now (else keyed requests use this gate's links only). */
  set connected(connected: boolean) {
    if (connected && !this.#connected) this.#since = Date.now();
    this.#connected = connected;
  }

  /** This gate's links' declared routes, for its announcement; undefined when none. */
  routes(): Record<string, LinkRoute> | undefined {
    const links = this.#dispatcher.links;
    let routes: Record<string, LinkRoute> | undefined;
    for (const cmd of links.commands) {
      const route = links.rotation(cmd)?.route;
      if (route) (routes ??= {})[cmd] = route;
    }
    return routes;
  }

  /**
   * Routes a request of a command declared routed; false for any other (and while NATS is
   * away: then this gate's links serve it, keyed among them by the dispatcher).
   */
  route(request: RequestEnvelope, reply: Reply): boolean {
    const cmd = request.cmd;
    const route = this.#dispatcher.links.rotation(cmd)?.route ??
      this.#options.directory.routeOf(cmd);
    if (route === undefined || !this.#connected) return false;
    if (route.gather !== undefined) {
      this.#gather(request, reply, route.gather);
      return true;
    }
    const key = routeKeyOf(request, route.by);
    if (key === undefined) return false;
    if (this.#dispatcher.keyOwner(route, request)) {
      this.#dispatcher.dispatch(request, reply);
      return true;
    }
    const entry = this.#keys.cached(route.space, key);
    if (entry) {
      this.#toOwner(entry, request, reply);
      return true;
    }
    // Not heard of yet: perhaps claimed on another gate a moment ago.
    this.#keys.fetch(route.space, key).then(
      (found) => found ? this.#toOwner(found, request, reply) : this.#anyInstance(request, reply),
      () => this.#anyInstance(request, reply),
    );
    return true;
  }

  /** Claims a key for a link of this gate, in the directory first. */
  async claim(link: Session, claim: KeyClaim): Promise<ClaimOutcome> {
    const owner = this.#dispatcher.links.linkOf(link);
    const space = link.service?.type;
    if (!owner || space === undefined) {
      return { ok: false, msg: "Only a registered service link may claim keys" };
    }
    const local = this.#dispatcher.keys;
    if (local.get(space, claim.key)) return this.#claimAgain(owner, space, claim);
    if (!this.#connected) return { ok: false, state: State.SERVER_OFF, msg: UNREACHABLE };
    const kvKey = kvKeyOf(space, claim.key);
    this.#claiming.add(kvKey);
    try {
      const value: KeyValue = {
        gate: this.#options.gate,
        epoch: this.#options.epoch(),
        link: link.id,
        notify: claim.notify && {
          cmd: claim.notify.cmd,
          data: claim.notify.data ?? {},
          clientIds: claim.notify.clientIds ?? [],
        },
      };
      const won = await this.#keys.claim({ space, key: claim.key, value });
      if (!won) {
        // This link's own claim of the key, made just before, wins over this one.
        if (local.owner(space, claim.key) === owner) return this.#claimAgain(owner, space, claim);
        return { ok: false, msg: `Key ${claim.key} is claimed by another instance` };
      }
      const outcome = link.conn.closed
        ? { ok: false as const, msg: "The link closed before its claim was made" }
        : local.claim({ space, key: claim.key, owner, notify: claim.notify });
      if (!outcome.ok) this.#keys.remove(space, claim.key);
      return outcome;
    } catch (error) {
      this.#options.log.warn("key not claimed", { key: claim.key, error });
      return { ok: false, state: State.SERVER_OFF, msg: UNREACHABLE };
    } finally {
      this.#claiming.delete(kvKey);
    }
  }

  /** Changes the notify list of a key a link of this gate holds, here and in the directory. */
  notify(link: Session, change: KeyNotifyChange): boolean {
    if (!notifyLocal(this.#options.local, link, change)) return false;
    const held = this.#dispatcher.keys.get(link.service!.type, change.key);
    if (held) this.#write(held);
    return true;
  }

  /** Releases a key a link of this gate holds, here and in the directory. */
  release(link: Session, key: string): boolean {
    const held = releaseLocal(this.#options.local, link, key);
    if (!held) return false;
    this.#keys.remove(held.space, held.key);
    return true;
  }

  /** A link left holding keys: their clientIds are told, and the keys deleted. */
  linkGone(lost: HeldKey<unknown>[]): void {
    if (lost.length === 0) return;
    tellKeysLost(lost, (ids, text) => this.#options.push(ids, text));
    for (const held of lost) this.#keys.remove(held.space, held.key);
    this.#options.log.info("keys released", { reason: "link left", keys: lost.length });
  }

  /**
   * Deletes the keys whose owner is gone: of `gone` (a gate found down) at once; of a run a gate
   * no longer runs (a restart); of a gate not heard for a lapse since this gate joined; of this
   * gate's links no longer here. Each key whose delete this gate wins has its notify push sent.
   */
  sweep(gone?: GateGone, now: number = Date.now()): void {
    if (!this.#connected) return;
    const self = this.#options.gate;
    const settled = now - this.#since > GATE_LAPSE_MS + ANNOUNCE_MS;
    for (const entry of this.#keys.entries()) {
      if (entry.losing || this.#claiming.has(entry.kvKey)) continue;
      let lost: boolean;
      if (entry.gate === self) {
        // An earlier run's, or a link's that left (its delete did not get through).
        lost = this.#dispatcher.keys.get(entry.space, entry.key)?.owner.session.id !== entry.link;
      } else {
        const epoch = this.#options.directory.epochOf(entry.gate);
        if (epoch !== undefined) lost = entry.epoch !== epoch;
        else lost = settled || (gone !== undefined && gone.gate === entry.gate);
      }
      if (lost) this.#lose(entry);
    }
  }

  #lose(entry: KeyEntry): void {
    this.#keys.lose(entry).then((won) => {
      if (!won) return;
      this.#options.log.info("key released", {
        key: entry.key,
        gate: entry.gate,
        reason: "owner gone",
        told: entry.notify?.clientIds.length ?? 0,
      });
      const notify = entry.notify;
      if (!notify || !Array.isArray(notify.clientIds) || notify.clientIds.length === 0) return;
      tellKeysLost([{
        space: entry.space,
        key: entry.key,
        owner: undefined,
        notify: { cmd: notify.cmd, data: notify.data, clientIds: new Set(notify.clientIds) },
      }], (ids, text) => this.#options.push(ids, text));
    }).catch((error) => this.#options.log.warn("key not released", { key: entry.key, error }));
  }

  #claimAgain(owner: ServiceLink, space: string, claim: KeyClaim): ClaimOutcome {
    const outcome = this.#dispatcher.keys.claim({
      space,
      key: claim.key,
      owner,
      notify: claim.notify,
    });
    const held = this.#dispatcher.keys.get(space, claim.key);
    if (outcome.ok && claim.notify && held) this.#write(held);
    return outcome;
  }

  /** Writes a held key's value (its notify list) to the directory, coalesced. */
  #write(held: HeldKey<ServiceLink>): void {
    this.#keys.write({
      space: held.space,
      key: held.key,
      value: this.#valueOf(held),
    });
  }

  #valueOf(held: HeldKey<ServiceLink>): KeyValue {
    const notify = held.notify;
    return {
      gate: this.#options.gate,
      epoch: this.#options.epoch(),
      link: held.owner.session.id,
      notify: notify && { cmd: notify.cmd, data: notify.data, clientIds: [...notify.clientIds] },
    };
  }

  /**
   * This gate started a new run without a restart (the others declared it down while it was cut
   * off; its links stayed): its links' keys are written again with the new epoch, so that the
   * others keep routing to them. A key another link claimed meanwhile (the others released it) is
   * dropped here: its requests go to that link.
   */
  renewed(): void {
    for (const link of this.#dispatcher.links.all()) {
      const type = link.session.service?.type;
      if (type === undefined) continue;
      for (const held of this.#dispatcher.keys.heldBy(link)) {
        this.#keys.reclaim({ space: held.space, key: held.key, value: this.#valueOf(held) }).then(
          (kept) => {
            if (kept) return;
            this.#dispatcher.keys.release({ space: held.space, key: held.key, owner: link });
            this.#options.log.warn("key lost to another instance", { key: held.key });
          },
          (error) => this.#options.log.warn("key not claimed again", { key: held.key, error }),
        );
      }
    }
  }

  /** Sends a keyed request to the gate holding its key; any instance when that gate cannot. */
  #toOwner(entry: KeyEntry, request: RequestEnvelope, reply: Reply): void {
    if (entry.gate === this.#options.gate) {
      // Heard of as this gate's, yet no link here holds it: it is being released.
      this.#anyInstance(request, reply);
      return;
    }
    this.#options.requests.routeTo({
      request,
      reply,
      targets: [entry.gate],
      onExhausted: (busy) => {
        if (!busy) {
          this.#anyInstance(request, reply);
          return;
        }
        const state = State.SERVER_BUSY;
        reply(
          JSON.stringify(makeResponse(request, {
            state,
            msg: `The service for ${request.cmd} that holds its key is at its in-flight limit`,
          })),
          state,
        );
      },
    });
  }

  /** Routes a request round-robin to any instance, as an unrouted one. */
  #anyInstance(request: RequestEnvelope, reply: Reply): void {
    this.#options.requests.route(request, reply);
  }

  /** Asks every gate that serves the command (this one among them) and joins the answers. */
  #gather(request: RequestEnvelope, reply: Reply, field: string): void {
    const requests = this.#options.requests;
    const targets = requests.targets(request.cmd);
    if (targets === undefined || targets.length === 0) {
      // Only this gate serves it (the dispatcher gathers its links), or none does.
      requests.route(request, reply);
      return;
    }
    const gather = new Gather({ request, field, parts: targets.length, reply });
    for (const gate of targets) {
      const part = gather.part();
      const copy = { ...request };
      if (gate === this.#options.gate) {
        this.#dispatcher.gather({ request: copy, reply: part, field });
        continue;
      }
      requests.routeTo({
        request: copy,
        reply: part,
        targets: [gate],
        onExhausted: (busy) => {
          if (!busy) {
            part.skip();
            return;
          }
          const state = State.SERVER_BUSY;
          part(
            JSON.stringify(makeResponse(request, {
              state,
              msg: `A service for ${request.cmd} is at its in-flight limit`,
            })),
            state,
          );
        },
      });
    }
  }
}
