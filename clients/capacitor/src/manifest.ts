/**
 * The signed manifest, verified on the device. Same format and rules as the
 * Rust implementation (docs/manifest.md): the signature covers the exact
 * payload bytes, which are parsed only after it checks out.
 */
import { verifyAsync } from '@noble/ed25519';
import { appIdProblem, pathProblem, pathSetProblem } from './paths.js';

export { appIdProblem, collisionKey, compressible, COMPRESSIBLE_EXTENSIONS, MANIFEST_FILE_NAME, pathProblem, pathSetProblem } from './paths.js';

export interface FileEntry {
  path: string;
  sha256: string;
  size: number;
}

export interface Manifest {
  type: 'liveship-manifest';
  schema: 1;
  app_id?: string;
  version?: string;
  files: FileEntry[];
  zip?: { sha256: string; size: number };
}

export interface ManifestDocument {
  payload: string;
  signature: { alg: string; key_id: string; sig: string } | null;
}

/** A manifest that failed verification; `code` is stable, `message` says why. */
export class ManifestError extends Error {
  constructor(
    public readonly code:
      | 'unsigned'
      | 'bad_signature'
      | 'unknown_key'
      | 'bad_key'
      | 'malformed'
      | 'bad_path'
      | 'app_mismatch'
      | 'version_mismatch',
    message: string,
  ) {
    super(message);
    this.name = 'ManifestError';
  }
}

const SPKI_ED25519_PREFIX = [0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00];
const HEX64 = /^[0-9a-f]{64}$/;

/** Strict standard base64 (padding required), as the Rust side decodes it. */
export function fromBase64(s: string): Uint8Array {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) {
    throw new ManifestError('malformed', 'not valid base64');
  }
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function toHex(bytes: ArrayBuffer | Uint8Array): string {
  return Array.from(new Uint8Array(bytes), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** SHA-256 as lowercase hex (WebCrypto: available in Capacitor web views and Node). */
export async function sha256Hex(data: Uint8Array): Promise<string> {
  return toHex(await globalThis.crypto.subtle.digest('SHA-256', data as BufferSource));
}

/** An Ed25519 public key from SPKI PEM (`-----BEGIN PUBLIC KEY-----`). */
export interface PublicKey {
  raw: Uint8Array;
  /** Lowercase hex SHA-256 of the DER SubjectPublicKeyInfo. */
  keyId: string;
}

export async function parsePublicKey(pem: string): Promise<PublicKey> {
  const m = /-----BEGIN PUBLIC KEY-----([\s\S]*?)-----END PUBLIC KEY-----/.exec(pem.replace(/\\n/g, '\n'));
  if (!m || m[1] === undefined) {
    throw new ManifestError('bad_key', 'the public key must be SPKI PEM (-----BEGIN PUBLIC KEY-----)');
  }
  const der = fromBase64(m[1].replace(/\s+/g, ''));
  if (der.length !== 44 || !SPKI_ED25519_PREFIX.every((b, i) => der[i] === b)) {
    throw new ManifestError('bad_key', 'the public key is not an Ed25519 key');
  }
  return { raw: der.slice(12), keyId: await sha256Hex(der) };
}

function parsePayload(bytes: Uint8Array): Manifest {
  let m: unknown;
  try {
    m = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch {
    throw new ManifestError('malformed', 'the manifest payload is not JSON');
  }
  const man = m as Manifest;
  if (typeof man !== 'object' || man === null || man.type !== 'liveship-manifest' || man.schema !== 1 || !Array.isArray(man.files)) {
    throw new ManifestError('malformed', 'not a liveship manifest (schema 1)');
  }
  if (man.app_id !== undefined && appIdProblem(man.app_id) !== null) {
    throw new ManifestError('malformed', `the manifest's ${appIdProblem(man.app_id)}`);
  }
  for (const f of man.files) {
    if (typeof f?.path !== 'string' || typeof f.sha256 !== 'string' || !HEX64.test(f.sha256) || !Number.isSafeInteger(f.size) || f.size < 0) {
      throw new ManifestError('malformed', 'a file entry is malformed');
    }
    const why = pathProblem(f.path);
    if (why) throw new ManifestError('bad_path', `path ${JSON.stringify(f.path)} ${why}`);
  }
  const clash = pathSetProblem(man.files.map((f) => f.path));
  if (clash) throw new ManifestError('bad_path', `the manifest ${clash}`);
  return man;
}

/** A manifest whose signature checked out (or, without a key, only parsed). */
export interface VerifiedManifest {
  manifest: Manifest;
  /** The signing key, or null when no public key is configured. */
  keyId: string | null;
}

/**
 * Verifies a manifest document: with a key, the signature must be present,
 * by that key, and valid over the exact payload bytes (strict RFC 8032);
 * then the payload must follow every rule, and name the expected app and
 * version.
 */
export async function verifyManifest(
  doc: ManifestDocument,
  publicKey: PublicKey | null,
  expect: { appId?: string; version?: string } = {},
): Promise<VerifiedManifest> {
  if (typeof doc !== 'object' || doc === null || typeof doc.payload !== 'string') {
    throw new ManifestError('malformed', 'not a manifest document');
  }
  const payload = fromBase64(doc.payload);
  let keyId: string | null = null;
  if (publicKey) {
    const sig = doc.signature;
    if (!sig) throw new ManifestError('unsigned', 'the manifest is not signed, but the app requires a signature');
    if (sig.alg !== 'ed25519') throw new ManifestError('bad_signature', `unsupported signature algorithm ${sig.alg}`);
    if (sig.key_id !== publicKey.keyId) {
      throw new ManifestError('unknown_key', `signed by key ${sig.key_id}, not by the app's key ${publicKey.keyId}`);
    }
    const sigBytes = fromBase64(sig.sig);
    let ok = false;
    try {
      ok = sigBytes.length === 64 && (await verifyAsync(sigBytes, payload, publicKey.raw, { zip215: false }));
    } catch {
      ok = false;
    }
    if (!ok) throw new ManifestError('bad_signature', 'the signature does not match the manifest: it was altered');
    keyId = publicKey.keyId;
  }
  const manifest = parsePayload(payload);
  if (expect.appId !== undefined && manifest.app_id !== undefined && manifest.app_id !== expect.appId) {
    throw new ManifestError('app_mismatch', `the manifest is for app ${manifest.app_id}, not ${expect.appId}`);
  }
  if (expect.appId !== undefined && publicKey && manifest.app_id === undefined) {
    throw new ManifestError('app_mismatch', 'the signed manifest does not name its app');
  }
  if (expect.version !== undefined && manifest.version !== expect.version) {
    throw new ManifestError('version_mismatch', `the manifest is for version ${manifest.version}, not ${expect.version}`);
  }
  return { manifest, keyId };
}
