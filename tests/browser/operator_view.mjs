// The operator view (the admin listener's /ui/) in a real browser: Debian's
// chromium driven by playwright-core.
//
//   ADMIN_URL=http://127.0.0.1:9901 ADMIN_TOKEN=... SCREENSHOT=/tmp/view.png \
//     [EXPECT_ROUTE='GET /pets/{id}'] [EXPECT_ERROR_REQUEST_ID=...] \
//     node operator_view.mjs
//
// It signs in with a wrong token (the page must say "Token rejected"), then
// with the right one, and waits — bounded, by polling the page — until the
// totals show a request rate, the route table lists EXPECT_ROUTE with a
// non-zero rate (traffic must keep flowing while this runs: rates are
// deltas between the page's scrapes), the recent errors list
// EXPECT_ERROR_REQUEST_ID, and the APIs, stages and plugins the admin API
// reports are shown as it reports them. It checks the four charts are
// drawn, that the page logged no error, broke no Content-Security-Policy
// rule and asked nothing of another origin, saves a full-page screenshot
// to SCREENSHOT, and finally signs out. Any failure exits 1 with the
// reason (and a screenshot of the page as it was).
//
// Optional: CHROMIUM (default /usr/bin/chromium), WAIT_MS (default 15000,
// the bound of each wait).

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

function env(name, { required = true } = {}) {
  const value = process.env[name];
  if (required && !value) {
    console.error(`operator view: the environment variable ${name} is required`);
    process.exit(2);
  }
  return value || null;
}

const ADMIN_URL = env('ADMIN_URL').replace(/\/+$/, '');
const ADMIN_TOKEN = env('ADMIN_TOKEN');
const SCREENSHOT = env('SCREENSHOT');
const EXPECT_ROUTE = env('EXPECT_ROUTE', { required: false });
const EXPECT_ERROR_REQUEST_ID = env('EXPECT_ERROR_REQUEST_ID', { required: false });
const CHROMIUM = env('CHROMIUM', { required: false }) ?? '/usr/bin/chromium';
const WAIT_MS = Number(env('WAIT_MS', { required: false }) ?? 15000);
const ORIGIN = new URL(ADMIN_URL).origin;
const CHARTS = [
  'Requests per second',
  'Latency (ms)',
  'Cache hit ratio (%)',
  'Authorizer and plugin latency p99 (ms)',
];

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

// What the admin API itself answers, to compare the page with.
async function adminGet(path) {
  const response = await fetch(ADMIN_URL + path, { headers: { Authorization: `Bearer ${ADMIN_TOKEN}` } });
  check(response.ok, `GET ${path} answered ${response.status}`);
  return response.json();
}

// A table's body as rows of cell texts; a cell spanning rows is repeated in
// the rows it spans.
function readTable(page, name) {
  return page.getByRole('table', { name, exact: true }).evaluate((table) => {
    const spans = [];
    return [...table.tBodies[0].rows].map((row) => {
      const cells = [];
      let column = 0;
      const take = () => {
        while (spans[column] && spans[column].left > 0) {
          cells.push(spans[column].text);
          spans[column].left--;
          column++;
        }
      };
      for (const cell of row.cells) {
        take();
        const text = cell.textContent.replace(/\s+/g, ' ').trim();
        cells.push(text);
        if (cell.rowSpan > 1) spans[column] = { text, left: cell.rowSpan - 1 };
        column++;
      }
      take();
      return cells;
    });
  });
}

async function main() {
  const problems = []; // console errors, page errors, CSP violations, foreign requests
  let rejected401 = 0;
  const profile = mkdtempSync(join(tmpdir(), 'turnpike-chromium-'));
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
      viewport: { width: 1440, height: 900 },
    });
    // Violations are reported to the console by Chromium too; this makes
    // them explicit, with the directive.
    await context.addInitScript(() => {
      document.addEventListener('securitypolicyviolation', (e) => {
        console.error(`CSP violation: ${e.violatedDirective} blocked ${e.blockedURI || 'an inline resource'} (${e.sourceFile}:${e.lineNumber})`);
      });
    });
    page = context.pages()[0] ?? (await context.newPage());
    page.on('console', (message) => {
      if (message.type() !== 'error') return;
      const text = message.text();
      // The wrong token's calls are refused: Chromium reports each 401.
      if (/status of 401/.test(text) && rejected401 < 5) {
        rejected401++;
        return;
      }
      const where = message.location().url;
      problems.push(`console error: ${text}${where ? ` (${where})` : ''}`);
    });
    page.on('pageerror', (error) => problems.push(`uncaught exception: ${error.message}`));
    page.on('request', (request) => {
      const url = request.url();
      if (!url.startsWith('data:') && new URL(url).origin !== ORIGIN) problems.push(`request to another origin: ${url}`);
    });

    const response = await page.goto(`${ADMIN_URL}/ui/?interval=500`, { waitUntil: 'load' });
    check(response && response.status() === 200, `GET /ui/ answered ${response?.status()}`);
    const csp = response.headers()['content-security-policy'] ?? '';
    check(/script-src 'self'/.test(csp) && /frame-ancestors 'none'/.test(csp), `/ui/ has no strict Content-Security-Policy: ${JSON.stringify(csp)}`);

    // Sign in by keyboard with a wrong token: the field has the focus.
    const tokenField = page.getByLabel('Admin token', { exact: true });
    await waitFor('the token field to be visible and focused', async () =>
      (await tokenField.isVisible()) && (await tokenField.evaluate((el) => el === document.activeElement)) || 'not focused');
    check((await tokenField.getAttribute('type')) === 'password', 'the token field is not a password field');
    await page.keyboard.type(`wrong-${ADMIN_TOKEN}`);
    await page.keyboard.press('Enter');
    await waitFor('"Token rejected"', async () => {
      const alert = page.getByRole('alert');
      return ((await alert.isVisible()) && (await alert.textContent()) === 'Token rejected') || `alert: ${await alert.textContent()}`;
    });
    check(await page.evaluate(() => sessionStorage.length === 0), 'a rejected token stayed in sessionStorage');

    // The right one.
    await tokenField.fill(ADMIN_TOKEN);
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    const signOut = page.getByRole('button', { name: 'Sign out', exact: true });
    await waitFor('the dashboard', async () => (await signOut.isVisible()) || 'no Sign out button');
    check(!(await page.getByRole('alert').isVisible()), 'the login message is still shown');

    // The totals.
    const stat = (name) => page.getByRole('group', { name, exact: true }).locator('dd');
    await waitFor('a request rate in the totals', async () => {
      const text = (await stat('Requests per second').textContent()).trim();
      return /^\d[\d,]*(\.\d+)?$/.test(text) || `Requests/s: ${JSON.stringify(text)}`;
    });
    for (const name of ['Error rate', 'p50 latency', 'p99 latency', 'Cache hit ratio', 'Open connections', 'Snapshot generation']) {
      check(await stat(name).isVisible(), `the totals have no ${name}`);
    }
    await waitFor('a snapshot generation', async () => {
      const text = (await stat('Snapshot generation').textContent()).trim();
      return /^\d[\d,]*$/.test(text) || `Snapshot generation: ${JSON.stringify(text)}`;
    });

    // The route table.
    if (EXPECT_ROUTE) {
      await waitFor(`route ${EXPECT_ROUTE} with a non-zero request rate`, async () => {
        const rows = await readTable(page, 'Routes');
        const row = rows.find((cells) => cells[2] === EXPECT_ROUTE);
        if (!row) return `routes: ${JSON.stringify(rows.map((cells) => cells[2] ?? cells.join(' ')))}`;
        return Number(row[3].replace(/,/g, '')) > 0 || `row: ${JSON.stringify(row)}`;
      });
    }

    // The recent errors.
    if (EXPECT_ERROR_REQUEST_ID) {
      await waitFor(`request ${EXPECT_ERROR_REQUEST_ID} among the recent errors`, async () => {
        const rows = await readTable(page, 'Recent errors');
        return rows.some((cells) => cells[7] === EXPECT_ERROR_REQUEST_ID) || `request ids: ${JSON.stringify(rows.map((cells) => cells[7] ?? cells.join(' ')))}`;
      });
    }

    // APIs and stages, as the admin API reports them.
    const { apis } = await adminGet('/apis');
    check(apis.length > 0, 'GET /apis lists no API');
    await waitFor('every API and stage, with what it serves', async () => {
      const rows = await readTable(page, 'APIs and stages');
      for (const api of apis) {
        for (const stage of api.stages) {
          const row = rows.find((cells) => cells[0] === api.name && cells[1] === stage.name);
          if (!row) return `no row for ${api.name}/${stage.name} in ${JSON.stringify(rows)}`;
          const serves = stage.deployment ? `deployment ${stage.deployment}` : 'configuration file';
          if (row[2] !== serves) return `${api.name}/${stage.name} serves ${JSON.stringify(row[2])}, not ${JSON.stringify(serves)}`;
          if (stage.canary && !(row[3].includes(stage.canary.deployment) && row[3].includes(`${stage.canary.percent}%`))) {
            return `${api.name}/${stage.name} canary ${JSON.stringify(row[3])}`;
          }
        }
      }
      return true;
    });

    // Plugins, with their world and active version.
    const { plugins } = await adminGet('/plugins');
    await waitFor('every plugin with its world and active version', async () => {
      const rows = await readTable(page, 'Plugins');
      for (const plugin of plugins) {
        const row = rows.find((cells) => cells[0] === plugin.name);
        if (!row) return `no row for plugin ${plugin.name} in ${JSON.stringify(rows)}`;
        if (row[1] !== plugin.world) return `plugin ${plugin.name}: world ${JSON.stringify(row[1])}`;
        if (plugin.active && !row[2].startsWith(plugin.active.slice(0, 12))) return `plugin ${plugin.name}: version ${JSON.stringify(row[2])}`;
      }
      return true;
    });

    // The charts: uPlot's canvases, drawn at a non-zero size.
    for (const name of CHARTS) {
      const canvas = page.getByRole('figure', { name, exact: true }).locator('canvas');
      await waitFor(`the chart "${name}"`, async () => {
        if ((await canvas.count()) !== 1) return `${await canvas.count()} canvases`;
        const box = await canvas.boundingBox();
        return (box && box.width > 100 && box.height > 50) || `canvas box ${JSON.stringify(box)}`;
      });
    }

    check(problems.length === 0, `the page reported problems:\n  ${summary(problems)}`);
    await page.screenshot({ path: SCREENSHOT, fullPage: true });

    // Sign out: back to the form, the token forgotten.
    await signOut.click();
    await waitFor('the login form after signing out', async () => (await tokenField.isVisible()) || 'no token field');
    check(await page.evaluate(() => sessionStorage.length === 0), 'the token stayed in sessionStorage after signing out');
    check(problems.length === 0, `the page reported problems:\n  ${summary(problems)}`);
    console.log(`operator view: ok (screenshot ${SCREENSHOT})`);
  } catch (error) {
    console.error(`operator view: FAILED: ${error instanceof Failure ? error.message : error.stack}`);
    if (problems.length && !error.message.startsWith('the page reported problems')) {
      console.error(`page problems:\n  ${summary(problems)}`);
    }
    if (page) {
      await page.screenshot({ path: SCREENSHOT, fullPage: true }).then(
        () => console.error(`screenshot of the failure: ${SCREENSHOT}`),
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
