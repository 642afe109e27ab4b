/// <reference lib="dom" />
/**
 * The Gatehouse web page (served by the gate at `/`; bundled by `deno task build` to
 * `web/dist/app.js`). It connects to the gate that served it, over `ws://` or `wss://` at
 * `/ws`, and offers the accounts of the login service and the group chat of the group service.
 *
 * - A token from an earlier login (in `sessionStorage`: token_store.ts says why) logs in again by
 *   token on load, and the page shows the group it was in (the group service kept its place).
 * - The connection bar shows the state and the last heartbeat round trip.
 * - A notice says when the account was logged in elsewhere.
 * - Errors about a field show under it; the status line is cleared by the next action.
 * - An invite link (`#join=<groupId>&key=<key>`) joins its group once logged in.
 *
 * @module
 */

import { GateClient } from "../client/browser.ts";
import { AccountPanel } from "./app/account_panel.ts";
import { ConnectionPanel } from "./app/connection_panel.ts";
import { byId } from "./app/dom.ts";
import { describeError } from "./app/errors.ts";
import { gateUrl } from "./app/gate_url.ts";
import { GroupPanel } from "./app/group_panel.ts";
import { Notices } from "./app/notices.ts";
import { Session } from "./app/session.ts";
import { TokenStore } from "./app/token_store.ts";

/** Heartbeat interval of the page: short, so that the round trip shows soon after loading. */
const HEARTBEAT_MS = 2000;

function start(): void {
  const tokens = new TokenStore();
  const client = new GateClient({
    url: gateUrl(location),
    token: tokens.get(),
    heartbeatMs: HEARTBEAT_MS,
  });
  const notices = new Notices({ status: byId("status"), notice: byId("notice") });
  // A new action makes the last one's status line stale.
  document.addEventListener("submit", () => notices.clear(), { capture: true });
  new ConnectionPanel(client);
  const session = new Session(client, tokens);
  const account = new AccountPanel(session, notices);
  new GroupPanel(client, session, notices);
  let unreachable = false;
  client.onState((state) => {
    if (state === "connected" && unreachable) {
      unreachable = false;
      notices.info("Connected to the server.");
    }
  });
  client.connect().then(
    () => account.render(),
    (error) => {
      unreachable = true;
      account.render();
      notices.error(`Could not reach the server (${describeError(error)}): trying again…`);
    },
  );
}

start();
