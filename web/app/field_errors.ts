/// <reference lib="dom" />
/**
 * Errors next to the field they concern: a line under the input (`aria-describedby`, and
 * `aria-invalid` on the input), cleared as soon as the field is edited or the form is sent again.
 *
 * @example
 * ```ts
 * showFieldError(byId("join-key", HTMLInputElement), "The key of group g is wrong");
 * clearFieldErrors(byId("join-form", HTMLFormElement));
 * ```
 * @module
 */

const ERROR_CLASS = "field-error";

function errorId(input: HTMLInputElement): string {
  return `${input.id}-error`;
}

/** Removes an input's error line, if it has one. */
export function clearFieldError(input: HTMLInputElement): void {
  const id = errorId(input);
  document.getElementById(id)?.remove();
  input.removeAttribute("aria-invalid");
  const described = (input.getAttribute("aria-describedby") ?? "").split(" ")
    .filter((part) => part && part !== id);
  if (described.length) input.setAttribute("aria-describedby", described.join(" "));
  else input.removeAttribute("aria-describedby");
}

/** Shows `text` under `input` (replacing an earlier error there) and moves focus to it. */
export function showFieldError(input: HTMLInputElement, text: string): void {
  clearFieldError(input);
  const line = document.createElement("p");
  line.id = errorId(input);
  line.className = ERROR_CLASS;
  line.textContent = text;
  // Under the row when the input shares one with its button.
  const row = input.parentElement?.classList.contains("inline") ? input.parentElement : input;
  row.after(line);
  input.setAttribute("aria-invalid", "true");
  const described = input.getAttribute("aria-describedby");
  input.setAttribute("aria-describedby", described ? `${described} ${line.id}` : line.id);
  input.addEventListener("input", () => clearFieldError(input), { once: true });
  input.focus();
}

/** Removes every error line of a form. */
export function clearFieldErrors(form: HTMLFormElement): void {
  for (const input of form.querySelectorAll("input")) clearFieldError(input);
}
