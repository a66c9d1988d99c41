/**
 * @liveship/capacitor: verified live updates from a self-hosted liveship
 * server, applied through the stock @capgo/capacitor-updater plugin
 * (configured with `autoUpdate: false`).
 *
 * The client asks the server, verifies the signed manifest with the public
 * key compiled into the app (or, with a pinned root key, the root-signed key
 * set first, then the manifest with a key it allows), and only then hands
 * the verified file list to the plugin, whose native code downloads each
 * file and checks its hash.
 */
import { ManifestError, appIdProblem, parsePublicKey, verifyManifest } from './manifest.js';
import type { ManifestDocument, PublicKey, VerifiedManifest } from './manifest.js';
import { capgoLine } from './capgo.js';
import type { CapgoLine } from './capgo.js';
import { compressible } from './paths.js';
import { KeySetError, allowedKey, verifyChain } from './keyset.js';
import type { KeySetChain, TrustState } from './keyset.js';

export * from './manifest.js';
export * from './capgo.js';
export * from './keyset.js';

/** The part of @capgo/capacitor-updater this client uses. */
export interface UpdaterPlugin {
  download(options: {
    url: string;
    version: string;
    checksum?: string;
    manifest?: { file_name: string; file_hash: string; download_url: string }[];
  }): Promise<BundleInfo>;
  next(options: { id: string }): Promise<BundleInfo>;
  set(options: { id: string }): Promise<void>;
  reset(options?: { toLastSuccessful?: boolean }): Promise<void>;
  current(): Promise<{ bundle: BundleInfo; native: string }>;
  notifyAppReady(): Promise<unknown>;
  getDeviceId(): Promise<{ deviceId: string }>;
  /** Every release has it; the client refuses the lines that cannot check what it hands them. */
  getPluginVersion?(): Promise<{ version: string }>;
}

export interface BundleInfo {
  id: string;
  version: string;
  status?: string;
}

/** Where the client keeps what it must remember across app starts. */
export interface KeyValueStore {
  get(key: string): string | null | Promise<string | null>;
  set(key: string, value: string | null): void | Promise<void>;
}

export interface LiveshipConfig {
  /** Base URL of the liveship server, such as https://updates.example.com. */
  serverUrl: string;
  appId: string;
  /** Channel to follow (default `production`). */
  channel?: string;
  /**
   * The app's public key (SPKI PEM), for apps that pin one signing key. Null
   * turns signature checks off: never do that in production. Give either
   * this or `rootPublicKey`.
   */
  publicKey?: string | null;
  /**
   * The app's root public key (SPKI PEM, from `liveship keys init-root`):
   * builds must then be signed by a key the root-signed key set allows now,
   * and a key set older than one already seen is refused. Lets the team
   * rotate or revoke the CI key with no store release.
   */
  rootPublicKey?: string;
  /** The clock, in Unix seconds (for tests); default the device's. */
  now?: () => number;
  updater: UpdaterPlugin;
  /** `background`: apply on the next start or when the app goes to the background; `immediate`: now. Mandatory builds always apply now. */
  autoUpdateMethod?: 'background' | 'immediate';
  /**
   * `ios` or `android`: the server offers builds with native-version limits
   * only to devices that say what they run. Default: `Capacitor.getPlatform()`
   * of the Capacitor runtime (none on the web).
   */
  platform?: string;
  /**
   * The native (binary) app version, such as `2.3.0`. Default: the version
   * the updater plugin reports (`current().native`, the app's version name).
   */
  nativeVersion?: string;
  storage?: KeyValueStore;
  fetch?: typeof fetch;
}

export type SyncResult =
  | { status: 'up_to_date' }
  | { status: 'applied' | 'scheduled'; buildId: number; version: string; mandatory: boolean }
  | { status: 'rolled_back_to_builtin' }
  | { status: 'refused'; reason: string; code: string }
  | { status: 'failed'; reason: string };

interface Latest {
  status: 'up_to_date' | 'update_available' | 'rollback_to_builtin';
  build?: { id: number; version: string; mandatory: boolean; artifact_type: 'manifest' | 'zip' };
  manifest?: ManifestDocument;
  zip_url?: string;
  zip_sha256?: string;
  zip_size?: number;
  files?: { base_url: string; key: 'sha256' | 'path'; brotli?: boolean };
  key_set?: KeySetChain;
}

type Event = 'download_complete' | 'applied' | 'failed' | 'rolled_back';

const PENDING = 'liveship.pending';
const REPORTED = 'liveship.reported';
const KEYSET = 'liveship.keyset';

/** The platform the Capacitor runtime reports, if it is a native one. */
export function capacitorPlatform(): string | undefined {
  const cap = (globalThis as { Capacitor?: { getPlatform?: () => string } }).Capacitor;
  const p = cap?.getPlatform?.();
  return p && p !== 'web' ? p : undefined;
}

function memoryStore(): KeyValueStore {
  const m = new Map<string, string>();
  return { get: (k) => m.get(k) ?? null, set: (k, v) => void (v === null ? m.delete(k) : m.set(k, v)) };
}

function defaultStore(): KeyValueStore {
  const ls = (globalThis as { localStorage?: Storage }).localStorage;
  if (!ls) return memoryStore();
  return { get: (k) => ls.getItem(k), set: (k, v) => (v === null ? ls.removeItem(k) : ls.setItem(k, v)) };
}

type Optional = 'platform' | 'nativeVersion' | 'publicKey' | 'rootPublicKey';

export class LiveshipUpdater {
  private readonly cfg: Required<Omit<LiveshipConfig, Optional>> & Pick<LiveshipConfig, Optional>;
  private key: Promise<PublicKey | null>;
  private root: Promise<PublicKey> | null;

  constructor(config: LiveshipConfig) {
    const badId = appIdProblem(config.appId);
    if (badId) throw new Error(badId);
    if (config.rootPublicKey && config.publicKey) {
      throw new Error('give rootPublicKey or publicKey, not both: with a root key, the key set names the signing keys');
    }
    if (config.publicKey === undefined && !config.rootPublicKey) {
      throw new Error('give rootPublicKey (or publicKey, or publicKey: null to turn signature checks off)');
    }
    this.cfg = {
      channel: 'production',
      autoUpdateMethod: 'background',
      storage: defaultStore(),
      fetch: globalThis.fetch.bind(globalThis),
      now: () => Math.floor(Date.now() / 1000),
      ...config,
      serverUrl: config.serverUrl.replace(/\/+$/, ''),
    };
    this.key = config.publicKey ? parsePublicKey(config.publicKey) : Promise.resolve(null);
    this.root = config.rootPublicKey ? parsePublicKey(config.rootPublicKey) : null;
  }

  /**
   * The key that must have signed this manifest: the pinned one, or with a
   * root key, the one the verified key set allows now. The key set's
   * version is remembered, so an older one is never accepted again.
   */
  private async signingKey(latest: Latest): Promise<PublicKey | null> {
    if (!this.root) return this.key;
    const root = await this.root;
    if (!latest.key_set) throw new KeySetError('no_key_set', 'the app pins a root key, but the server sent no key set');
    const raw = await this.cfg.storage.get(KEYSET);
    let seen: TrustState | null = null;
    try {
      const s = raw ? (JSON.parse(raw) as { pinned?: string; root?: string; version?: number }) : null;
      // Remembered under this pinned root only: a new binary with a new root starts afresh.
      if (s && s.pinned === root.keyId && typeof s.root === 'string' && Number.isSafeInteger(s.version)) {
        seen = { root: s.root, version: s.version as number };
      }
    } catch {
      seen = null;
    }
    const { set, state } = await verifyChain(root, seen, latest.key_set, this.cfg.appId);
    if (!seen || state.version !== seen.version || state.root !== seen.root) {
      await this.cfg.storage.set(KEYSET, JSON.stringify({ pinned: root.keyId, ...state }));
    }
    return allowedKey(set, latest.manifest as ManifestDocument, this.cfg.now());
  }

  private async report(buildId: number, event: Event, deviceId: string): Promise<void> {
    try {
      await this.cfg.fetch(`${this.cfg.serverUrl}/v1/apps/${encodeURIComponent(this.cfg.appId)}/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        // The channel, so the console counts the event on the right chart.
        body: JSON.stringify({ device_id: deviceId, build_id: buildId, event, channel: this.cfg.channel }),
      });
    } catch {
      // Reporting is best effort: an update never fails because stats did.
    }
  }

  /**
   * Call once the app has started correctly. Tells the plugin the bundle is
   * good (so it does not roll back), reports `applied` for a new liveship
   * build, and `rolled_back` when the plugin rolled back a pending one.
   */
  async notifyAppReady(): Promise<void> {
    await this.cfg.updater.notifyAppReady();
    const { deviceId } = await this.cfg.updater.getDeviceId();
    const pendingRaw = await this.cfg.storage.get(PENDING);
    if (!pendingRaw) return;
    const pending = JSON.parse(pendingRaw) as { buildId: number; version: string; mode: 'set' | 'next'; starts?: number };
    const { bundle } = await this.cfg.updater.current();
    if (bundle.version === pending.version) {
      if ((await this.cfg.storage.get(REPORTED)) !== String(pending.buildId)) {
        await this.report(pending.buildId, 'applied', deviceId);
        await this.cfg.storage.set(REPORTED, String(pending.buildId));
      }
      await this.cfg.storage.set(PENDING, null);
      return;
    }
    // Not running the pending build. Applied at once ('set'): the plugin
    // rolled it back. Applied on the next start ('next'): it may not have
    // been applied yet, so only a second start without it counts as a rollback.
    const starts = (pending.starts ?? 0) + 1;
    if (pending.mode === 'set' || starts >= 2) {
      await this.report(pending.buildId, 'rolled_back', deviceId);
      await this.cfg.storage.set(PENDING, null);
    } else {
      await this.cfg.storage.set(PENDING, JSON.stringify({ ...pending, starts }));
    }
  }

  /** Asks for an update, verifies it, downloads it through the plugin and applies it per policy. */
  async sync(): Promise<SyncResult> {
    const { updater } = this.cfg;
    const plugin = await this.pluginLine();
    const unsupported = this.unsupportedPlugin(plugin);
    if (unsupported) return { status: 'refused', reason: unsupported, code: 'unsupported_plugin' };
    const { deviceId } = await updater.getDeviceId();
    const { bundle, native } = await updater.current();
    const params = new URLSearchParams({ device_id: deviceId });
    // Builds with native-version limits are offered only to devices that
    // say what they run, so fill both in whenever the runtime knows them.
    const platform = this.cfg.platform ?? capacitorPlatform();
    const nativeVersion = this.cfg.nativeVersion ?? (native || undefined);
    if (platform) params.set('platform', platform);
    if (nativeVersion) params.set('native_version', nativeVersion);
    if (bundle.version && bundle.version !== 'builtin') params.set('current_build', bundle.version);
    const url = `${this.cfg.serverUrl}/v1/apps/${encodeURIComponent(this.cfg.appId)}/channels/${encodeURIComponent(this.cfg.channel)}/latest?${params}`;
    let latest: Latest;
    try {
      const res = await this.cfg.fetch(url);
      if (!res.ok) return { status: 'failed', reason: `lookup answered ${res.status}` };
      latest = (await res.json()) as Latest;
    } catch (e) {
      return { status: 'failed', reason: `lookup failed: ${String(e)}` };
    }
    if (latest.status === 'up_to_date') return { status: 'up_to_date' };
    if (latest.status === 'rollback_to_builtin') {
      await updater.reset({ toLastSuccessful: false });
      return { status: 'rolled_back_to_builtin' };
    }
    const build = latest.build;
    if (latest.status !== 'update_available' || !build || !latest.manifest) {
      return { status: 'failed', reason: 'unexpected answer from the server' };
    }
    let verified: VerifiedManifest;
    try {
      verified = await verifyManifest(latest.manifest, await this.signingKey(latest), { appId: this.cfg.appId, version: build.version });
    } catch (e) {
      const err = e instanceof ManifestError || e instanceof KeySetError ? e : new ManifestError('malformed', String(e));
      await this.report(build.id, 'failed', deviceId);
      return { status: 'refused', reason: err.message, code: err.code };
    }
    const download = this.downloadRequest(latest, verified, plugin?.line.decompressesBrotli ?? false);
    if ('refused' in download) {
      await this.report(build.id, 'failed', deviceId);
      return { status: 'refused', reason: download.refused, code: 'bad_zip_hash' };
    }
    let downloaded: BundleInfo;
    try {
      downloaded = await updater.download({ ...download, version: build.version });
    } catch (e) {
      await this.report(build.id, 'failed', deviceId);
      return { status: 'failed', reason: `download failed: ${String(e)}` };
    }
    await this.report(build.id, 'download_complete', deviceId);
    const now = build.mandatory || this.cfg.autoUpdateMethod === 'immediate';
    await this.cfg.storage.set(PENDING, JSON.stringify({ buildId: build.id, version: build.version, mode: now ? 'set' : 'next' }));
    if (now) {
      await updater.set({ id: downloaded.id });
      return { status: 'applied', buildId: build.id, version: build.version, mandatory: build.mandatory };
    }
    await updater.next({ id: downloaded.id });
    return { status: 'scheduled', buildId: build.id, version: build.version, mandatory: build.mandatory };
  }

  /** The plugin's line, from its version (null when it does not say). */
  private async pluginLine(): Promise<{ version: string; line: CapgoLine } | null> {
    const get = this.cfg.updater.getPluginVersion;
    if (typeof get !== 'function') return null;
    try {
      const version = (await get.call(this.cfg.updater)).version;
      return { version, line: capgoLine(version) };
    } catch {
      return null;
    }
  }

  /**
   * Legacy plugin lines check a zip only against a CRC-32 and ignore
   * `manifest`: handed a verified file list or a SHA-256 they would install
   * unchecked bytes, or fail every time. Refuse them, saying what to do.
   */
  private unsupportedPlugin(plugin: { version: string; line: CapgoLine } | null): string | null {
    if (!plugin?.line.legacy) return null;
    return `@capgo/capacitor-updater ${plugin.version} checks downloads with CRC-32 only and cannot verify what this client hands it; upgrade the plugin to 5.10.0, 6.25.0 or 7.0.30 or later in its line (8.x for Capacitor 8)`;
  }

  /**
   * What to hand the plugin: the verified file list (the plugin downloads
   * only files it lacks and checks each hash), or for zip builds the zip
   * with the SHA-256 from the signed manifest. A plugin line that
   * decompresses `*.br` entries itself gets each text file's brotli copy
   * (when the server says the build has them), named `<path>.br`: it saves
   * the file without the suffix and checks the signed hash of the result.
   */
  private downloadRequest(
    latest: Latest,
    verified: VerifiedManifest,
    pluginDecompressesBrotli: boolean,
  ): { url: string; checksum?: string; manifest?: { file_name: string; file_hash: string; download_url: string }[] } | { refused: string } {
    const m = verified.manifest;
    if (latest.build?.artifact_type === 'zip') {
      const signed = m.zip?.sha256;
      if (!latest.zip_url || !signed) return { refused: 'zip build without a signed zip hash' };
      if (latest.zip_sha256 && latest.zip_sha256 !== signed) return { refused: 'the server named another zip hash than the signed one' };
      return { url: latest.zip_url, checksum: signed };
    }
    // The capgo plugin brotli-decompresses a listed file whose name ends in
    // `.br` and checks the hash of the result: such builds go as the zip,
    // checked against the zip hash in the signed manifest.
    if (m.files.some((f) => f.path.endsWith('.br'))) {
      const signed = m.zip?.sha256;
      if (!latest.zip_url || !signed) return { refused: 'a build with .br files needs its signed zip' };
      return { url: latest.zip_url, checksum: signed };
    }
    const src = latest.files;
    if (!src) return { refused: 'no file source in the answer' };
    const copies = pluginDecompressesBrotli && src.key === 'sha256' && src.brotli === true;
    const manifest = m.files.map((f) => {
      const url = src.base_url + (src.key === 'path' ? f.path.split('/').map(encodeURIComponent).join('/') : f.sha256);
      return copies && compressible(f.path)
        ? { file_name: `${f.path}.br`, file_hash: f.sha256, download_url: `${url}.br` }
        : { file_name: f.path, file_hash: f.sha256, download_url: url };
    });
    return { url: latest.zip_url ?? src.base_url, manifest };
  }
}
