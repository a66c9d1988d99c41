// The native plugin boundary, faked: records every call and checks the hash
// of everything it is told to download, as the native code does.
import { createHash } from 'node:crypto';

const sha = (b) => createHash('sha256').update(b).digest('hex');

export class FakeUpdater {
  constructor(deviceId = 'device-1') {
    this.deviceId = deviceId;
    this.calls = [];
    this.cur = { id: 'builtin', version: 'builtin' };
    this.bundles = new Map();
  }
  async getDeviceId() { return { deviceId: this.deviceId }; }
  async current() { return { bundle: this.cur, native: '2.0.0' }; }
  async notifyAppReady() { this.calls.push(['notifyAppReady']); }
  async download(opts) {
    this.calls.push(['download', opts]);
    if (opts.manifest) {
      for (const f of opts.manifest) {
        const body = Buffer.from(await (await fetch(f.download_url)).arrayBuffer());
        if (sha(body) !== f.file_hash) throw new Error(`hash mismatch for ${f.file_name}`);
      }
    } else {
      const body = Buffer.from(await (await fetch(opts.url)).arrayBuffer());
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
