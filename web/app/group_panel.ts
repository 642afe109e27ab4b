/// <reference lib="dom" />
/**
 * The group chat part of the page (the group service): create a group and show its id, key and
 * invite link, join one by id and key or by opening an invite link (see invite.ts), the message
 * list, send, the members list, leave, and dismiss for the owner. The page is in one group at a
 * time. Members and senders are shown by the name the group service gives: a user's username,
 * stamped by the gate from the login (the page sends no name), or "user N" when there is none.
 *
 * Pushes of the current group update it: `sc_msg_group_msg` adds a message, `sc_msg_group_join`,
 * `sc_msg_group_leave`, `sc_msg_group_away` and `sc_msg_group_back` add a line and refresh the
 * members, `sc_msg_group_dismiss` ends it. A member whose connection dropped keeps its place for
 * the group service's grace period: the page remembers its group (room_store.ts), and after a
 * reload or a reconnect, once logged in again by token, asks for its groups and shows the same
 * one again; when the grace has passed, the join form is filled in to rejoin. Logging out (the
 * page leaves first) and a kick (the page leaves: a member connection may leave even once its
 * user is gone) end it.
 *
 * @module
 */

import {
  type GroupAwayPush,
  type GroupBackPush,
  GroupCmd,
  type GroupCreated,
  type GroupDismissPush,
  type GroupJoinAnswer,
  type GroupJoinPush,
  type GroupLeavePush,
  type GroupListEntry,
  type GroupMember,
  type GroupMessagePush,
  type GroupOwner,
  type GroupSent,
  isGroupId,
  isGroupKey,
  MAX_GROUP_KEY_LENGTH,
  State,
} from "../../shared/mod.ts";
import { busy, byId, fields, onSubmit, show } from "./dom.ts";
import { ActionError, call, describeError } from "./errors.ts";
import { clearFieldErrors, showFieldError } from "./field_errors.ts";
import { type Invite, inviteLink, parseInvite } from "./invite.ts";
import { MessageList, messageText } from "./message_list.ts";
import type { Notices } from "./notices.ts";
import { RoomStore } from "./room_store.ts";
import type { GateClient } from "../../client/browser.ts";
import type { Session, SessionEvent } from "./session.ts";

/** The group the page is in. */
interface Room {
  groupId: string;
  key: string;
  /** This connection's clientId, once known. */
  me?: number;
  owner?: GroupOwner;
}

/** Wires the group chat to a client. */
export class GroupPanel {
  #client: GateClient;
  #session: Session;
  #notices: Notices;
  #room?: Room;
  #section = byId("groups");
  #choose = byId("group-choose");
  #roomView = byId("group-room");
  #createForm = byId("create-form", HTMLFormElement);
  #joinForm = byId("join-form", HTMLFormElement);
  #sendForm = byId("send-form", HTMLFormElement);
  #messages = new MessageList(byId("messages"));
  #members = byId("members");
  #leave = byId("leave", HTMLButtonElement);
  #dismiss = byId("dismiss", HTMLButtonElement);
  /** The group kept across a reload. */
  #rooms = new RoomStore();
  /** Whether the page is asking for its groups back. */
  #regaining = false;

  /** An invite link opened before the page could join (not logged in yet). */
  #invite?: Invite;

  constructor(client: GateClient, session: Session, notices: Notices) {
    this.#client = client;
    this.#session = session;
    this.#notices = notices;
    this.#wireForms();
    this.#wirePushes();
    session.beforeLogout(async () => {
      if (this.#room) await this.#leaveRoom();
    });
    session.onChange((event) => this.#sessionChanged(event));
    globalThis.addEventListener("hashchange", () => this.#takeInvite());
    this.#takeInvite();
    this.render();
  }

  /** Shows the panel while logged in; the room while in a group, the forms otherwise. */
  render(): void {
    show(this.#section, this.#session.loggedIn);
    show(this.#choose, !this.#room);
    show(this.#roomView, !!this.#room);
    if (!this.#room) return;
    byId("room-name").textContent = this.#room.groupId;
    byId("room-id", HTMLInputElement).value = this.#room.groupId;
    byId("room-key", HTMLInputElement).value = this.#room.key;
    byId("room-invite", HTMLInputElement).value = this.#room.key
      ? inviteLink(location, this.#room)
      : "";
    show(this.#dismiss, this.#isOwner());
  }

  /**
   * Reads an invite link from the address: the join form is filled in with it, and the page
   * joins at once when logged in (else right after the login). The fragment is then removed
   * from the address, so that the key does not stay in the history or a shared screen.
   */
  #takeInvite(): void {
    const invite = parseInvite(location.hash);
    if (!invite) return;
    history.replaceState(null, "", location.pathname + location.search);
    byId("join-id", HTMLInputElement).value = invite.groupId;
    byId("join-key", HTMLInputElement).value = invite.key;
    this.#invite = invite;
    if (this.#session.loggedIn && this.#client.state === "connected") this.#useInvite();
    else {this.#notices.info(
        `The invite link joins group ${invite.groupId} once you are logged in.`,
      );}
  }

  #useInvite(): void {
    const invite = this.#invite;
    if (!invite || this.#room?.groupId === invite.groupId) return;
    this.#invite = undefined;
    busy(this.#joinForm, async () => {
      if (this.#room) await this.#leaveRoom().catch(() => {});
      await this.#join(invite);
    });
  }

  /** Joins a group; a refusal is shown under the field it concerns. */
  async #join(invite: Invite): Promise<void> {
    clearFieldErrors(this.#joinForm);
    try {
      const joined = await call<GroupJoinAnswer>(this.#client, GroupCmd.JOIN, { ...invite });
      const mine = joined.members.filter((m) => m.userId === this.#session.userId);
      this.#enter({
        groupId: joined.groupId,
        key: invite.key,
        owner: joined.owner,
        me: mine.length === 1 ? mine[0].clientId : undefined,
      });
      this.#joinForm.reset();
      this.#messages.event(`You joined group ${joined.groupId}.`);
      this.#renderMembers(joined.members);
      this.#notices.info(`Joined group ${joined.groupId}.`);
    } catch (error) {
      const text = describeError(error);
      const state = error instanceof ActionError ? error.state : undefined;
      if (state === State.FORBIDDEN || /^Field key/.test(text)) {
        this.#notices.clear();
        showFieldError(byId("join-key", HTMLInputElement), text);
      } else if (/^No group|^Field groupId|is full/.test(text)) {
        this.#notices.clear();
        showFieldError(byId("join-id", HTMLInputElement), text);
      } else this.#notices.error(`Could not join the group: ${text}`);
    }
  }

  #wireForms(): void {
    onSubmit(this.#createForm, async () => {
      try {
        const created = await call<GroupCreated>(this.#client, GroupCmd.CREATE, {});
        this.#enter({ ...created, me: created.owner.clientId });
        this.#messages.event(
          "You created this group. Share its invite link (or its id and key) with the people " +
            "you invite.",
        );
        this.#renderMembers([{ ...created.owner, joinedAt: Date.now() }]);
        this.#notices.info(`Group ${created.groupId} created.`);
      } catch (error) {
        this.#notices.error(`Could not create a group: ${describeError(error)}`);
      }
    });
    onSubmit(this.#joinForm, async () => {
      clearFieldErrors(this.#joinForm);
      const { groupId = "", key = "" } = fields(this.#joinForm);
      const invite = { groupId: groupId.trim(), key: key.trim() };
      const keyInput = byId("join-key", HTMLInputElement);
      const idInput = byId("join-id", HTMLInputElement);
      let valid = true;
      if (!isGroupKey(invite.key)) {
        showFieldError(
          keyInput,
          invite.key
            ? `A group key is at most ${MAX_GROUP_KEY_LENGTH} characters.`
            : "Type the group's key.",
        );
        valid = false;
      }
      if (!isGroupId(invite.groupId)) {
        showFieldError(
          idInput,
          invite.groupId
            ? "A group id is 1 to 64 letters, digits, '_' or '-'."
            : "Type the group's id.",
        );
        valid = false;
      }
      if (valid) await this.#join(invite);
    });
    byId("copy-invite", HTMLButtonElement).addEventListener("click", async () => {
      const input = byId("room-invite", HTMLInputElement);
      input.select();
      try {
        await navigator.clipboard.writeText(input.value);
        this.#notices.info("Invite link copied.");
      } catch {
        this.#notices.info("Invite link selected: copy it with Ctrl+C.");
      }
    });
    onSubmit(this.#sendForm, async () => {
      const room = this.#room;
      const input = byId("send-text", HTMLInputElement);
      const text = input.value;
      if (!room || !text.trim()) return;
      try {
        const sent = await call<GroupSent>(this.#client, GroupCmd.SEND, {
          groupId: room.groupId,
          data: { text },
        });
        if (this.#room !== room) return;
        input.value = "";
        this.#messages.message({ who: "you", text, time: sent.time });
        input.focus();
      } catch (error) {
        showFieldError(input, `Could not send: ${describeError(error)}`);
      }
    });
    this.#leave.addEventListener("click", () =>
      busy(this.#roomView, async () => {
        const groupId = this.#room?.groupId;
        try {
          await this.#leaveRoom();
          this.#notices.info(`You left group ${groupId}.`);
        } catch (error) {
          this.#notices.error(`Could not leave the group: ${describeError(error)}`);
        }
      }));
    this.#dismiss.addEventListener("click", () =>
      busy(this.#roomView, async () => {
        const room = this.#room;
        if (!room) return;
        try {
          await call(this.#client, GroupCmd.DISMISS, { groupId: room.groupId });
          this.#exit(`You dismissed group ${room.groupId}.`);
        } catch (error) {
          this.#notices.error(`Could not dismiss the group: ${describeError(error)}`);
        }
      }));
  }

  #wirePushes(): void {
    this.#client.on<GroupMessagePush>(GroupCmd.MSG, (push) => {
      if (push.groupId !== this.#room?.groupId) return;
      this.#messages.message({
        who: this.#who({ userId: push.fromUserId, name: push.fromName }),
        text: messageText(push.data),
        time: push.time,
      });
    });
    this.#client.on<GroupJoinPush>(GroupCmd.JOINED, (push) => {
      if (push.groupId !== this.#room?.groupId) return;
      this.#messages.event(`${this.#who(push)} joined.`);
      this.#refreshMembers();
    });
    this.#client.on<GroupLeavePush>(GroupCmd.LEFT, (push) => {
      const room = this.#room;
      if (push.groupId !== room?.groupId) return;
      const how = push.reason === "disconnected" ? "was disconnected" : "left";
      this.#messages.event(`${this.#who(push)} ${how}.`);
      const before = room.owner?.clientId;
      room.owner = push.owner;
      if (push.owner && push.owner.clientId !== before) {
        this.#messages.event(
          push.owner.clientId === room.me
            ? "You are the owner now."
            : `${this.#who(push.owner)} is the owner now.`,
        );
      }
      this.render();
      this.#refreshMembers();
    });
    this.#client.on<GroupAwayPush>(GroupCmd.AWAY, (push) => {
      if (push.groupId !== this.#room?.groupId) return;
      const seconds = Math.round(push.graceMs / 1000);
      this.#messages.event(
        `${this.#who(push)} was disconnected; their place is kept for ${seconds} s.`,
      );
      this.#refreshMembers();
    });
    this.#client.on<GroupBackPush>(GroupCmd.BACK, (push) => {
      const room = this.#room;
      if (push.groupId !== room?.groupId) return;
      this.#messages.event(`${this.#who(push)} is back.`);
      room.owner = push.owner;
      this.render();
      this.#refreshMembers();
    });
    this.#client.on<GroupDismissPush>(GroupCmd.DISMISSED, (push) => {
      if (push.groupId !== this.#room?.groupId) return;
      this.#exit(
        push.reason
          ? `Group ${push.groupId} ended: ${push.reason}.`
          : `Group ${push.groupId} was dismissed by its owner.`,
      );
    });
  }

  /** The session tells of logins, logouts, kicks and connection changes. */
  #sessionChanged(event: SessionEvent): void {
    const room = this.#room;
    if (room && this.#client.state !== "connected") {
      this.#exit(
        `The connection was lost: reconnecting to keep your place in group ${room.groupId}…`,
        { keep: true },
      );
      byId("join-id", HTMLInputElement).value = room.groupId;
      byId("join-key", HTMLInputElement).value = room.key;
    } else if (room && !this.#session.loggedIn) {
      // Logged out or kicked: the gate unbound the connection, which is no member any more.
      this.#exit(`You are no longer in group ${room.groupId}.`);
    }
    this.render();
    if (!this.#session.loggedIn || this.#client.state !== "connected") return;
    if (this.#invite) this.#useInvite();
    else if (!this.#room && (event.change === "login" || event.change === "connection")) {
      this.#regain();
    }
  }

  /**
   * After a login (a reload's or a reconnect's, by token): the connection's groups, which the
   * group service gave back within its grace period. The page shows the one it remembers, else
   * the first; when the remembered one is gone, the join form is filled in with it.
   */
  async #regain(): Promise<void> {
    if (this.#regaining) return;
    this.#regaining = true;
    const remembered = this.#rooms.get();
    try {
      const { groups } = await call<{ groups: GroupListEntry[] }>(this.#client, GroupCmd.LIST, {});
      if (this.#room) return;
      const entry = groups.find((g) => g.groupId === remembered?.groupId) ?? groups[0];
      if (!entry) {
        if (!remembered) return;
        this.#rooms.clear();
        byId("join-id", HTMLInputElement).value = remembered.groupId;
        byId("join-key", HTMLInputElement).value = remembered.key;
        this.#notices.info(
          `Your place in group ${remembered.groupId} was lost. Join it again below.`,
        );
        return;
      }
      const key = entry.groupId === remembered?.groupId ? remembered.key : "";
      this.#enter({ groupId: entry.groupId, key, owner: entry.owner }, { focus: false });
      this.#messages.event(`You are back in group ${entry.groupId}.`);
      this.#notices.info(`Back in group ${entry.groupId}.`);
      await this.#refreshMembers();
    } catch (error) {
      this.#notices.error(`Could not list your groups: ${describeError(error)}`);
    } finally {
      this.#regaining = false;
    }
  }

  async #leaveRoom(): Promise<void> {
    const room = this.#room;
    if (!room) return;
    await call(this.#client, GroupCmd.LEAVE, { groupId: room.groupId });
    if (this.#room === room) this.#exit();
  }

  #enter(room: Room, options: { focus?: boolean } = {}): void {
    this.#room = room;
    if (room.key) this.#rooms.set(room);
    this.#messages.clear();
    this.#members.replaceChildren();
    this.render();
    if (options.focus !== false) byId("send-text").focus();
  }

  /**
   * Leaves the room view; `why` goes to the status line. With `keep` (a lost connection) the
   * group stays remembered, to be shown again once the page is back.
   */
  #exit(why?: string, options: { keep?: boolean } = {}): void {
    const hadFocus = this.#roomView.contains(document.activeElement);
    if (!options.keep) this.#rooms.clear();
    this.#room = undefined;
    this.#messages.clear();
    this.#members.replaceChildren();
    this.render();
    if (why) this.#notices.info(why);
    if (hadFocus) byId("join-id").focus();
  }

  async #refreshMembers(): Promise<void> {
    const room = this.#room;
    if (!room) return;
    try {
      const info = await call<{ owner: GroupOwner; members: GroupMember[] }>(
        this.#client,
        GroupCmd.MEMBERS,
        { groupId: room.groupId },
      );
      if (this.#room !== room) return;
      room.owner = info.owner;
      if (room.me === undefined) {
        const mine = info.members.filter((m) => m.userId === this.#session.userId && !m.away);
        if (mine.length === 1) room.me = mine[0].clientId;
      }
      this.#renderMembers(info.members);
      this.render();
    } catch (error) {
      if (this.#room === room) {
        this.#notices.error(`Could not list the members: ${describeError(error)}`);
      }
    }
  }

  #renderMembers(members: GroupMember[]): void {
    const room = this.#room;
    if (!room) return;
    const items = members.map((member) => {
      const li = document.createElement("li");
      const notes: string[] = [];
      if (member.clientId === room.me) notes.push("you");
      if (member.clientId === room.owner?.clientId) notes.push("owner");
      if (member.away) notes.push("away");
      li.textContent = this.#who(member, { plain: true }) +
        (notes.length ? ` (${notes.join(", ")})` : "");
      li.title = `user ${member.userId}`;
      return li;
    });
    this.#members.replaceChildren(...items);
  }

  #isOwner(): boolean {
    const room = this.#room;
    return !!room && room.me !== undefined && room.owner?.clientId === room.me;
  }

  /**
   * How to call a member: the name the service gives, or "user N" when there is none; its own user
   * on another connection is "you (another connection)", unless `plain`.
   */
  #who(member: { userId: number; name?: string }, options: { plain?: boolean } = {}): string {
    if (!options.plain && member.userId === this.#session.userId) {
      return "you (another connection)";
    }
    return member.name ?? `user ${member.userId}`;
  }
}
