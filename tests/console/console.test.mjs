// The release console in real headless Chromium (Debian's `chromium`,
// driven by playwright-core), against a real `liveship serve`, or with
// LIVESHIP_TEST_STACK=lambda against the three Lambda functions on moto.
// Screenshots of every page go to target/console-screenshots/<stack>/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startServer } from '../../clients/capacitor/test/server.mjs';

const root = fileURLToPath(new URL('../../', import.meta.url));
const STACK = process.env.LIVESHIP_TEST_STACK === 'lambda' ? 'lambda' : 'serve';
const SHOTS = join(root, 'target/console-screenshots', STACK);
const CHROMIUM = process.env.LIVESHIP_CHROMIUM ?? '/usr/bin/chromium';
const APP = 'com.example.console';

let s;
let browser;
let deployToken;
let readToken;
let b1;
let b2;

async function shot(page, name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

async function api(method, path, token, body) {
  const r = await fetch(`${s.url}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, body: await r.json() };
}

async function event(device, build, kind) {
  const r = await fetch(`${s.url}/v1/apps/${APP}/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ device_id: device, build_id: build, event: kind, channel: 'production' }),
  });
  assert.equal(r.status, 202);
}

async function signIn(context, token) {
  const page = await context.newPage();
  await page.goto(`${s.url}/console`);
  // Keyboard only: the token field has focus (autofocus); type and press Enter.
  await page.waitForFunction(() => document.activeElement?.id === 'token');
  await page.keyboard.type(token);
  assert.equal(await page.inputValue('#token'), token);
  await page.keyboard.press('Enter');
  try {
    await page.waitForSelector('h1:text("Apps")', { timeout: 10_000 });
  } catch (e) {
    throw new Error(`sign-in failed at ${page.url()}: ${(await page.textContent('body')).slice(0, 400)}`);
  }
  return page;
}

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  s = await startServer();
  s.cli(['live-update', 'generate-signing-key']);
  s.cli(['apps', 'create', '--app-id', APP, '--public-key', 'liveship_public.pem']);
  const up = (dir, version, files, extra = []) => {
    s.writeBuild(dir, files);
    return s.cli(['live-update', 'upload-artifact', '--app-id', APP, '--build-dir', dir, '--signing-key', 'liveship_private.pem',
      '--version', version, '--commit-ref', 'main', '--commit-sha', 'a1b2c3d4e5f6a7b8', '--commit-message', `Release ${version}`, ...extra]).build_id;
  };
  b1 = up('www1', '1.0.0', { 'index.html': '<html>v1</html>', 'app.js': 'console.log(1)' }, ['--channel', 'production']);
  b2 = up('www2', '1.1.0', { 'index.html': '<html>v2</html>', 'app.js': 'console.log(2)' });
  deployToken = s.cli(['tokens', 'create', '--name', 'release-manager', '--app-id', APP, '--scopes', 'deploy']).token;
  readToken = s.cli(['tokens', 'create', '--name', 'viewer', '--app-id', APP, '--scopes', 'read']).token;
  // Known events: 4 devices on 1.0.0; build 1.1.0 downloaded by 10, applied
  // by 8, failed on 1, rolled back on 1.
  for (let i = 0; i < 4; i++) await event(`old-${i}`, b1, 'applied');
  for (let i = 0; i < 10; i++) await event(`new-${i}`, b2, 'download_complete');
  for (let i = 0; i < 8; i++) await event(`new-${i}`, b2, 'applied');
  await event('new-8', b2, 'failed');
  await event('new-9', b2, 'rolled_back');
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
});

after(async () => {
  await browser?.close();
  s?.stop();
});

test('a release manager deploys, changes the rollout, rolls back, disables and limits, all in the audit log', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await signIn(context, deployToken);
  await shot(page, '01-apps');
  // Keyboard only: Tab to the app's link and follow it with Enter.
  for (let i = 0; i < 20; i++) {
    await page.keyboard.press('Tab');
    if ((await page.evaluate(() => document.activeElement?.textContent)) === APP) break;
  }
  assert.equal(await page.evaluate(() => document.activeElement?.textContent), APP, 'the app link is reachable by Tab');
  await page.keyboard.press('Enter');
  await page.waitForSelector('h2:text("Builds")');
  assert.match(await page.textContent('main'), /Release 1\.1\.0/);
  await shot(page, '02-app');

  // Deploy 1.1.0 to production at 10%, from the build's page.
  await page.click(`a[href="/console/apps/${APP}/builds/${b2}"]`);
  await page.waitForSelector('h2:text("Devices")');
  await shot(page, '03-build');
  await page.selectOption('#channel', 'production');
  await page.fill('#deploy_pct', '10');
  await page.click('button:text("Deploy")');
  await page.waitForSelector('.ok');
  assert.match(await page.textContent('.current'), /1\.1\.0 \(build \d+\) to 10% of devices; the others stay on 1\.0\.0/);
  await shot(page, '04-channel-10');

  // Raise it to 100%.
  await page.fill('#rollout_pct', '100');
  await page.click('button:text("Change rollout")');
  await page.waitForSelector('.ok:text("Rollout changed")');
  assert.match(await page.textContent('.rollout'), /100%/);
  await shot(page, '05-channel-100');

  // Roll back: refused until confirmed (the browser itself will not send
  // the form without the required box), then done.
  await page.click('button:text("Roll back")');
  assert.equal(await page.locator('.ok').count(), 1, 'still the previous page: nothing sent');
  assert.match(await page.textContent('.rollout'), /100%/);
  await page.check('input[name="confirm"]');
  await page.click('button:text("Roll back")');
  await page.waitForSelector('.ok:text("Rolled back")');
  assert.match(await page.textContent('.current'), /1\.0\.0/);

  // A rollout plan from the channel page (10, 50, 100 in 1 h steps): its
  // state shows, it pauses, and abort (confirmed) rolls it back.
  await page.selectOption('#build_id', String(b2));
  await page.fill('#deploy_plan', '10,50,100');
  await page.fill('#deploy_step', '1h');
  await page.click('button:text("Deploy")');
  await page.waitForSelector('.ok:text("Deployed")');
  assert.match(await page.textContent('.plan'), /Plan: 10% → 50% → 100% in steps of at least 60 min\. running; next step not before/);
  assert.match(await page.textContent('.current'), /1\.1\.0 \(build \d+\) to 10% of devices/);
  await page.click('button:text("Pause")');
  await page.waitForSelector('.ok:text("Plan paused")');
  assert.match(await page.textContent('.plan .state'), /paused since/);
  await shot(page, '05b-channel-plan');
  await page.check('form.danger:has(button:text("Abort")) input[name="confirm"]');
  await page.click('button:text("Abort")');
  await page.waitForSelector('.ok:text("Plan aborted")');
  assert.match(await page.textContent('.current'), /1\.0\.0/);

  // Disable 1.1.0 (no longer live), with its confirmation.
  await page.goto(`${s.url}/console/apps/${APP}/builds/${b2}`);
  await page.check('form.danger input[name="confirm"]');
  await page.click('button:text("Disable build")');
  await page.waitForSelector('.ok:text("Build disabled")');
  assert.equal((await page.textContent('dd.state')).trim(), 'disabled');

  // Native-version limits on 1.0.0.
  await page.goto(`${s.url}/console/apps/${APP}/builds/${b1}`);
  await page.selectOption('#platform', 'ios');
  await page.fill('#min', '2.0.0');
  await page.click('button:text("Save limits")');
  await page.waitForSelector('.ok:text("Native-version limits saved")');
  assert.match(await page.textContent('dd.limits'), /ios >= 2\.0\.0/);
  await shot(page, '06-build-limits');

  // Each action is in the audit log, made through the console by the token that signed in.
  await page.goto(`${s.url}/console/apps/${APP}/audit`);
  const rows = await page.$$eval('table.audit tbody tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent.trim())));
  const mine = rows.filter((r) => r[2] === 'console' && r[3] !== 'console.sign_in').map((r) => r[3]);
  assert.deepEqual(mine, ['build.native_limits', 'build.disable', 'rollout.abort', 'rollout.pause', 'deploy', 'rollback', 'rollout', 'deploy']);
  assert.ok(rows.every((r) => r[2] !== 'console' || r[1].startsWith('release-manager')), JSON.stringify(rows));
  await shot(page, '07-audit');
  // The API holds the same.
  const audit = await api('GET', `/v1/apps/${APP}/audit?limit=20`, deployToken);
  assert.deepEqual(audit.body.entries.filter((e) => e.via === 'console').map((e) => e.action).slice(0, mine.length), mine);

  // Sign out: back to the sign-in page, and the session is gone.
  await page.click('button:text("Sign out")');
  await page.waitForSelector('h1:text("Sign in")');
  await page.goto(`${s.url}/console/apps/${APP}`);
  await page.waitForSelector('h1:text("Sign in")');
  await shot(page, '08-signed-out');
  await context.close();
});

test('charts show the numbers of known events, and the pages fit a phone', async () => {
  const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true });
  const page = await signIn(context, readToken);
  await page.goto(`${s.url}/console/apps/${APP}/builds/${b2}`);
  const funnel = await page.$$eval('table.funnel tbody tr', (trs) =>
    Object.fromEntries(trs.map((tr) => [tr.dataset.kind, Number(tr.querySelector('.devices').textContent)])));
  assert.deepEqual(funnel, { download_complete: 10, applied: 8, failed: 1, rolled_back: 1 });
  assert.equal(await page.textContent('.failure-rate'), '20.0%');
  await shot(page, '09-phone-build');
  await page.goto(`${s.url}/console/apps/${APP}/channels/production`);
  const shares = await page.$$eval('table.adoption-hourly tbody tr', (trs) =>
    trs.map((tr) => [tr.children[1].textContent, tr.querySelector('.devices').textContent, tr.querySelector('.share').textContent]));
  assert.deepEqual(shares.map((r) => r.slice(1)).sort(), [['10', '71.4%'], ['4', '28.6%']]);
  assert.equal(await page.locator('svg[aria-label="hourly adoption by build"] rect').count() >= 3, true);
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert.ok(overflow <= 0, `the page is ${overflow}px wider than the phone`);
  await shot(page, '10-phone-channel');
  await context.close();
});

test('a read-only token sees no write buttons, and the API refuses it anyway', async () => {
  const context = await browser.newContext();
  const page = await signIn(context, readToken);
  await page.goto(`${s.url}/console/apps/${APP}/channels/production`);
  await page.waitForSelector('h2:text("Adoption")');
  assert.equal(await page.locator('button:text("Deploy"), button:text("Roll back"), button:text("Change rollout")').count(), 0);
  await shot(page, '11-read-only');
  // Forge the form the page does not show, with the session's own CSRF token.
  const csrf = await page.getAttribute('input[name="csrf"]', 'value');
  const r = await page.request.post(`${s.url}/console/apps/${APP}/channels/production`, {
    form: { action: 'rollout', build_id: String(b1), rollout_percent: '5', csrf },
  });
  assert.equal(r.status(), 422);
  assert.match(await r.text(), /may not do deploy/);
  const ch = await api('GET', `/v1/apps/${APP}/channels`, deployToken);
  assert.equal(ch.body.channels[0].current.rollout_percent, 100);
  await context.close();
});

test('a forged cross-site POST is refused', async () => {
  const context = await browser.newContext();
  const page = await signIn(context, deployToken);
  const before = (await api('GET', `/v1/apps/${APP}/channels`, deployToken)).body.channels[0].current;
  // Another origin's page that posts a form to the console at once.
  const evil = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' }).end(`<!doctype html><form method="post"
      action="${s.url}/console/apps/${APP}/channels/production"><input name="action" value="rollout">
      <input name="build_id" value="${before.build_id}"><input name="rollout_percent" value="1"></form>
      <script>document.forms[0].submit()</script>`);
  });
  await new Promise((r) => evil.listen(0, '127.0.0.1', r));
  const evilUrl = `http://localhost:${evil.address().port}/`;
  const refused = page.waitForResponse((r) => r.url().includes('/console/apps/') && r.request().method() === 'POST');
  await page.goto(evilUrl);
  const resp = await refused;
  assert.equal(resp.status(), 403);
  assert.match(await resp.text(), /cross-(site|origin) request refused/);
  await shot(page, '12-forged-post');
  evil.close();
  const now = (await api('GET', `/v1/apps/${APP}/channels`, deployToken)).body.channels[0].current;
  assert.deepEqual(now, before);
  await context.close();
});
