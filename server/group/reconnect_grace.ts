/**
 * The reconnect grace period of group members (issue 16, "A member keeps its place across a
 * reconnect"), as Colyseus's `allowReconnection` gives a room's client: a member whose connection
 * drops while its user is logged in is marked away instead of leaving, and when the same user is
 * bound to a new connection (a login by token after a reload or a lost network, which the gate
 * tells with `ss_msg_user_bind`) within `graceMs`, it is put back on that connection in the same
 * place: same groups, same order, same ownership. When the grace ends first, it leaves as before.
 *
 * The rules, for a connection that leaves the gate:
 * - Memberships it holds as the user still bound at the leave (`userId` of `ss_msg_client_leave`)
 *   are marked away, with one timer for the connection; all its other memberships end at once.
 *   So do a service link's (user 0), and all of them when `graceMs` is 0.
 * - If the member's user was meanwhile bound to another connection that is still open (the new
 *   login overtook the old connection's leave: a network drop the gate noticed only at the
 *   heartbeat, or a reconnect through another gate of a cluster), its memberships move there at
 *   once.
 *
 * A user unbound from a connection that stays open (`ss_msg_user_unbind`: a logout, a deleted
 * account, a login elsewhere or of another user there) is treated as if that connection had
 * dropped, for the memberships it holds as that user: moved at once to the user's other open
 * connection, else away (the grace period runs as for a dropped connection), else (`graceMs`
 * 0) ended at once. From then on the connection is no member of them; its later leave changes
 * nothing more. A connection holds memberships as nobody (user 0) only as a service link, which
 * is never unbound: those end when it leaves, as before.
 *
 * And when a user is bound to a connection, its away memberships (of any dropped or unbound
 * connection) move to it. Only the same user can take a place back: another account logging in
 * changes nothing, but where it logs in on the very connection an earlier user was unbound from,
 * that user's memberships away on it end then (the connection is no longer theirs to come back
 * to, and one connection is one member of a group). A message sent to a group while a member is
 * away is not kept for it.
 *
 * The module changes the registry and returns what happened; the service sends the pushes. No
 * I/O but its timers.
 *
 * @example
 * ```ts
 * import { GroupRegistry } from "./group_registry.ts";
 * const registry = new GroupRegistry({ limits: { maxMembers: 10, maxGroupsPerUser: 10 } });
 * const grace = new ReconnectGrace({ registry, graceMs: 30_000, onExpired: () => {} });
 * registry.create({ caller: { clientId: 1, userId: 7 }, groupId: "room" });
 * grace.left({ clientId: 1, userId: 7 }); // {away: [room], back: [], departures: []}
 * grace.bound({ clientId: 2, userId: 7 }); // {back: [room, now on client 2], departures: []}
 * ```
 * @module
 */

import type { AwayMark, Departure, GroupRegistry, Rejoin } from "./group_registry.ts";

/** Default grace period, ms. */
export const DEFAULT_RECONNECT_GRACE_MS = 30_000;

/** Longest grace period, ms (one day). */
export const MAX_RECONNECT_GRACE_MS = 86_400_000;

/** What a leave or a bind did to the memberships, for the service to tell. */
export interface GraceOutcome {
  /** Memberships that ended (reason "disconnected"). */
  departures: Departure[];
  /** Memberships marked away. */
  away: AwayMark[];
  /** Memberships back on a new connection. */
  back: Rejoin[];
}

/** Options of {@linkcode ReconnectGrace}. */
export interface ReconnectGraceOptions {
  /** The groups. */
  registry: GroupRegistry;
  /** How long an away member keeps its place, ms; 0 turns the grace period off. */
  graceMs: number;
  /** A dropped connection's grace ended: its away memberships have ended (`departures`). */
  onExpired: (expired: { clientId: number; departures: Departure[] }) => void;
  /** Timers; default `setTimeout` and `clearTimeout`. */
  timers?: {
    set(fn: () => void, ms: number): unknown;
    clear(id: unknown): void;
  };
}

interface AwayConnection {
  userId: number;
  timer: unknown;
}

function emptyOutcome(): GraceOutcome {
  return { departures: [], away: [], back: [] };
}

function merge(into: GraceOutcome, moved: { back: Rejoin[]; departures: Departure[] }): void {
  into.back.push(...moved.back);
  into.departures.push(...moved.departures);
}

/** Keeps dropped members' places for a while and hands them back to their user. */
export class ReconnectGrace {
  #registry: GroupRegistry;
  #graceMs: number;
  #onExpired: ReconnectGraceOptions["onExpired"];
  #timers: NonNullable<ReconnectGraceOptions["timers"]>;
  /** Dropped connections with away memberships, by clientId. */
  #away = new Map<number, AwayConnection>();
  /** userId → the dropped connections whose memberships wait for it. */
  #awayOf = new Map<number, Set<number>>();
  /** userId → the open connection it was last bound to, for users with memberships. */
  #boundTo = new Map<number, number>();
  /** The reverse of `#boundTo`: clientId → userId. */
  #boundUser = new Map<number, number>();

  /** Throws `RangeError` when `graceMs` is not an integer from 0 to one day. */
  constructor(options: ReconnectGraceOptions) {
    const { graceMs } = options;
    if (!Number.isSafeInteger(graceMs) || graceMs < 0 || graceMs > MAX_RECONNECT_GRACE_MS) {
      throw new RangeError(
        `Option graceMs must be an integer from 0 to ${MAX_RECONNECT_GRACE_MS}: received ${graceMs}`,
      );
    }
    this.#registry = options.registry;
    this.#graceMs = graceMs;
    this.#onExpired = options.onExpired;
    this.#timers = options.timers ?? {
      set: (fn, ms) => setTimeout(fn, ms),
      clear: (id) => clearTimeout(id as number),
    };
  }

  /** The grace period, ms (0: off). */
  get graceMs(): number {
    return this.#graceMs;
  }

  /** How many dropped connections have members waiting to come back. */
  get waiting(): number {
    return this.#away.size;
  }

  /** Whether a dropped connection's members are away (waiting for their user). */
  isAway(clientId: number): boolean {
    return this.#away.has(clientId);
  }

  /**
   * A connection left the gate; `userId` is the user bound to it then (0 when none). With
   * `grace: false` (its gate went down) every membership ends at once, away ones included.
   */
  left(options: { clientId: number; userId: number; grace?: boolean }): GraceOutcome {
    const { clientId } = options;
    const out = emptyOutcome();
    this.#forgetBinding(clientId);
    if (this.#away.has(clientId)) {
      // A connection already gone: its gate went down (end the grace now), or the leave came
      // twice (nothing changes).
      if (options.grace !== false) return out;
      this.#stopWaiting(clientId);
      out.departures.push(...this.#registry.clientLeft(clientId));
      return out;
    }
    for (const userId of this.#registry.memberUsers(clientId)) {
      const to = this.#boundTo.get(userId);
      if (userId > 0 && to !== undefined && to !== clientId) {
        merge(out, this.#registry.moveClient({ from: clientId, to, userId }));
      }
    }
    const keep = options.grace !== false && this.#graceMs > 0 && options.userId > 0;
    if (keep) {
      out.away = this.#registry.markAway({ clientId, userId: options.userId });
      if (out.away.length > 0) this.#startWaiting(clientId, options.userId);
    }
    out.departures.push(...this.#registry.clientLeft(clientId, { keepAway: true }));
    return out;
  }

  /**
   * A user's binding to a connection that stays open ended (a logout): its memberships there
   * as that user move to the user's other open connection, else are marked away for the grace
   * period, else (`graceMs` 0) end. See the module text.
   */
  unbound(options: { clientId: number; userId: number }): GraceOutcome {
    const { clientId, userId } = options;
    const out = emptyOutcome();
    if (!(userId > 0)) return out;
    if (this.#boundUser.get(clientId) === userId) this.#forgetBinding(clientId);
    const to = this.#boundTo.get(userId);
    if (to !== undefined && to !== clientId) {
      merge(out, this.#registry.moveClient({ from: clientId, to, userId }));
      return out;
    }
    const waiting = this.#away.get(clientId);
    if (this.#graceMs > 0 && (waiting === undefined || waiting.userId === userId)) {
      out.away = this.#registry.markAway({ clientId, userId });
      if (out.away.length > 0 && waiting === undefined) this.#startWaiting(clientId, userId);
    } else out.departures.push(...this.#registry.clientLeft(clientId, { userId }));
    return out;
  }

  /**
   * A user was bound to a connection (a login): its away memberships move to it, and while it
   * is a member anywhere the binding is remembered until the connection leaves. Memberships of
   * an earlier user away on this very connection end.
   */
  bound(options: { clientId: number; userId: number }): GraceOutcome {
    const { clientId, userId } = options;
    const out = emptyOutcome();
    if (this.#graceMs === 0) return out;
    // A new binding of the connection replaces the one remembered for it.
    this.#forgetBinding(clientId);
    if (!(userId > 0)) return out;
    const earlier = this.#away.get(clientId);
    if (earlier && earlier.userId !== userId) {
      this.#stopWaiting(clientId);
      out.departures.push(...this.#registry.clientLeft(clientId));
    }
    const waiting = this.#awayOf.get(userId);
    for (const from of [...waiting ?? []]) {
      this.#stopWaiting(from);
      merge(out, this.#registry.moveClient({ from, to: clientId, userId }));
      // Memberships it held as another user (none normally) end with it.
      if (from !== clientId) out.departures.push(...this.#registry.clientLeft(from));
    }
    if (this.#registry.hasUser(userId)) this.#remember(clientId, userId);
    return out;
  }

  /**
   * A gate went down: the bindings remembered for its connections (`from <= clientId < to`) are
   * forgotten, so that no place moves to a clientId the restarted gate may hand to someone else.
   * (Its members are told to {@linkcode left} one by one, with `grace: false`.)
   */
  gateDown(range: { from: number; to: number }): void {
    for (const clientId of [...this.#boundUser.keys()]) {
      if (clientId >= range.from && clientId < range.to) this.#forgetBinding(clientId);
    }
  }

  /** Forgets every away member and binding, without telling (the groups were all dropped). */
  clear(): void {
    for (const { timer } of this.#away.values()) this.#timers.clear(timer);
    this.#away.clear();
    this.#awayOf.clear();
    this.#boundTo.clear();
    this.#boundUser.clear();
  }

  #startWaiting(clientId: number, userId: number): void {
    const timer = this.#timers.set(() => this.#expire(clientId), this.#graceMs);
    this.#away.set(clientId, { userId, timer });
    let ofUser = this.#awayOf.get(userId);
    if (!ofUser) this.#awayOf.set(userId, ofUser = new Set());
    ofUser.add(clientId);
  }

  #stopWaiting(clientId: number): void {
    const away = this.#away.get(clientId);
    if (!away) return;
    this.#timers.clear(away.timer);
    this.#away.delete(clientId);
    const ofUser = this.#awayOf.get(away.userId);
    ofUser?.delete(clientId);
    if (ofUser?.size === 0) this.#awayOf.delete(away.userId);
  }

  #expire(clientId: number): void {
    if (!this.#away.has(clientId)) return;
    this.#stopWaiting(clientId);
    this.#onExpired({ clientId, departures: this.#registry.clientLeft(clientId) });
  }

  #remember(clientId: number, userId: number): void {
    const before = this.#boundTo.get(userId);
    if (before !== undefined) this.#boundUser.delete(before);
    this.#boundTo.set(userId, clientId);
    this.#boundUser.set(clientId, userId);
  }

  #forgetBinding(clientId: number): void {
    const userId = this.#boundUser.get(clientId);
    if (userId === undefined) return;
    this.#boundUser.delete(clientId);
    if (this.#boundTo.get(userId) === clientId) this.#boundTo.delete(userId);
  }
}
