/// <reference lib="dom" />
/**
 * The account part of the page: the log-in and register forms while logged out; the user's
 * name, log out, change password and delete account while logged in; and the notices for a
 * session that ended without the user asking (logged in elsewhere, token refused).
 *
 * @module
 */

import { CREDENTIAL_PATTERN } from "../../shared/mod.ts";
import { byId, fields, onSubmit, show } from "./dom.ts";
import { describeError } from "./errors.ts";
import { clearFieldErrors, showFieldError } from "./field_errors.ts";
import type { Notices } from "./notices.ts";
import type { Session, SessionEvent } from "./session.ts";

const RULE = "6 to 16 letters (a–z, A–Z) and digits (0–9)";

/**
 * Checks a form's credential fields against the rule: shows a sentence under each field that
 * does not match, and says whether all did.
 */
function credentialsValid(form: HTMLFormElement, names: Record<string, string>): boolean {
  clearFieldErrors(form);
  let valid = true;
  for (const [field, label] of Object.entries(names).reverse()) {
    const input = form.elements.namedItem(field) as HTMLInputElement;
    if (CREDENTIAL_PATTERN.test(input.value)) continue;
    // In reverse, so that the focus ends on the first bad field.
    showFieldError(input, `${label} must be ${RULE}.`);
    valid = false;
  }
  return valid;
}

/**
 * Shows a refusal under the field it concerns, picked by its words; says whether one was found
 * (when none is, the caller puts the refusal on the status line).
 */
function showRefusal(
  form: HTMLFormElement,
  text: string,
  fields: Array<[RegExp, string]>,
): boolean {
  for (const [words, field] of fields) {
    if (!words.test(text)) continue;
    showFieldError(form.elements.namedItem(field) as HTMLInputElement, text);
    return true;
  }
  return false;
}

/** Refusals about a password: wrong, or locked out after failed tries. */
const PASSWORD_WORDS = /password is wrong|failed logins|logins for this account/;

/** Wires the account forms to a session. */
export class AccountPanel {
  #session: Session;
  #notices: Notices;
  #loggedOut = byId("logged-out");
  #loggedIn = byId("logged-in");
  #username = byId("username");
  #who = byId("who");
  #loginForm = byId("login-form", HTMLFormElement);
  #registerForm = byId("register-form", HTMLFormElement);
  #passwordForm = byId("password-form", HTMLFormElement);
  #deleteForm = byId("delete-form", HTMLFormElement);
  #logout = byId("logout", HTMLButtonElement);
  #settings = byId("account-settings", HTMLDetailsElement);

  constructor(session: Session, notices: Notices) {
    this.#session = session;
    this.#notices = notices;
    this.#wire();
    session.onChange((event) => this.#changed(event));
  }

  #wire(): void {
    onSubmit(this.#loginForm, async () => {
      const values = fields(this.#loginForm);
      const names = { username: "The username", password: "The password" };
      if (!credentialsValid(this.#loginForm, names)) return;
      this.#notices.info("Logging in…");
      try {
        await this.#session.login({ username: values.username, password: values.password });
        this.#loginForm.reset();
        this.#notices.info(`Logged in as ${this.#session.username}.`);
      } catch (error) {
        byId("login-password", HTMLInputElement).value = "";
        const text = describeError(error);
        if (showRefusal(this.#loginForm, text, [[PASSWORD_WORDS, "password"]])) {
          this.#notices.clear();
        } else this.#notices.error(`Could not log in: ${text}`);
      }
    });
    onSubmit(this.#registerForm, async () => {
      const values = fields(this.#registerForm);
      const names = { username: "The username", password: "The password" };
      if (!credentialsValid(this.#registerForm, names)) return;
      this.#notices.info("Creating the account…");
      try {
        await this.#session.register({ username: values.username, password: values.password });
        this.#registerForm.reset();
        this.#notices.info(`Account created: logged in as ${this.#session.username}.`);
      } catch (error) {
        const text = describeError(error);
        if (showRefusal(this.#registerForm, text, [[/^Username .* is taken/, "username"]])) {
          this.#notices.clear();
        } else this.#notices.error(`Could not register: ${text}`);
      }
    });
    onSubmit(this.#passwordForm, async () => {
      const values = fields(this.#passwordForm);
      const names = { password: "The current password", newPassword: "The new password" };
      if (!credentialsValid(this.#passwordForm, names)) return;
      try {
        await this.#session.changePassword({
          password: values.password,
          newPassword: values.newPassword,
        });
        this.#passwordForm.reset();
        this.#notices.info("Password changed. Other sessions of this account are logged out.");
      } catch (error) {
        const text = describeError(error);
        if (
          showRefusal(this.#passwordForm, text, [
            [/must differ/, "newPassword"],
            [PASSWORD_WORDS, "password"],
          ])
        ) this.#notices.clear();
        else this.#notices.error(`Could not change the password: ${text}`);
      }
    });
    onSubmit(this.#deleteForm, async () => {
      const values = fields(this.#deleteForm);
      if (!credentialsValid(this.#deleteForm, { password: "The password" })) return;
      const name = this.#session.username;
      try {
        await this.#session.deleteAccount(values.password);
        this.#deleteForm.reset();
        this.#notices.info(`Account ${name} deleted.`);
      } catch (error) {
        const text = describeError(error);
        if (showRefusal(this.#deleteForm, text, [[PASSWORD_WORDS, "password"]])) {
          this.#notices.clear();
        } else this.#notices.error(`Could not delete the account: ${text}`);
      }
    });
    this.#logout.addEventListener("click", async () => {
      this.#logout.disabled = true;
      try {
        await this.#session.logout();
        this.#notices.info("Logged out.");
      } catch (error) {
        this.#notices.error(`Could not log out: ${describeError(error)}`);
      } finally {
        this.#logout.disabled = false;
      }
    });
  }

  #changed(event: SessionEvent): void {
    if (event.change === "kicked" || event.change === "refused") {
      this.#loginForm.reset();
      byId("login-username", HTMLInputElement).value = this.#session.lastUsername ?? "";
      this.#notices.info("");
    }
    if (event.change === "kicked") {
      this.#notices.alert(
        "Your account was logged in elsewhere",
        "You have been logged out on this page. Log in again to continue here." +
          (event.detail ? ` (${event.detail})` : ""),
      );
    } else if (event.change === "refused") {
      this.#notices.alert(
        "Your saved login is no longer valid",
        "It expired or was ended elsewhere. Log in again.",
      );
    } else if (event.change === "login") {
      this.#notices.clearAlert();
    }
    this.render();
  }

  /** Shows the part that fits the login state, keeping keyboard focus on something visible. */
  render(): void {
    const loggedIn = this.#session.loggedIn;
    show(this.#loggedOut, !loggedIn);
    show(this.#loggedIn, loggedIn);
    if (!loggedIn) this.#settings.open = false;
    const name = this.#session.username ?? "";
    this.#username.textContent = name;
    this.#who.textContent = loggedIn ? `${name} (user ${this.#session.userId})` : "not logged in";
    const active = document.activeElement;
    const lost = !active || active === document.body ||
      (active instanceof HTMLElement && active.offsetParent === null);
    if (!lost) return;
    const username = byId("login-username", HTMLInputElement);
    if (loggedIn) byId("you-heading").focus();
    else (username.value ? byId("login-password") : username).focus();
  }
}
