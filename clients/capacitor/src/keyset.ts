/**
 * Key sets, verified on the device: the app pins an offline root key; the
 * root signs a versioned list of the signing keys CI may use, with validity
 * windows and revocations. Same format and rules as the Rust
 * implementation (liveship_core::keyset, docs/security.md); the vectors in
 * tests/vectors/keysets hold both to the same answers.
 */
import { verifyAsync } from '@noble/ed25519';
import { appIdProblem } from './paths.js';
import { fromBase64, parsePublicKey } from './manifest.js';
import type { ManifestDocument, PublicKey } from './manifest.js';

/** A key's `not_before` is honoured this many seconds early (a device clock a little behind). */
export const CLOCK_SKEW_SECONDS = 600;
const MAX_KEYS = 64;
const MAX_REVOKED = 1024;
const MAX_SIGNATURES = 4;
const MAX_ROTATIONS = 64;
const HEX64 = /^[0-9a-f]{64}$/;

export interface SignatureBlock {
  alg: string;
  key_id: string;
  sig: string;
}

export interface KeySetDocument {
  payload: string;
  signatures: SignatureBlock[];
}

export interface KeySetChain {
  rotations?: KeySetDocument[];
  current: KeySetDocument;
}

export interface DelegatedKey {
  public_key: string;
  not_before: number;
  not_after?: number;
  name?: string;
}

export interface KeySet {
  type: 'liveship-keyset';
  schema: 1;
  app_id: string;
  version: number;
  root: string;
  issued_at: number;
  keys: DelegatedKey[];
  revoked: string[];
}

/** What the device remembers of the last set it accepted. */
export interface TrustState {
  root: string;
  version: number;
}

export type KeySetErrorCode =
  | 'malformed'
  | 'wrong_root'
  | 'bad_signature'
  | 'bad_rotation'
  | 'rollback'
  | 'app_mismatch'
  | 'revoked'
  | 'expired'
  | 'not_yet_valid'
  | 'key_not_in_set'
  | 'unsigned'
  | 'no_key_set';

/** A key set, or a build under it, refused; `code` is the Rust `KeySetError::code`. */
export class KeySetError extends Error {
  constructor(
    public readonly code: KeySetErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'KeySetError';
  }
}

const malformed = (m: string) => new KeySetError('malformed', `not a valid key set: ${m}`);

function onlyFields(o: object, allowed: string[], what: string): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) throw malformed(`${what} has an unknown field ${JSON.stringify(k)}`);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isInt = (v: unknown): v is number => Number.isSafeInteger(v);

async function keyOf(pem: unknown, what: string): Promise<PublicKey> {
  if (typeof pem !== 'string') throw malformed(`${what} is not a PEM string`);
  try {
    return await parsePublicKey(pem);
  } catch (e) {
    throw malformed(`${what}: ${e instanceof Error ? e.message : String(e)}`);
  }
}

/** Parses and checks a payload exactly as the Rust `KeySet` does (unknown fields refused). */
async function parseKeySet(bytes: Uint8Array): Promise<KeySet> {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw malformed('its payload is not JSON');
  }
  if (!isObject(v)) throw malformed('its payload is not an object');
  onlyFields(v, ['type', 'schema', 'app_id', 'version', 'root', 'issued_at', 'keys', 'revoked'], 'the payload');
  if (v.type !== 'liveship-keyset') throw malformed(`its type is ${JSON.stringify(v.type)}, expected "liveship-keyset"`);
  if (v.schema !== 1) throw malformed(`schema ${String(v.schema)} is not supported`);
  if (typeof v.app_id !== 'string' || appIdProblem(v.app_id) !== null) throw malformed('its app id is invalid');
  if (!isInt(v.version) || v.version < 0) throw malformed('its version is not a whole number');
  if (v.version === 0) throw malformed('versions start at 1');
  if (!isInt(v.issued_at)) throw malformed('issued_at is not a whole number');
  if (!Array.isArray(v.keys)) throw malformed('keys is not a list');
  const revoked = v.revoked ?? [];
  if (!Array.isArray(revoked) || !revoked.every((r) => typeof r === 'string' && HEX64.test(r))) {
    throw malformed('revoked is not a list of key ids');
  }
  const root = await keyOf(v.root, 'its root');
  if (v.keys.length > MAX_KEYS) throw malformed(`it names more than ${MAX_KEYS} keys`);
  if (revoked.length > MAX_REVOKED) throw malformed(`it revokes more than ${MAX_REVOKED} keys`);
  const seen = new Set<string>();
  for (const k of v.keys as unknown[]) {
    if (!isObject(k)) throw malformed('a delegated key is not an object');
    onlyFields(k, ['public_key', 'not_before', 'not_after', 'name'], 'a delegated key');
    const key = await keyOf(k.public_key, 'a delegated key');
    if (!isInt(k.not_before)) throw malformed('a not_before is not a whole number');
    if (k.not_after !== undefined && !isInt(k.not_after)) throw malformed('a not_after is not a whole number');
    if (k.name !== undefined && typeof k.name !== 'string') throw malformed('a key name is not a string');
    const id = key.keyId;
    if (id === root.keyId) throw malformed('the root key is delegated as a signing key');
    if (revoked.includes(id)) throw malformed(`key ${id} is both delegated and revoked`);
    if (seen.has(id)) throw malformed(`key ${id} is named twice`);
    seen.add(id);
    if (k.not_after !== undefined && (k.not_after as number) <= (k.not_before as number)) {
      throw malformed(`key ${id} expires before it is valid`);
    }
    if (typeof k.name === 'string' && ([...k.name].length > 128 || /\p{Cc}/u.test(k.name))) {
      throw malformed('a key name is longer than 128 characters or holds control characters');
    }
  }
  if (new Set(revoked).size !== revoked.length) throw malformed('a key id is revoked twice');
  return { ...(v as unknown as KeySet), revoked: revoked as string[] };
}

function checkDocument(doc: unknown): asserts doc is KeySetDocument {
  if (!isObject(doc)) throw malformed('not a key set document');
  onlyFields(doc, ['payload', 'signatures'], 'the document');
  if (typeof doc.payload !== 'string' || !Array.isArray(doc.signatures)) throw malformed('not a key set document');
  for (const s of doc.signatures as unknown[]) {
    if (!isObject(s)) throw malformed('a signature is not an object');
    onlyFields(s, ['alg', 'key_id', 'sig'], 'a signature');
    if (typeof s.alg !== 'string' || typeof s.key_id !== 'string' || !HEX64.test(s.key_id) || typeof s.sig !== 'string') {
      throw malformed('a signature is malformed');
    }
  }
}

function b64(s: string, what: string): Uint8Array {
  try {
    return fromBase64(s);
  } catch {
    throw malformed(`${what} is not base64`);
  }
}

/** True when `key` signed `doc`'s payload; false when it did not sign at all or the signature fails. */
async function signedBy(doc: KeySetDocument, key: PublicKey): Promise<boolean> {
  const sig = doc.signatures.find((s) => s.key_id === key.keyId);
  if (!sig) return false;
  if (sig.alg !== 'ed25519') throw malformed(`signature algorithm ${JSON.stringify(sig.alg)} is not supported`);
  const bytes = b64(sig.sig, 'a signature');
  if (bytes.length !== 64) return false;
  const payload = b64(doc.payload, 'its payload');
  try {
    return await verifyAsync(bytes, payload, key.raw, { zip215: false });
  } catch {
    return false;
  }
}

/** The payload once `trusted` signed it; parsed only after that. */
async function open(doc: unknown, trusted: PublicKey): Promise<KeySet> {
  checkDocument(doc);
  if (doc.signatures.length > MAX_SIGNATURES) throw malformed(`it carries more than ${MAX_SIGNATURES} signatures`);
  if (!doc.signatures.some((s) => s.key_id === trusted.keyId)) {
    throw new KeySetError(
      'wrong_root',
      `the key set is not signed by the app's root key ${trusted.keyId} (signed by: ${doc.signatures.map((s) => s.key_id).join(', ')})`,
    );
  }
  if (!(await signedBy(doc, trusted))) {
    throw new KeySetError('bad_signature', "the key set's root signature is not valid for its contents: it was altered after signing");
  }
  return parseKeySet(b64(doc.payload, 'its payload'));
}

async function handOver(doc: KeySetDocument, set: KeySet, trusted: PublicKey): Promise<PublicKey> {
  const root = await keyOf(set.root, 'its root');
  if (root.keyId === trusted.keyId) return root;
  if (await signedBy(doc, root)) return root;
  throw new KeySetError('bad_rotation', `the key set hands over to root ${root.keyId} without that root's signature`);
}

/**
 * Verifies a chain from the pinned root (or the root and version in
 * `seen`), through every root hand-over not yet taken, to the current set,
 * which must not be older than `seen`. Hand-overs the trusted root did not
 * sign are skipped (history from before it, or junk).
 */
export async function verifyChain(
  pinnedRoot: PublicKey,
  seen: TrustState | null,
  chain: KeySetChain,
  appId: string,
): Promise<{ set: KeySet; state: TrustState }> {
  if (!isObject(chain) || !isObject(chain.current)) throw malformed('not a key set chain');
  onlyFields(chain, ['rotations', 'current'], 'the chain');
  const rotations = chain.rotations ?? [];
  if (!Array.isArray(rotations)) throw malformed('rotations is not a list');
  // As Rust reads the whole chain before judging it: a malformed document
  // anywhere refuses the chain, even one that would be skipped.
  rotations.forEach((d) => checkDocument(d));
  checkDocument(chain.current);
  let trusted = seen ? await keyOf(seen.root, 'the remembered root') : pinnedRoot;
  let seenVersion = seen ? seen.version : 0;
  if (rotations.length > MAX_ROTATIONS) throw malformed(`it carries more than ${MAX_ROTATIONS} root hand-overs`);
  const sameApp = (set: KeySet) => {
    if (set.app_id !== appId) throw new KeySetError('app_mismatch', `the key set is for app ${set.app_id}, expected ${appId}`);
  };
  for (const doc of rotations) {
    let set: KeySet;
    try {
      set = await open(doc, trusted);
    } catch {
      continue;
    }
    if (set.version <= seenVersion) continue;
    sameApp(set);
    trusted = await handOver(doc, set, trusted);
    seenVersion = set.version;
  }
  const set = await open(chain.current, trusted);
  sameApp(set);
  if (set.version < seenVersion) {
    throw new KeySetError('rollback', `key set version ${set.version} is older than version ${seenVersion}, already accepted: an old key set was replayed`);
  }
  // Throws unless the set keeps the trusted root or hands over properly.
  await handOver(chain.current, set, trusted);
  return { set, state: { root: set.root, version: set.version } };
}

/** Where a delegated key stands at `now` (Unix seconds). */
export function keyStatus(key: DelegatedKey, now: number): 'valid' | 'not_yet_valid' | 'expired' {
  if (now + CLOCK_SKEW_SECONDS < key.not_before) return 'not_yet_valid';
  if (key.not_after !== undefined && now >= key.not_after) return 'expired';
  return 'valid';
}

/** The key the manifest was signed by, if `set` lets it sign builds at `now`. */
export async function allowedKey(set: KeySet, doc: ManifestDocument, now: number): Promise<PublicKey> {
  const id = doc?.signature?.key_id;
  if (!id) throw new KeySetError('unsigned', 'the manifest is not signed, but the app has a key set');
  if (set.revoked.includes(id)) throw new KeySetError('revoked', `the build is signed by key ${id}, which the app's key set revokes`);
  for (const k of set.keys) {
    const key = await parsePublicKey(k.public_key);
    if (key.keyId !== id) continue;
    const status = keyStatus(k, now);
    if (status === 'not_yet_valid') throw new KeySetError('not_yet_valid', `the build is signed by key ${id}, valid only from ${k.not_before}`);
    if (status === 'expired') throw new KeySetError('expired', `the build is signed by key ${id}, which expired at ${k.not_after}`);
    return key;
  }
  throw new KeySetError('key_not_in_set', `the build is signed by key ${id}, which is not in the app's key set (version ${set.version})`);
}
