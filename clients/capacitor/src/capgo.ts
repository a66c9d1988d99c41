/**
 * What each release line of the stock @capgo/capacitor-updater plugin
 * verifies, from its version: the same rule as the server's
 * (liveship_core::capgo, shared/src/capgo.rs), held to it by
 * tests/vectors/capgo-lines.json. Read from the plugins' native sources;
 * the table per line is in docs/capacitor.md.
 */
export interface CapgoLine {
  /** 4.x, 5 < 5.10.0, 6 < 6.25.0, 7 < 7.0.30, and npm's 9.0.0 / 10.0.0 (Capacitor 5 code). */
  legacy: boolean;
  /** What the line computes over a downloaded zip. */
  zipChecksum: 'crc32' | 'sha256';
  /** True when `download({manifest})` fetches and checks each file (SHA-256). */
  readsManifest: boolean;
  /** True when the line keeps a self-assigned channel on the device (5.34.0, 6.34.0, 7.34.0, 8.0.0 on). */
  keepsChannelOnDevice: boolean;
  /** True when a per-file entry named `*.br` is brotli-decompressed and checked after (5.43.3, 6.39.0, 7.0.50, 8.x on). */
  decompressesBrotli: boolean;
}

function parse(v: string | null | undefined): [number, number, number] | null {
  const core = (v ?? '').trim().replace(/^v+/, '').split(/[-+]/)[0] ?? '';
  const parts = core.split('.');
  if (parts.length === 0 || parts.length > 3 || !parts.every((p) => /^\d+$/.test(p))) return null;
  const n = parts.map(Number);
  return [n[0] ?? 0, n[1] ?? 0, n[2] ?? 0];
}

const atLeast = (v: [number, number, number], min: [number, number, number]): boolean => {
  for (let i = 0; i < 3; i++) if (v[i] !== min[i]) return (v[i] ?? 0) > (min[i] ?? 0);
  return true;
};

/** The line of a plugin version (missing or unparsable: the oldest behaviour). */
export function capgoLine(pluginVersion: string | null | undefined): CapgoLine {
  const v = parse(pluginVersion);
  let legacy: boolean;
  let local = false;
  let brotli = false;
  if (!v) legacy = true;
  else {
    const [major, minor, patch] = v;
    if (major <= 4) legacy = true;
    else if (major === 5) legacy = !atLeast(v, [5, 10, 0]);
    else if (major === 6) legacy = !atLeast(v, [6, 25, 0]);
    else if (major === 7) legacy = !atLeast(v, [7, 0, 30]);
    else if (major === 9 || major === 10) legacy = minor === 0 && patch === 0;
    else legacy = false;
    if (!legacy) {
      if (major === 5) local = atLeast(v, [5, 34, 0]);
      else if (major === 6) local = atLeast(v, [6, 34, 0]);
      else if (major === 7) local = atLeast(v, [7, 34, 0]);
      else local = major >= 8;
    }
    if (major === 5) brotli = atLeast(v, [5, 43, 3]);
    else if (major === 6) brotli = atLeast(v, [6, 39, 0]);
    else if (major === 7) brotli = atLeast(v, [7, 0, 50]);
    else if (major === 8) brotli = true;
    else if (major === 9 || major === 10) brotli = !legacy;
    else brotli = major > 10;
  }
  return { legacy, zipChecksum: legacy ? 'crc32' : 'sha256', readsManifest: !legacy, keepsChannelOnDevice: local, decompressesBrotli: brotli };
}
