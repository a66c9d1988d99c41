// The stock @capawesome/capacitor-live-update plugin, emulated from its
// native sources (test/capawesome-emulator.mjs), against a real
// `liveship serve` (and the Lambda stack with LIVESHIP_TEST_STACK=lambda).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CapawesomeDevice } from './capawesome-emulator.mjs';
import { startFileHost, startServer } from './server.mjs';

const APP = 'com.example.capawesome';
let s;
let hosted;
let hostedUrl;

before(async () => {
  s = await startServer();
  s.cli(['live-update', 'generate-signing-key']);
  s.cli(['apps', 'create', '--app-id', APP, '--public-key', 'liveship_public.pem']);
  hosted = await startFileHost(join(s.dir, 'hosted'));
  hostedUrl = hosted.url;
});
after(() => {
  s?.stop();
  hosted?.close();
});

const upload = (version, extra = [], app = APP, dir = 'www') =>
  s.cli(['live-update', 'upload-artifact', '--app-id', app, '--build-dir', dir, '--signing-key', 'liveship_private.pem', '--version', version, ...extra]);
const device = (id, extra = {}) => new CapawesomeDevice({ server: s.url, appId: APP, deviceId: id, ...extra });
function inRollout(deviceId, buildId, percent) {
  const d = createHash('sha256').update(deviceId).update(Buffer.from([0])).update(String(buildId)).digest();
  return Number(d.readBigUInt64BE(0) % 100n) < percent;
}
const flip = (_u, b) => { const c = Buffer.from(b); c[c.length - 1] ^= 1; return c; };

test('install, update, up to date, tampered zip refused, rollback blocks the bundle', async () => {
  const d = device('c1');
  assert.deepEqual(await d.sync(), { nextBundleId: null }, 'nothing deployed yet');
  assert.equal(d.lastStatus, 404);
  s.writeBuild('www', { 'index.html': '<html>v1</html>', 'js/app.js': 'one()' });
  upload('1.0.0', ['--channel', 'production']);
  let r = await d.sync();
  assert.equal(r.nextBundleId, '1.0.0');
  assert.equal(d.lastAnswer.artifactType, 'zip');
  assert.match(d.lastAnswer.checksum, /^[0-9a-f]{64}$/);
  assert.equal(d.lastAnswer.channelName, 'production');
  assert.equal(r.files['index.html'].toString(), '<html>v1</html>');
  assert.equal(d.restart().result, 'applied');
  assert.deepEqual(await d.sync(), { nextBundleId: null });
  assert.equal(d.lastStatus, 404, 'up to date is a non-2xx answer, which the plugin reads as no update');

  s.writeBuild('www', { 'index.html': '<html>v2</html>' });
  upload('1.0.1', ['--channel', 'production']);
  const evil = device('c1', { tamper: flip });
  evil.current = d.current;
  await assert.rejects(evil.sync(), /ERROR_CHECKSUM_MISMATCH/);
  r = await d.sync();
  assert.equal(r.nextBundleId, '1.0.1');
  assert.equal(r.files['index.html'].toString(), '<html>v2</html>');
  // The bundle never calls ready(): rolled back, and never offered again to this device.
  assert.equal(d.restart({ ready: false }).result, 'rolled_back');
  assert.equal(d.current, '1.0.0');
  assert.equal((await d.sync()).blocked, true);
});

test('the same lookup rules: channels, rollout, native limits, disabled builds', async () => {
  s.writeBuild('www', { 'index.html': '<html>beta</html>' });
  upload('2.0.0-beta', ['--channel', 'beta', '--create-channel']);
  s.cli(['deploy', '--app-id', APP, '--channel', 'beta', '--build-id', '2.0.0-beta', '--allow-self-assign', 'true']);
  const d = device('c-chan');
  assert.deepEqual(await d.fetchChannels(), [{ id: 'beta', name: 'beta' }]);
  assert.deepEqual(await d.fetchChannels({ query: 'nope' }), []);
  assert.deepEqual(await d.fetchChannels({ offset: 1 }), []);
  d.setChannel('beta');
  assert.equal((await d.sync()).nextBundleId, '2.0.0-beta');
  // A channel that is gone: the app's default.
  d.setChannel('deleted-long-ago');
  assert.equal((await d.sync()).nextBundleId, '1.0.1');

  s.writeBuild('www', { 'index.html': '<html>rollout</html>' });
  const staged = upload('1.2.0', ['--channel', 'production', '--rollout', '40']);
  let inside = 0;
  for (let i = 0; i < 16; i++) {
    const id = `c-roll-${i}`;
    const want = inRollout(id, staged.build_id, 40) ? '1.2.0' : '1.0.1';
    assert.equal((await device(id).sync()).nextBundleId, want, id);
    if (want === '1.2.0') inside++;
  }
  assert.ok(inside > 0 && inside < 16);

  s.cli(['builds', 'set-native-versions', '--app-id', APP, '--build-id', '1.2.0', '--ios-min', '5.0']);
  const oldIos = device('c-roll-ios', { platform: 'ios', versionName: '4.2' });
  const newIos = device('c-roll-ios', { platform: 'ios', versionName: '5.1' });
  const wantNew = inRollout('c-roll-ios', staged.build_id, 40) ? '1.2.0' : '1.0.1';
  assert.equal((await oldIos.sync()).nextBundleId, '1.0.1', 'a 4.2 binary never gets a build for 5.0 and up');
  assert.equal((await newIos.sync()).nextBundleId, wantNew);

  s.cli(['builds', 'disable', '--app-id', APP, '--build-id', '1.0.1', '--force']);
  s.cli(['deploy', '--app-id', APP, '--channel', 'production', '--build-id', '1.2.0', '--rollout', '100']);
  s.cli(['builds', 'disable', '--app-id', APP, '--build-id', '1.2.0', '--force']);
  assert.equal((await device('c-after-disable').sync()).nextBundleId, '1.0.0', 'disabled builds are skipped');
});

test('a self-hosted manifest build is served per file, the list from its signed manifest, files from the team host', async () => {
  s.writeBuild('hosted/www', { 'index.html': '<html>hosted</html>', 'js/a b.js': 'a()' });
  s.cli(['live-update', 'generate-manifest', '--build-dir', 'hosted/www', '--signing-key', 'liveship_private.pem', '--app-id', APP, '--version', '3.0.0']);
  s.cli(['live-update', 'register-artifact', '--app-id', APP, '--artifact-type', 'manifest',
    '--artifact-url', `${hostedUrl}/www/live-update-manifest.json`, '--manifest', join(s.dir, 'hosted/www/live-update-manifest.json')]);
  s.cli(['deploy', '--app-id', APP, '--channel', 'selfhosted', '--build-id', '3.0.0', '--create-channel']);
  const d = device('c-hosted', { channel: 'selfhosted' });
  const r = await d.sync();
  assert.equal(d.lastAnswer.artifactType, 'manifest', JSON.stringify(d.lastAnswer));
  assert.equal(r.nextBundleId, '3.0.0');
  assert.equal(r.files['index.html'].toString(), '<html>hosted</html>');
  assert.equal(r.files['js/a b.js'].toString(), 'a()');
  // Only paths the signed manifest lists.
  const u = new URL(d.lastAnswer.url);
  u.searchParams.set('href', '../../etc/passwd');
  assert.equal((await fetch(u, { redirect: 'manual' })).status, 404);
});

test('RSA-signed zips: made in CI, checked by the server and by a device with publicKey; nothing else gets through', async () => {
  const app = 'com.example.capawesome-rsa';
  s.cli(['live-update', 'generate-signing-key', '--algorithm', 'rsa']);
  s.cli(['live-update', 'generate-signing-key', '--algorithm', 'rsa', '--private', 'other_rsa.pem', '--public', 'other_rsa.pub.pem']);
  const rsaPublic = readFileSync(join(s.dir, 'liveship_rsa_public.pem'), 'utf8');
  assert.match(rsaPublic, /^-----BEGIN PUBLIC KEY-----/);
  s.cli(['apps', 'create', '--app-id', app, '--public-key', 'liveship_public.pem', '--rsa-public-key', 'liveship_rsa_public.pem']);
  s.writeBuild('rsa', { 'index.html': '<html>rsa</html>' });
  const refused = (args) => {
    try {
      s.cli(args);
    } catch (e) {
      return `${e.stdout} ${e.stderr}`;
    }
    assert.fail(`accepted: ${args.join(' ')}`);
  };
  // The server refuses an unsigned zip and one signed by another key.
  const up = (extra) => ['live-update', 'upload-artifact', '--app-id', app, '--build-dir', 'rsa', '--signing-key', 'liveship_private.pem', '--version', '1.0.0', ...extra];
  assert.match(JSON.stringify(refused(up([]))), /rsa_signature_required|--rsa-signing-key/);
  assert.match(JSON.stringify(refused(up(['--rsa-signing-key', 'other_rsa.pem']))), /does not verify/);
  s.cli(up(['--rsa-signing-key', 'liveship_rsa_private.pem', '--channel', 'production']));

  const d = new CapawesomeDevice({ server: s.url, appId: app, deviceId: 'rsa-1', publicKey: rsaPublic });
  const r = await d.sync();
  assert.equal(r.nextBundleId, '1.0.0');
  assert.match(d.lastAnswer.signature, /^[A-Za-z0-9+/]+=*$/);
  assert.equal(r.files['index.html'].toString(), '<html>rsa</html>');

  // Altered bytes in transit, even with a matching checksum from a
  // compromised server: the signature fails.
  const tampered = new CapawesomeDevice({
    server: s.url, appId: app, deviceId: 'rsa-2', publicKey: rsaPublic,
    tamper: flip,
    rewriteAnswer: (j) => ({ ...j, checksum: null }),
  });
  await assert.rejects(tampered.sync(), /ERROR_SIGNATURE_VERIFICATION_FAILED/);
  const stripped = new CapawesomeDevice({
    server: s.url, appId: app, deviceId: 'rsa-3', publicKey: rsaPublic,
    rewriteAnswer: (j) => ({ ...j, signature: null }),
  });
  await assert.rejects(stripped.sync(), /ERROR_SIGNATURE_MISSING/);

  // A self-hosted zip signed at registration, from the digest beside it.
  s.cli(['live-update', 'bundle-artifact', '--build-dir', 'rsa', '--signing-key', 'liveship_private.pem', '--app-id', app,
    '--version', '1.1.0', '--output-path', 'hosted/rsa-1.1.0.zip']);
  const reg = (extra) => ['live-update', 'register-artifact', '--app-id', app, '--artifact-type', 'zip',
    '--artifact-url', `${hostedUrl}/rsa-1.1.0.zip`, '--manifest', join(s.dir, 'hosted/rsa-1.1.0.manifest.json'), ...extra];
  assert.match(JSON.stringify(refused(reg([]))), /rsa_signature_required|--rsa-signing-key/);
  s.cli(reg(['--rsa-signing-key', 'liveship_rsa_private.pem']));
  s.cli(['deploy', '--app-id', app, '--channel', 'production', '--build-id', '1.1.0']);
  const d2 = new CapawesomeDevice({ server: s.url, appId: app, deviceId: 'rsa-4', publicKey: rsaPublic });
  assert.equal((await d2.sync()).nextBundleId, '1.1.0');
  assert.equal(d2.lastAnswer.url, `${hostedUrl}/rsa-1.1.0.zip`);

  // Removing the app's RSA key lets unsigned zips in again.
  s.cli(['apps', 'update', '--app-id', app, '--no-rsa-public-key']);
  s.cli(['live-update', 'upload-artifact', '--app-id', app, '--build-dir', 'rsa', '--signing-key', 'liveship_private.pem', '--version', '1.2.0']);
});
