/**
 * What the browser tests share: finding the system Chromium (without it the tests are ignored,
 * or failed under CI), building the page's bundles into web/dist, a real suite (gate serving web/,
 * login, group), and one browser case at a time with a screenshot of each of its pages on
 * failure, under tests/artifacts/.
 *
 * @example
 * ```ts
 * const suite = await startWebSuite();
 * const browser = await launchChromium(chromium);
 * await browserCase(browser, "register", async (open) => {
 *   const page = await open();
 *   await page.goto(suite.url);
 * });
 * ```
 * @module
 */

import { type Browser, chromium, type Locator, type Page } from "playwright-core";
import { buildBundles, BUNDLES } from "../../client/build.ts";
import { TOKEN_KEY } from "../../web/app/token_store.ts";
import { startGroup } from "../helpers/group.ts";
import { startLogin, TEST_PASSWORD } from "../helpers/login.ts";
import { ROOT_DIR, type RunningProcess } from "../helpers/process.ts";
import { type GateProcess, startGate } from "../helpers/suite.ts";
import { inCI, type RequiredTool, requireTool } from "../helpers/tool.ts";

export { TEST_PASSWORD, TOKEN_KEY };

/** The line printed when the browser tests are ignored. */
export const SKIP_LINE = "ignored: Chromium is not installed here (apt-get install chromium)";

/** Flags for a quiet headless Chromium in a container. */
export const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  "--disable-quic",
];

/** Where failure screenshots go (git-ignored). */
export const ARTIFACTS_DIR = `${ROOT_DIR}/tests/artifacts`;

/** How long one wait for the page may take. */
export const STEP_TIMEOUT_MS = 10_000;

function isFile(path: string): boolean {
  try {
    return Deno.statSync(path).isFile;
  } catch {
    return false;
  }
}

/** The system Chromium: /usr/bin/chromium, or `chromium` on PATH; undefined when neither. */
export function findChromium(): string | undefined {
  if (isFile("/usr/bin/chromium")) return "/usr/bin/chromium";
  for (const dir of (Deno.env.get("PATH") ?? "").split(":")) {
    if (dir && isFile(`${dir}/chromium`)) return `${dir}/chromium`;
  }
  return undefined;
}

/** Whether the browser tests must run (CI is set): then a missing Chromium fails them. */
export function browserTestsRequired(): boolean {
  return inCI();
}

/** Chromium for the browser tests: their `ignore`, and the check that fails them in CI. */
export function chromiumTool(): RequiredTool {
  return requireTool({
    name: "Chromium",
    found: findChromium() !== undefined,
    install: "apt-get install chromium",
  });
}

/** Launches headless Chromium through playwright-core. */
export function launchChromium(executablePath: string): Promise<Browser> {
  return chromium.launch({ executablePath, headless: true, args: CHROMIUM_ARGS });
}

/** A running suite whose gate serves the repo's web/. */
export interface WebSuite {
  gate: GateProcess;
  login: RunningProcess;
  group: RunningProcess;
  /** The page's URL. */
  url: string;
  stop(): Promise<void>;
}

/**
 * Builds the browser bundles (the client and the page's app) into the real web/dist, then
 * starts a gate (serving web/, the default `--web-dir`), the login service with the test hash
 * cost, and the group service.
 */
export async function startWebSuite(): Promise<WebSuite> {
  await buildBundles(BUNDLES.filter((bundle) => bundle.platform === "browser"));
  const gate = await startGate();
  const started: RunningProcess[] = [];
  try {
    const login = await startLogin(gate);
    started.push(login);
    const group = await startGroup(gate);
    started.push(group);
    return {
      gate,
      login,
      group,
      url: `${gate.httpUrl}/`,
      async stop() {
        await Promise.all([login.stop(), group.stop()]);
        await gate.stop();
      },
    };
  } catch (error) {
    await Promise.all(started.map((process) => process.stop()));
    await gate.stop();
    throw error;
  }
}

/** Opens a page in a context of its own (its own storage); `label` names its screenshot. */
export type OpenPage = (label?: string) => Promise<Page>;

/** The file name part of a test's name. */
export function artifactName(name: string): string {
  return name.replace(/[^A-Za-z0-9]+/g, "_").replace(/^_+|_+$/g, "").slice(0, 100);
}

/**
 * Runs one browser case. Each page it opens gets a fresh context; on failure every page is
 * saved as tests/artifacts/<name>.png (the first) or <name>-<label>.png, and the pages' console
 * errors are added to the error. Contexts are closed either way.
 */
export async function browserCase(
  browser: Browser,
  name: string,
  work: (open: OpenPage) => Promise<void>,
): Promise<void> {
  const pages: Array<{ page: Page; label: string }> = [];
  const consoleLines: string[] = [];
  const open: OpenPage = async (label) => {
    const context = await browser.newContext();
    context.setDefaultTimeout(STEP_TIMEOUT_MS);
    const page = await context.newPage();
    const tag = label ?? `page${pages.length + 1}`;
    page.on("console", (message) => {
      if (message.type() === "error" || message.type() === "warning") {
        consoleLines.push(`[${tag} console.${message.type()}] ${message.text()}`);
      }
    });
    page.on("pageerror", (error) => consoleLines.push(`[${tag} pageerror] ${error.message}`));
    pages.push({ page, label: tag });
    return page;
  };
  try {
    await work(open);
  } catch (error) {
    const base = `${ARTIFACTS_DIR}/${artifactName(name)}`;
    const saved: string[] = [];
    await Deno.mkdir(ARTIFACTS_DIR, { recursive: true });
    for (const [i, { page, label }] of pages.entries()) {
      const path = i === 0 ? `${base}.png` : `${base}-${artifactName(label)}.png`;
      try {
        await page.screenshot({ path, fullPage: true, timeout: 5000 });
        saved.push(path);
      } catch { /* the page is gone */ }
    }
    const notes = [
      saved.length ? `screenshots: ${saved.join(", ")}` : "no screenshot could be taken",
      ...consoleLines,
    ];
    if (error instanceof Error) {
      error.message += `\n${notes.join("\n")}`;
      throw error;
    }
    throw new Error(`${String(error)}\n${notes.join("\n")}`);
  } finally {
    for (const { page } of pages) await page.context().close().catch(() => {});
  }
}

/** Waits until `locator` (one element) has text matching `text`. */
export async function waitForText(locator: Locator, text: string | RegExp): Promise<void> {
  try {
    await locator.filter({ hasText: text }).first().waitFor();
  } catch (error) {
    const now = await locator.first().textContent({ timeout: 1000 }).catch(() => "(none)");
    throw new Error(`Expected text ${text} but found ${JSON.stringify(now)}: ${error}`);
  }
}

/** Opens the page and waits until it is connected. */
export async function gotoPage(page: Page, url: string): Promise<void> {
  await page.goto(url);
  await waitForConnected(page);
}

/** Waits until the connection bar says connected. */
export async function waitForConnected(page: Page): Promise<void> {
  await waitForText(page.getByRole("status", { name: "Connection state" }), /^connected$/);
}

/** The log-in form. */
export function loginForm(page: Page): Locator {
  return page.getByRole("form", { name: "Log in" });
}

/** The register form. */
export function registerForm(page: Page): Locator {
  return page.getByRole("form", { name: "Register" });
}

/** The status line. */
export function statusLine(page: Page): Locator {
  return page.getByRole("status", { name: "Status" });
}

/** The heading that names the logged-in user. */
export function loggedInHeading(page: Page, username: string): Locator {
  return page.getByRole("heading", { name: `Logged in as ${username}`, exact: true });
}

/** Fills in the register form and submits it by Enter. */
export async function submitRegister(
  page: Page,
  username: string,
  password = TEST_PASSWORD,
): Promise<void> {
  const form = registerForm(page);
  await form.getByLabel("New username", { exact: true }).fill(username);
  await form.getByLabel("New password", { exact: true }).fill(password);
  await form.getByLabel("New password", { exact: true }).press("Enter");
}

/** Registers with the register form and waits to be logged in. */
export async function registerOnPage(
  page: Page,
  username: string,
  password = TEST_PASSWORD,
): Promise<void> {
  await submitRegister(page, username, password);
  await loggedInHeading(page, username).waitFor();
}

/** Logs in with the log-in form (submitted by Enter). */
export async function submitLogin(
  page: Page,
  username: string,
  password = TEST_PASSWORD,
): Promise<void> {
  const form = loginForm(page);
  await form.getByLabel("Username", { exact: true }).fill(username);
  await form.getByLabel("Password", { exact: true }).fill(password);
  await form.getByLabel("Password", { exact: true }).press("Enter");
}

/** The token the page keeps in sessionStorage, or null. */
export function storedToken(page: Page): Promise<string | null> {
  return page.evaluate((key) => sessionStorage.getItem(key), TOKEN_KEY);
}

/**
 * The error line under a form's field (its `aria-describedby` target), after checking that the
 * field is marked invalid; waits for it to hold `text`.
 */
export async function expectFieldError(
  form: Locator,
  label: string,
  text: string | RegExp,
): Promise<void> {
  const input = form.getByLabel(label, { exact: true });
  const id = await input.getAttribute("id");
  const line = form.page().locator(`#${id}-error`);
  await waitForText(line, text);
  const described = (await input.getAttribute("aria-describedby")) ?? "";
  if (!described.split(" ").includes(`${id}-error`)) {
    throw new Error(`The field ${label} is not described by its error line`);
  }
  if ((await input.getAttribute("aria-invalid")) !== "true") {
    throw new Error(`The field ${label} is not marked aria-invalid`);
  }
}
