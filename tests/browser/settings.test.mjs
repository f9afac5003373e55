// The settings page (/app/) in a real headless browser: Debian's Chromium driven by
// playwright-core, against the local server (scim-local) that this script starts and stops.
//
// The Workteam story through the page: open it with the application key, check the Base URL,
// press Generate Bearer Token, use the token shown for a SCIM request (as Entra's Test
// Connection would), switch Enabled off and see that request refused with 403 "Provisioning
// is disabled", switch it on again and see 200; then retire the previous token. Also: a wrong
// key shows the API's problem detail in the page's error area; a user provisioned shows in the
// counts, the last call (Entra, by User-Agent) and the activity; a contact whose end date is
// 10 days away shows in the end-date list for 30 days and not for 7. Screenshot:
// target/browser/settings.png (target/browser/settings-failure.png when a step fails).
//
// Usage: node tests/browser/settings.test.mjs
//   SCIM_LOCAL_BIN  the server binary (default: ${CARGO_TARGET_DIR:-target}/debug/scim-local)
//   CHROMIUM        the browser (default: /usr/bin/chromium)
//   SCIM_BROWSER_OUT  where the screenshots go (default: ${CARGO_TARGET_DIR:-target}/browser)
// Installed by tests/tools/install.sh (apt chromium, npm ci here); run by tests/run.sh.

import { chromium } from "playwright-core";
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const target = resolve(root, process.env.CARGO_TARGET_DIR || "target");
const serverBin = resolve(process.env.SCIM_LOCAL_BIN || join(target, "debug", "scim-local"));
const browserBin = process.env.CHROMIUM || "/usr/bin/chromium";
const outDir = process.env.SCIM_BROWSER_OUT || join(target, "browser");
const STEP_TIMEOUT_MS = 15_000;
// What Entra ID's provisioning service sends; the page then names the client "Microsoft Entra ID".
const ENTRA_UA = "Azure Active Directory SCIM Client (scim-tests browser)";
const CONTACT_URN = "urn:ietf:params:scim:schemas:extension:contact:2.0:User";

const cleanups = [];
let server = null;
let serverLog = "";

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once("error", fail);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

let profileDir = null;
function stopServer() {
  if (profileDir) rmSync(profileDir, { recursive: true, force: true });
  if (server && server.exitCode === null && server.signalCode === null) {
    server.kill("SIGTERM");
  }
}
// The server never outlives this script, however it ends.
process.on("exit", stopServer);
for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  process.on(sig, () => {
    stopServer();
    process.exit(130);
  });
}

async function startServer(port, token, appKey) {
  server = spawn(serverBin, [], {
    cwd: root,
    env: {
      ...process.env,
      SCIM_PORT: String(port),
      SCIM_LOCAL_MEMORY: "1",
      SCIM_TOKEN: token,
      SCIM_APP_KEY: appKey,
      RUST_LOG: "warn",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  server.stdout.on("data", (d) => (serverLog += d));
  server.stderr.on("data", (d) => (serverLog += d));
  const exited = new Promise((_, fail) =>
    server.once("exit", (code, sig) => fail(new Error(`scim-local exited (${code ?? sig}) before it served`))),
  );
  exited.catch(() => {});
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    const ready = await Promise.race([
      fetch(`http://127.0.0.1:${port}/app/`).then((r) => r.ok, () => false),
      exited,
    ]);
    if (ready) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("scim-local did not answer within 30 s");
}

function check(cond, message) {
  if (!cond) throw new Error(message);
}

// Waits until `fn` (run in the page) is true; a timeout names what was awaited.
async function until(page, what, fn) {
  try {
    await page.waitForFunction(fn, undefined, { timeout: STEP_TIMEOUT_MS });
  } catch (e) {
    throw new Error(`timed out after ${STEP_TIMEOUT_MS} ms waiting for ${what}`, { cause: e });
  }
}

// A Test-Connection-style SCIM request: what Entra ID sends when the admin presses Test Connection.
async function testConnection(base, token) {
  const url = `${base}/Users?filter=${encodeURIComponent('userName eq "x"')}`;
  const r = await fetch(url, {
    headers: { Authorization: `Bearer ${token}`, Accept: "application/scim+json", "User-Agent": ENTRA_UA },
  });
  const text = await r.text();
  let body = null;
  try { body = JSON.parse(text); } catch { body = null; }
  return { status: r.status, body, text };
}

async function main() {
  const port = await freePort();
  const origin = `http://127.0.0.1:${port}`;
  const scimBase = `${origin}/scim/v2`;
  const envToken = randomBytes(32).toString("base64url");
  const appKey = randomBytes(32).toString("base64url");
  mkdirSync(outDir, { recursive: true });

  const steps = [];
  const step = (name, fn) => steps.push({ name, fn });
  let page, context, newToken;

  step("the local server starts", async () => {
    await startServer(port, envToken, appKey);
  });

  step("Chromium starts headless with a fresh profile", async () => {
    profileDir = mkdtempSync(join(tmpdir(), "scim-browser-"));
    context = await chromium.launchPersistentContext(profileDir, {
      executablePath: browserBin,
      headless: true,
      viewport: { width: 1100, height: 900 },
      args: [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
      ],
    });
    cleanups.push(() => context.close());
    page = context.pages()[0] || (await context.newPage());
    page.setDefaultTimeout(STEP_TIMEOUT_MS);
    page.on("pageerror", (e) => console.log(`  page error: ${e.message}`));
    page.on("dialog", (d) => d.accept());
  });

  step("a wrong key shows the API's problem detail in the error area", async () => {
    await page.goto(`${origin}/app/#key=not-the-key`);
    const alert = page.getByRole("alert");
    await alert.waitFor({ state: "visible" });
    const text = await alert.textContent();
    check(/needs the application key/.test(text), `error area says: ${text}`);
  });

  step("with the key from the address the page loads, and the key leaves the address bar", async () => {
    await page.goto(`${origin}/app/#key=${appKey}`);
    await until(page, "the Base URL to be filled in", () => document.getElementById("base-url").value !== "");
    check(!page.url().includes(appKey), `the key is still in the address: ${page.url()}`);
    const stored = await page.evaluate(() => sessionStorage.getItem("scim-app-key"));
    check(stored === appKey, "the key is not in sessionStorage");
    check(!(await page.getByRole("alert").isVisible()), "the error area is shown after a good load");
  });

  step("the Base URL is the SCIM endpoint", async () => {
    const shown = await page.getByLabel("Base URL", { exact: true }).inputValue();
    check(shown === scimBase, `Base URL shows ${JSON.stringify(shown)}, expected ${scimBase}`);
    await page.getByRole("button", { name: "Copy Base URL" }).waitFor();
  });

  step("provisioning is shown enabled, with one current token", async () => {
    const sw = page.getByRole("switch", { name: "Enabled" });
    check(await sw.isChecked(), "the Enabled switch is off at start");
    check(await sw.isEnabled(), "the Enabled switch cannot be used");
    const rows = page.locator("#tokens tr");
    check((await rows.count()) === 1, `tokens table has ${await rows.count()} rows`);
    check(/current/.test(await rows.first().textContent()), "the one token is not current");
    check(await page.getByRole("button", { name: "Retire previous token" }).isDisabled(),
      "Retire previous token is enabled with no previous token");
  });

  step("Generate Bearer Token shows a new token once, with the warning", async () => {
    const answered = page.waitForResponse((r) => r.url().endsWith("/app/v1/tokens") && r.request().method() === "POST");
    await page.getByRole("button", { name: "Generate Bearer Token" }).click();
    check((await answered).status() === 201, "POST /app/v1/tokens did not answer 201");
    const field = page.getByLabel("Bearer token", { exact: true });
    await field.waitFor({ state: "visible" });
    await until(page, "the token field to show the new token", () => document.getElementById("token").value.length > 0);
    newToken = await field.inputValue();
    check(/^[A-Za-z0-9_-]{40,}$/.test(newToken), `the token field shows ${JSON.stringify(newToken)}`);
    check(newToken !== envToken, "the page shows the old token");
    check(await field.evaluate((el) => el.readOnly), "the token field is editable");
    const warning = await page.locator("#token-warning").textContent();
    check(/will not be shown again/.test(warning) && /previous token keeps\s+working/.test(warning),
      `the warning says: ${warning}`);
    await until(page, "two rows (current, previous) in the tokens table", () => document.querySelectorAll("#tokens tr").length === 2);
    check(await page.getByRole("button", { name: "Retire previous token" }).isEnabled(),
      "Retire previous token stays disabled with a previous token");
  });

  step("the generated token opens SCIM (Test Connection: 200); the previous one still does", async () => {
    const r = await testConnection(scimBase, newToken);
    check(r.status === 200, `new token: ${r.status} ${r.text}`);
    check(r.body && r.body.totalResults === 0, `unexpected list: ${r.text}`);
    const old = await testConnection(scimBase, envToken);
    check(old.status === 200, `previous token: ${old.status} ${old.text}`);
  });

  step("a user provisioned with it shows in the counts, last call and recent activity", async () => {
    const r = await fetch(`${scimBase}/Users`, {
      method: "POST",
      headers: {
        Authorization: `Bearer ${newToken}`,
        "Content-Type": "application/scim+json",
        "User-Agent": ENTRA_UA,
      },
      body: JSON.stringify({
        schemas: ["urn:ietf:params:scim:schemas:core:2.0:User"],
        userName: "ann.lee@contoso.com",
        displayName: "Ann Lee",
        name: { givenName: "Ann", familyName: "Lee" },
        emails: [{ value: "ann.lee@contoso.com", type: "work", primary: true }],
      }),
    });
    check(r.status === 201, `POST /Users: ${r.status} ${await r.text()}`);
    await page.getByRole("button", { name: "Refresh" }).click();
    await until(page, "the users count to show 1", () => document.getElementById("users").textContent === "1");
    const lastCall = await page.locator("#last-call").textContent();
    check(lastCall === "Microsoft Entra ID", `last call shows ${JSON.stringify(lastCall)}`);
    const activity = await page.locator("#activity").textContent();
    check(/user\.created/.test(activity) && /userName/.test(activity), `activity shows: ${activity}`);
  });

  step("a contact whose end date is near is listed, within the period chosen", async () => {
    const endDate = new Date(Date.now() + 10 * 86400000).toISOString().replace(/\.\d+Z$/, "Z");
    const r = await fetch(`${scimBase}/Users`, {
      method: "POST",
      headers: {
        Authorization: `Bearer ${newToken}`,
        "Content-Type": "application/scim+json",
        "User-Agent": ENTRA_UA,
      },
      body: JSON.stringify({
        schemas: ["urn:ietf:params:scim:schemas:core:2.0:User", CONTACT_URN],
        userName: "ben.okafor_fabrikam.com#EXT#@contoso.onmicrosoft.com",
        displayName: "Ben Okafor (guest)",
        externalId: "5d1c7a0e-7f47-4b8e-9a53-2f0e7c1b9d21",
        [CONTACT_URN]: { endDate },
      }),
    });
    check(r.status === 201, `POST /Users (contact): ${r.status} ${await r.text()}`);
    await page.getByRole("button", { name: "Refresh" }).click();
    await until(page, "the contact in the end-date table", () =>
      /Ben Okafor/.test(document.getElementById("expiring").textContent));
    const row = await page.locator("#expiring tr").first().textContent();
    check(/in (9|10) days/.test(row) && /active/.test(row), `end-date row: ${row}`);
    check(!/Ann Lee/.test(await page.locator("#expiring").textContent()), "a contact without end date is listed");
    await page.getByLabel("Within").selectOption("7");
    await until(page, "the 7-day list to be empty", () =>
      /No contact/.test(document.getElementById("expiring").textContent));
    await page.getByLabel("Within").selectOption("30");
    await until(page, "the 30-day list to show the contact again", () =>
      /Ben Okafor/.test(document.getElementById("expiring").textContent));
  });

  step("switching Enabled off refuses SCIM requests: 403 'Provisioning is disabled'", async () => {
    const sw = page.getByRole("switch", { name: "Enabled" });
    const answered = page.waitForResponse((r) => r.url().endsWith("/app/v1/settings") && r.request().method() === "PATCH");
    await sw.click();
    check((await answered).status() === 200, "PATCH /app/v1/settings did not answer 200");
    await until(page, "the Enabled switch to show off", () => {
      const s = document.getElementById("enabled");
      return !s.checked && !s.disabled;
    });
    check(/Off/.test(await page.locator("#enabled-state").textContent()), "the state text does not say Off");
    const r = await testConnection(scimBase, newToken);
    check(r.status === 403, `disabled: ${r.status} ${r.text}`);
    check(r.body && /Provisioning is disabled/.test(r.body.detail || ""), `disabled detail: ${r.text}`);
  });

  step("switching Enabled on again lets them through: 200", async () => {
    const answered = page.waitForResponse((r) => r.url().endsWith("/app/v1/settings") && r.request().method() === "PATCH");
    await page.getByRole("switch", { name: "Enabled" }).click();
    check((await answered).status() === 200, "PATCH /app/v1/settings did not answer 200");
    await until(page, "the Enabled switch to show on", () => {
      const s = document.getElementById("enabled");
      return s.checked && !s.disabled;
    });
    const r = await testConnection(scimBase, newToken);
    check(r.status === 200, `enabled again: ${r.status} ${r.text}`);
  });

  step("screenshot", async () => {
    await page.screenshot({ path: join(outDir, "settings.png"), fullPage: true });
  });

  step("Retire previous token: the old token gets 401, the new one still works", async () => {
    const answered = page.waitForResponse((r) => r.url().endsWith("/app/v1/tokens/previous"));
    await page.getByRole("button", { name: "Retire previous token" }).click();
    check((await answered).status() === 204, "DELETE /app/v1/tokens/previous did not answer 204");
    await until(page, "one row in the tokens table", () => document.querySelectorAll("#tokens tr").length === 1);
    check(await page.getByRole("button", { name: "Retire previous token" }).isDisabled(),
      "Retire previous token is still enabled");
    const old = await testConnection(scimBase, envToken);
    check(old.status === 401, `retired token: ${old.status} ${old.text}`);
    const r = await testConnection(scimBase, newToken);
    check(r.status === 200, `current token: ${r.status} ${r.text}`);
  });

  let passed = 0;
  let failed = 0;
  let skipped = 0;
  for (const [i, s] of steps.entries()) {
    if (failed) {
      skipped += 1;
      console.log(`skip ${i + 1} - ${s.name}`);
      continue;
    }
    const t0 = Date.now();
    try {
      await s.fn();
      passed += 1;
      console.log(`ok ${i + 1} - ${s.name} (${Date.now() - t0} ms)`);
    } catch (e) {
      failed += 1;
      console.log(`not ok ${i + 1} - ${s.name}\n  ${String(e && e.stack ? e.stack : e).split("\n").join("\n  ")}`);
      if (page) {
        const shot = join(outDir, "settings-failure.png");
        await page.screenshot({ path: shot, fullPage: true }).then(() => console.log(`  screenshot: ${shot}`), () => {});
      }
      const log = serverLog.split(envToken).join("<token>").split(appKey).join("<key>");
      if (log) console.log(`  server output:\n    ${log.trim().split("\n").slice(-20).join("\n    ")}`);
    }
  }
  for (const c of cleanups.reverse()) {
    try { await c(); } catch { /* best effort */ }
  }
  stopServer();
  if (!failed) console.log(`screenshot: ${join(outDir, "settings.png")}`);
  console.log(`${passed} passed, ${failed} failed` + (skipped ? `, ${skipped} skipped` : ""));
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (e) => {
    console.error(e);
    stopServer();
    process.exit(1);
  },
);
