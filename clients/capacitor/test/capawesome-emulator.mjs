// A device running the stock @capawesome/capacitor-live-update plugin (8.x)
// with `serverDomain` pointed at liveship, emulated from its native sources
// (android/ LiveUpdate.java, LiveUpdateHttpClient.java, classes/api/*;
// ios/ LiveUpdate.swift mirrors them). The code paths followed:
//   - fetchLatestBundle: GET https://{serverDomain}/v1/apps/{appId}/bundles/latest
//     ?appVersionCode&appVersionName&bundleId&channelName&customId&deviceId
//     &osVersion&platform(0 Android, 1 iOS)&pluginVersion; any non-2xx
//     answer is "no update";
//   - sync: a blocked bundle id (rolled back before) is skipped; a bundle
//     already on the device is set as next; else it is downloaded:
//     zip: verifyFile(zip, checksum ?? X-Checksum, signature ?? X-Signature):
//       with `publicKey` configured the signature is required and checked
//       (SHA256withRSA, base64); otherwise the SHA-256 `checksum`, when
//       there is one; then unzipped;
//     manifest: `url?href=capawesome-live-update-manifest.json` (verified
//       the same way, from headers), then every file not in the running
//       bundle (by checksum) from `url?href=<path>` (redirects followed),
//       verified only through X-Checksum / X-Signature headers;
//   - ready(): not called within readyTimeout => rollback, and the bundle
//     id is blocked (autoBlockRolledBackBundles);
//   - fetchChannels: GET .../v1/apps/{appId}/channels?limit&offset&query,
//     `[{id, name}]`; setChannel only stores the name on the device.
// `server` stands in for https://{serverDomain} (the plugin forces https on
// port 443; the tests run the server on loopback HTTP).
import { createHash, verify } from 'node:crypto';
import { unzip } from './capgo-emulator.mjs';

const sha256 = (b) => createHash('sha256').update(b).digest('hex');
const MANIFEST = 'capawesome-live-update-manifest.json';

export class CapawesomeDevice {
  constructor(o) {
    this.o = { deviceId: 'device-1', platform: 'android', versionName: '2.0.0', publicKey: null, pluginVersion: '8.4.3', ...o };
    this.current = null; // null: the built-in bundle
    this.next = null;
    this.bundles = new Map(); // id -> {files, manifest}
    this.blocked = new Set();
    this.channel = o.channel ?? null;
  }

  async get(url) {
    // OkHttp on Android asks for gzip only; URLSession on iOS also for br.
    const r = await fetch(url, {
      headers: { 'X-Capawesome-Device-Id': this.o.deviceId, 'accept-encoding': this.o.platform === 'ios' ? 'br, gzip, deflate' : 'gzip' },
    });
    // Bytes of bundle downloads (zip, manifest, files) over the wire.
    if (!url.includes('/bundles/latest')) this.wireBytes = (this.wireBytes ?? 0) + Number(r.headers.get('content-length') ?? 0);
    return r;
  }

  async fetchLatestBundle() {
    const q = new URLSearchParams({
      appVersionCode: '20',
      appVersionName: this.o.versionName,
      bundleId: this.current ?? '',
      channelName: this.channel ?? '',
      customId: '',
      deviceId: this.o.deviceId,
      osVersion: '34',
      platform: this.o.platform === 'ios' ? '1' : '0',
      pluginVersion: this.o.pluginVersion,
    });
    const r = await this.get(`${this.o.server}/v1/apps/${this.o.appId}/bundles/latest?${q}`);
    const text = await r.text();
    this.lastStatus = r.status;
    if (!r.ok) return null;
    let j = JSON.parse(text);
    // A stand-in for a compromised server or a proxy rewriting answers.
    if (this.o.rewriteAnswer) j = this.o.rewriteAnswer(j);
    this.lastAnswer = j;
    return {
      artifactType: j.artifactType === 'manifest' ? 'manifest' : 'zip',
      bundleId: j.bundleId,
      channelName: j.channelName ?? null,
      checksum: j.checksum ?? null,
      signature: j.signature ?? null,
      url: j.url,
      customProperties: j.customProperties ?? null,
    };
  }

  verifyFile(bytes, checksum, signature) {
    if (this.o.publicKey) {
      if (signature == null) throw new Error('ERROR_SIGNATURE_MISSING');
      const ok = verify('sha256', bytes, this.o.publicKey, Buffer.from(signature, 'base64'));
      if (!ok) throw new Error('ERROR_SIGNATURE_VERIFICATION_FAILED');
    } else if (checksum != null) {
      if (sha256(bytes) !== checksum) throw new Error('ERROR_CHECKSUM_MISMATCH');
    }
  }

  async downloadAndVerify(url, checksum, signature) {
    const r = await this.get(url);
    if (!r.ok) throw new Error(`download ${url} answered ${r.status}`);
    let body = Buffer.from(await r.arrayBuffer());
    if (this.o.tamper) body = this.o.tamper(url, body);
    this.verifyFile(body, checksum ?? r.headers.get('x-checksum'), signature ?? r.headers.get('x-signature'));
    return body;
  }

  hrefUrl(base, href) {
    const u = new URL(base);
    u.searchParams.append('href', href);
    return u.toString();
  }

  /** sync(): returns {nextBundleId} or throws what the plugin rejects with. */
  async sync() {
    const latest = await this.fetchLatestBundle();
    if (!latest) return { nextBundleId: null };
    const id = latest.bundleId;
    if (this.blocked.has(id)) return { nextBundleId: null, blocked: true };
    if (this.bundles.has(id)) {
      if (id !== this.current) { this.next = id; return { nextBundleId: id }; }
      return { nextBundleId: null };
    }
    let files;
    let manifest = null;
    if (latest.artifactType === 'manifest') {
      const m = await this.downloadAndVerify(this.hrefUrl(latest.url, MANIFEST), null, null);
      manifest = JSON.parse(m.toString());
      const running = this.current ? this.bundles.get(this.current) : null;
      files = {};
      for (const item of manifest) {
        const have = running?.manifest?.find((x) => x.checksum === item.checksum);
        if (have && running.files[have.href]) files[item.href] = running.files[have.href];
        else files[item.href] = await this.downloadAndVerify(this.hrefUrl(latest.url, item.href), null, null);
      }
    } else {
      const zip = await this.downloadAndVerify(latest.url, latest.checksum, latest.signature);
      files = unzip(zip);
    }
    this.bundles.set(id, { files, manifest });
    this.next = id;
    return { nextBundleId: id, files };
  }

  /** The app restarts; `ready` false: the bundle never calls ready() and the plugin rolls back. */
  restart({ ready = true } = {}) {
    if (!this.next) return { result: 'nothing' };
    const previous = this.current;
    this.current = this.next;
    this.next = null;
    if (!ready) {
      this.blocked.add(this.current);
      this.current = previous;
      return { result: 'rolled_back' };
    }
    return { result: 'applied', bundleId: this.current };
  }

  async fetchChannels(params = {}) {
    const q = new URLSearchParams(Object.entries(params).map(([k, v]) => [k, String(v)]));
    const r = await this.get(`${this.o.server}/v1/apps/${this.o.appId}/channels?${q}`);
    if (r.status === 401) throw new Error('Unauthorized. Channel Discovery may not be enabled for this app.');
    if (!r.ok) throw new Error(await r.text());
    return (await r.json()).map((c) => ({ id: c.id, name: c.name }));
  }

  setChannel(channel) { this.channel = channel; }
}
