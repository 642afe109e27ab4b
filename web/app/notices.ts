/// <reference lib="dom" />
/**
 * The page's two announcement areas: the status line (`role="status"`, polite) for what an
 * action did or why it failed, and the notice (`role="alert"`) for what happened to the session
 * without the user asking, such as the account logging in elsewhere.
 *
 * @module
 */

/** Writes to the status line and the notice. */
export class Notices {
  #status: HTMLElement;
  #notice: HTMLElement;

  constructor(elements: { status: HTMLElement; notice: HTMLElement }) {
    this.#status = elements.status;
    this.#notice = elements.notice;
  }

  /** Says what an action did. */
  info(text: string): void {
    this.#status.classList.remove("error");
    this.#status.textContent = text;
  }

  /** Says why an action failed. */
  error(text: string): void {
    this.#status.classList.add("error");
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
