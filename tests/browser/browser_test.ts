/**
 * The web page in Chromium (issue 6): register and log in, stay logged in across a reload, the
 * notice when the account logs in elsewhere, two pages chatting through a group, and (issue 16)
 * the same group shown again after a reload. Needs the system Chromium: without it these are
 * ignored with a line saying so, unless CI is set, when they fail.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { Browser } from "playwright-core";
import { GroupCmd } from "../../shared/mod.ts";
import { uniqueName } from "../helpers/login.ts";
import { INTEGRATION } from "../helpers/suite.ts";
import {
  browserCase,
  chromiumTool,
  expectFieldError,
  findChromium,
  gotoPage,
  launchChromium,
  loggedInHeading,
  loginForm,
  registerForm,
  registerOnPage,
  startWebSuite,
  statusLine,
  storedToken,
  submitLogin,
  submitRegister,
  TEST_PASSWORD,
  waitForConnected,
  waitForText,
  type WebSuite,
} from "./browser_fixtures.ts";

const chromiumPath = findChromium();
const chromiumNeeded = chromiumTool();

Deno.test({
  name: "web page in Chromium",
  ignore: chromiumNeeded.ignore,
  ...INTEGRATION,
  async fn(t) {
    chromiumNeeded.check();
    if (!chromiumPath) throw new Error("Chromium is not installed (apt-get install chromium)");
    let suite: WebSuite | undefined;
    let browser: Browser | undefined;
    try {
      [suite, browser] = await Promise.all([startWebSuite(), launchChromium(chromiumPath)]);
      const { url } = suite;
      const b = browser;
      const step = (name: string, work: Parameters<typeof browserCase>[2]) =>
        t.step(name, () => browserCase(b, name, work));

      await step("register and log in", async (open) => {
        const page = await open();
        await gotoPage(page, url);
        await waitForText(page.locator("#rtt"), /^\d+ ms$/);

        await registerForm(page).getByLabel("New username", { exact: true }).fill("abc");
        await registerForm(page).getByRole("button", { name: "Register and log in" }).click();
        await expectFieldError(
          registerForm(page),
          "New username",
          "The username must be 6 to 16 letters",
        );

        const username = uniqueName("web");
        await registerOnPage(page, username);
        await waitForText(page.locator("#who"), username);
        assert.ok(await storedToken(page), "the token is kept in sessionStorage");

        await page.getByRole("button", { name: "Log out" }).click();
        await loginForm(page).waitFor();
        assert.equal(await storedToken(page), null, "logging out clears the token");

        await submitRegister(page, username);
        await expectFieldError(registerForm(page), "New username", `Username ${username} is taken`);

        await submitLogin(page, username, "wrongpass1");
        await expectFieldError(loginForm(page), "Password", "The username or password is wrong");
        assert.equal(await statusLine(page).textContent(), "", "the error is not also on top");
        await submitLogin(page, username);
        await loggedInHeading(page, username).waitFor();

        await page.getByText("Account settings").click();
        const remove = page.getByRole("form", { name: "Delete account" });
        await remove.getByLabel("Password to confirm deletion").fill(TEST_PASSWORD);
        await remove.getByRole("button", { name: "Delete account" }).click();
        await waitForText(statusLine(page), `Account ${username} deleted.`);
        await loginForm(page).waitFor();
        await submitLogin(page, username);
        await expectFieldError(loginForm(page), "Password", "The username or password is wrong");
      });

      await step("reload and still logged in", async (open) => {
        const page = await open();
        await gotoPage(page, url);
        const username = uniqueName("reload");
        await registerOnPage(page, username);
        const token = await storedToken(page);

        await page.reload();
        await loggedInHeading(page, username).waitFor();
        assert.equal(await storedToken(page), token, "a login by token keeps the token");

        await page.getByText("Account settings").click();
        const change = page.getByRole("form", { name: "Change password" });
        await change.getByLabel("Current password").fill(TEST_PASSWORD);
        await change.getByLabel("New password").fill("secret456");
        await change.getByLabel("New password").press("Enter");
        await waitForText(statusLine(page), "Password changed.");
        const newToken = await storedToken(page);
        assert.ok(newToken && newToken !== token, "the new token is stored");

        await page.reload();
        await loggedInHeading(page, username).waitFor();

        await page.getByRole("button", { name: "Log out" }).click();
        await loginForm(page).waitFor();
        await page.reload();
        await waitForConnected(page);
        await loginForm(page).waitFor();
        assert.equal(await page.getByRole("alert").isVisible(), false, "no notice after a logout");
      });

      await step("logged in elsewhere: the first page shows the notice", async (open) => {
        const first = await open("first");
        await gotoPage(first, url);
        const username = uniqueName("kick");
        await registerOnPage(first, username);
        await first.getByRole("button", { name: "Create group" }).click();
        await first.getByRole("heading", { name: /^In group \S+$/ }).waitFor();
        const groupId = await first.getByLabel("This group's id").inputValue();

        const second = await open("second");
        await gotoPage(second, url);
        await submitLogin(second, username);
        await loggedInHeading(second, username).waitFor();

        await waitForText(first.getByRole("alert"), "Your account was logged in elsewhere");
        await loginForm(first).waitFor();
        assert.equal(await storedToken(first), null, "the kicked page forgets its token");
        assert.equal(
          await loginForm(first).getByLabel("Username", { exact: true }).inputValue(),
          username,
          "the log-in form is filled in with the account's name",
        );

        // The login elsewhere took the first page's place in its group with it (the gate's
        // ss_msg_user_unbind, then ss_msg_user_bind): the second page is in the group now.
        await second.getByRole("heading", { name: `In group ${groupId}` }).waitFor();
        const members = second.getByRole("list", { name: "Members" }).getByRole("listitem");
        await waitForText(members, "(you");
        assert.equal(await members.count(), 1);

        await first.reload();
        await waitForConnected(first);
        await loginForm(first).waitFor();
        await loggedInHeading(second, username).waitFor();
      });

      await step("two pages chat through a group", async (open) => {
        const a = await open("a");
        const b = await open("b");
        await Promise.all([gotoPage(a, url), gotoPage(b, url)]);
        await registerOnPage(a, uniqueName("alice"));
        await registerOnPage(b, uniqueName("bob"));

        await a.getByRole("button", { name: "Create group" }).click();
        await a.getByRole("heading", { name: /^In group \S+$/ }).waitFor();
        const groupId = await a.getByLabel("This group's id").inputValue();
        const key = await a.getByLabel("This group's key").inputValue();
        assert.ok(groupId && key, "the page shows the new group's id and key");

        const join = b.getByRole("form", { name: "Join a group" });
        await join.getByLabel("Group id", { exact: true }).fill(groupId);
        await join.getByLabel("Group key", { exact: true }).fill(key);
        await join.getByLabel("Group key", { exact: true }).press("Enter");
        await b.getByRole("heading", { name: `In group ${groupId}` }).waitFor();
        assert.equal(await b.getByLabel("This group's id").inputValue(), groupId);

        for (const page of [a, b]) {
          const members = page.getByRole("list", { name: "Members" }).getByRole("listitem");
          await members.nth(1).waitFor();
          assert.equal(await members.count(), 2);
          await waitForText(members, "(you");
        }

        await a.getByLabel("Message", { exact: true }).fill("hello from A");
        await a.getByLabel("Message", { exact: true }).press("Enter");
        const bMessages = b.getByRole("list", { name: "Messages" }).getByRole("listitem");
        await waitForText(bMessages, "hello from A");

        await b.getByLabel("Message", { exact: true }).fill("hi from B");
        await b.getByRole("button", { name: "Send" }).click();
        const aMessages = a.getByRole("list", { name: "Messages" }).getByRole("listitem");
        await waitForText(aMessages, "hi from B");
        await waitForText(aMessages, "you: hello from A");

        await b.getByRole("button", { name: "Leave group" }).click();
        await b.getByRole("form", { name: "Join a group" }).waitFor();
        await waitForText(aMessages, / left\.$/);
        const aMembers = a.getByRole("list", { name: "Members" }).getByRole("listitem");
        await waitForText(aMembers, "(you, owner)");
        await assertCount(() => aMembers.count(), 1);
      });

      await step("after a reload the page is back in the same group", async (open) => {
        const a = await open("owner");
        const b = await open("member");
        await Promise.all([gotoPage(a, url), gotoPage(b, url)]);
        const alice = uniqueName("alice");
        const bob = uniqueName("bob");
        await registerOnPage(a, alice);
        await registerOnPage(b, bob);
        await a.getByRole("button", { name: "Create group" }).click();
        await a.getByRole("heading", { name: /^In group \S+$/ }).waitFor();
        const groupId = await a.getByLabel("This group's id").inputValue();
        const key = await a.getByLabel("This group's key").inputValue();
        const invite = await a.getByLabel("Invite link").inputValue();
        const join = b.getByRole("form", { name: "Join a group" });
        await join.getByLabel("Group id", { exact: true }).fill(groupId);
        await join.getByLabel("Group key", { exact: true }).fill(key);
        await join.getByLabel("Group key", { exact: true }).press("Enter");
        await b.getByRole("heading", { name: `In group ${groupId}` }).waitFor();
        const bMembers = b.getByRole("list", { name: "Members" }).getByRole("listitem");
        await waitForText(bMembers, `${alice} (owner)`);

        await a.reload();
        await loggedInHeading(a, alice).waitFor();
        await a.getByRole("heading", { name: `In group ${groupId}` }).waitFor();
        assert.equal(await a.getByLabel("This group's id").inputValue(), groupId);
        assert.equal(await a.getByLabel("This group's key").inputValue(), key, "the key is shown");
        assert.equal(await a.getByLabel("Invite link").inputValue(), invite);
        const aMembers = a.getByRole("list", { name: "Members" }).getByRole("listitem");
        await waitForText(aMembers, `${alice} (you, owner)`);
        await waitForText(aMembers, new RegExp(`^${bob}$`));
        await assertCount(() => aMembers.count(), 2);
        assert.equal(
          await a.getByRole("button", { name: "Dismiss group" }).isVisible(),
          true,
          "still the owner",
        );
        const bMessages = b.getByRole("list", { name: "Messages" }).getByRole("listitem");
        await waitForText(bMessages, `${alice} was disconnected; their place is kept for 30 s.`);
        await waitForText(bMessages, `${alice} is back.`);
        await waitForText(bMembers, `${alice} (owner)`);
        await assertCount(() => bMembers.count(), 2);

        await b.getByLabel("Message", { exact: true }).fill("still here?");
        await b.getByLabel("Message", { exact: true }).press("Enter");
        const aMessages = a.getByRole("list", { name: "Messages" }).getByRole("listitem");
        await waitForText(aMessages, `You are back in group ${groupId}.`);
        await waitForText(aMessages, `${bob}: still here?`);
        await a.getByLabel("Message", { exact: true }).fill("yes, after a reload");
        await a.getByLabel("Message", { exact: true }).press("Enter");
        await waitForText(bMessages, `${alice}: yes, after a reload`);

        // Leaving for good: a reload no longer brings the group back.
        await a.getByRole("button", { name: "Leave group" }).click();
        await a.getByRole("form", { name: "Join a group" }).waitFor();
        await a.reload();
        await loggedInHeading(a, alice).waitFor();
        await waitForText(bMessages, `${alice} left.`);
        assert.equal(await a.getByRole("heading", { name: /^In group / }).isVisible(), false);
      });

      await step("usernames in the group, the invite link and inline join errors", async (open) => {
        const a = await open("owner");
        await gotoPage(a, url);
        const alice = uniqueName("alice");
        await registerOnPage(a, alice);
        await a.getByRole("button", { name: "Create group" }).click();
        await a.getByRole("heading", { name: /^In group \S+$/ }).waitFor();
        const groupId = await a.getByLabel("This group's id").inputValue();
        const key = await a.getByLabel("This group's key").inputValue();
        const aMembers = a.getByRole("list", { name: "Members" }).getByRole("listitem");
        await waitForText(aMembers, `${alice} (you, owner)`);

        const link = new URL(await a.getByLabel("Invite link").inputValue());
        assert.equal(link.search, "", "nothing of the invite is in the query");
        assert.equal(`${link.origin}${link.pathname}`, url);
        const fragment = new URLSearchParams(link.hash.slice(1));
        assert.deepEqual([fragment.get("join"), fragment.get("key")], [groupId, key]);

        // Opened before logging in: the page joins right after the login.
        const b = await open("invited");
        // What the page sends: it names no one, the gate stamps the username from the login.
        const sent: string[] = [];
        b.on("websocket", (ws) => ws.on("framesent", (frame) => sent.push(String(frame.payload))));
        await b.goto(link.href);
        await waitForConnected(b);
        await waitForText(
          statusLine(b),
          `The invite link joins group ${groupId} once you are logged in.`,
        );
        const bob = uniqueName("bob");
        await registerOnPage(b, bob);
        await b.getByRole("heading", { name: `In group ${groupId}` }).waitFor();
        assert.equal(new URL(b.url()).hash, "", "the key is taken out of the address");
        const bMembers = b.getByRole("list", { name: "Members" }).getByRole("listitem");
        await waitForText(bMembers, `${alice} (owner)`);
        await waitForText(bMembers, `${bob} (you)`);
        const joins = sent.map((text) => JSON.parse(text)).filter((e) => e.cmd === GroupCmd.JOIN);
        assert.equal(joins.length, 1, "the page sent one join");
        assert.equal("name" in joins[0].data, false, "the page sends no name of its own");

        const aMessages = a.getByRole("list", { name: "Messages" }).getByRole("listitem");
        await waitForText(aMessages, `${bob} joined.`);
        await waitForText(aMembers, new RegExp(`^${bob}$`));
        await b.getByLabel("Message", { exact: true }).fill("hello by name");
        await b.getByLabel("Message", { exact: true }).press("Enter");
        await waitForText(aMessages, `${bob}: hello by name`);

        // Opened while logged in: it joins at once. Bob leaves, then follows the link again.
        await b.getByRole("button", { name: "Leave group" }).click();
        await waitForText(aMessages, `${bob} left.`);
        await b.goto(link.href);
        await b.getByRole("heading", { name: `In group ${groupId}` }).waitFor();
        await b.getByRole("button", { name: "Leave group" }).click();

        // Errors show under the field they concern; the status line stays clear of them.
        const join = b.getByRole("form", { name: "Join a group" });
        await join.getByLabel("Group id", { exact: true }).fill(groupId);
        await join.getByLabel("Group key", { exact: true }).fill(`${key}x`);
        await join.getByLabel("Group key", { exact: true }).press("Enter");
        await expectFieldError(join, "Group key", `The key of group ${groupId} is wrong`);
        assert.equal(await statusLine(b).textContent(), "");
        await join.getByLabel("Group key", { exact: true }).fill(key);
        assert.equal(await b.locator("#join-key-error").count(), 0, "editing clears the error");
        await join.getByLabel("Group id", { exact: true }).fill("");
        await join.getByRole("button", { name: "Join group" }).click();
        await expectFieldError(join, "Group id", "Type the group's id.");
        await join.getByLabel("Group id", { exact: true }).fill("no such group");
        await join.getByRole("button", { name: "Join group" }).click();
        await expectFieldError(join, "Group id", "A group id is 1 to 64 letters");
        await join.getByLabel("Group id", { exact: true }).fill("nosuchgroup");
        await join.getByRole("button", { name: "Join group" }).click();
        await expectFieldError(join, "Group id", "No group nosuchgroup");
      });
    } finally {
      await browser?.close().catch(() => {});
      await suite?.stop();
    }
  },
});

/** Waits until `count` resolves to `want`. */
async function assertCount(count: () => Promise<number>, want: number): Promise<void> {
  const deadline = Date.now() + 5000;
  let last = await count();
  while (last !== want && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    last = await count();
  }
  assert.equal(last, want);
}
