// The id and path rules of docs/rules.md hold here exactly as in Rust: the
// same answers for tests/vectors/rules.json, and the same collision key for
// every Unicode code point (the digest tests/tests/vectors.rs checks too).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { appIdProblem, collisionKey, compressible, pathProblem, pathSetProblem, LiveshipUpdater } from '../dist/index.js';

const rules = JSON.parse(readFileSync(fileURLToPath(new URL('../../../tests/vectors/rules.json', import.meta.url)), 'utf8'));

test('app ids: the same answers as Rust', () => {
  for (const id of rules.app_ids.ok) assert.equal(appIdProblem(id), null, JSON.stringify(id));
  for (const id of rules.app_ids.bad) assert.notEqual(appIdProblem(id), null, JSON.stringify(id));
});

test('the client refuses an app id that breaks the rule', () => {
  assert.throws(() => new LiveshipUpdater({ serverUrl: 'http://x', appId: '..', publicKey: null, updater: {} }), /invalid app id/);
});

test('single paths: the same answers as Rust', () => {
  for (const p of rules.paths.ok) assert.equal(pathProblem(p), null, JSON.stringify(p));
  for (const p of rules.paths.bad) assert.notEqual(pathProblem(p), null, JSON.stringify(p));
});

test('path sets: the same collisions as Rust', () => {
  for (const c of rules.path_sets) {
    assert.equal(pathSetProblem(c.paths) === null, c.ok, JSON.stringify(c.paths));
  }
});

test('every code point has the same collision key as in Rust', () => {
  const h = createHash('sha256');
  const sep = Buffer.from([0xff]);
  for (let cp = 0; cp <= 0x10ffff; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    h.update(Buffer.from(collisionKey(String.fromCodePoint(cp)), 'utf8'));
    h.update(sep);
  }
  assert.equal(h.digest('hex'), rules.key_digest);
});

test('compressible files: the same answers as Rust', () => {
  assert.ok(rules.compressible.yes.length > 0 && rules.compressible.no.length > 0);
  for (const p of rules.compressible.yes) assert.equal(compressible(p), true, JSON.stringify(p));
  for (const p of rules.compressible.no) assert.equal(compressible(p), false, JSON.stringify(p));
});
