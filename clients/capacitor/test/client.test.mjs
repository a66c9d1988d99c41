// The client against a real `liveship serve`; only the native plugin is
// replaced, by a recording fake that checks the hash of everything it is
// told to download, as the native code does.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { LiveshipUpdater } from '../dist/index.js';
import { startServer } from './server.mjs';
import { FakeUpdater } from './fake-updater.mjs';

const sha = (b) => createHash('sha256').update(b).digest('hex');


let s;
let publicKey;
const APP = 'com.example.node';
let build1;

before(async () => {
  s = await startServer();
  s.cli(['live-update', 'generate-signing-key']);
  publicKey = readFileSync(join(s.dir, 'liveship_public.pem'), 'utf8');
  s.cli(['apps', 'create', '--app-id', APP, '--public-key', 'liveship_public.pem']);
  s.writeBuild('www', { 'index.html': '<html>v1</html>', 'js/app.js': 'console.log(1)', 'assets/a b.css': 'body{}' });
  build1 = s.cli(['live-update', 'upload-artifact', '--app-id', APP, '--build-dir', 'www', '--signing-key', 'liveship_private.pem',
    '--version', '1.0.0', '--channel', 'production']).build_id;
});
after(() => s?.stop());

const client = (updater, extra = {}) =>
  new LiveshipUpdater({ serverUrl: s.url, appId: APP, publicKey, updater, platform: 'android', nativeVersion: '2.0.0', ...extra });

const stats = (id) => s.cli(['stats', '--app-id', APP, '--build-id', String(id)]).counts;

test('sync verifies, downloads only through the plugin, and schedules (background)', async () => {
  const u = new FakeUpdater('dev-bg');
  const c = client(u);
  const before = stats(build1);
  const r = await c.sync();
  assert.deepEqual(r, { status: 'scheduled', buildId: build1, version: '1.0.0', mandatory: false });
  assert.deepEqual(u.names(), ['download', 'next']);
  const opts = u.calls[0][1];
  assert.equal(opts.version, '1.0.0');
  assert.equal(opts.manifest.length, 3);
  assert.ok(opts.url.startsWith('http://127.0.0.1:'));
  assert.equal(stats(build1).download_complete, before.download_complete + 1);

  // Next start runs the new bundle: notifyAppReady reports it applied, once.
  u.restartInto('b1');
  await c.notifyAppReady();
  await c.notifyAppReady();
  assert.equal(stats(build1).applied, before.applied + 1);
  assert.deepEqual(await c.sync(), { status: 'up_to_date' });
});

test('immediate policy applies at once', async () => {
  const u = new FakeUpdater('dev-now');
  const r = await client(u, { autoUpdateMethod: 'immediate' }).sync();
  assert.equal(r.status, 'applied');
  assert.deepEqual(u.names(), ['download', 'set']);
});

test('mandatory builds apply at once even in background mode', async () => {
  s.writeBuild('www', { 'js/app.js': 'console.log(2)' });
  const b = s.cli(['live-update', 'upload-artifact', '--app-id', APP, '--build-dir', 'www', '--signing-key', 'liveship_private.pem',
    '--version', '1.1.0', '--mandatory', '--channel', 'urgent', '--create-channel']);
  const u = new FakeUpdater('dev-mandatory');
  const r = await client(u, { channel: 'urgent' }).sync();
  assert.deepEqual(r, { status: 'applied', buildId: b.build_id, version: '1.1.0', mandatory: true });
  assert.deepEqual(u.names(), ['download', 'set']);
});

test('zip builds hand the plugin the signed zip hash', async () => {
  const b = s.cli(['live-update', 'upload-artifact', '--app-id', APP, '--build-dir', 'www', '--signing-key', 'liveship_private.pem',
    '--version', '1.2.0-zip', '--artifact-type', 'zip', '--channel', 'zips', '--create-channel']);
  const u = new FakeUpdater('dev-zip');
  const r = await client(u, { channel: 'zips' }).sync();
  assert.equal(r.status, 'scheduled');
  const opts = u.calls[0][1];
  assert.equal(opts.manifest, undefined);
  assert.match(opts.checksum, /^[0-9a-f]{64}$/);
  assert.equal(b.version, '1.2.0-zip');
});

test('a wrong public key: refused, reported, nothing downloaded', async () => {
  const other = readFileSync(new URL('../../../tests/vectors/public.pem', import.meta.url), 'utf8');
  const u = new FakeUpdater('dev-wrongkey');
  const before = stats(build1).failed;
  const r = await client(u, { publicKey: other }).sync();
  assert.equal(r.status, 'refused');
  assert.equal(r.code, 'unknown_key');
  assert.deepEqual(u.names(), []);
  assert.equal(stats(build1).failed, before + 1);
});

test('a manifest altered in transit is refused', async () => {
  const tamper = async (url, init) => {
    const res = await fetch(url, init);
    if (!url.includes('/latest?')) return res;
    const body = await res.json();
    const payload = JSON.parse(Buffer.from(body.manifest.payload, 'base64').toString());
    payload.files[0].sha256 = sha('evil');
    body.manifest.payload = Buffer.from(JSON.stringify(payload)).toString('base64');
    return new Response(JSON.stringify(body), { status: 200 });
  };
  const u = new FakeUpdater('dev-tamper');
  const r = await client(u, { fetch: tamper }).sync();
  assert.equal(r.code, 'bad_signature');
  assert.deepEqual(u.names(), []);
});

test("another app's validly signed build is refused", async () => {
  s.cli(['apps', 'create', '--app-id', 'com.example.other', '--public-key', 'liveship_public.pem']);
  s.cli(['live-update', 'upload-artifact', '--app-id', 'com.example.other', '--build-dir', 'www', '--signing-key', 'liveship_private.pem',
    '--version', '1.0.0', '--channel', 'production']);
  const swap = (url, init) => fetch(url.replace(`/apps/${APP}/`, '/apps/com.example.other/'), init);
  const u = new FakeUpdater('dev-swap');
  const r = await client(u, { fetch: swap }).sync();
  assert.equal(r.code, 'app_mismatch');
  assert.deepEqual(u.names(), []);
});

test('rollback to builtin resets the plugin; a rolled-back bundle is reported', async () => {
  s.writeBuild('www', { 'js/app.js': 'console.log(3)' });
  const b = s.cli(['live-update', 'upload-artifact', '--app-id', APP, '--build-dir', 'www', '--signing-key', 'liveship_private.pem',
    '--version', '1.3.0', '--channel', 'canary', '--create-channel']);
  const u = new FakeUpdater('dev-canary');
  const c = client(u, { channel: 'canary', autoUpdateMethod: 'immediate' });
  assert.equal((await c.sync()).status, 'applied');
  s.cli(['builds', 'disable', '--app-id', APP, '--build-id', String(b.build_id), '--force']);
  assert.deepEqual(await c.sync(), { status: 'rolled_back_to_builtin' });
  assert.equal(u.names().at(-1), 'reset');

  // A bundle applied at once that the plugin rolled back on start.
  const u2 = new FakeUpdater('dev-crash');
  const c2 = client(u2, { autoUpdateMethod: 'immediate' });
  const before = stats(build1).rolled_back;
  await c2.sync();
  u2.cur = { id: 'builtin', version: 'builtin' };
  await c2.notifyAppReady();
  assert.equal(stats(build1).rolled_back, before + 1);
});

test('platform and native version come from Capacitor when not configured', async () => {
  s.writeBuild('limited', { 'index.html': '<html>limited</html>' });
  const b = s.cli(['live-update', 'upload-artifact', '--app-id', APP, '--build-dir', 'limited', '--signing-key', 'liveship_private.pem',
    '--version', '1.4.0', '--channel', 'limited', '--create-channel']);
  s.cli(['builds', 'set-native-versions', '--app-id', APP, '--build-id', String(b.build_id), '--ios-min', '2.0', '--android-min', '2.0']);
  const bare = (u) => new LiveshipUpdater({ serverUrl: s.url, appId: APP, publicKey, updater: u, channel: 'limited' });
  // No platform known: a limited build is not offered.
  assert.deepEqual(await bare(new FakeUpdater('dev-web')).sync(), { status: 'up_to_date' });
  globalThis.Capacitor = { getPlatform: () => 'ios' };
  try {
    // The plugin reports native 2.0.0: allowed.
    const r = await bare(new FakeUpdater('dev-ios')).sync();
    assert.equal(r.status, 'scheduled');
    assert.equal(r.buildId, b.build_id);
    // An older binary (explicit nativeVersion wins) is not.
    const old = new LiveshipUpdater({ serverUrl: s.url, appId: APP, publicKey, updater: new FakeUpdater('dev-old'), channel: 'limited', nativeVersion: '1.9' });
    assert.deepEqual(await old.sync(), { status: 'up_to_date' });
  } finally {
    delete globalThis.Capacitor;
  }
});

test('a legacy plugin line (CRC-32 only) is refused before anything is asked or downloaded', async () => {
  for (const version of ['10.0.0', '9.0.0', '7.0.0', '6.14.26', '5.9.5']) {
    const u = new FakeUpdater(`dev-legacy-${version}`);
    u.getPluginVersion = async () => ({ version });
    const r = await client(u).sync();
    assert.equal(r.status, 'refused', version);
    assert.equal(r.code, 'unsupported_plugin');
    assert.match(r.reason, /upgrade/);
    assert.deepEqual(u.names(), []);
  }
  const u = new FakeUpdater('dev-current-plugin', { pluginVersion: '8.51.23' });
  assert.equal((await client(u).sync()).status, 'scheduled');
});

test('a build with .br files goes to the plugin as its signed zip, not file by file', async () => {
  s.writeBuild('br', { 'index.html': '<html>br</html>', 'data.json.br': 'raw' });
  s.cli(['live-update', 'upload-artifact', '--app-id', APP, '--build-dir', 'br', '--signing-key', 'liveship_private.pem',
    '--version', '1.5.0-br', '--channel', 'brotli', '--create-channel']);
  const u = new FakeUpdater('dev-br');
  const r = await client(u, { channel: 'brotli' }).sync();
  assert.equal(r.status, 'scheduled', JSON.stringify(r));
  const opts = u.calls[0][1];
  assert.equal(opts.manifest, undefined);
  assert.match(opts.checksum, /^[0-9a-f]{64}$/);
});

test('text files reach the plugin as brotli copies when its line decompresses them, and verify as the originals', async () => {
  const js = Array.from({ length: 3000 }, (_, i) => `export const v${i} = ${i} * 2;`).join('\n');
  const png = Buffer.from(Array.from({ length: 8000 }, (_, i) => (i * 2654435761) >>> 24));
  s.writeBuild('text', { 'index.html': '<html>text</html>'.repeat(50), 'js/main.js': js, 'img/a.png': png });
  s.cli(['live-update', 'upload-artifact', '--app-id', APP, '--build-dir', 'text', '--signing-key', 'liveship_private.pem',
    '--version', '1.6.0-text', '--channel', 'text', '--create-channel']);
  const raw = Buffer.byteLength(js) + 17 * 50 + png.length;
  const run = async (id, opts) => {
    const u = new FakeUpdater(id, opts);
    const r = await client(u, { channel: 'text' }).sync();
    assert.equal(r.status, 'scheduled', JSON.stringify(r));
    assert.equal(u.files['js/main.js'].toString(), js);
    assert.deepEqual(u.files['img/a.png'], png);
    return { names: u.calls[0][1].manifest.map((e) => e.file_name).sort(), bytes: u.wireBytes };
  };
  // capgo 8.x (Android, OkHttp's gzip only): the copies, by name.
  const copies = await run('dev-br-8', { pluginVersion: '8.51.23' });
  assert.deepEqual(copies.names, ['img/a.png', 'index.html.br', 'js/main.js.br']);
  assert.ok(copies.bytes < png.length + (raw - png.length) / 5, `${copies.bytes} of ${raw}`);
  // 7.0.30 saves a `*.br` file as it came: the plain files.
  const plain = await run('dev-br-7030', { pluginVersion: '7.0.30' });
  assert.deepEqual(plain.names, ['img/a.png', 'index.html', 'js/main.js']);
  assert.equal(plain.bytes, raw);
  // The same line on iOS (URLSession asks for br): the server negotiates.
  const ios = await run('dev-br-ios', { pluginVersion: '7.0.30', acceptEncoding: 'br, gzip, deflate' });
  assert.deepEqual(ios.names, plain.names);
  assert.ok(ios.bytes < copies.bytes + 100, `${ios.bytes} vs ${copies.bytes}`);
});
