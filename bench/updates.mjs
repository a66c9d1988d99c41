#!/usr/bin/env node
// Bytes a device downloads per update, on each delivery path, through a real
// `liveship serve` and the device emulators the client tests use (each
// follows its plugin's native code, including what it reuses from the
// built-in bundle and its cache). The builds are three production builds of
// a real Ionic React app made by bench/updates/make-app.sh (Vite, from npm):
// v1 is in the app binary; v2 changes one line in one component; v3 bumps
// @ionic/react. Compared with the full zip and with the floor: the changed
// files alone, brotli-compressed at the highest setting by Node's zlib (an
// independent brotli from the one the CLI uses).
//
//   node bench/updates.mjs [--liveship BIN] [--work DIR] [--quick] [--write-readme]
//
// --quick uses three small generated builds instead of the npm app (seconds,
// for CI) and checks the same goals.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';

const root = fileURLToPath(new URL('../', import.meta.url));
const args = process.argv.slice(2);
const flag = (name) => args.includes(name);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : fallback;
};
const quick = flag('--quick');
const work = option('--work', join(root, 'target', quick ? 'bench-updates-quick' : 'bench-updates'));
process.env.LIVESHIP_BIN = resolve(option('--liveship', process.env.LIVESHIP_BIN ?? join(root, 'target/release/liveship')));
const client = join(root, 'clients/capacitor');
if (!existsSync(join(client, 'dist/index.js'))) {
  throw new Error('clients/capacitor/dist is missing: run `npm ci && npm run build` in clients/capacitor');
}
const { LiveshipUpdater } = await import(join(client, 'dist/index.js'));
const { startServer } = await import(join(client, 'test/server.mjs'));
const { FakeUpdater } = await import(join(client, 'test/fake-updater.mjs'));
const { CapgoDevice } = await import(join(client, 'test/capgo-emulator.mjs'));
const { CapawesomeDevice } = await import(join(client, 'test/capawesome-emulator.mjs'));

const sha = (b) => createHash('sha256').update(b).digest('hex');

function walk(dir) {
  const out = {};
  const go = (d) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) go(p);
      else out[relative(dir, p).split('\\').join('/')] = readFileSync(p);
    }
  };
  go(dir);
  return out;
}

/** Three generated builds, content-hashed names like a bundler's. */
function quickBuilds(dir) {
  const chunk = (name, text) => [`assets/${name}-${sha(text).slice(0, 8)}.js`, text];
  const vendor = Array.from({ length: 6000 }, (_, i) => `export function c${i}(a,b){return a*${i}+b;}`).join('\n');
  const make = (n, line, vendorTail) => {
    const v = chunk('vendor', vendor + vendorTail);
    const page = chunk('Tab2', `import{c1}from"./${v[0].slice(7)}";export const t="${line}";`);
    const index = chunk('index', `import("./${page[0].slice(7)}");import"./${v[0].slice(7)}";`);
    const png = Buffer.from(Array.from({ length: 30000 }, (_, i) => (i * 2654435761) >>> 24));
    const files = Object.fromEntries([v, page, index, ['assets/logo.png', png],
      ['index.html', `<!doctype html><script type=module src=/${index[0]}></script>`], ['assets/index.css', '.a{color:red}\n'.repeat(400)]]);
    const d = join(dir, `dist-${n}`);
    for (const [p, b] of Object.entries(files)) {
      mkdirSync(join(d, p, '..'), { recursive: true });
      writeFileSync(join(d, p), b);
    }
  };
  make(1, 'Version one', '');
  make(2, 'Version two', '');
  make(3, 'Version two', '\nexport const bumped=1;');
}

mkdirSync(work, { recursive: true });
if (quick) quickBuilds(work);
else execFileSync(join(root, 'bench/updates/make-app.sh'), [work], { stdio: 'inherit' });
const builds = [1, 2, 3].map((n) => walk(join(work, `dist-${n}`)));

const s = await startServer();
process.on('exit', () => s.stop());
const APP = 'com.example.bench';
s.cli(['live-update', 'generate-signing-key']);
const publicKey = readFileSync(join(s.dir, 'liveship_public.pem'), 'utf8');
s.cli(['apps', 'create', '--app-id', APP, '--public-key', 'liveship_public.pem']);
const upload = (n) => {
  cpSync(join(work, `dist-${n}`), join(s.dir, `www-${n}`), { recursive: true });
  return s.cli(['live-update', 'upload-artifact', '--app-id', APP, '--build-dir', `www-${n}`, '--signing-key', 'liveship_private.pem',
    '--version', `1.0.${n}`, '--channel', 'production']);
};
const zipSizes = [];
const zipOf = async (buildId) => {
  const r = await fetch(`${s.url}/v1/apps/${APP}/channels/production/latest?device_id=zip-probe`);
  const latest = await r.json();
  if (latest.build?.id !== buildId) throw new Error('the probe was not offered the new build');
  return latest.zip_size;
};

// The devices, each starting on v1 (the bundle inside the app).
const builtin = builds[0];
const paths = [
  { name: '@liveship/capacitor on capgo 8.51.23 (Android)', kind: 'ours', plugin: '8.51.23' },
  { name: '@liveship/capacitor on capgo 7.0.30 (Android)', kind: 'ours', plugin: '7.0.30' },
  { name: 'capgo 8.51.23, per-file (Android)', kind: 'capgo', plugin: '8.51.23', platform: 'android' },
  { name: 'capgo 8.51.23, per-file (iOS)', kind: 'capgo', plugin: '8.51.23', platform: 'ios' },
  { name: 'capgo 7.0.30, per-file (Android)', kind: 'capgo', plugin: '7.0.30', platform: 'android' },
  { name: 'capgo 7.0.30, per-file (iOS)', kind: 'capgo', plugin: '7.0.30', platform: 'ios' },
  { name: 'capgo 6.14.26, zip (legacy lines)', kind: 'capgo', plugin: '6.14.26', platform: 'android' },
  { name: 'Capawesome 8.x (Android)', kind: 'capawesome', platform: 'android' },
];
for (const p of paths) {
  if (p.kind === 'ours') {
    p.updater = new FakeUpdater(`dev-${p.plugin}`, { pluginVersion: p.plugin, builtin });
    p.client = new LiveshipUpdater({ serverUrl: s.url, appId: APP, publicKey, updater: p.updater, platform: 'android', nativeVersion: '2.0.0' });
  } else if (p.kind === 'capgo') {
    p.device = new CapgoDevice({ server: s.url, appId: APP, pluginVersion: p.plugin, deviceId: `capgo-${p.plugin}-${p.platform}`, platform: p.platform, builtin, defaultChannel: 'production' });
  } else {
    p.device = new CapawesomeDevice({ server: s.url, appId: APP, deviceId: 'capawesome-1', platform: p.platform });
  }
  p.bytes = [];
}

const wire = (p) => (p.kind === 'ours' ? p.updater.wireBytes : p.device.wireBytes ?? 0);
async function update(p, version) {
  const before = wire(p);
  if (p.kind === 'ours') {
    const r = await p.client.sync();
    if (r.status !== 'scheduled') throw new Error(`${p.name}: ${JSON.stringify(r)}`);
    p.updater.restartInto(`b${p.updater.bundles.size}`);
  } else if (p.kind === 'capgo') {
    const r = await p.device.checkForUpdate();
    if (r.result !== 'scheduled' || r.version !== version) throw new Error(`${p.name}: ${JSON.stringify(r)}`);
    await p.device.restart();
  } else {
    const r = await p.device.sync();
    if (r.nextBundleId == null) throw new Error(`${p.name}: ${JSON.stringify(r)}`);
    p.device.restart();
  }
  p.bytes.push(wire(p) - before);
}

const ratio = (b, floor) => (floor > 0 ? `${(b / floor).toFixed(2)}x` : 'n/a');
const floorOf = (from, to) => {
  const have = new Set(Object.values(from).map(sha));
  let floor = 0;
  let changed = 0;
  let raw = 0;
  let gzip = 0;
  for (const [path, body] of Object.entries(to)) {
    if (have.has(sha(body))) continue;
    changed++;
    raw += body.length;
    gzip += gzipSync(body, { level: 6 }).length;
    floor += brotliCompressSync(body, {
      params: { [constants.BROTLI_PARAM_QUALITY]: 11, [constants.BROTLI_PARAM_LGWIN]: 24, [constants.BROTLI_PARAM_SIZE_HINT]: body.length },
    }).length;
    void path;
  }
  return { changed, raw, gzip, floor };
};

upload(1);
const updates = [];
for (const n of [2, 3]) {
  const up = upload(n);
  zipSizes.push(await zipOf(up.build_id));
  for (const p of paths) {
    if (process.env.BENCH_DEBUG) console.error(`update ${n}: ${p.name}`);
    await update(p, `1.0.${n}`);
  }
  updates.push({ from: `v${n - 1}`, to: `v${n}`, what: n === 2 ? 'one line in one component' : quick ? 'vendor chunk change' : 'dependency bump (@ionic/react 8.5.0 → 8.5.8)', ...floorOf(builds[n - 2], builds[n - 1]), zip: zipSizes.at(-1) });
}
s.stop();

const total = (b) => Object.values(b).reduce((a, x) => a + x.length, 0);
const result = {
  quick,
  build: { files: Object.keys(builds[0]).length, bytes: total(builds[0]) },
  updates,
  paths: paths.map((p) => ({ name: p.name, bytes: p.bytes })),
};
const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
const lines = [
  `The app: ${result.build.files} files, ${kb(result.build.bytes)} (v1).`,
  '',
  `| path | ${updates.map((u) => `${u.from} → ${u.to}: ${u.what}`).join(' | ')} |`,
  `|---|${updates.map(() => '---').join('|')}|`,
  `| changed files (raw) | ${updates.map((u) => `${u.changed} files, ${kb(u.raw)}`).join(' | ')} |`,
  `| changed files, gzip -6 (on-the-fly CDN gzip, what OkHttp asks for) | ${updates.map((u) => `${kb(u.gzip)} (${ratio(u.gzip, u.floor)} floor)`).join(' | ')} |`,
  `| **floor**: changed files, brotli q11 | ${updates.map((u) => `**${kb(u.floor)}**`).join(' | ')} |`,
  `| full zip | ${updates.map((u) => `${kb(u.zip)} (${ratio(u.zip, u.floor)} floor)`).join(' | ')} |`,
  ...paths.map((p) => `| ${p.name} | ${p.bytes.map((b, i) => `${kb(b)} (${ratio(b, updates[i].floor)})`).join(' | ')} |`),
];
console.log(lines.join('\n'));

// The goals: within 10% of the floor on our client and on the capgo lines
// that take per-file brotli copies.
const goal = paths.filter((p) => p.name.includes('8.51.23'));
const misses = goal.flatMap((p) => p.bytes.map((b, i) => [p.name, b / updates[i].floor]).filter(([, r]) => !(r <= 1.1)));
if (updates.some((u) => u.changed === 0)) misses.push(['an update changed no file', 0]);
writeFileSync(join(work, 'updates-results.json'), JSON.stringify(result, null, 2) + '\n');
if (flag('--write-readme')) {
  const readme = join(root, 'bench/README.md');
  const text = readFileSync(readme, 'utf8');
  const block = `<!-- updates:start -->\n${lines.join('\n')}\n<!-- updates:end -->`;
  writeFileSync(readme, text.replace(/<!-- updates:start -->[\s\S]*<!-- updates:end -->/, block));
  writeFileSync(join(root, 'bench/updates-results.json'), JSON.stringify(result, null, 2) + '\n');
}
if (misses.length) {
  console.error(`over 1.1x the floor: ${JSON.stringify(misses)}`);
  process.exit(1);
}
