// The dashboard in headless Chromium, driven by playwright-core: submit a
// capture_image from the form and watch it complete and its image appear,
// cancel a long stage move from the page, pause and resume the queue, read the
// page in German, see a retried task's progress start again, and see no
// console error; then, against a service with a token, give the token on the
// page and capture again. Leaves a screenshot in the build tree
// (EM_SCREENSHOT_DIR). A failure names the page and the step that waited
// and prints what the pages logged and each service's log.
import { spawn } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
if (!existsSync(join(here, 'node_modules', 'playwright-core'))) {
  console.error('FAIL: tests/web/node_modules is missing; run: npm ci --prefix tests/web');
  process.exit(1);
}
const { chromium } = await import('playwright-core');

const TIMEOUT = 30000;
const TOKEN = 'dashboard-test-token';
const CHROMIUM_FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];
let passed = 0;
// what is being waited for, which a failure names
let where = 'starting';
const services = []; // { label, log }
const pageLog = [];

function step (label) {
  where = label;
}

// everything a page says, for a failure to show
function watchPage (page, label) {
  page.on('console', (message) => pageLog.push(`[${label}] console.${message.type()}: ${message.text()}`));
  page.on('pageerror', (error) => pageLog.push(`[${label}] page error: ${error.message}`));
  page.on('websocket', (socket) => {
    pageLog.push(`[${label}] WebSocket ${socket.url()}`);
    socket.on('close', () => pageLog.push(`[${label}] WebSocket closed`));
    socket.on('socketerror', (error) => pageLog.push(`[${label}] WebSocket error: ${error}`));
  });
  page.on('requestfailed', (request) =>
    pageLog.push(`[${label}] request failed: ${request.method()} ${request.url()} ${request.failure()?.errorText}`));
}

function report (error) {
  console.error(`FAIL while waiting for: ${where}\n${error.message}`);
  if (pageLog.length) console.error('--- what the pages logged\n' + pageLog.join('\n'));
  for (const service of services) console.error(`--- log of ${service.label}\n${service.log()}`);
}

function check (condition, message) {
  if (!condition) throw new Error(message);
  passed++;
}

function startDaemon (label, dataDir, extraEnv = {}, port = 0, args = []) {
  // the log then says when each WebSocket client comes and goes
  const env = { G_MESSAGES_DEBUG: 'em-rest', ...process.env, ...extraEnv };
  delete env.LANGUAGE;
  const child = spawn(process.env.EM_DAEMON,
    ['--bus', 'none', '--http-port', String(port), '--data-dir', dataDir, ...args],
    { env, stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  services.push({ label, log: () => log });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('engine-manager did not start:\n' + log)), TIMEOUT);
    const onData = (chunk) => {
      log += chunk;
      const match = /Listening on (http:\/\/\S+)/.exec(log);
      if (match) {
        clearTimeout(timer);
        resolve({ child, url: match[1], log: () => log });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => reject(new Error(`engine-manager exited with ${code}:\n${log}`)));
  });
}

function stopDaemon (daemon) {
  return new Promise((resolve) => {
    if (daemon.child.exitCode !== null) return resolve(daemon.child.exitCode);
    daemon.child.removeAllListeners('exit');
    daemon.child.on('exit', (code, signal) => resolve(code ?? signal));
    daemon.child.kill('SIGTERM');
  });
}

async function submit (page, label, action, name, fields) {
  step(`${label}: the ${action} form`);
  await page.selectOption('#action-select', action);
  const form = page.locator(`form.action-form[data-action="${action}"]`);
  await form.waitFor({ state: 'visible' });
  await form.locator('input[name="task-name"]').fill(name);
  for (const [field, value] of Object.entries(fields)) {
    await form.locator(`[name="${field}"]`).fill(String(value));
  }
  await form.locator('button[type="submit"]').click();
  step(`${label}: the form says "${name}" is scheduled`);
  await form.locator('.form-message.ok').waitFor({ timeout: TIMEOUT });
  step(`${label}: the row of "${name}"`);
  const row = page.locator('#task-rows tr', { hasText: name }).first();
  await row.waitFor({ timeout: TIMEOUT });
  return row;
}

async function waitForImage (page, label, taskId) {
  step(`${label}: the image of task ${taskId}`);
  const image = page.locator(`#latest-image[data-task-id="${taskId}"]`);
  await image.waitFor({ state: 'visible' });
  await page.waitForFunction(() => {
    const img = document.getElementById('latest-image');
    return img.complete && img.naturalWidth > 0;
  });
  return image;
}

async function waitLive (page, label) {
  step(`${label}: the connection badge says live`);
  await page.locator('#connection[data-state="live"]').waitFor({ timeout: TIMEOUT });
}

// A service with a token: the page loads without it, asks for it, keeps it for
// the tab, and sends it with every request, the image and the WebSocket too.
async function checkToken () {
  const label = 'token page';
  const tokenDir = mkdtempSync(join(tmpdir(), 'em-dashboard-token-'));
  step('the service with a token starts');
  const service = await startDaemon('the service with a token', tokenDir, { ENGINE_MANAGER_TOKEN: TOKEN });
  const context = await browser.newContext({ locale: 'en-US' });
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT);
    watchPage(page, label);
    page.on('console', (message) => {
      // the refusals before the token is given, which the browser logs
      if (message.type() === 'error' && !/status of 401/.test(message.text())) {
        problems.push(`console (token): ${message.text()}`);
      }
    });
    page.on('pageerror', (error) => problems.push(`page error (token): ${error.message}`));

    step(`${label}: GET /`);
    const response = await page.goto(service.url + '/');
    check(response.status() === 200, `GET / of a service with a token answered ${response.status()}`);
    step(`${label}: the token form shows`);
    await page.locator('#token-form').waitFor({ state: 'visible' });
    check(await page.locator('#connection').getAttribute('data-state') === 'locked', 'the badge asks for the token');

    // one refusal of the wrong token comes late, after the right one is given
    let releaseLate;
    const late = new Promise((resolve) => { releaseLate = resolve; });
    await page.route('**/queue', async (route) => {
      if (route.request().headers().authorization === 'Bearer not-the-token') await late;
      await route.continue();
    });
    await page.fill('#token-input', 'not-the-token');
    await page.locator('#token-form button[type="submit"]').click();
    step(`${label}: a wrong token is refused`);
    await page.locator('#token-message', { hasText: 'not accepted' }).waitFor();
    check(await page.locator('#token-form').isVisible(), 'a wrong token is asked for again');

    await page.fill('#token-input', TOKEN);
    await page.locator('#token-form button[type="submit"]').click();
    await waitLive(page, `${label}, with the right token`);
    step(`${label}: the late refusal of the wrong token`);
    const lateRefusal = page.waitForResponse((r) => r.url().endsWith('/queue') && r.status() === 401);
    releaseLate();
    await lateRefusal;
    await page.unroute('**/queue');
    // the page has handled it once a request of its own made after it is through
    check(await page.evaluate(() => fetch('/health').then(() => true)), 'the page still runs');
    check(await page.locator('#token-form').isHidden(), 'a late refusal of the wrong token does not ask again');
    check(await page.locator('#connection').getAttribute('data-state') === 'live',
      'a late refusal of the wrong token leaves the page live');
    const row = await submit(page, label, 'capture_image', 'snap with a token', { exposure: 5 });
    step(`${label}: "snap with a token" completes`);
    await page.locator('#task-rows tr[data-status="completed"]', { hasText: 'snap with a token' }).waitFor();
    await waitForImage(page, label, await row.getAttribute('data-task-id'));

    // kept for the tab: a reload does not ask again
    step(`${label}: reload`);
    await page.reload();
    await waitLive(page, `${label}, reloaded`);
    check(await page.locator('#token-form').isHidden(), 'the tab keeps the token across a reload');
    step(`${label}, reloaded: the row of "snap with a token"`);
    await page.locator('#task-rows tr', { hasText: 'snap with a token' }).waitFor();
    check(problems.length === 0, 'console errors:\n' + problems.join('\n'));
  } finally {
    await context.close();
    const code = await stopDaemon(service);
    rmSync(tokenDir, { recursive: true, force: true });
    if (code !== 0) throw new Error(`engine-manager with a token exited with ${code}`);
  }
}

// A retried task starts its progress again: the page is given the events of
// a task whose first attempt failed half way (the simulated devices do not
// fail on their own), on a WebSocket the test plays, beside the real REST.
async function checkRetry (url) {
  const label = 'retry page';
  const context = await browser.newContext({ locale: 'en-US' });
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT);
    watchPage(page, label);
    page.on('pageerror', (error) => problems.push(`page error (retry): ${error.message}`));
    let server = null;
    await page.routeWebSocket(/\/ws(\?|$)/, (ws) => { server = ws; });
    step(`${label}: GET /`);
    await page.goto(url + '/');
    await waitLive(page, label);
    const id = '00000000-0000-4000-8000-000000000001';
    const time = new Date().toISOString();
    let seq = 1000;
    const send = (event) => server.send(JSON.stringify({ task_id: id, timestamp: time, seq: ++seq, ...event }));
    const progress = page.locator(`#task-${id} progress`);

    send({ type: 'task_scheduled', name: 'retried move', action: 'move_stage' });
    send({ type: 'task_started' });
    send({ type: 'task_progress', progress: 0.6 });
    step(`${label}: the first attempt's progress shows`);
    await page.waitForFunction((selector) => document.querySelector(selector)?.value === 0.6,
      `#task-${id} progress`);
    send({ type: 'task_retrying', attempt: 1, error: 'stage: lost', retry_at: time });
    step(`${label}: the task waits for its retry`);
    await page.locator(`#task-${id}[data-status="pending"]`).waitFor();
    send({ type: 'task_started' });
    step(`${label}: the retry runs`);
    await page.locator(`#task-${id}[data-status="running"]`).waitFor();
    check(await progress.isVisible(), 'the retry shows its progress');
    const value = await progress.evaluate((element) => element.value);
    check(value === 0, `the retry starts from nothing, not from ${value}`);
    check(await progress.getAttribute('aria-label') === 'Progress of “retried move”',
      `the progress bar is named: ${await progress.getAttribute('aria-label')}`);
  } finally {
    await context.close();
  }
}

// "held": no event says when the queue is held (the task store catching up
// holds task starts back), so while a task waits to start the page asks
// GET /queue again every few seconds, notices the queue held and then no
// longer held without a reload, and asks nothing while nothing waits. The
// service's answers are given "held":"store" on the way, and the pending task
// comes from a stand-in WebSocket.
async function checkHeld (url) {
  const label = 'held page';
  const context = await browser.newContext({ locale: 'en-US' });
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT);
    watchPage(page, label);
    page.on('pageerror', (error) => problems.push(`page error (held): ${error.message}`));
    let server = null;
    await page.routeWebSocket(/\/ws(\?|$)/, (ws) => { server = ws; });
    let held = false;
    let asked = 0;
    await page.route('**/queue', async (route) => {
      if (route.request().method() !== 'GET') return route.continue();
      asked++;
      const answer = await route.fetch();
      const body = await answer.json();
      if (held) body.held = 'store';
      await route.fulfill({ response: answer, json: body });
    });
    step(`${label}: GET /`);
    await page.goto(url + '/');
    await waitLive(page, label);
    step(`${label}: the queue shows running`);
    await page.locator('#queue-state[data-paused="false"]').waitFor();
    check(await page.locator('#queue-state').getAttribute('data-held') === '', 'a queue not held says so');

    const id = '00000000-0000-4000-8000-000000000004';
    const time = new Date().toISOString();
    held = true;
    server.send(JSON.stringify({ type: 'task_scheduled', task_id: id, name: 'held back', action: 'wait',
      timestamp: time, seq: 3001 }));
    step(`${label}: the queue shows held, with no reload and no event`);
    await page.locator('#queue-state[data-held="store"]').waitFor({ timeout: 15000 });
    check(await page.locator('#queue-state').textContent() === 'Held', 'the badge says held');
    check(/task store is catching up/.test(await page.locator('#queue-held').textContent()),
      `the queue says why: "${await page.locator('#queue-held').textContent()}"`);
    check(await page.locator('#queue-held').isVisible(), 'the reason shows');

    held = false;
    step(`${label}: the queue shows running once no longer held`);
    await page.locator('#queue-state[data-held=""]').waitFor({ timeout: 15000 });
    check(await page.locator('#queue-state').textContent() === 'Running', 'the badge says running again');
    check(await page.locator('#queue-held').isHidden(), 'no reason shows');
    // a live region taken out of the page while empty announces nothing when it fills
    const display = await page.locator('#queue-held').evaluate((element) => getComputedStyle(element).display);
    check(display !== 'none', `the empty reason stays a live region, not display: ${display}`);

    server.send(JSON.stringify({ type: 'task_cancelled', task_id: id, timestamp: time, seq: 3002 }));
    step(`${label}: the task is cancelled`);
    await page.locator(`#task-${id}[data-status="cancelled"]`).waitFor();
    const before = asked;
    await new Promise((resolve) => setTimeout(resolve, 6000));
    check(asked === before, `GET /queue asked ${asked - before} times while no task waits`);
  } finally {
    await context.close();
  }
}

// A gap in the stream while the table is loading: the listing on its way may
// have been answered before the missed events, so the page lists again once
// it is in. The first listing is held back, answered as it was before a task
// was submitted, while a stand-in WebSocket shows the gap.
async function checkGapDuringSnapshot (url) {
  const label = 'gap page';
  const context = await browser.newContext({ locale: 'en-US' });
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT);
    watchPage(page, label);
    page.on('pageerror', (error) => problems.push(`page error (gap): ${error.message}`));
    let server = null;
    await page.routeWebSocket(/\/ws(\?|$)/, (ws) => { server = ws; });
    let releaseListing;
    const release = new Promise((resolve) => { releaseListing = resolve; });
    let listingHeld = null;
    const listingAnswered = new Promise((resolve) => { listingHeld = resolve; });
    let first = true;
    await page.route((address) => address.pathname === '/tasks' && address.searchParams.get('limit') !== '1',
      async (route) => {
        if (!first || route.request().method() !== 'GET') return route.continue();
        first = false;
        const answer = await route.fetch();
        listingHeld();
        await release;
        await route.fulfill({ response: answer });
      });
    step(`${label}: GET /`);
    await page.goto(url + '/');
    await waitLive(page, label);
    step(`${label}: the first listing is answered`);
    await listingAnswered;
    const missed = await postTask(url, 'missed while listing');
    const id = '00000000-0000-4000-8000-000000000005';
    const time = new Date().toISOString();
    server.send(JSON.stringify({ type: 'task_scheduled', task_id: id, name: 'before the gap', action: 'wait',
      timestamp: time, seq: 4001 }));
    server.send(JSON.stringify({ type: 'task_cancelled', task_id: id, timestamp: time, seq: 4003 }));
    // the page has the events once a request of its own made after them is through
    check(await page.evaluate(() => fetch('/health').then(() => true)), 'the page still runs');
    releaseListing();
    step(`${label}: the task submitted before the gap shows, from a listing after it`);
    await page.locator(`#task-${missed.id}`).waitFor();
    passed++;
  } finally {
    await context.close();
  }
}

// A tile scan's result lists every tile and can be several MiB: the page keeps
// of a task only what it shows (of a result, a capture's format), whether the
// task comes from the listing or from task_completed. The listing is given
// large tile scans on its way and a stand-in WebSocket sends more; the page's
// heap, after a garbage collection, grows by far less than they hold.
async function checkResultsNotKept (url) {
  const label = 'results page';
  const context = await browser.newContext({ locale: 'en-US' });
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT);
    watchPage(page, label);
    page.on('pageerror', (error) => problems.push(`page error (results): ${error.message}`));
    let server = null;
    await page.routeWebSocket(/\/ws(\?|$)/, (ws) => { server = ws; });
    const tiles = Array.from({ length: 30000 }, (_, i) =>
      ({ x: i % 173, y: Math.floor(i / 173), z: 0, path: `/var/lib/engine-manager/images/tile-${i}-of-scan.png` }));
    const old = new Date(Date.now() - 60000).toISOString();
    const listed = [];
    for (let i = 0; i < 4; i++) {
      listed.push({ id: `00000000-0000-4000-8000-0000000001${String(i).padStart(2, '0')}`, name: `listed scan ${i}`,
        action: 'tile_scan', status: 'completed', progress: 1, error: null, created_at: old, completed_at: old,
        parameters: {}, result: { tiles } });
    }
    let inject = false;
    await page.route((address) => address.pathname === '/tasks' && address.searchParams.get('limit') !== '1',
      async (route) => {
        if (!inject || route.request().method() !== 'GET') return route.continue();
        const answer = await route.fetch();
        const body = await answer.json();
        await route.fulfill({ response: answer, json: [...body, ...listed] });
      });
    step(`${label}: GET /`);
    await page.goto(url + '/');
    await waitLive(page, label);
    const cdp = await context.newCDPSession(page);
    const heap = async () => {
      await cdp.send('HeapProfiler.collectGarbage');
      return (await cdp.send('Runtime.getHeapUsage')).usedSize;
    };
    const before = await heap();

    // a gap in the stream: the page lists again, and is given the scans
    inject = true;
    const time = new Date().toISOString();
    server.send(JSON.stringify({ type: 'queue_resumed', timestamp: time, seq: 7001 }));
    server.send(JSON.stringify({ type: 'queue_resumed', timestamp: time, seq: 7003 }));
    step(`${label}: the listed tile scans show`);
    await page.locator(`#task-${listed[3].id}[data-status="completed"]`).waitFor();
    let seq = 7003;
    const sent = [];
    for (let i = 0; i < 4; i++) {
      const id = `00000000-0000-4000-8000-0000000002${String(i).padStart(2, '0')}`;
      sent.push(id);
      server.send(JSON.stringify({ type: 'task_scheduled', task_id: id, name: `scan ${i}`, action: 'tile_scan',
        timestamp: time, seq: ++seq }));
      server.send(JSON.stringify({ type: 'task_completed', task_id: id, result: { tiles }, timestamp: time,
        seq: ++seq }));
    }
    step(`${label}: the tile scans from the events complete`);
    await page.locator(`#task-${sent[3]}[data-status="completed"]`).waitFor();
    // a small last event: the page keeps the frame of the last one
    server.send(JSON.stringify({ type: 'queue_paused', timestamp: time, seq: ++seq }));
    step(`${label}: the queue shows paused`);
    await page.locator('#queue-state[data-paused="true"]').waitFor();
    const grown = (await heap()) - before;
    const held = 8 * JSON.stringify({ tiles }).length;
    check(grown < held / 4, `the page's heap grew by ${(grown / 1048576).toFixed(1)} MiB for ` +
      `${(held / 1048576).toFixed(1)} MiB of tile scan results`);
  } finally {
    await context.close();
  }
}

// Events of a task the table does not have (a running task from before the
// listing's window): one GET /tasks/{id} for all of them, the events that
// come meanwhile applied after its answer, and its row where its created_at
// puts it in a table of the newest first, not at the top.
async function checkFetchOnce (url) {
  const label = 'fetch page';
  const context = await browser.newContext({ locale: 'en-US' });
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT);
    watchPage(page, label);
    page.on('pageerror', (error) => problems.push(`page error (fetch): ${error.message}`));
    let server = null;
    await page.routeWebSocket(/\/ws(\?|$)/, (ws) => { server = ws; });
    const id = '00000000-0000-4000-8000-000000000301';
    const created = '2020-01-01T00:00:00.000000Z';
    let asked = 0;
    let releaseAnswer;
    const release = new Promise((resolve) => { releaseAnswer = resolve; });
    await page.route(`**/tasks/${id}`, async (route) => {
      asked++;
      await release;
      await route.fulfill({ json: { id, name: 'running from long ago', action: 'wait', status: 'running',
        progress: 0.2, error: null, created_at: created, completed_at: null, parameters: { duration: 600000 },
        result: null } });
    });
    step(`${label}: GET /`);
    await page.goto(url + '/');
    await waitLive(page, label);
    const time = new Date().toISOString();
    let seq = 8000;
    for (const n of [1, 2]) {
      server.send(JSON.stringify({ type: 'task_scheduled', task_id: `00000000-0000-4000-8000-00000000030${n + 1}`,
        name: `newer ${n}`, action: 'wait', timestamp: time, seq: ++seq }));
    }
    for (let i = 1; i <= 5; i++) {
      server.send(JSON.stringify({ type: 'task_progress', task_id: id, progress: 0.2 + i / 10, timestamp: time,
        seq: ++seq }));
    }
    server.send(JSON.stringify({ type: 'task_completed', task_id: id, result: null, timestamp: time, seq: ++seq }));
    // the page has the events once a request of its own made after them is through
    check(await page.evaluate(() => fetch('/health').then(() => true)), 'the page still runs');
    releaseAnswer();
    step(`${label}: the row of the task from before the window`);
    await page.locator(`#task-${id}`).waitFor();
    check(asked === 1, `the events of one task not in the table asked GET /tasks/{id} ${asked} times`);
    const order = await page.locator('#task-rows tr').evaluateAll((rows) => rows.map((row) => row.dataset.taskId));
    check(order[order.length - 1] === id,
      `the oldest task's row is the last, not row ${order.indexOf(id) + 1} of ${order.length}`);
    step(`${label}: the task completes, from the event that came while it was fetched`);
    await page.locator(`#task-${id}[data-status="completed"]`).waitFor();
  } finally {
    await context.close();
  }
}

// The answer for a task the table does not have fails once (the service is
// busy): the page asks again, and the row comes with the events that waited.
// Old: the events went with the failed answer, and no row came.
async function checkFetchRetried (url) {
  const label = 'fetch retry page';
  const context = await browser.newContext({ locale: 'en-US' });
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT);
    watchPage(page, label);
    page.on('pageerror', (error) => problems.push(`page error (fetch retry): ${error.message}`));
    let server = null;
    await page.routeWebSocket(/\/ws(\?|$)/, (ws) => { server = ws; });
    const id = '00000000-0000-4000-8000-000000000311';
    let asked = 0;
    await page.route(`**/tasks/${id}`, async (route) => {
      asked++;
      if (asked === 1) {
        await route.fulfill({ status: 503, contentType: 'application/problem+json',
          body: JSON.stringify({ status: 503, title: 'Service Unavailable', detail: 'busy' }) });
        return;
      }
      await route.fulfill({ json: { id, name: 'answered on the second ask', action: 'wait', status: 'running',
        progress: 0.2, error: null, created_at: '2020-01-01T00:00:00.000000Z', completed_at: null,
        parameters: { duration: 600000 }, result: null } });
    });
    step(`${label}: GET /`);
    await page.goto(url + '/');
    await waitLive(page, label);
    const time = new Date().toISOString();
    server.send(JSON.stringify({ type: 'task_progress', task_id: id, progress: 0.5, timestamp: time, seq: 9001 }));
    server.send(JSON.stringify({ type: 'task_completed', task_id: id, result: null, timestamp: time, seq: 9002 }));
    step(`${label}: the row, asked again after the failure`);
    await page.locator(`#task-${id}[data-status="completed"]`).waitFor();
    check(asked === 2, `a failed GET /tasks/{id} was asked ${asked} times in all, not twice`);
  } finally {
    await context.close();
  }
}

// Pages that lose the stream together do not come back together: each waits
// between half its backoff and all of it, as Math.random says. Two pages, one
// whose Math.random always says 0 and one whose says almost 1, have their
// stream closed; what each page's setTimeout was asked to wait before
// connect() is recorded. Old: 500 ms for both.
async function checkReconnectSpread (url) {
  const label = 'reconnect page';
  const waits = [];
  for (const random of [0, 0.999]) {
    const context = await browser.newContext({ locale: 'en-US' });
    try {
      const page = await context.newPage();
      page.setDefaultTimeout(TIMEOUT);
      watchPage(page, label);
      page.on('pageerror', (error) => problems.push(`page error (reconnect): ${error.message}`));
      await page.addInitScript((value) => {
        Math.random = () => value;
        window.connectWaits = [];
        const setTimeoutOf = window.setTimeout;
        window.setTimeout = function (callback, ms, ...rest) {
          if (typeof callback === 'function' && callback.name === 'connect') window.connectWaits.push(ms);
          return setTimeoutOf.call(this, callback, ms, ...rest);
        };
      }, random);
      const servers = [];
      await page.routeWebSocket(/\/ws(\?|$)/, (ws) => { servers.push(ws); });
      step(`${label} (Math.random ${random}): GET /`);
      await page.goto(url + '/');
      await waitLive(page, `${label} (Math.random ${random})`);
      await servers[0].close();
      step(`${label} (Math.random ${random}): connected again`);
      while (servers.length < 2) await new Promise((resolve) => setTimeout(resolve, 50));
      await waitLive(page, `${label} (Math.random ${random}), connected again`);
      waits.push(await page.evaluate(() => window.connectWaits));
    } finally {
      await context.close();
    }
  }
  check(JSON.stringify(waits[0]) === JSON.stringify([250]),
    `with Math.random 0 the page waited ${JSON.stringify(waits[0])} ms before connecting again, not 250`);
  check(waits[1].length === 1 && Math.abs(waits[1][0] - 499.75) < 0.01,
    `with Math.random 0.999 the page waited ${JSON.stringify(waits[1])} ms, not 499.75`);
}

// A pending task that waits for its run_at (another client's, submitted with
// a delay: task_scheduled does not say so) is no reason to ask GET /queue
// every few seconds: the page learns its run_at once, then stops asking.
async function checkDelayedNoPoll (url) {
  const label = 'delayed page';
  const context = await browser.newContext({ locale: 'en-US' });
  let waiting = null;
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT);
    watchPage(page, label);
    page.on('pageerror', (error) => problems.push(`page error (delayed): ${error.message}`));
    let asked = 0;
    page.on('request', (request) => {
      if (request.method() === 'GET' && new URL(request.url()).pathname === '/queue') asked++;
    });
    step(`${label}: GET /`);
    await page.goto(url + '/');
    await waitLive(page, label);
    waiting = await fetch(url + '/tasks', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'waits an hour', action: 'wait', delay: 3600 })
    }).then((response) => response.json());
    step(`${label}: the delayed task shows pending`);
    await page.locator(`#task-${waiting.id}[data-status="pending"]`).waitFor();
    // at most one poll while the page does not know the run_at yet
    await new Promise((resolve) => setTimeout(resolve, 6500));
    const before = asked;
    await new Promise((resolve) => setTimeout(resolve, 6000));
    check(asked === before, `GET /queue asked ${asked - before} times while the only pending task waits an hour`);
  } finally {
    await context.close();
    if (waiting) await fetch(url + '/tasks/' + waiting.id, { method: 'DELETE' });
  }
}

// A task the page fetched for its events: a task_retrying that came while the
// answer was on its way, which says running (it predates the retry), leaves
// the row neither running nor with the progress of the failed attempt; and a
// reload of the table keeps the row of such a running task, older than the
// listing's window, rather than dropping it and fetching it again at its
// next event.
async function checkFetchedKept (url) {
  const label = 'fetched page';
  const context = await browser.newContext({ locale: 'en-US' });
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT);
    watchPage(page, label);
    page.on('pageerror', (error) => problems.push(`page error (fetched): ${error.message}`));
    let server = null;
    await page.routeWebSocket(/\/ws(\?|$)/, (ws) => { server = ws; });
    const id = '00000000-0000-4000-8000-000000000401';
    const created = '2020-01-01T00:00:00.000000Z';
    const time = new Date().toISOString();
    const retryAt = new Date(Date.now() + 3600000).toISOString();
    const task = { id, name: 'retried from long ago', action: 'wait', status: 'running', progress: 0.5, error: null,
      created_at: created, completed_at: null, parameters: { duration: 600000 }, result: null,
      run_at: null, waiting_on: [] };
    let asked = 0;
    let releaseAnswer;
    const release = new Promise((resolve) => { releaseAnswer = resolve; });
    let answer = task;
    await page.route(`**/tasks/${id}`, async (route) => {
      asked++;
      const given = asked === 1 ? task : answer;
      if (asked === 1) await release;
      await route.fulfill({ json: given });
    });
    step(`${label}: GET /`);
    await page.goto(url + '/');
    await waitLive(page, label);
    let seq = 9000;
    const send = (event) => server.send(JSON.stringify({ task_id: id, timestamp: time, seq: ++seq, ...event }));
    send({ type: 'task_progress', progress: 0.5 });
    // the page has the event once a request of its own made after it is through
    check(await page.evaluate(() => fetch('/health').then(() => true)), 'the page still runs');
    send({ type: 'task_retrying', attempt: 1, error: 'stage: lost', retry_at: retryAt });
    check(await page.evaluate(() => fetch('/health').then(() => true)), 'the page still runs');
    // what the service says from now on: the task waits for its retry
    answer = { ...task, status: 'pending', progress: 0, error: 'stage: lost', run_at: retryAt };
    releaseAnswer();
    step(`${label}: the row of the task fetched for its events`);
    await page.locator(`#task-${id}`).waitFor();
    step(`${label}: the row shows the task waiting for its retry`);
    const pending = await page.locator(`#task-${id}[data-status="pending"]`).waitFor({ timeout: 5000 })
      .then(() => true, () => false);
    check(pending, 'a task_retrying that came while its task was fetched leaves the row ' +
      await page.locator(`#task-${id}`).getAttribute('data-status'));
    check(await page.locator(`#task-${id} .error`).textContent() === 'stage: lost', 'the row shows the error');

    step(`${label}: the retry runs`);
    answer = { ...answer, status: 'running', error: null };
    send({ type: 'task_started' });
    send({ type: 'task_progress', progress: 0.25 });
    await page.waitForFunction((selector) => document.querySelector(selector)?.value === 0.25,
      `#task-${id} progress`);
    const fetched = asked;
    // a gap: the page lists the tasks again, which do not hold this one
    const listed = page.waitForResponse((response) => new URL(response.url()).pathname === '/tasks' &&
      new URL(response.url()).searchParams.get('limit') !== '1');
    seq += 2;
    server.send(JSON.stringify({ type: 'queue_resumed', timestamp: time, seq: ++seq }));
    step(`${label}: the listing after the gap`);
    await listed;
    check(await page.evaluate(() => fetch('/health').then(() => true)), 'the page still runs');
    check(await page.locator(`#task-${id}`).count() === 1, 'a reload keeps the row of a running task older than the listing');
    send({ type: 'task_progress', progress: 0.75 });
    step(`${label}: the progress after the reload`);
    await page.waitForFunction((selector) => document.querySelector(selector)?.value === 0.75,
      `#task-${id} progress`);
    check(asked <= fetched + 1, `a reload and the next event asked GET /tasks/{id} ${asked - fetched} times`);
    check(await page.locator(`#task-${id}[data-status="running"]`).count() === 1, 'the task still runs');
  } finally {
    await context.close();
  }
}

// The count of the listing (GET /tasks?limit=1) fails, with a 500 and then
// with no answer at all: without its X-Total-Count the page must not list from
// the first task, which would show the oldest tasks in place of the newest. It
// keeps its rows, says that the list could not be refreshed, and asks again a
// little later, until the count comes through. A gap on a stand-in WebSocket
// makes it reload; a listing from the start is answered with a task of 2020.
async function checkListingFailed (url) {
  const label = 'listing page';
  const context = await browser.newContext({ locale: 'en-US' });
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT);
    watchPage(page, label);
    page.on('pageerror', (error) => problems.push(`page error (listing): ${error.message}`));
    let server = null;
    await page.routeWebSocket(/\/ws(\?|$)/, (ws) => { server = ws; });
    let failing = null; // null, 'status' or 'network'
    let counted = 0;
    const oldest = { id: '00000000-0000-4000-8000-000000000501', name: 'the oldest task', action: 'wait',
      status: 'completed', progress: 1, error: null, created_at: '2020-01-01T00:00:00.000000Z',
      completed_at: '2020-01-01T00:00:01.000000Z', parameters: {}, result: null, run_at: null, waiting_on: [] };
    await page.route((address) => address.pathname === '/tasks', async (route) => {
      const query = new URL(route.request().url()).searchParams;
      if (route.request().method() !== 'GET' || !failing) return route.continue();
      if (query.get('limit') === '1') {
        counted++;
        if (failing === 'network') return route.abort('failed');
        return route.fulfill({ status: 500, contentType: 'application/problem+json',
          json: { title: 'Internal Server Error', status: 500 } });
      }
      if ((query.get('offset') ?? '0') === '0') return route.fulfill({ json: [oldest] });
      return route.continue();
    });
    step(`${label}: GET /`);
    await page.goto(url + '/');
    await waitLive(page, label);
    step(`${label}: the row of "browser snap"`);
    await page.locator('#task-rows tr', { hasText: 'browser snap' }).waitFor();

    failing = 'status';
    const time = new Date().toISOString();
    const countFailed = page.waitForResponse((response) => new URL(response.url()).pathname === '/tasks' &&
      new URL(response.url()).searchParams.get('limit') === '1' && response.status() === 500);
    // a gap in the stream: the page lists again
    server.send(JSON.stringify({ type: 'queue_resumed', timestamp: time, seq: 6001 }));
    server.send(JSON.stringify({ type: 'queue_resumed', timestamp: time, seq: 6003 }));
    step(`${label}: the count answers 500`);
    await countFailed;
    // a listing from the start, had one been asked, is in once a request made after it is through
    check(await page.evaluate(() => fetch('/health').then(() => true)), 'the page still runs');
    await new Promise((resolve) => setTimeout(resolve, 500));
    check(await page.locator('#task-rows tr', { hasText: 'the oldest task' }).count() === 0,
      'a failed count of the tasks shows the oldest tasks in place of the newest');
    check(await page.locator('#task-rows tr', { hasText: 'browser snap' }).count() === 1,
      'a failed count of the tasks keeps the rows shown');
    step(`${label}: the page says the list could not be refreshed`);
    await page.locator('#listing-note', { hasText: 'could not be refreshed' }).waitFor({ timeout: 5000 });

    step(`${label}: the count is asked again, and fails with no answer`);
    const before = counted;
    failing = 'network';
    while (counted < before + 1) await new Promise((resolve) => setTimeout(resolve, 100));
    check(await page.evaluate(() => fetch('/health').then(() => true)), 'the page still runs');
    check(await page.locator('#listing-note').textContent() !== '', 'the note stays while the count fails');
    check(await page.locator('#task-rows tr', { hasText: 'browser snap' }).count() === 1,
      'a count with no answer keeps the rows shown');

    failing = null;
    step(`${label}: the listing comes through and the note goes`);
    await page.waitForFunction(() => document.getElementById('listing-note').textContent === '', null,
      { timeout: 20000 });
    const asked = counted;
    await new Promise((resolve) => setTimeout(resolve, 3000));
    check(counted === asked, 'the count is not asked again once the listing is read');
    check(await page.locator('#task-rows tr', { hasText: 'browser snap' }).count() === 1,
      'the table shows the newest tasks');
  } finally {
    await context.close();
  }
}

// a service of its own on a fresh data directory (started with @args) and a
// browser context for @body, both gone when it ends
async function withOwnService (label, args, body) {
  const dir = mkdtempSync(join(tmpdir(), 'em-dashboard-own-'));
  step(`the service of the ${label} starts`);
  const service = await startDaemon(`the service of the ${label}`, dir, {}, 0, args);
  const context = await browser.newContext({ locale: 'en-US' });
  try {
    await body(service, context);
  } finally {
    await context.close();
    await stopDaemon(service);
    rmSync(dir, { recursive: true, force: true });
  }
}

// a page of @context whose log a failure shows, and whose errors are problems
async function watchedPage (context, label) {
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  watchPage(page, label);
  page.on('pageerror', (error) => problems.push(`page error (${label}): ${error.message}`));
  return page;
}

// A batch of 1 000 tasks another client submitted with an hour's delay: the
// pending listing the page reads for their run_at must cover them all, or the
// ones past it count as tasks that could start now and GET /queue is asked
// every few seconds for the hour. On a service of its own.
async function checkBatchNoPoll () {
  const label = 'batch page';
  await withOwnService(label, [], async (service, context) => {
    const page = await watchedPage(context, label);
    let asked = 0;
    page.on('request', (request) => {
      if (request.method() === 'GET' && new URL(request.url()).pathname === '/queue') asked++;
    });
    step(`${label}: GET /`);
    await page.goto(service.url + '/');
    await waitLive(page, label);
    const batch = Array.from({ length: 1000 }, (_, i) => ({ name: `batched ${i}`, action: 'wait', delay: 3600 }));
    const answer = await fetch(service.url + '/tasks', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(batch)
    });
    check(answer.status === 201, `the batch was answered ${answer.status}`);
    step(`${label}: the 1000 pending tasks show`);
    await page.waitForFunction(() => document.querySelectorAll('#task-rows tr[data-status="pending"]').length === 1000,
      null, { timeout: TIMEOUT });
    // at most one poll while the page does not know their run_at yet
    step(`${label}: no GET /queue while the batch waits`);
    await new Promise((resolve) => setTimeout(resolve, 6500));
    const before = asked;
    await new Promise((resolve) => setTimeout(resolve, 6000));
    check(asked === before, `GET /queue asked ${asked - before} times while 1000 pending tasks wait an hour`);
  });
}

// A batch larger than the table's 200 rows shows whole while it runs, and
// once it has ended the table is back to the newest 200 (its rows are pruned
// once per frame, not as each is added). Old: the rows of the tasks pending
// when they came stayed, 1000 shown
async function checkBatchPruned () {
  const label = 'pruned page';
  await withOwnService(label, [], async (service, context) => {
    const page = await watchedPage(context, label);
    step(`${label}: GET /`);
    await page.goto(service.url + '/');
    await waitLive(page, label);
    const batch = Array.from({ length: 1000 }, (_, i) => ({ name: `run ${i}`, action: 'wait' }));
    const answer = await fetch(service.url + '/tasks', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify(batch)
    });
    check(answer.status === 201, `the batch was answered ${answer.status}`);
    step(`${label}: the batch ends and the table holds the newest 200`);
    await page.waitForFunction(() => document.getElementById('task-count').textContent === '200 shown, 0 active',
      null, { timeout: TIMEOUT });
    const names = await page.evaluate(() =>
      Array.from(document.querySelectorAll('#task-rows tr .name'), (cell) => cell.textContent));
    check(names.length === 200 && names[0] === 'run 999' && names[199] === 'run 800',
      `the rows are ${names.length}, from “${names[0]}” to “${names[names.length - 1]}”`);
  });
}

// A service that answers REST but refuses the stream (here at its WebSocket
// client limit, which another page holds) still fills the table from REST,
// and the badge says there are no live updates rather than that the service
// is away; once a place frees the page goes live. Old: "Offline" and "No
// tasks yet" until then
async function checkStreamRefused () {
  const label = 'refused page';
  await withOwnService(label, ['--ws-max-clients', '1'], async (service, context) => {
    const created = await fetch(service.url + '/tasks', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'listed without a stream', action: 'wait', delay: 3600 })
    }).then((response) => response.json());
    const holder = await watchedPage(context, 'page holding the place');
    step(`${label}: another page takes the only place`);
    await holder.goto(service.url + '/');
    await waitLive(holder, 'page holding the place');
    const page = await watchedPage(context, label);
    step(`${label}: GET /`);
    await page.goto(service.url + '/');
    step(`${label}: the badge says there are no live updates`);
    await page.locator('#connection[data-state="refused"]').waitFor();
    step(`${label}: the task shows from REST`);
    await page.locator(`#task-${created.id}[data-status="pending"]`).waitFor();
    passed++;
    step(`${label}: live once the other page goes`);
    await holder.close();
    await waitLive(page, label);
    passed++;
  });
}

// While the service is away the page does not ask GET /queue every few
// seconds (each failing with a warning), though a pending task shows; once
// the service is back it asks again.
async function checkOffline () {
  const label = 'offline page';
  const dir = mkdtempSync(join(tmpdir(), 'em-dashboard-offline-'));
  step('the service to stop starts');
  let service = await startDaemon('the service to stop', dir);
  const port = Number(new URL(service.url).port);
  const context = await browser.newContext({ locale: 'en-US' });
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT);
    watchPage(page, label);
    page.on('pageerror', (error) => problems.push(`page error (offline): ${error.message}`));
    const warnings = [];
    page.on('console', (message) => {
      if (/queue refresh failed/.test(message.text())) warnings.push(message.text());
    });
    step(`${label}: GET /`);
    await page.goto(service.url + '/');
    await waitLive(page, label);
    const waiting = await fetch(service.url + '/tasks', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'waits an hour', action: 'wait', delay: 3600 })
    }).then((response) => response.json());
    step(`${label}: the pending task shows`);
    await page.locator(`#task-${waiting.id}[data-status="pending"]`).waitFor();
    step(`${label}: the page sees the service go`);
    await stopDaemon(service);
    await page.locator('#connection[data-state="offline"]').waitFor();
    await new Promise((resolve) => setTimeout(resolve, 12000));
    check(warnings.length === 0, `GET /queue failed ${warnings.length} times while the service was away`);
    const queueAsked = page.waitForRequest((request) => request.method() === 'GET' &&
      new URL(request.url()).pathname === '/queue', { timeout: 20000 });
    step('the stopped service starts again on its port');
    service = await startDaemon('the stopped service, again', dir, {}, port);
    await waitLive(page, `${label}, after the restart`);
    step(`${label}: GET /queue once the service is back`);
    await queueAsked;
    passed++;
  } finally {
    await context.close();
    await stopDaemon(service);
    rmSync(dir, { recursive: true, force: true });
  }
}

// resync_required: the events the page missed are gone, so it reloads the
// table from GET /tasks, and a row the service no longer lists goes with it,
// and the queue from GET /queue;
// the history that follows the message is not played onto the table
async function checkResync (url) {
  const label = 'resync page';
  const context = await browser.newContext({ locale: 'en-US' });
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT);
    watchPage(page, label);
    page.on('pageerror', (error) => problems.push(`page error (resync): ${error.message}`));
    const streams = [];
    await page.routeWebSocket(/\/ws(\?|$)/, (ws) => { streams.push(ws); });
    step(`${label}: GET /`);
    await page.goto(url + '/');
    await waitLive(page, label);
    const gone = '00000000-0000-4000-8000-000000000002';
    const old = '00000000-0000-4000-8000-000000000003';
    const time = new Date().toISOString();
    const first = streams[0];
    first.send(JSON.stringify({ type: 'task_scheduled', task_id: gone, name: 'deleted meanwhile',
      action: 'wait', timestamp: time, seq: 2001 }));
    first.send(JSON.stringify({ type: 'queue_paused', timestamp: time, seq: 2002 }));
    step(`${label}: the row of a task the service does not list`);
    await page.locator(`#task-${gone}`).waitFor();
    step(`${label}: the queue shows paused`);
    await page.locator('#queue-state[data-paused="true"]').waitFor();
    first.send(JSON.stringify({ type: 'resync_required', oldest_seq: 5001 }));
    first.send(JSON.stringify({ type: 'task_scheduled', task_id: old, name: 'long ago',
      action: 'wait', timestamp: time, seq: 5001 }));
    step(`${label}: the reload drops the row of the task the service does not list`);
    await page.locator(`#task-${gone}`).waitFor({ state: 'detached', timeout: TIMEOUT });
    await waitLive(page, `${label}, after the resync`);
    check(await page.locator(`#task-${old}`).count() === 0, 'the retained history is not played onto the table');
    step(`${label}: the queue shows what GET /queue says after the resync`);
    await page.locator('#queue-state[data-paused="false"]').waitFor({ timeout: TIMEOUT });
    check(await page.locator('#task-rows tr', { hasText: 'browser snap' }).count() === 1,
      'the reload shows the tasks the service lists, once');
  } finally {
    await context.close();
  }
}

function postTask (url, name, headers = {}) {
  return fetch(url + '/tasks', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: JSON.stringify({ name, action: 'capture_image' })
  }).then((response) => response.json());
}

// The service restarts under the page: with the same database the page
// resumes with ?since= even though it tried while the service was away; on
// another database whose log is already past the page's seq, it tells the
// other log and reloads; with a fresh database (whose seq starts again) and a
// token, it asks for the token and follows the new stream from its start.
async function checkRestart () {
  const label = 'restart page';
  const firstDir = mkdtempSync(join(tmpdir(), 'em-dashboard-restart-'));
  const otherDir = mkdtempSync(join(tmpdir(), 'em-dashboard-other-'));
  const freshDir = mkdtempSync(join(tmpdir(), 'em-dashboard-fresh-'));
  step('the service to restart starts');
  let service = await startDaemon('the service before its restart', firstDir);
  const port = Number(new URL(service.url).port);
  const context = await browser.newContext({ locale: 'en-US' });
  const sockets = [];
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(TIMEOUT);
    watchPage(page, label);
    page.on('pageerror', (error) => problems.push(`page error (restart): ${error.message}`));
    page.on('websocket', (socket) => sockets.push(socket.url()));
    step(`${label}: GET /`);
    await page.goto(service.url + '/');
    await waitLive(page, label);
    const before = await postTask(service.url, 'before the restart');
    step(`${label}: "before the restart" completes`);
    await page.locator(`#task-${before.id}[data-status="completed"]`).waitFor();

    step(`${label}: the page sees the service go`);
    await stopDaemon(service);
    await page.locator('#connection[data-state="offline"]').waitFor();
    // a try while the service is away
    const tries = sockets.length;
    while (sockets.length < tries + 1) await new Promise((resolve) => setTimeout(resolve, 100));
    await new Promise((resolve) => setTimeout(resolve, 300));
    // no event says whether the queue is held: a resumed stream asks again
    const queueAsked = page.waitForRequest((request) => request.method() === 'GET' &&
      new URL(request.url()).pathname === '/queue', { timeout: 10000 });
    step('the service starts again on its port');
    service = await startDaemon('the service after its restart', firstDir, {}, port);
    await waitLive(page, `${label}, after the restart`);
    step(`${label}: GET /queue after the resume`);
    await queueAsked;
    passed++;
    const resumed = sockets[sockets.length - 1];
    check(/[?&]since=[1-9]/.test(resumed), `the page resumes after a restart, with ${resumed}`);
    const after = await postTask(service.url, 'after the restart');
    step(`${label}: "after the restart" completes`);
    await page.locator(`#task-${after.id}[data-status="completed"]`).waitFor();
    check(await page.locator('#task-rows tr', { hasText: 'before the restart' }).count() === 1,
      'one row per task after the resume');

    step(`${label}: another database gets a log longer than the page's`);
    const filling = await startDaemon('the other database, filled', otherDir);
    const others = [];
    for (let i = 0; i < 6; i++) others.push(await postTask(filling.url, `other ${i}`));
    for (const task of others) {
      for (;;) {
        const current = await fetch(filling.url + '/tasks/' + task.id).then((response) => response.json());
        if (current.status === 'completed') break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    await stopDaemon(filling);
    step(`${label}: the service starts again on the other database`);
    await stopDaemon(service);
    service = await startDaemon('the service on the other database', otherDir, {}, port);
    await waitLive(page, `${label}, on the other database`);
    step(`${label}: the rows of the former log go, those of the other come`);
    await page.locator(`#task-${others[5].id}[data-status="completed"]`).waitFor();
    await page.locator(`#task-${before.id}`).waitFor({ state: 'detached' });
    check(await page.locator(`#task-${after.id}`).count() === 0,
      'a seq of another log is not resumed, though that log is past it');

    step(`${label}: the service starts again with a fresh database and a token`);
    await stopDaemon(service);
    service = await startDaemon('the fresh service with a token', freshDir, { ENGINE_MANAGER_TOKEN: TOKEN }, port);
    step(`${label}: the token form shows after the restart`);
    await page.locator('#token-form').waitFor({ state: 'visible' });
    await page.fill('#token-input', TOKEN);
    await page.locator('#token-form button[type="submit"]').click();
    await waitLive(page, `${label}, with the fresh service`);
    step(`${label}: the image of a task of the former database goes`);
    await page.locator('#latest-image').waitFor({ state: 'hidden', timeout: TIMEOUT });
    check(await page.locator('#latest-image[data-task-id]').count() === 0, 'no image of a task the service does not list');
    const fresh = await postTask(service.url, 'on the fresh service', { Authorization: 'Bearer ' + TOKEN });
    step(`${label}: "on the fresh service" completes, from the events of the new stream`);
    await page.locator(`#task-${fresh.id}[data-status="completed"]`).waitFor();
    check(await page.locator(`#task-${before.id}`).count() === 0,
      'a task of the former database has no row');
  } finally {
    await context.close();
    await stopDaemon(service);
    rmSync(firstDir, { recursive: true, force: true });
    rmSync(otherDir, { recursive: true, force: true });
    rmSync(freshDir, { recursive: true, force: true });
  }
}

step('the service starts');
const dataDir = mkdtempSync(join(tmpdir(), 'em-dashboard-'));
const daemon = await startDaemon('the service', dataDir);
const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_FLAGS });
const problems = [];
let exitCode = 0;
let expectRefusal = false;

try {
  const label = 'English page';
  const context = await browser.newContext({ viewport: { width: 1366, height: 768 }, locale: 'en-US' });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  watchPage(page, label);
  page.on('console', (message) => {
    if (message.type() !== 'error') return;
    // the browser logs the refused submission that the test makes on purpose
    if (expectRefusal && /status of 400/.test(message.text())) {
      expectRefusal = false;
      return;
    }
    problems.push(`console: ${message.text()} (${message.location().url})`);
  });
  page.on('pageerror', (error) => problems.push(`page error: ${error.message}`));
  page.on('response', (r) => { if (r.status() >= 400) console.log(`response ${r.status()} ${r.request().method()} ${r.url()}`); });

  step(`${label}: GET /`);
  const response = await page.goto(daemon.url + '/');
  check(response.status() === 200, `GET / answered ${response.status()}`);
  await waitLive(page, label);
  step(`${label}: the forms from GET /actions`);
  await page.locator('form.action-form[data-action="capture_image"]').waitFor({ state: 'attached' });
  check(await page.locator('form.action-form').count() >= 3, 'one form per action');

  // a capture from the form: the row reaches completed and the image shows
  const snap = await submit(page, label, 'capture_image', 'browser snap', { exposure: 5 });
  step(`${label}: "browser snap" completes`);
  await page.locator('#task-rows tr[data-status="completed"]', { hasText: 'browser snap' }).waitFor();
  const snapId = await snap.getAttribute('data-task-id');
  const image = await waitForImage(page, label, snapId);
  check(await image.getAttribute('data-task-id') === snapId, 'the latest image is that of the new capture');
  check(await image.evaluate((img) => img.naturalWidth) === 640, 'the image is the camera frame');

  // the answer to a submission can reach the page after the task's events (a
  // busy browser): the row stays completed, not back to the pending it answers
  await page.route('**/tasks', async (route) => {
    if (route.request().method() !== 'POST') return route.continue();
    const answer = await route.fetch();
    const { id } = await answer.json();
    await page.locator(`#task-${id}[data-status="completed"]`).waitFor();
    await route.fulfill({ response: answer });
  });
  const late = await submit(page, label, 'capture_image', 'answered late', { exposure: 5 });
  await page.unroute('**/tasks');
  step(`${label}: "answered late" stays completed once its answer is in`);
  check(await late.getAttribute('data-status') === 'completed',
    `a submission answered after its task completed shows ${await late.getAttribute('data-status')}`);

  // a name another client gave is text: no element, no script (the CSP would
  // stop an inline handler, so the DOM itself is checked)
  const markup = '<img src=x onerror="window.emInjected=1"><b>bold</b>';
  const marked = await postTask(daemon.url, markup);
  step(`${label}: the row of the task named with markup completes`);
  const markedRow = page.locator(`#task-${marked.id}[data-status="completed"]`);
  await markedRow.waitFor();
  check(await markedRow.locator('.name').textContent() === markup, 'a task name shows as text');
  check(await markedRow.locator('img, b').count() === 0, 'a task name makes no element');
  await waitForImage(page, label, marked.id);
  check((await page.locator('#image-caption').textContent()).includes(markup), 'the caption shows the name as text');
  check(await page.locator('.image img, .image b').count() === 1, 'the caption makes no element');
  check(await page.evaluate(() => window.emInjected === undefined), 'no script of a task name ran');

  // a long move, cancelled from the page
  const move = await submit(page, label, 'move_stage', 'long move', { x: 40000, speed: 10 });
  step(`${label}: "long move" runs`);
  await page.locator('#task-rows tr[data-status="running"]', { hasText: 'long move' }).waitFor();
  step(`${label}: the stage position shows the move`);
  await page.waitForFunction(() => !/^—$|x 0, y 0/.test(document.getElementById('stage-position').textContent));
  const moveId = await move.getAttribute('data-task-id');
  // from the keyboard: the focus stays on the row once the button goes
  await move.locator('button.cancel').focus();
  await page.keyboard.press('Enter');
  step(`${label}: "long move" is cancelled`);
  await page.locator('#task-rows tr[data-status="cancelled"]', { hasText: 'long move' }).waitFor();
  const focused = await page.evaluate(() => document.activeElement && document.activeElement.id);
  check(focused === `task-${moveId}`, `the focus is on the row of the cancelled task, not on "${focused}"`);
  const task = await (await fetch(`${daemon.url}/tasks/${moveId}`)).json();
  check(task.status === 'cancelled', `the service says the move is ${task.status}`);
  check(await move.locator('button.cancel').isHidden(), 'a finished task has no cancel button');

  // an invalid submission shows the service's detail
  step(`${label}: an invalid capture`);
  await page.selectOption('#action-select', 'capture_image');
  const captureForm = page.locator('form.action-form[data-action="capture_image"]');
  await captureForm.locator('[name="exposure"]').fill('-1');
  await captureForm.evaluate((form) => { form.noValidate = true; });
  expectRefusal = true;
  await captureForm.locator('button[type="submit"]').click();
  step(`${label}: the form shows the refusal of exposure -1`);
  await captureForm.locator('.form-message.error', { hasText: 'exposure' }).waitFor();
  passed++;

  // the queue
  if (await page.locator('#queue-pause').isVisible()) {
    await page.locator('#queue-pause').click();
    step(`${label}: the queue shows paused`);
    await page.locator('#queue-state[data-paused="true"]').waitFor();
    await page.locator('#queue-resume').click();
    step(`${label}: the queue shows running`);
    await page.locator('#queue-state[data-paused="false"]').waitFor();
    passed++;

    // a GET /queue asked before a queue event and answered after it is older
    // than the event: the badge keeps what the event says
    step(`${label}: the queue's state while the page's GET /queue is held`);
    let releaseQueue;
    const release = new Promise((resolve) => { releaseQueue = resolve; });
    let held = 0;
    let answered = 0;
    await page.route('**/queue', async (route) => {
      if (route.request().method() !== 'GET') return route.continue();
      const answer = await route.fetch();
      held++;
      await release;
      await route.fulfill({ response: answer });
      answered++;
    });
    await page.reload();
    await waitLive(page, `${label}, reloaded`);
    while (held === 0) await new Promise((resolve) => setTimeout(resolve, 50));
    await fetch(daemon.url + '/queue/pause', { method: 'POST' });
    step(`${label}: the queue shows paused from the event`);
    await page.locator('#queue-state[data-paused="true"]').waitFor();
    releaseQueue();
    while (answered < held) await new Promise((resolve) => setTimeout(resolve, 50));
    await page.unroute('**/queue');
    check(await page.evaluate(() => fetch('/health').then(() => true)), 'the page still runs');
    check(await page.locator('#queue-state').getAttribute('data-paused') === 'true',
      'a GET /queue answered after a queue event leaves the badge as the event set it');
    await fetch(daemon.url + '/queue/resume', { method: 'POST' });
    step(`${label}: the queue shows running again`);
    await page.locator('#queue-state[data-paused="false"]').waitFor();
  }

  step(`${label}: screenshot`);
  mkdirSync(process.env.EM_SCREENSHOT_DIR ?? '.', { recursive: true });
  const screenshot = join(process.env.EM_SCREENSHOT_DIR ?? '.', 'dashboard.png');
  await page.screenshot({ path: screenshot, fullPage: true });
  console.log(`screenshot: ${screenshot}`);

  // no horizontal scrolling on a laptop screen
  check(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth),
    'the page fits a 1366 px wide screen');

  // the same page for a German browser
  const german = await browser.newContext({ locale: 'de-DE' });
  const dePage = await german.newPage();
  dePage.setDefaultTimeout(TIMEOUT);
  watchPage(dePage, 'German page');
  dePage.on('pageerror', (error) => problems.push(`page error (de): ${error.message}`));
  step('German page: GET /');
  await dePage.goto(daemon.url + '/');
  await waitLive(dePage, 'German page');
  check(await dePage.locator('#tasks-title').textContent() === 'Aufgaben', 'German headings');
  check(await dePage.locator('html').getAttribute('lang') === 'de', 'lang="de"');
  await german.close();

  await checkRetry(daemon.url);
  await checkHeld(daemon.url);
  await checkGapDuringSnapshot(daemon.url);
  await checkResultsNotKept(daemon.url);
  await checkFetchOnce(daemon.url);
  await checkFetchRetried(daemon.url);
  await checkReconnectSpread(daemon.url);
  await checkFetchedKept(daemon.url);
  await checkDelayedNoPoll(daemon.url);
  await checkBatchNoPoll();
  await checkBatchPruned();
  await checkListingFailed(daemon.url);
  await checkOffline();
  await checkStreamRefused();
  await checkResync(daemon.url);
  await checkRestart();
  check(problems.length === 0, 'console errors:\n' + problems.join('\n'));
  await context.close();
  await checkToken();
} catch (error) {
  exitCode = 1;
  report(error);
  if (problems.length) console.error(problems.join('\n'));
} finally {
  await browser.close();
  const code = await stopDaemon(daemon);
  if (code !== 0) {
    exitCode = 1;
    console.error(`FAIL: engine-manager exited with ${code}\n${daemon.log()}`);
  }
  rmSync(dataDir, { recursive: true, force: true });
}

console.log(`${passed} passed, ${exitCode === 0 ? 0 : 1} failed`);
process.exit(exitCode);
