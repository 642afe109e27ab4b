/// <reference lib="dom" />
/**
 * The group chat part of the page (the group service): create a group and show its id and key,
 * join one by id and key, the message list, send, the members list, leave, and dismiss for the
 * owner. The page is in one group at a time.
 *
 * Pushes of the current group update it: `sc_msg_group_msg` adds a message, `sc_msg_group_join`
 * and `sc_msg_group_leave` add a line and refresh the members, `sc_msg_group_dismiss` ends it.
 * Membership belongs to the connection, so a lost connection ends it (the join form is filled
 * in again to rejoin), and so does logging out (the page leaves first) and a kick (the page
 * leaves: a member connection may leave even once its user is gone).
 *
 * @module
 */

import { GroupCmd } from "../../shared/mod.ts";
import { busy, byId, clockTime, fields, onSubmit, show } from "./dom.ts";
import { call, describeError } from "./errors.ts";
import type { Notices } from "./notices.ts";
import type { GateClient } from "../../client/browser.ts";
import type { Session, SessionEvent } from "./session.ts";

/** A member as the group service answers it. */
interface Member {
  userId: number;
  clientId: number;
  joinedAt: number;
}

/** The group owner: a member. */
interface Owner {
  userId: number;
  clientId: number;
}

/** `sc_msg_group_msg`. */
interface GroupMessage {
  groupId: string;
  fromUserId: number;
  fromClientId: number;
  data: unknown;
  time: number;
}

/** `sc_msg_group_join` and `sc_msg_group_leave` (the latter with `reason` and `owner`). */
interface GroupMove {
  groupId: string;
  userId: number;
  clientId: number;
  reason?: "left" | "disconnected";
  owner?: Owner;
}

/** The group the page is in. */
interface Room {
  groupId: string;
  key: string;
  /** This connection's clientId, once known. */
  me?: number;
  owner?: Owner;
}

/** Most messages kept in the list. */
const MAX_MESSAGES = 500;

/** The text of a message's data: `{text}` as the page sends it, anything else as JSON. */
export function messageText(data: unknown): string {
  if (typeof data === "string") return data;
  if (data && typeof data === "object" && typeof (data as { text?: unknown }).text === "string") {
    return (data as { text: string }).text;
  }
  return JSON.stringify(data);
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
  #messages = byId("messages");
  #members = byId("members");
  #leave = byId("leave", HTMLButtonElement);
  #dismiss = byId("dismiss", HTMLButtonElement);

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
    show(this.#dismiss, this.#isOwner());
  }

  #wireForms(): void {
    onSubmit(this.#createForm, async () => {
      try {
        const created = await call<{ groupId: string; key: string; owner: Owner }>(
          this.#client,
          GroupCmd.CREATE,
          {},
        );
        this.#enter({ ...created, me: created.owner.clientId });
        this.#event("You created this group. Share its id and key with the people you invite.");
        this.#renderMembers([{ ...created.owner, joinedAt: Date.now() }]);
        this.#notices.info(`Group ${created.groupId} created.`);
      } catch (error) {
        this.#notices.error(`Could not create a group: ${describeError(error)}`);
      }
    });
    onSubmit(this.#joinForm, async () => {
      const { groupId = "", key = "" } = fields(this.#joinForm);
      if (!groupId.trim() || !key.trim()) {
        return this.#notices.error("Type the group's id and key to join it.");
      }
      try {
        const joined = await call<{ groupId: string; owner: Owner; members: Member[] }>(
          this.#client,
          GroupCmd.JOIN,
          { groupId: groupId.trim(), key: key.trim() },
        );
        const mine = joined.members.filter((m) => m.userId === this.#session.userId);
        this.#enter({
          groupId: joined.groupId,
          key: key.trim(),
          owner: joined.owner,
          me: mine.length === 1 ? mine[0].clientId : undefined,
        });
        this.#joinForm.reset();
        this.#event(`You joined group ${joined.groupId}.`);
        this.#renderMembers(joined.members);
        this.#notices.info(`Joined group ${joined.groupId}.`);
      } catch (error) {
        this.#notices.error(`Could not join the group: ${describeError(error)}`);
      }
    });
    onSubmit(this.#sendForm, async () => {
      const room = this.#room;
      const input = byId("send-text", HTMLInputElement);
      const text = input.value;
      if (!room || !text.trim()) return;
      try {
        const sent = await call<{ time: number }>(this.#client, GroupCmd.SEND, {
          groupId: room.groupId,
          data: { text },
        });
        if (this.#room !== room) return;
        input.value = "";
        this.#message({ who: "you", text, time: sent.time });
      } catch (error) {
        this.#notices.error(`Could not send: ${describeError(error)}`);
      }
      input.focus();
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
    this.#client.on<GroupMessage>(GroupCmd.MSG, (push) => {
      if (push.groupId !== this.#room?.groupId) return;
      this.#message({
        who: this.#name(push.fromUserId),
        text: messageText(push.data),
        time: push.time,
      });
    });
    this.#client.on<GroupMove>(GroupCmd.JOINED, (push) => {
      if (push.groupId !== this.#room?.groupId) return;
      this.#event(`${this.#name(push.userId)} joined.`);
      this.#refreshMembers();
    });
    this.#client.on<GroupMove>(GroupCmd.LEFT, (push) => {
      const room = this.#room;
      if (push.groupId !== room?.groupId) return;
      const how = push.reason === "disconnected" ? "was disconnected" : "left";
      this.#event(`${this.#name(push.userId)} ${how}.`);
      const before = room.owner?.clientId;
      room.owner = push.owner;
      if (push.owner && push.owner.clientId !== before) {
        this.#event(
          push.owner.clientId === room.me
            ? "You are the owner now."
            : `${this.#name(push.owner.userId)} is the owner now.`,
        );
      }
      this.render();
      this.#refreshMembers();
    });
    this.#client.on<{ groupId: string }>(GroupCmd.DISMISSED, (push) => {
      if (push.groupId !== this.#room?.groupId) return;
      this.#exit(`Group ${push.groupId} was dismissed by its owner.`);
    });
  }

  /** The session tells of logins, logouts, kicks and connection changes. */
  #sessionChanged(event: SessionEvent): void {
    const room = this.#room;
    if (room && this.#client.state !== "connected") {
      this.#exit(
        `The connection was lost, and with it group ${room.groupId}. Join it again below.`,
      );
      byId("join-id", HTMLInputElement).value = room.groupId;
      byId("join-key", HTMLInputElement).value = room.key;
    } else if (room && !this.#session.loggedIn) {
      this.#exit(`You are no longer in group ${room.groupId}.`);
      // After a kick the connection is still a member: leave, so that its messages stop.
      if (event.change === "kicked") {
        call(this.#client, GroupCmd.LEAVE, { groupId: room.groupId }).catch(() => {});
      }
    }
    this.render();
  }

  async #leaveRoom(): Promise<void> {
    const room = this.#room;
    if (!room) return;
    await call(this.#client, GroupCmd.LEAVE, { groupId: room.groupId });
    if (this.#room === room) this.#exit();
  }

  #enter(room: Room): void {
    this.#room = room;
    this.#messages.replaceChildren();
    this.#members.replaceChildren();
    this.render();
    byId("send-text").focus();
  }

  /** Leaves the room view; `why` goes to the status line. */
  #exit(why?: string): void {
    const hadFocus = this.#roomView.contains(document.activeElement);
    this.#room = undefined;
    this.#messages.replaceChildren();
    this.#members.replaceChildren();
    this.render();
    if (why) this.#notices.info(why);
    if (hadFocus) byId("join-id").focus();
  }

  async #refreshMembers(): Promise<void> {
    const room = this.#room;
    if (!room) return;
    try {
      const info = await call<{ owner: Owner; members: Member[] }>(
        this.#client,
        GroupCmd.MEMBERS,
        { groupId: room.groupId },
      );
      if (this.#room !== room) return;
      room.owner = info.owner;
      this.#renderMembers(info.members);
      this.render();
    } catch (error) {
      if (this.#room === room) {
        this.#notices.error(`Could not list the members: ${describeError(error)}`);
      }
    }
  }

  #renderMembers(members: Member[]): void {
    const room = this.#room;
    if (!room) return;
    const items = members.map((member) => {
      const li = document.createElement("li");
      const notes: string[] = [];
      if (member.clientId === room.me) notes.push("you");
      if (member.clientId === room.owner?.clientId) notes.push("owner");
      li.textContent = `user ${member.userId}` + (notes.length ? ` (${notes.join(", ")})` : "");
      return li;
    });
    this.#members.replaceChildren(...items);
  }

  #isOwner(): boolean {
    const room = this.#room;
    return !!room && room.me !== undefined && room.owner?.clientId === room.me;
  }

  #name(userId: number): string {
    return userId === this.#session.userId ? "you (another connection)" : `user ${userId}`;
  }

  #message(message: { who: string; text: string; time: number }): void {
    const li = document.createElement("li");
    const time = document.createElement("time");
    time.dateTime = new Date(message.time).toISOString();
    time.textContent = clockTime(message.time);
    const who = document.createElement("strong");
    who.textContent = `${message.who}:`;
    li.append(time, who, ` ${message.text}`);
    this.#append(li);
  }

  #event(text: string): void {
    const li = document.createElement("li");
    li.className = "event";
    li.textContent = text;
    this.#append(li);
  }

  #append(li: HTMLLIElement): void {
    this.#messages.append(li);
    while (this.#messages.children.length > MAX_MESSAGES) this.#messages.firstChild?.remove();
    this.#messages.scrollTop = this.#messages.scrollHeight;
  }
}
