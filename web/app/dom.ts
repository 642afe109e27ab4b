/// <reference lib="dom" />
/**
 * Small DOM helpers for the page: find an element by id (failing loudly when the page and the
 * code disagree), show or hide, read a form's fields, and run a form's work with its buttons
 * disabled.
 *
 * @module
 */

/** The element with `id`, of type `type`; throws when the page has no such element. */
export function byId<T extends HTMLElement = HTMLElement>(
  id: string,
  type?: { new (): T; prototype: T },
): T {
  const element = document.getElementById(id);
  if (!element) throw new Error(`The page has no element #${id}`);
  if (type && !(element instanceof type)) {
    throw new Error(`#${id} is a ${element.tagName}, not what the code expects`);
  }
  return element as T;
}

/** Shows or hides an element (the `hidden` attribute). */
export function show(element: HTMLElement, visible: boolean): void {
  element.hidden = !visible;
}

/** The named text fields of a form. */
export function fields(form: HTMLFormElement): Record<string, string> {
  const values: Record<string, string> = {};
  for (const [name, value] of new FormData(form)) {
    if (typeof value === "string") values[name] = value;
  }
  return values;
}

/**
 * Handles a form's submit (a button click or Enter in a field): runs `work` with the form's
 * buttons disabled and `aria-busy` set, and never lets two runs overlap.
 */
export function onSubmit(form: HTMLFormElement, work: () => Promise<void>): void {
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (form.getAttribute("aria-busy") === "true") return;
    await busy(form, work);
  });
}

/** Runs `work` with the buttons of `scope` disabled. */
export async function busy(scope: HTMLElement, work: () => Promise<void>): Promise<void> {
  const buttons = [...scope.querySelectorAll("button")];
  scope.setAttribute("aria-busy", "true");
  for (const button of buttons) button.disabled = true;
  try {
    await work();
  } finally {
    scope.removeAttribute("aria-busy");
    for (const button of buttons) button.disabled = false;
  }
}

/** A clock time for a message, like 14:03:27. */
export function clockTime(ms: number): string {
  return new Date(ms).toLocaleTimeString([], { hour12: false });
}
