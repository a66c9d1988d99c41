// Key set vectors written by the Rust side (tests/tests/keyset_vectors.rs):
// the TypeScript verifier must give the same outcome for every one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { KeySetError, ManifestError, allowedKey, parsePublicKey, verifyChain, verifyManifest } from '../dist/index.js';

const dir = fileURLToPath(new URL('../../../tests/vectors/keysets/', import.meta.url));
const files = readdirSync(dir).filter((f) => f.endsWith('.json')).sort();

async function outcome(v) {
  try {
    const pinned = await parsePublicKey(v.pinned_root);
    const { set, state } = await verifyChain(pinned, v.seen, v.chain, v.app_id);
    const key = await allowedKey(set, v.manifest, v.now);
    await verifyManifest(v.manifest, key, { appId: v.app_id, version: v.version });
    assert.ok(state.version >= (v.seen?.version ?? 0));
    return 'ok';
  } catch (e) {
    if (e instanceof KeySetError || e instanceof ManifestError) return e.code;
    throw e;
  }
}

test('there are key set vectors to check', () => {
  assert.ok(files.length >= 10, files.join(', '));
});

for (const name of files) {
  test(`key set vector ${name}`, async () => {
    const v = JSON.parse(readFileSync(dir + name, 'utf8'));
    assert.equal(await outcome(v), v.expect);
  });
}

test('a remembered version is kept after a hand-over, and the old root is no longer enough', async () => {
  const v = JSON.parse(readFileSync(dir + 'rotated-root.json', 'utf8'));
  const pinned = await parsePublicKey(v.pinned_root);
  const { state } = await verifyChain(pinned, null, v.chain, v.app_id);
  assert.notEqual(state.root, v.pinned_root, 'the device now trusts the new root');
  // The same chain again from the remembered state: still fine.
  const again = await verifyChain(pinned, state, v.chain, v.app_id);
  assert.equal(again.state.version, state.version);
  // The pre-hand-over set alone, signed by the old root: refused from that state.
  const old = JSON.parse(readFileSync(dir + 'valid.json', 'utf8'));
  await assert.rejects(verifyChain(pinned, state, old.chain, v.app_id), (e) => e instanceof KeySetError && e.code === 'wrong_root');
});

test('unknown fields and junk are malformed, never a crash', async () => {
  const v = JSON.parse(readFileSync(dir + 'valid.json', 'utf8'));
  const pinned = await parsePublicKey(v.pinned_root);
  const bad = [
    { ...v.chain, extra: 1 },
    { current: { ...v.chain.current, extra: 1 } },
    { current: { payload: '!!', signatures: v.chain.current.signatures } },
    { current: null },
    { rotations: [{ payload: 1 }], current: v.chain.current },
  ];
  for (const chain of bad) {
    await assert.rejects(verifyChain(pinned, null, chain, v.app_id), (e) => e instanceof KeySetError && e.code === 'malformed', JSON.stringify(chain).slice(0, 80));
  }
});
