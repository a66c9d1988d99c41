// The plugin-line rule, case by case, as the Rust side checks it
// (shared/src/capgo.rs, test shared_vectors).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { capgoLine } from '../dist/index.js';

const { cases } = JSON.parse(readFileSync(new URL('../../../tests/vectors/capgo-lines.json', import.meta.url), 'utf8'));

test('every shared plugin-line case', () => {
  assert.ok(cases.length > 20);
  for (const c of cases) {
    const l = capgoLine(c.plugin_version);
    assert.deepEqual(
      { legacy: l.legacy, zip_checksum: l.zipChecksum, keeps_channel_on_device: l.keepsChannelOnDevice, decompresses_brotli: l.decompressesBrotli },
      { legacy: c.legacy, zip_checksum: c.zip_checksum, keeps_channel_on_device: c.keeps_channel_on_device, decompresses_brotli: c.decompresses_brotli },
      JSON.stringify(c.plugin_version),
    );
  }
});
