// The developer portal (the portal listener) in a real browser, used end to
// end as a consumer would: Debian's chromium driven by playwright-core.
//
//   PORTAL_URL=http://127.0.0.1:9902 GATEWAY_URL=http://127.0.0.1:8080 \
//     ADMIN_URL=http://127.0.0.1:9901 ADMIN_TOKEN=... \
//     TURNPIKE_BIN=target/debug/turnpike SCREENSHOT_DIR=target/screenshots \
//     node portal.mjs
//
// The gateway must serve the API `shop` (GET /pets, an API key required,
// answering [{"name":"rex"}]) with its `$default` stage published in the
// catalogue, the usage plan `starter` (quota 5 a day) open for
// self-service, and `signup = "approval"`.
//
// It signs up with a fresh address through the form (the page must say
// the account waits for an operator's approval), tries to sign in before
// approval (refused, with the same message), approves the account with
// `turnpike portal consumers` / `turnpike portal approve`, signs in with
// the keyboard alone, browses the catalogue and the API's documentation
// (Swagger UI), subscribes to the plan and copies the key shown once, calls
// the API from the documentation page ("try it") and from outside the
// browser, watches the usage (table and chart) count the calls, spends the
// quota until the gateway answers 429, rotates the key (the old value is
// refused with 403, the new one keeps the spent quota: 429) and signs out.
// Throughout, no page may log an error, break a Content-Security-Policy
// rule, ask anything of another origin, carry an inline script or show the
// admin token. Screenshots go to SCREENSHOT_DIR: catalogue.png, docs.png,
// account.png, signin.png (and failure.png if it fails). Any failure exits
// 1 with the reason.
//
// Optional: CHROMIUM (default /usr/bin/chromium), WAIT_MS (default 15000,
// the bound of each wait).

import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

function env(name, { required = true } = {}) {
  const value = process.env[name];
  if (required && !value) {
    console.error(`portal: the environment variable ${name} is required`);
    process.exit(2);
  }
  return value || null;
}

const PORTAL_URL = env('PORTAL_URL').replace(/\/+$/, '');
const GATEWAY_URL = env('GATEWAY_URL').replace(/\/+$/, '');
const ADMIN_URL = env('ADMIN_URL').replace(/\/+$/, '');
const ADMIN_TOKEN = env('ADMIN_TOKEN');
const TURNPIKE_BIN = env('TURNPIKE_BIN');
const SCREENSHOT_DIR = env('SCREENSHOT_DIR');
const CHROMIUM = env('CHROMIUM', { required: false }) ?? '/usr/bin/chromium';
const WAIT_MS = Number(env('WAIT_MS', { required: false }) ?? 15000);
const ORIGIN = new URL(PORTAL_URL).origin;
const DOCS_PATH = '/docs/shop/%24default';
const QUOTA = 5; // the plan "starter": 5 calls a day

class Failure extends Error {}

// Problems, each once, with how often it happened.
function summary(problems) {
  const counts = new Map();
  for (const problem of problems) counts.set(problem, (counts.get(problem) ?? 0) + 1);
  return [...counts].map(([problem, n]) => (n > 1 ? `${problem} (${n} times)` : problem)).join('\n  ');
}

function check(condition, message) {
  if (!condition) throw new Failure(message);
}

const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Polls `probe` until it returns true, for at most WAIT_MS. Anything else it
// returns (or throws) says what it sees instead, for the failure message.
async function waitFor(what, probe, timeout = WAIT_MS) {
  const deadline = Date.now() + timeout;
  let seen = 'nothing yet';
  for (;;) {
    try {
      const result = await probe();
      if (result === true) return;
      seen = typeof result === 'string' ? result : JSON.stringify(result);
    } catch (error) {
      seen = `error: ${error.message.split('\n')[0]}`;
    }
    if (Date.now() >= deadline) throw new Failure(`timed out after ${timeout} ms waiting for ${what}; saw ${seen}`);
    await pause(100);
  }
}

// `turnpike ARGS...` against the admin API; its exit code, stdout and stderr.
function turnpike(...args) {
  return new Promise((resolve) => {
    execFile(
      TURNPIKE_BIN,
      args,
      {
        env: { ...process.env, TURNPIKE_ADMIN: ADMIN_URL, TURNPIKE_ADMIN_TOKEN: ADMIN_TOKEN },
        timeout: WAIT_MS,
      },
      (error, stdout, stderr) => resolve({ code: error ? (error.code ?? 'killed') : 0, stdout, stderr }),
    );
  });
}

// The consumer with address `email` as `turnpike portal consumers` lists it.
async function consumer(email) {
  const run = await turnpike('portal', 'consumers');
  check(run.code === 0, `turnpike portal consumers exited with ${run.code}: ${run.stderr.trim()}`);
  const lines = run.stdout.trim().split('\n');
  check(/^ID\s+STATUS\s+EMAIL\s+KEYS$/.test(lines[0]), `turnpike portal consumers printed no table header: ${JSON.stringify(lines[0])}`);
  const row = lines.slice(1).map((line) => line.trim().split(/\s+/)).find((cells) => cells[2] === email);
  check(row, `turnpike portal consumers does not list ${email}:\n${run.stdout}`);
  return { id: row[0], status: row[1], keys: row.slice(3).join(' ') };
}

// The gateway, called from outside the browser (as curl would).
async function callApi(key) {
  const response = await fetch(`${GATEWAY_URL}/pets`, { headers: { 'x-api-key': key } });
  return { status: response.status, body: await response.text() };
}

async function main() {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const problems = []; // console errors, page errors, CSP violations, foreign requests, bad HTML
  // HTTP errors the browser reports to the console that the test provokes
  // on purpose: status -> how many more may be reported.
  const expectedStatus = new Map();
  const pagesChecked = new Set();
  const bodyChecks = [];
  const profile = mkdtempSync(join(tmpdir(), 'turnpike-chromium-'));
  const email = `consumer-${Date.now()}-${process.pid}@example.com`;
  const password = `correct horse ${Math.random().toString(36).slice(2)}`;
  let context = null;
  let page = null;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ],
      viewport: { width: 1280, height: 900 },
    });
    context.setDefaultTimeout(WAIT_MS);
    await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: ORIGIN });
    // Violations are reported to the console by Chromium too; this makes
    // them explicit, with the directive, on every page.
    await context.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => {
        console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || 'an inline resource'} (${e.sourceFile}:${e.lineNumber})`);
      });
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (message) => {
      if (message.type() !== 'error') return;
      const text = message.text();
      const where = message.location().url;
      // Chromium asks every site for /favicon.ico; the portal has none.
      if (where && new URL(where).pathname === '/favicon.ico' && /status of 404/.test(text)) return;
      const status = Number(/status of (\d{3})/.exec(text)?.[1]);
      if (expectedStatus.get(status) > 0) {
        expectedStatus.set(status, expectedStatus.get(status) - 1);
        return;
      }
      problems.push(`console error: ${text}${where ? ` (${where})` : ''}`);
    });
    page.on('pageerror', (error) => problems.push(`uncaught exception: ${error.message}`));
    page.on('request', (request) => {
      const url = request.url();
      if (!url.startsWith('data:') && new URL(url).origin !== ORIGIN) problems.push(`request to another origin: ${url}`);
    });
    // Every page and every JSON answer the portal serves, as it serves it:
    // no inline script, a strict Content-Security-Policy, never the admin token.
    page.on('response', (response) => {
      const request = response.request();
      const url = new URL(response.url());
      if (url.origin !== ORIGIN || response.status() >= 300 && response.status() < 400) return;
      const type = response.headers()['content-type'] ?? '';
      const isPage = request.resourceType() === 'document';
      if (!isPage && !type.startsWith('application/json')) return;
      const what = `${request.method()} ${url.pathname}`;
      bodyChecks.push(response.text().then(
        (body) => {
          if (body.includes(ADMIN_TOKEN)) problems.push(`${what} shows the admin token`);
          if (!isPage) return;
          pagesChecked.add(what);
          const csp = response.headers()['content-security-policy'] ?? '';
          if (!/script-src 'self'/.test(csp) || /unsafe-inline/.test(csp)) {
            problems.push(`${what} has no strict Content-Security-Policy: ${JSON.stringify(csp)}`);
          }
          for (const [tag] of body.matchAll(/<script\b[^>]*>/gi)) {
            if (!/\ssrc\s*=/i.test(tag)) problems.push(`${what} has an inline script: ${tag}`);
          }
          for (const [tag] of body.matchAll(/<[a-z][^>]*>/gi)) {
            if (/\son[a-z]+\s*=/i.test(tag)) problems.push(`${what} has an inline event handler: ${tag}`);
          }
        },
        (error) => problems.push(`cannot read ${what}: ${error.message.split('\n')[0]}`),
      ));
    });

    const goto = async (path, status = 200) => {
      const response = await page.goto(PORTAL_URL + path, { waitUntil: 'load' });
      check(response && response.status() === status, `GET ${path} answered ${response?.status()}, not ${status}`);
      return response;
    };
    // The page's own heading (Swagger UI adds an h1 of its own on the docs page).
    const heading = async () => (await page.locator('main > h1').first().textContent()).trim();
    const alert = page.getByRole('alert');
    const pathname = () => new URL(page.url()).pathname;
    const noProblems = (step) => check(problems.length === 0, `${step}: the pages reported problems:\n  ${summary(problems)}`);

    // Signs in with the keyboard alone: Tab from the top of the page to the
    // email field, type, Tab to the password, type, Enter. Returns the
    // answer to the form.
    const signInByKeyboard = async () => {
      await goto('/signin');
      check((await heading()) === 'Sign in', `/signin shows ${JSON.stringify(await heading())}`);
      const focused = () => page.evaluate(() => document.activeElement?.id || document.activeElement?.tagName);
      let tabs = 0;
      while ((await focused()) !== 'email') {
        check(++tabs <= 15, 'the email field cannot be reached with Tab');
        await page.keyboard.press('Tab');
      }
      await page.keyboard.type(email);
      await page.keyboard.press('Tab');
      check((await focused()) === 'password', `Tab from the email field went to ${await focused()}, not the password`);
      await page.keyboard.type(password);
      const answer = page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/signin');
      await page.keyboard.press('Enter');
      return answer;
    };

    // 1. Sign up through the form.
    await goto('/signup');
    check((await heading()) === 'Sign up', `/signup shows ${JSON.stringify(await heading())}`);
    check(await page.getByText('An operator approves new accounts').isVisible(), '/signup does not say an operator approves new accounts');
    await page.getByLabel('Email', { exact: true }).fill(email);
    await page.getByLabel(/^Password/).fill(password);
    const signedUp = page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/signup');
    await page.getByRole('button', { name: 'Sign up', exact: true }).click();
    check((await signedUp).status() === 200, `the sign-up form answered ${(await signedUp).status()}`);
    await waitFor('the sign-up to be acknowledged', async () =>
      ((await heading()) === 'Thank you'
        && /waits for an operator's approval/.test(await page.getByRole('status').textContent()))
      || `${pathname()}: ${await heading()}`);
    noProblems('signing up');

    // 2. Signing in before approval is refused, with the reason.
    expectedStatus.set(403, 1); // Chromium reports the refused sign-in's 403
    const early = await signInByKeyboard();
    check(early.status() === 403, `signing in before approval answered ${early.status()}, not 403`);
    await waitFor('the approval message on the sign-in page', async () =>
      ((await alert.isVisible()) && (await alert.textContent()).trim() === "Your account waits for an operator's approval.")
      || `${pathname()}: alert ${JSON.stringify(await alert.textContent().catch(() => null))}`);
    check(pathname() === '/signin' && (await heading()) === 'Sign in', `before approval the browser is on ${pathname()} (${await heading()})`);
    check(await page.getByLabel('Email', { exact: true }).inputValue() === email, 'the refused sign-in form forgot the address');
    await page.screenshot({ path: join(SCREENSHOT_DIR, 'signin.png'), fullPage: true });
    await goto('/account');
    check(pathname() === '/signin', `/account before approval went to ${pathname()}, not /signin`);
    noProblems('signing in before approval');

    // 3. The operator sees the waiting account in the operator view (the
    // admin listener's /ui/, a page of its own origin) ...
    {
      const admin = await context.newPage();
      const adminProblems = [];
      admin.on('console', (m) => { if (m.type() === 'error') adminProblems.push(m.text()); });
      admin.on('pageerror', (e) => adminProblems.push(e.message));
      await admin.goto(`${ADMIN_URL}/ui/`);
      await admin.getByLabel('Admin token', { exact: true }).fill(ADMIN_TOKEN);
      await admin.getByRole('button', { name: 'Sign in' }).click();
      const row = admin.locator('#consumers-table tbody tr').filter({ hasText: email });
      await row.waitFor();
      check(await row.getByText('pending', { exact: true }).isVisible(), 'the operator view does not show the account as pending');
      check(await row.getByRole('button', { name: 'Approve' }).isVisible(), 'the operator view offers no Approve button');
      await admin.screenshot({ path: join(SCREENSHOT_DIR, 'operator-consumers.png'), fullPage: true });
      check(adminProblems.length === 0, `the operator view reported: ${adminProblems.join('; ')}`);
      await admin.close();
    }
    // ... and approves it with the CLI.
    const pending = await consumer(email);
    check(pending.status === 'pending', `turnpike portal consumers lists ${email} as ${pending.status}, not pending`);
    const approved = await turnpike('portal', 'approve', pending.id);
    check(approved.code === 0, `turnpike portal approve ${pending.id} exited with ${approved.code}: ${approved.stderr.trim()}`);
    check((await consumer(email)).status === 'active', `${email} is not active after turnpike portal approve`);

    // 4. Sign in, with the keyboard alone.
    const signedIn = await signInByKeyboard();
    check(signedIn.status() === 303, `signing in answered ${signedIn.status()}, not 303`);
    await waitFor('the account page after signing in', async () =>
      (pathname() === '/account' && (await heading()) === 'Your keys') || `${pathname()}: ${await heading()}`);
    const banner = page.getByRole('banner');
    check(await banner.getByText(email, { exact: true }).isVisible(), 'the header does not show who is signed in');
    check(await page.getByText('You hold no key yet.').isVisible(), 'a new account already holds keys');
    noProblems('signing in');

    // 5. The catalogue, and the API's documentation.
    await banner.getByRole('link', { name: 'APIs', exact: true }).click();
    await waitFor('the catalogue', async () => (pathname() === '/' && (await heading()) === 'APIs') || `${pathname()}: ${await heading()}`);
    const card = page.locator('.catalogue li').filter({ hasText: 'Pets, as a service' });
    check((await card.count()) === 1, `the catalogue has ${await card.count()} cards for shop`);
    const docsLink = card.getByRole('link', { name: 'shop $default', exact: true });
    check((await docsLink.getAttribute('href')) === DOCS_PATH, `the card links to ${await docsLink.getAttribute('href')}`);
    await page.screenshot({ path: join(SCREENSHOT_DIR, 'catalogue.png'), fullPage: true });
    await docsLink.click();
    // Swagger UI renders the operation from the stage's OpenAPI document.
    const operation = page.locator('.opblock.opblock-get').filter({ has: page.locator('[data-path="/pets"]') });
    const openDocs = async () => {
      await waitFor('the documentation page', async () => pathname() === DOCS_PATH || pathname());
      check((await heading()) === 'shop $default', `the docs page's heading is ${JSON.stringify(await heading())}`);
      await waitFor('Swagger UI to render GET /pets', async () =>
        ((await operation.count()) === 1 && (await operation.locator('.opblock-summary-method').textContent()).trim() === 'GET')
        || `${await operation.count()} GET /pets operations; #swagger-ui says ${JSON.stringify((await page.locator('#swagger-ui').textContent()).slice(0, 200))}`);
    };
    await openDocs();
    noProblems('the documentation page');

    // 6. Subscribe to the plan: a key, shown once, to copy.
    await banner.getByRole('link', { name: 'Your keys', exact: true }).click();
    await waitFor('the account page', async () => pathname() === '/account' || pathname());
    const plan = page.locator('section.plan').filter({ has: page.getByRole('heading', { name: 'starter', exact: true }) });
    check(await plan.getByText('Five calls a day to try things').isVisible(), 'the plan card does not show its description');
    check(/5 requests per day/.test(await plan.locator('.limits').textContent()), `the plan's limits read ${JSON.stringify(await plan.locator('.limits').textContent())}`);
    const subscribed = page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/account/keys');
    await plan.getByRole('button', { name: 'Subscribe', exact: true }).click();
    check((await subscribed).status() === 201, `subscribing answered ${(await subscribed).status()}, not 201`);
    const newKey = page.locator('output#new-key');
    await waitFor('the new key', async () => ((await newKey.count()) === 1 && (await newKey.isVisible())) || `${await newKey.count()} #new-key`);
    check(await page.getByRole('heading', { name: 'Your new key', exact: true }).isVisible(), 'the new key has no "Your new key" heading');
    const key = (await newKey.textContent()).trim();
    check(/^\S{20,}$/.test(key), `#new-key holds ${JSON.stringify(key)}, not a key`);
    const keysTable = page.getByRole('table', { name: 'Your API keys', exact: true });
    check((await keysTable.locator('tbody tr').count()) === 1, 'the keys table does not list the new key');
    check((await keysTable.locator('tbody tr td').nth(1).textContent()).trim() === 'starter', 'the new key is not in the plan starter');
    check(await plan.getByText('You hold a key in this plan.').isVisible(), 'the plan still offers to subscribe');
    const copy = page.locator('button[data-copy="new-key"]'); // its name changes to "Copied"
    check((await copy.textContent()) === 'Copy', `the copy button reads ${JSON.stringify(await copy.textContent())}`);
    await copy.click();
    await waitFor('"Copied" on the copy button', async () => (await copy.textContent()) === 'Copied' || `button: ${await copy.textContent()}`);
    // With clipboard-read/-write granted to the portal's origin, headless
    // chromium's clipboard works: the button put exactly the key there.
    const copied = await page.evaluate(() => navigator.clipboard.readText());
    check(copied === key, `the clipboard holds ${JSON.stringify(copied)}, not the key`);
    noProblems('subscribing');

    // 7. "Try it" on the documentation page, with the key pasted in.
    await banner.getByRole('link', { name: 'APIs', exact: true }).click();
    await waitFor('the catalogue', async () => pathname() === '/' || pathname());
    await page.getByRole('link', { name: 'shop $default', exact: true }).click();
    await openDocs();
    const tryKey = page.getByLabel('Your API key', { exact: true });
    check((await tryKey.getAttribute('id')) === 'try-key', 'the "Your API key" label is not the #try-key field');
    await tryKey.focus();
    await page.keyboard.press('ControlOrMeta+V');
    check((await tryKey.inputValue()) === key, `pasting into #try-key gave ${JSON.stringify(await tryKey.inputValue())}`);
    const summaryControl = operation.locator('.opblock-summary-control');
    if ((await summaryControl.getAttribute('aria-expanded')) !== 'true') await summaryControl.click();
    const execute = operation.getByRole('button', { name: 'Execute', exact: true });
    await waitFor('the Execute button (try-it-out is on)', async () => (await execute.isVisible()) || 'no Execute button');
    const tried = page.waitForResponse((r) => new URL(r.url()).pathname === '/try/shop/%24default/pets');
    await execute.click();
    const triedResponse = await tried;
    check(triedResponse.status() === 200, `the "try it" request answered ${triedResponse.status()}, not 200`);
    check(triedResponse.request().headers()['x-api-key'] === key, 'the "try it" request did not carry the key as x-api-key');
    const live = operation.locator('.live-responses-table');
    await waitFor('Swagger UI to show the answer', async () => {
      const status = (await live.locator('.response .response-col_status').first().textContent()).trim();
      const body = await live.locator('.response .response-col_description').first().textContent();
      return (status === '200' && body.includes('rex')) || `status ${JSON.stringify(status)}, body ${JSON.stringify(body.slice(0, 200))}`;
    });
    await operation.scrollIntoViewIfNeeded();
    await page.screenshot({ path: join(SCREENSHOT_DIR, 'docs.png'), fullPage: true });
    noProblems('trying the API');

    // 8. The same key from outside the browser.
    const outside = await callApi(key);
    check(outside.status === 200 && outside.body.includes('rex'), `GET ${GATEWAY_URL}/pets with the key answered ${outside.status}: ${outside.body}`);

    // 9. The usage: today's calls, in the table and the chart.
    const today = new Date().toISOString().slice(0, 10); // the days are UTC days
    const usageTable = page.locator('#usage-table table.usage-table');
    // Loads /account and reads today's row once account.js has filled it in.
    const readUsage = async () => {
      await goto('/account');
      await waitFor('the usage to load', async () => (await page.locator('#usage-chart').getAttribute('data-loaded')) === 'true' || 'not loaded');
      check((await usageTable.count()) === 1, `${await usageTable.count()} usage tables`);
      const row = usageTable.locator('tr').filter({ has: page.getByRole('cell', { name: today, exact: true }) });
      check((await row.count()) === 1, `the usage table has no row for ${today}`);
      return {
        admitted: Number(await row.locator('.admitted').textContent()),
        refused: Number(await row.locator('.refused').textContent()),
        caption: (await usageTable.locator('caption').textContent()).trim(),
      };
    };
    await waitFor('2 calls today in the usage table (try it, and the call from outside)', async () => {
      const usage = await readUsage();
      return (usage.admitted === 2 && usage.refused === 0 && /2 of 5 per day used, 3 left/.test(usage.caption)) || usage;
    });
    check((await keysTable.locator('tbody tr td').nth(3).textContent()).trim() === '2', "the keys table's Today column does not show 2 calls");
    check((await keysTable.locator('tbody tr td').nth(4).textContent()).trim() === '3 of 5', "the keys table's Quota left column does not show 3 of 5");
    const canvas = page.locator('#usage-chart canvas');
    check((await canvas.count()) >= 1, 'the usage chart has no canvas');
    const box = await canvas.first().boundingBox();
    check(box && box.width > 100 && box.height > 50, `the usage chart's canvas box is ${JSON.stringify(box)}`);
    check((await page.locator('output#new-key').count()) === 0, 'the key is shown again after the page was reloaded');
    noProblems('the usage');

    // 10. Spend the quota: 3 more calls, then 429.
    const statuses = [];
    while (statuses.length < QUOTA + 3 && statuses.at(-1) !== 429) statuses.push((await callApi(key)).status);
    check(JSON.stringify(statuses) === JSON.stringify([200, 200, 200, 429]), `calls after the first two answered ${JSON.stringify(statuses)}, not [200,200,200,429]`);
    await waitFor('the refused call and "0 left" in the usage', async () => {
      const usage = await readUsage();
      return (usage.admitted === QUOTA && usage.refused >= 1 && /5 of 5 per day used, 0 left/.test(usage.caption)) || usage;
    });
    check((await keysTable.locator('tbody tr td').nth(4).textContent()).trim() === '0 of 5', 'the keys table does not show the quota spent');
    await page.screenshot({ path: join(SCREENSHOT_DIR, 'account.png'), fullPage: true });
    noProblems('spending the quota');

    // 11. Rotate the key: a new value, shown once.
    await keysTable.getByRole('button', { name: 'Rotate', exact: true }).click();
    await waitFor('the rotated key', async () =>
      ((await newKey.count()) === 1 && (await page.getByRole('heading', { name: "Your key's new value", exact: true }).isVisible())) || `${pathname()}: ${await heading()}`);
    const rotated = (await newKey.textContent()).trim();
    check(/^\S{20,}$/.test(rotated) && rotated !== key, `after rotating, #new-key holds ${JSON.stringify(rotated)}`);
    // The old value is no longer a key (403). Rotation gives the key a new
    // value but keeps its name, plan and usage — and the quota is counted
    // per key name — so the new value passes the key check yet finds the
    // day's quota spent: 429, not 403.
    const withOld = await callApi(key);
    check(withOld.status === 403, `the old key answered ${withOld.status} after rotation, not 403`);
    const withNew = await callApi(rotated);
    check(withNew.status === 429, `the new key answered ${withNew.status} with the quota spent, not 429`);
    noProblems('rotating the key');

    // 12. Sign out: the account page sends back to sign in.
    await banner.getByRole('button', { name: 'Sign out', exact: true }).click();
    await waitFor('the catalogue after signing out', async () =>
      (pathname() === '/' && (await banner.getByRole('link', { name: 'Sign in', exact: true }).isVisible())) || pathname());
    check(!(await banner.getByText(email).isVisible()), 'the header still shows the address after signing out');
    await goto('/account');
    check(pathname() === '/signin', `/account after signing out went to ${pathname()}, not /signin`);

    await Promise.all(bodyChecks);
    for (const what of ['GET /signup', 'POST /signup', 'GET /signin', 'POST /signin', 'GET /', `GET ${DOCS_PATH}`, 'GET /account', 'POST /account/keys']) {
      check(pagesChecked.has(what), `${what} was never checked for inline scripts (the checker missed it)`);
    }
    check([...expectedStatus.values()].every((n) => n === 0), 'Chromium did not report the refused sign-in');
    noProblems('signing out');
    console.log(`portal: ok (${pagesChecked.size} pages checked; screenshots in ${SCREENSHOT_DIR})`);
  } catch (error) {
    console.error(`portal: FAILED: ${error instanceof Failure ? error.message : error.stack}`);
    await Promise.allSettled(bodyChecks);
    if (problems.length && !error.message.includes('the pages reported problems')) {
      console.error(`page problems:\n  ${summary(problems)}`);
    }
    if (page) {
      const path = join(SCREENSHOT_DIR, 'failure.png');
      await page.screenshot({ path, fullPage: true }).then(
        () => console.error(`screenshot of the failure: ${path}`),
        () => {},
      );
    }
    process.exitCode = 1;
  } finally {
    await context?.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  }
}

await main();
