// The native plugin boundary, faked: records every call and checks the hash
// of everything it is told to download, as the native code does.
// With `pluginVersion` it also reports that version, and like capgo's
// DownloadService from 5.43.3 / 6.39.0 / 7.0.50 / 8.x it brotli-decompresses
// an entry named `*.br`, saves it without the suffix and checks the hash of
// the result. Requests send `Accept-Encoding: gzip`, as OkHttp does on
// Android; `wireBytes` counts what came over the wire.
import { createHash } from 'node:crypto';
import { brotliDecompressSync } from 'node:zlib';
import { lineOf } from './capgo-emulator.mjs';

const sha = (b) => createHash('sha256').update(b).digest('hex');

export class FakeUpdater {
  constructor(deviceId = 'device-1', { pluginVersion, acceptEncoding = 'gzip', builtin = {} } = {}) {
    // As DownloadService: an entry is taken from the built-in bundle (same
    // name and hash) or the download cache (hash and base name) first.
    this.builtin = builtin;
    this.cache = new Map();
    this.deviceId = deviceId;
    this.calls = [];
    this.cur = { id: 'builtin', version: 'builtin' };
    this.bundles = new Map();
    this.acceptEncoding = acceptEncoding;
    this.wireBytes = 0;
    this.files = {};
    this.brotli = !!pluginVersion && lineOf(pluginVersion).brotli;
    if (pluginVersion) this.getPluginVersion = async () => ({ version: pluginVersion });
  }
  async fetchBytes(url) {
    const r = await fetch(url, { headers: { 'accept-encoding': this.acceptEncoding } });
    if (!r.ok) throw new Error(`download ${url} answered ${r.status}`);
    const body = Buffer.from(await r.arrayBuffer());
    this.wireBytes += Number(r.headers.get('content-length') ?? body.length);
    return body;
  }
  async getDeviceId() { return { deviceId: this.deviceId }; }
  async current() { return { bundle: this.cur, native: '2.0.0' }; }
  async notifyAppReady() { this.calls.push(['notifyAppReady']); }
  async download(opts) {
    this.calls.push(['download', opts]);
    if (opts.manifest) {
      for (const f of opts.manifest) {
        const plainName = this.brotli && f.file_name.endsWith('.br') ? f.file_name.slice(0, -3) : f.file_name;
        const cacheKey = `${f.file_hash}_${plainName.split('/').pop()}`;
        const own = this.builtin[plainName];
        if (own && sha(own) === f.file_hash) { this.files[plainName] = own; continue; }
        if (this.cache.has(cacheKey)) { this.files[plainName] = this.cache.get(cacheKey); continue; }
        let body = await this.fetchBytes(f.download_url);
        let name = f.file_name;
        if (this.brotli && name.endsWith('.br')) {
          body = brotliDecompressSync(body);
          name = name.slice(0, -3);
        }
        if (sha(body) !== f.file_hash) throw new Error(`hash mismatch for ${f.file_name}`);
        this.files[name] = body;
        this.cache.set(cacheKey, body);
      }
    } else {
      const body = await this.fetchBytes(opts.url);
      if (sha(body) !== opts.checksum) throw new Error('checksum mismatch');
    }
    const bundle = { id: `b${this.bundles.size + 1}`, version: opts.version, status: 'pending' };
    this.bundles.set(bundle.id, bundle);
    return bundle;
  }
  async next({ id }) { this.calls.push(['next', id]); return this.bundles.get(id); }
  async set({ id }) { this.calls.push(['set', id]); this.cur = this.bundles.get(id); }
  async reset(o) { this.calls.push(['reset', o]); this.cur = { id: 'builtin', version: 'builtin' }; }
  /** Simulates an app restart that applied the `next` bundle. */
  restartInto(id) { this.cur = this.bundles.get(id); }
  names() { return this.calls.map((c) => c[0]); }
}
