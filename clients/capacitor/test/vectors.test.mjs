// Manifests signed by the Rust CLI verify here; tampered ones are refused
// with the same outcome the Rust verifier gives (tests/tests/vectors.rs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ManifestError, parsePublicKey, pathProblem, verifyManifest } from '../dist/index.js';

const dir = fileURLToPath(new URL('../../../tests/vectors/', import.meta.url));
const expected = JSON.parse(readFileSync(dir + 'expected.json', 'utf8'));
const key = await parsePublicKey(readFileSync(dir + 'public.pem', 'utf8'));

for (const [name, outcome] of Object.entries(expected.vectors)) {
  test(`vector ${name}: ${outcome}`, async () => {
    const doc = JSON.parse(readFileSync(dir + name, 'utf8'));
    const run = verifyManifest(doc, key, { appId: expected.app_id, version: expected.version });
    if (outcome === 'ok') {
      const v = await run;
      assert.equal(v.keyId, key.keyId);
      assert.equal(v.manifest.app_id, expected.app_id);
      assert.ok(v.manifest.files.length > 0);
    } else {
      await assert.rejects(run, (e) => e instanceof ManifestError && e.code === outcome);
    }
  });
}

test('the key id is the SHA-256 of the SPKI DER, as in Rust', async () => {
  const doc = JSON.parse(readFileSync(dir + 'valid.json', 'utf8'));
  assert.equal(doc.signature.key_id, key.keyId);
});

test('binding: a valid signature for another app or version is refused', async () => {
  const doc = JSON.parse(readFileSync(dir + 'valid.json', 'utf8'));
  await assert.rejects(verifyManifest(doc, key, { appId: 'com.other' }), (e) => e.code === 'app_mismatch');
  await assert.rejects(verifyManifest(doc, key, { version: '9.9.9' }), (e) => e.code === 'version_mismatch');
});

test('without a key only the rules are checked', async () => {
  const unsigned = JSON.parse(readFileSync(dir + 'unsigned.json', 'utf8'));
  const v = await verifyManifest(unsigned, null);
  assert.equal(v.keyId, null);
  const traversal = JSON.parse(readFileSync(dir + 'traversal.json', 'utf8'));
  await assert.rejects(verifyManifest(traversal, null), (e) => e.code === 'bad_path');
});

test('path rules match the Rust ones', () => {
  for (const ok of ['index.html', 'a/b/c.js', '.well-known/x', 'a..b', 'ünï/文件.css']) {
    assert.equal(pathProblem(ok), null, ok);
  }
  for (const bad of ['', '/etc/passwd', '../x', 'a/../b', 'a\\b', 'C:/x', 'a\0b', 'a\nb', './a', 'a//b', 'a/', 'live-update-manifest.json']) {
    assert.notEqual(pathProblem(bad), null, JSON.stringify(bad));
  }
});

test('wrong key types are refused', async () => {
  const rsa = readFileSync(fileURLToPath(new URL('../../../tests/fixtures/rsa_public.pem', import.meta.url)), 'utf8');
  await assert.rejects(parsePublicKey(rsa), (e) => e.code === 'bad_key');
  await assert.rejects(parsePublicKey('hello'), (e) => e.code === 'bad_key');
});
