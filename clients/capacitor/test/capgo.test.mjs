// Every @capgo/capacitor-updater line in the field, emulated from its native
// sources (test/capgo-emulator.mjs), against a real `liveship serve` (and,
// with LIVESHIP_TEST_STACK=lambda, the three Lambda functions on moto):
// install, update, up to date, native limits, staged rollout, a tampered
// download refused, a bundle that fails to start, channels, a withdrawn
// build, and every stats event counted on the build it is about.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CapgoDevice, lineOf } from './capgo-emulator.mjs';
import { startFileHost, startServer } from './server.mjs';

// The newest release of each line on npm, and releases on either side of
// each change the native code shows (checksum algorithm, channel storage).
const LINES = ['10.0.0', '9.0.0', '4.61.11', '5.9.5', '6.14.26', '7.0.0', '7.0.30', '7.22.0', '5.50.2', '6.51.16', '7.51.21', '8.51.23'];

let s;
let files; // a static host for self-hosted artifacts, as a team's own bucket
let filesUrl;

before(async () => {
  s = await startServer();
  s.cli(['live-update', 'generate-signing-key']);
  files = await startFileHost(join(s.dir, 'hosted'));
  filesUrl = files.url;
});
after(() => {
  s?.stop();
  files?.close();
});

const appOf = (pv) => `com.example.capgo-${pv.replaceAll('.', '-')}`;
const upload = (app, dir, version, extra = []) =>
  s.cli(['live-update', 'upload-artifact', '--app-id', app, '--build-dir', dir, '--signing-key', 'liveship_private.pem',
    '--version', version, ...extra]);
const counts = (app, version) =>
  Object.fromEntries(Object.entries(s.cli(['builds', 'stats', '--app-id', app, '--build-id', version]).counts).filter(([, n]) => n > 0));
const count = (app, version, kind) => counts(app, version)[kind] ?? 0;
const disable = (app, version) => s.cli(['builds', 'disable', '--app-id', app, '--build-id', version, '--force']);

/** liveship's rollout bucket (shared/src/lookup.rs), to know which devices a rollout picks. */
function inRollout(deviceId, buildId, percent) {
  const d = createHash('sha256').update(deviceId).update(Buffer.from([0])).update(String(buildId)).digest();
  return Number(d.readBigUInt64BE(0) % 100n) < percent;
}

const flipLastByte = (_url, b) => {
  const c = Buffer.from(b);
  c[c.length - 1] ^= 0xff;
  return c;
};

for (const pv of LINES) {
  const { legacy, localChannel, brotli } = lineOf(pv);
  test(`capgo ${pv} (${legacy ? 'legacy: CRC-32, zip only' : 'current: SHA-256, per-file'}; channel ${localChannel ? 'on the device' : 'on the server'})`, async () => {
    const app = appOf(pv);
    s.cli(['apps', 'create', '--app-id', app, '--public-key', 'liveship_public.pem']);
    const dir = `www-${pv}`;
    s.writeBuild(dir, { 'index.html': '<html>v1</html>', 'js/app.js': 'console.log(1)' });
    upload(app, dir, '1.0.0', ['--channel', 'production']);
    const device = (id, extra = {}) => new CapgoDevice({ server: s.url, appId: app, pluginVersion: pv, deviceId: id, ...extra });

    // Install: what this line verifies, checked the way it checks it.
    const d1 = device('d1');
    let r = await d1.checkForUpdate();
    assert.equal(r.result, 'scheduled', JSON.stringify(d1.lastAnswer));
    assert.equal(r.files['index.html'].toString(), '<html>v1</html>');
    assert.match(d1.lastAnswer.checksum ?? '', legacy ? /^[0-9a-f]{8}$/ : /^[0-9a-f]{64}$/);
    // Lines that decompress `*.br` entries get the text files' brotli copies.
    if (!legacy) {
      const names = d1.lastAnswer.manifest.map((e) => e.file_name).sort();
      assert.deepEqual(names, brotli ? ['index.html.br', 'js/app.js.br'] : ['index.html', 'js/app.js'], pv);
    }
    assert.equal(Array.isArray(d1.lastAnswer.manifest), !legacy, 'per-file manifests only to lines that read them');
    assert.equal((await d1.restart()).result, 'applied');
    assert.deepEqual([count(app, '1.0.0', 'download_complete'), count(app, '1.0.0', 'applied')], [1, 1]);
    assert.equal((await d1.checkForUpdate()).result, 'no_update');

    // An update: download_complete counts on the new build, whichever
    // bundle the line names in version_name.
    s.writeBuild(dir, { 'index.html': '<html>v2</html>' });
    upload(app, dir, '1.0.1', ['--channel', 'production']);
    r = await d1.checkForUpdate();
    assert.equal(r.result, 'scheduled');
    assert.equal(r.files['index.html'].toString(), '<html>v2</html>');
    await d1.restart();
    assert.deepEqual(counts(app, '1.0.1'), { download_complete: 1, applied: 1 });
    assert.deepEqual(counts(app, '1.0.0'), { download_complete: 1, applied: 1 });

    // A device without an id (iOS without identifierForVendor) still updates.
    const anon = device('', { platform: 'ios' });
    assert.equal((await anon.checkForUpdate()).result, 'scheduled');

    // Native limits: a build for binaries 3.0 and up skips a 2.0 binary.
    s.writeBuild(dir, { 'index.html': '<html>v3-native</html>' });
    upload(app, dir, '1.1.0', ['--channel', 'production']);
    s.cli(['builds', 'set-native-versions', '--app-id', app, '--build-id', '1.1.0', '--android-min', '3.0']);
    assert.equal((await d1.checkForUpdate()).result, 'no_update');
    const newer = device('d-native', { versionBuild: '3.1.0' });
    assert.equal((await newer.checkForUpdate()).version, '1.1.0');

    // Staged rollout: exactly the devices in the rollout's buckets get it.
    s.writeBuild(dir, { 'index.html': '<html>v4-rollout</html>' });
    const staged = upload(app, dir, '1.2.0', ['--channel', 'production', '--rollout', '50']);
    let inside = 0;
    for (let i = 0; i < 16; i++) {
      const d = device(`d-roll-${i}`);
      const got = await d.checkForUpdate();
      const want = inRollout(`d-roll-${i}`, staged.build_id, 50) ? '1.2.0' : '1.0.1';
      assert.equal(got.version, want, `device d-roll-${i}`);
      if (want === '1.2.0') inside++;
    }
    assert.ok(inside > 0 && inside < 16, `a 50% rollout split 16 devices ${inside}/${16 - inside}`);
    s.cli(['deploy', '--app-id', app, '--channel', 'production', '--build-id', '1.2.0', '--rollout', '100']);

    // A download altered in transit is refused by the device and counted
    // as a failure of the build it was offered, not of the running one.
    s.writeBuild(dir, { 'index.html': '<html>v5</html>' });
    upload(app, dir, '1.3.0', ['--channel', 'production']);
    const d2 = device('d2');
    await d2.checkForUpdate();
    await d2.restart(); // runs 1.3.0
    s.writeBuild(dir, { 'index.html': '<html>v6</html>' });
    upload(app, dir, '1.4.0', ['--channel', 'production']);
    const tampered = device('d2', { tamper: flipLastByte });
    tampered.current = d2.current;
    r = await tampered.checkForUpdate();
    // (A line that decompresses the brotli copy fails on the broken stream.)
    assert.equal(r.result, legacy ? 'checksum_fail' : brotli ? 'download_manifest_brotli_fail' : 'download_fail', JSON.stringify(r));
    assert.equal(count(app, '1.4.0', 'failed'), 1);
    assert.equal(count(app, '1.3.0', 'failed'), 0);

    // A bundle that never calls notifyAppReady: set, then update_fail,
    // both on that bundle.
    r = await d2.checkForUpdate();
    assert.equal(r.version, '1.4.0');
    assert.equal((await d2.restart({ ready: false })).result, 'rolled_back');
    assert.deepEqual(counts(app, '1.4.0'), { download_complete: 1, applied: 1, failed: 2 });
    assert.equal(d2.current.version, '1.3.0');

    // Channels: list, self-assign, read back, leave.
    s.writeBuild(dir, { 'index.html': '<html>beta</html>' });
    upload(app, dir, '2.0.0-beta', ['--channel', 'beta', '--create-channel']);
    s.cli(['deploy', '--app-id', app, '--channel', 'beta', '--build-id', '2.0.0-beta', '--allow-self-assign', 'true']);
    const d3 = device('d3');
    assert.deepEqual((await d3.listChannels()).map((c) => c.name), ['beta']);
    assert.equal((await d3.setChannel('nope')).error, 'not_found');
    assert.equal((await d3.setChannel('beta')).status, 'ok');
    assert.equal((await d3.getChannel()).channel, 'beta');
    assert.equal((await d3.checkForUpdate()).version, '2.0.0-beta');
    await d3.restart();
    if (legacy) {
      // No unsetChannel in these lines: asking for the default channel leaves.
      assert.equal((await d3.setChannel('production')).unset, true);
    } else {
      assert.equal((await d3.unsetChannel()).status, 'ok');
    }
    assert.deepEqual(await d3.getChannel(), { channel: 'production', status: 'default', allowSet: false });
    assert.equal((await d3.checkForUpdate()).version, '1.4.0');

    // Withdrawn: every build of the channel disabled. Lines that understand
    // it go back to the built-in bundle (counted as rolled back on the
    // bundle they leave); legacy lines cannot be told, and keep theirs.
    for (const v of ['1.0.0', '1.0.1', '1.1.0', '1.2.0', '1.3.0', '1.4.0']) disable(app, v);
    r = await d2.checkForUpdate();
    if (legacy) {
      assert.equal(r.result, 'no_update');
      assert.equal(count(app, '1.3.0', 'rolled_back'), 0);
    } else {
      assert.equal(r.result, 'next_builtin', JSON.stringify(d2.lastAnswer));
      assert.deepEqual(d2.lastAnswer, { version: 'builtin' });
      assert.equal((await d2.restart()).result, 'reset');
      assert.equal(d2.current.version, 'builtin');
      assert.equal(count(app, '1.3.0', 'rolled_back'), 1);
    }
  });
}

test('self-hosted builds: zips reach every line with its checksum; per-file builds reach the lines that read them, never as a zip', async () => {
  const app = 'com.example.capgo-hosted';
  s.cli(['apps', 'create', '--app-id', app, '--public-key', 'liveship_public.pem']);
  // A manifest build the team hosts itself (generate-manifest, own upload).
  s.writeBuild('hosted/www', { 'index.html': '<html>hosted</html>', 'js/a.js': 'a()' });
  s.cli(['live-update', 'generate-manifest', '--build-dir', 'hosted/www', '--signing-key', 'liveship_private.pem', '--app-id', app, '--version', '3.0.0']);
  s.cli(['live-update', 'register-artifact', '--app-id', app, '--artifact-type', 'manifest',
    '--artifact-url', `${filesUrl}/www/live-update-manifest.json`, '--manifest', join(s.dir, 'hosted/www/live-update-manifest.json')]);
  s.cli(['deploy', '--app-id', app, '--channel', 'production', '--build-id', '3.0.0']);
  for (const pv of ['10.0.0', '7.0.0', '7.22.0', '8.51.23']) {
    const d = new CapgoDevice({ server: s.url, appId: app, pluginVersion: pv, deviceId: `h-${pv}` });
    const r = await d.checkForUpdate();
    if (lineOf(pv).legacy) {
      assert.equal(r.result, 'no_update', `${pv}: not offered (no zip): ${JSON.stringify(d.lastAnswer)}`);
    } else {
      assert.equal(r.result, 'scheduled', JSON.stringify(d.lastAnswer));
      assert.equal(d.lastAnswer.url, `${filesUrl}/www/live-update-manifest.json`, 'a file URL, never the directory');
      assert.equal(r.files['index.html'].toString(), '<html>hosted</html>');
      assert.ok(d.lastAnswer.manifest.every((e) => e.download_url.startsWith(`${filesUrl}/www/`)));
    }
  }

  // A zip the team hosts itself (bundle-artifact, own upload, register-artifact).
  s.writeBuild('zipsrc', { 'index.html': '<html>hosted zip</html>' });
  s.cli(['live-update', 'bundle-artifact', '--build-dir', 'zipsrc', '--signing-key', 'liveship_private.pem', '--app-id', app,
    '--version', '3.1.0', '--output-path', 'hosted/app-3.1.0.zip']);
  s.cli(['live-update', 'register-artifact', '--app-id', app, '--artifact-type', 'zip',
    '--artifact-url', `${filesUrl}/app-3.1.0.zip`, '--manifest', join(s.dir, 'hosted/app-3.1.0.manifest.json')]);
  s.cli(['deploy', '--app-id', app, '--channel', 'production', '--build-id', '3.1.0']);
  for (const pv of ['10.0.0', '7.0.0', '7.22.0', '8.51.23']) {
    const d = new CapgoDevice({ server: s.url, appId: app, pluginVersion: pv, deviceId: `z-${pv}` });
    const r = await d.checkForUpdate();
    assert.equal(r.result, 'scheduled', `${pv}: ${JSON.stringify(d.lastAnswer)}`);
    assert.equal(r.files['index.html'].toString(), '<html>hosted zip</html>');
    assert.equal(d.lastAnswer.url, `${filesUrl}/app-3.1.0.zip`);
    const tampered = new CapgoDevice({ server: s.url, appId: app, pluginVersion: pv, deviceId: `zt-${pv}`, tamper: flipLastByte });
    assert.equal((await tampered.checkForUpdate()).result, 'checksum_fail', pv);
  }
});

test('a line that keeps its channel on the device leaves it without asking the server', async () => {
  const app = 'com.example.capgo-local';
  s.cli(['apps', 'create', '--app-id', app, '--public-key', 'liveship_public.pem']);
  s.writeBuild('local', { 'index.html': '<html>local</html>' });
  upload(app, 'local', '1.0.0', ['--channel', 'production']);
  upload(app, 'local', '1.0.0', ['--channel', 'beta', '--create-channel']);
  s.cli(['deploy', '--app-id', app, '--channel', 'beta', '--build-id', '1.0.0', '--allow-self-assign', 'true']);
  // The server stores nothing for this line: the device's word is all there is.
  const d = new CapgoDevice({ server: s.url, appId: app, pluginVersion: '8.51.23', deviceId: 'd-local' });
  await d.setChannel('beta');
  assert.equal(d.info().defaultChannel, 'beta');
  assert.equal((await d.getChannel()).channel, 'beta');
  await d.unsetChannel();
  assert.equal((await d.getChannel()).channel, 'production');
  // Asking for the default channel is an unset the device applies.
  await d.setChannel('beta');
  const res = await d.setChannel('production');
  assert.equal(res.unset, true);
  assert.equal(d.persistedChannel, null);
});

test('a build that ships .br files reaches current lines as a zip, bytes intact', async () => {
  const app = 'com.example.capgo-brotli';
  s.cli(['apps', 'create', '--app-id', app, '--public-key', 'liveship_public.pem']);
  s.writeBuild('brotli', { 'index.html': '<html>br</html>', 'assets/data.json.br': 'not brotli: the app serves it itself' });
  upload(app, 'brotli', '1.0.0', ['--channel', 'production']);
  const d = new CapgoDevice({ server: s.url, appId: app, pluginVersion: '8.51.23', deviceId: 'd-br' });
  const r = await d.checkForUpdate();
  assert.equal(r.result, 'scheduled', JSON.stringify(r));
  assert.equal(d.lastAnswer.manifest, undefined, 'no per-file list: the plugin would decompress the .br file');
  assert.equal(r.files['assets/data.json.br'].toString(), 'not brotli: the app serves it itself');
});

test('capgo with publicKey: zips encrypted in CI with the app RSA key; nothing the key holder did not make is installed', async () => {
  const app = 'com.example.capgo-encrypted';
  s.cli(['live-update', 'generate-signing-key', '--algorithm', 'rsa', '--private', 'capgo_rsa.pem', '--public', 'capgo_rsa.pub.pem']);
  s.cli(['live-update', 'generate-signing-key', '--algorithm', 'rsa', '--private', 'other_rsa.pem', '--public', 'other_rsa.pub.pem', '--force']);
  const pkcs1 = readFileSync(join(s.dir, 'capgo_rsa.pub_capgo.pem'), 'utf8');
  const otherPkcs1 = readFileSync(join(s.dir, 'other_rsa.pub_capgo.pem'), 'utf8');
  assert.match(pkcs1, /^-----BEGIN RSA PUBLIC KEY-----/);
  s.cli(['apps', 'create', '--app-id', app, '--public-key', 'liveship_public.pem', '--rsa-public-key', 'capgo_rsa.pub.pem']);
  s.writeBuild('enc', { 'index.html': '<html>encrypted</html>', 'js/app.js': 'secret()' });
  upload(app, 'enc', '1.0.0', ['--channel', 'production', '--rsa-signing-key', 'capgo_rsa.pem']);
  const device = (id, extra = {}) => new CapgoDevice({ server: s.url, appId: app, pluginVersion: '8.51.23', deviceId: id, publicKey: pkcs1, ...extra });

  const d = device('e1');
  const r = await d.checkForUpdate();
  assert.equal(r.result, 'scheduled', JSON.stringify(d.lastAnswer));
  assert.equal(r.files['index.html'].toString(), '<html>encrypted</html>');
  assert.match(d.lastAnswer.session_key, /^[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/);
  assert.match(d.lastAnswer.checksum, /^[0-9a-f]{512}$/);
  assert.equal(d.lastAnswer.manifest, undefined);
  await d.restart();
  assert.deepEqual(counts(app, '1.0.0'), { download_complete: 1, applied: 1 });

  // Bytes altered in transit; a server that swaps in the plain zip and its
  // SHA-256; a server that drops the session key: all refused.
  const zipOf = async () => {
    const plain = new CapgoDevice({ server: s.url, appId: app, pluginVersion: '8.51.23', deviceId: 'e-plain' });
    await plain.checkForUpdate();
    return plain.lastAnswer;
  };
  const plainAnswer = await zipOf();
  assert.match(plainAnswer.checksum, /^[0-9a-f]{64}$/, 'devices without a key get the plain zip');
  assert.notEqual((await device('e2', { tamper: flipLastByte }).checkForUpdate()).result, 'scheduled');
  const swapped = device('e3');
  swapped.request = async (m, u, b) => ({ ...(await CapgoDevice.prototype.request.call(swapped, m, u, b)), url: plainAnswer.url, checksum: plainAnswer.checksum });
  assert.notEqual((await swapped.checkForUpdate()).result, 'scheduled');
  const stripped = device('e4');
  stripped.request = async (m, u, b) => ({ ...(await CapgoDevice.prototype.request.call(stripped, m, u, b)), session_key: undefined });
  assert.deepEqual(await stripped.checkForUpdate(), { result: 'blocked', why: 'session_key_required' });
  // A device that holds another key is not offered the build.
  assert.equal((await device('e5', { publicKey: otherPkcs1 }).checkForUpdate()).result, 'no_update');

  // The server refuses an encrypted checksum made with another key.
  s.writeBuild('enc', { 'index.html': '<html>encrypted 2</html>' });
  assert.throws(() => upload(app, 'enc', '1.0.1', ['--rsa-signing-key', 'other_rsa.pem']), /rsa_signature_invalid|does not verify/);
});

test('a device whose channel was deleted updates from the default channel, and its stats count there', async () => {
  const app = 'com.example.capgo-gone';
  s.cli(['apps', 'create', '--app-id', app, '--public-key', 'liveship_public.pem']);
  s.writeBuild('gone', { 'index.html': '<html>default</html>' });
  upload(app, 'gone', '1.0.0', ['--channel', 'production']);
  s.writeBuild('gone', { 'index.html': '<html>beta</html>' });
  upload(app, 'gone', '2.0.0-beta', ['--channel', 'beta', '--create-channel']);
  s.cli(['deploy', '--app-id', app, '--channel', 'beta', '--build-id', '2.0.0-beta', '--allow-self-assign', 'true']);
  // A legacy line: the server keeps its channel, and its stats name the running bundle.
  const d = new CapgoDevice({ server: s.url, appId: app, pluginVersion: '10.0.0', deviceId: 'd-gone' });
  assert.equal((await d.setChannel('beta')).status, 'ok');
  s.cli(['channels', 'delete', '--app-id', app, '--channel', 'beta']);
  const r = await d.checkForUpdate();
  assert.equal(r.version, '1.0.0', JSON.stringify(d.lastAnswer));
  assert.equal(count(app, '1.0.0', 'download_complete'), 1);
});
