/// <reference lib="dom" />
/**
 * The group chat's message list: messages with their time and sender, and event lines (joins,
 * departures, a member away or back), the latest 500 kept, scrolled to the newest.
 *
 * @module
 */

import { clockTime } from "./dom.ts";

/** Most messages kept in the list. */
export const MAX_MESSAGES = 500;

/** The text of a message's data: `{text}` as the page sends it, anything else as JSON. */
export function messageText(data: unknown): string {
  if (typeof data === "string") return data;
  if (data && typeof data === "object" && typeof (data as { text?: unknown }).text === "string") {
    return (data as { text: string }).text;
  }
  return JSON.stringify(data);
}

/** Writes messages and events into a list element. */
export class MessageList {
  #list: HTMLElement;

  constructor(list: HTMLElement) {
    this.#list = list;
  }

  /** Adds a message: its time, who sent it, its text. */
  message(message: { who: string; text: string; time: number }): void {
    const li = document.createElement("li");
    const time = document.createElement("time");
    time.dateTime = new Date(message.time).toISOString();
    time.textContent = clockTime(message.time);
    const who = document.createElement("strong");
    who.textContent = `${message.who}:`;
    li.append(time, who, ` ${message.text}`);
    this.#append(li);
  }

  /** Adds an event line. */
  event(text: string): void {
    const li = document.createElement("li");
    li.className = "event";
    li.textContent = text;
    this.#append(li);
  }

  /** Empties the list. */
  clear(): void {
    this.#list.replaceChildren();
  }

  #append(li: HTMLLIElement): void {
    this.#list.append(li);
    while (this.#list.children.length > MAX_MESSAGES) this.#list.firstChild?.remove();
    this.#list.scrollTop = this.#list.scrollHeight;
  }
}
