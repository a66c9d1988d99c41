/**
 * The id and path rules of docs/rules.md, mirrored exactly from the Rust
 * core (shared/src/domain.rs, shared/src/paths/): the same checks, the same
 * collision key, from the same generated Unicode tables. The shared vectors
 * in tests/vectors/rules.json hold both languages to the same answers.
 */
import { CASE_FOLDING, COMBINING_CLASS, DECOMPOSITION } from './unicode-tables.js';

/** The manifest file name, never listed by a manifest. */
export const MANIFEST_FILE_NAME = 'live-update-manifest.json';

/** The app id rule: 1-128 ASCII letters, digits, '.', '_' or '-', the first a letter or digit. Returns why an id is refused, or null. */
export function appIdProblem(id: string): string | null {
  if (typeof id !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/.test(id)) {
    return `invalid app id ${JSON.stringify(id)}: use 1-128 ASCII letters, digits, '.', '_' or '-', starting with a letter or digit`;
  }
  return null;
}

/** The single-path rules; returns why a path is refused, or null. */
export function pathProblem(path: string): string | null {
  if (path.length === 0) return 'is empty';
  if (new TextEncoder().encode(path).length > 1024) return 'is longer than 1024 bytes';
  if (path.includes('\0')) return 'contains a NUL byte';
  if (/[\u0000-\u001f\u007f-\u009f]/.test(path)) return 'contains a control character';
  if (/\p{Cs}/u.test(path)) return 'is not valid Unicode (a lone surrogate)';
  if (path.includes('\\')) return 'contains a backslash';
  if (path.startsWith('/')) return "is absolute (starts with '/')";
  if (/^[A-Za-z]:/.test(path)) return 'starts with a drive letter';
  for (const seg of path.split('/')) {
    if (seg === '') return 'has an empty segment';
    if (seg === '.') return "has a '.' segment";
    if (seg === '..') return "has a '..' segment";
  }
  if (path === MANIFEST_FILE_NAME) return 'is the manifest file itself';
  return null;
}

function parseMap(table: string): Map<number, number[]> {
  const m = new Map<number, number[]>();
  for (const entry of table.split(',')) {
    const [k, v] = entry.split(':') as [string, string];
    m.set(parseInt(k, 16), v.split('.').map((x) => parseInt(x, 16)));
  }
  return m;
}

let tables: { decomp: Map<number, number[]>; fold: Map<number, number[]>; ccc: Map<number, number> } | null = null;
function load() {
  if (!tables) {
    const ccc = new Map<number, number>();
    for (const entry of COMBINING_CLASS.split(',')) {
      const [range, k] = entry.split(':') as [string, string];
      const [a, b] = range.split('-').map((x) => parseInt(x, 16)) as [number, number];
      for (let cp = a; cp <= b; cp++) ccc.set(cp, Number(k));
    }
    tables = { decomp: parseMap(DECOMPOSITION), fold: parseMap(CASE_FOLDING), ccc };
  }
  return tables;
}

/** Canonical decomposition (NFD) over code points, as in Rust's `nfd`. */
function nfd(input: Iterable<number>): number[] {
  const { decomp, ccc } = load();
  const out: number[] = [];
  for (const cp of input) {
    if (cp >= 0xac00 && cp < 0xac00 + 11172) {
      const s = cp - 0xac00;
      out.push(0x1100 + Math.floor(s / 588), 0x1161 + Math.floor((s % 588) / 28));
      if (s % 28 !== 0) out.push(0x11a7 + (s % 28));
    } else {
      const d = decomp.get(cp);
      if (d) out.push(...d);
      else out.push(cp);
    }
  }
  for (let i = 1; i < out.length; i++) {
    const c = ccc.get(out[i]!) ?? 0;
    if (c === 0) continue;
    for (let j = i; j > 0; j--) {
      const p = ccc.get(out[j - 1]!) ?? 0;
      if (p <= c || p === 0) break;
      [out[j - 1], out[j]] = [out[j]!, out[j - 1]!];
    }
  }
  return out;
}

/** The key under which iOS and macOS see a path: NFD(casefold(NFD(p))), full case folding. Paths with equal keys collide. */
export function collisionKey(path: string): string {
  const { fold } = load();
  const folded: number[] = [];
  for (const cp of nfd(Array.from(path, (c) => c.codePointAt(0)!))) {
    const f = fold.get(cp);
    if (f) folded.push(...f);
    else folded.push(cp);
  }
  return String.fromCodePoint(...nfd(folded));
}

/** Why a set of (individually valid) paths cannot all be written to one device, or null. */
export function pathSetProblem(paths: Iterable<string>): string | null {
  const exact = new Set<string>();
  const keys = new Map<string, string>();
  for (const p of paths) {
    if (exact.has(p)) return `lists ${JSON.stringify(p)} more than once`;
    exact.add(p);
    const k = collisionKey(p);
    const other = keys.get(k);
    if (other !== undefined) {
      return `lists ${JSON.stringify(other)} and ${JSON.stringify(p)}, which differ only in letter case or Unicode normalisation and name the same file on iOS and macOS`;
    }
    keys.set(k, p);
  }
  for (const [k, p] of keys) {
    for (let i = k.indexOf('/'); i !== -1; i = k.indexOf('/', i + 1)) {
      const file = keys.get(k.slice(0, i));
      if (file !== undefined) return `lists ${JSON.stringify(file)} as a file and also ${JSON.stringify(p)} inside it`;
    }
  }
  return null;
}

/** File endings that get a brotli copy beside them (shared/src/paths `COMPRESSIBLE_EXTENSIONS`). */
export const COMPRESSIBLE_EXTENSIONS: readonly string[] = [
  'cjs', 'css', 'csv', 'eot', 'htm', 'html', 'ico', 'js', 'json', 'map',
  'md', 'mjs', 'otf', 'svg', 'ts', 'ttf', 'txt', 'wasm', 'webmanifest', 'xml',
];

/** True when a build file at `path` has a `{sha256}.br` copy (the Rust `is_compressible`): by name only, ASCII case-insensitive. */
export function compressible(path: string): boolean {
  const name = path.slice(path.lastIndexOf('/') + 1);
  const dot = name.lastIndexOf('.');
  if (dot <= 0) return false;
  const ext = name.slice(dot + 1).replace(/[A-Z]/g, (c) => c.toLowerCase());
  return COMPRESSIBLE_EXTENSIONS.includes(ext);
}
