/// <reference lib="dom" />
/**
 * The page's two announcement areas: the status line (`role="status"`, polite) for what an
 * action did or why it failed, and the notice (`role="alert"`) for what happened to the session
 * without the user asking, such as the account logging in elsewhere.
 *
 * The status line never goes stale: it is cleared when the user sends any form (the page calls
 * {@linkcode Notices.clear}), and a line saying what an action did fades after
 * {@linkcode INFO_FADE_MS}. A failure stays until the next action.
 *
 * @module
 */

/** How long a line saying what an action did stays on the status line. */
export const INFO_FADE_MS = 15_000;

/** Writes to the status line and the notice. */
export class Notices {
  #status: HTMLElement;
  #notice: HTMLElement;
  #fade?: ReturnType<typeof setTimeout>;

  constructor(elements: { status: HTMLElement; notice: HTMLElement }) {
    this.#status = elements.status;
    this.#notice = elements.notice;
  }

  /** Says what an action did. */
  info(text: string): void {
    this.#write(text, false);
    if (text) this.#fade = setTimeout(() => this.clear(), INFO_FADE_MS);
  }

  /** Says why an action failed. */
  error(text: string): void {
    this.#write(text, true);
  }

  /** Empties the status line. */
  clear(): void {
    this.#write("", false);
  }

  #write(text: string, isError: boolean): void {
    clearTimeout(this.#fade);
    this.#fade = undefined;
    this.#status.classList.toggle("error", isError);
    this.#status.textContent = text;
  }

  /** Shows the notice: a headline and, optionally, a sentence under it. */
  alert(headline: string, detail?: string): void {
    const strong = document.createElement("strong");
    strong.textContent = headline;
    const parts: Node[] = [strong];
    if (detail) {
      const span = document.createElement("span");
      span.textContent = detail;
      parts.push(span);
    }
    this.#notice.replaceChildren(...parts);
    this.#notice.hidden = false;
  }

  /** Hides the notice. */
  clearAlert(): void {
    this.#notice.hidden = true;
    this.#notice.replaceChildren();
  }
}
