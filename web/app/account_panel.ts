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
import type { Notices } from "./notices.ts";
import type { Session, SessionEvent } from "./session.ts";

const RULE = "6 to 16 letters (a–z, A–Z) and digits (0–9)";

/** A sentence naming the first field that does not match the credential rule, if any. */
function badField(
  values: Record<string, string>,
  names: Record<string, string>,
): string | undefined {
  for (const [field, label] of Object.entries(names)) {
    if (!CREDENTIAL_PATTERN.test(values[field] ?? "")) return `${label} must be ${RULE}.`;
  }
  return undefined;
}

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
      const bad = badField(values, { username: "The username", password: "The password" });
      if (bad) return this.#notices.error(bad);
      this.#notices.info("Logging in…");
      try {
        await this.#session.login({ username: values.username, password: values.password });
        this.#loginForm.reset();
        this.#notices.info(`Logged in as ${this.#session.username}.`);
      } catch (error) {
        byId("login-password", HTMLInputElement).value = "";
        this.#notices.error(`Could not log in: ${describeError(error)}`);
      }
    });
    onSubmit(this.#registerForm, async () => {
      const values = fields(this.#registerForm);
      const bad = badField(values, { username: "The username", password: "The password" });
      if (bad) return this.#notices.error(bad);
      this.#notices.info("Creating the account…");
      try {
        await this.#session.register({ username: values.username, password: values.password });
        this.#registerForm.reset();
        this.#notices.info(`Account created: logged in as ${this.#session.username}.`);
      } catch (error) {
        this.#notices.error(`Could not register: ${describeError(error)}`);
      }
    });
    onSubmit(this.#passwordForm, async () => {
      const values = fields(this.#passwordForm);
      const bad = badField(values, {
        password: "The current password",
        newPassword: "The new password",
      });
      if (bad) return this.#notices.error(bad);
      try {
        await this.#session.changePassword({
          password: values.password,
          newPassword: values.newPassword,
        });
        this.#passwordForm.reset();
        this.#notices.info("Password changed. Other sessions of this account are logged out.");
      } catch (error) {
        this.#notices.error(`Could not change the password: ${describeError(error)}`);
      }
    });
    onSubmit(this.#deleteForm, async () => {
      const values = fields(this.#deleteForm);
      const bad = badField(values, { password: "The password" });
      if (bad) return this.#notices.error(bad);
      const name = this.#session.username;
      try {
        await this.#session.deleteAccount(values.password);
        this.#deleteForm.reset();
        this.#notices.info(`Account ${name} deleted.`);
      } catch (error) {
        this.#notices.error(`Could not delete the account: ${describeError(error)}`);
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
