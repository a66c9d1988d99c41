// A device running the stock @capgo/capacitor-updater plugin with
// `autoUpdate: true` and self-hosted `updateUrl`/`statsUrl`/`channelUrl`,
// emulated from the plugin's native sources (android/ CapgoUpdater.java,
// CapacitorUpdater.java, CapacitorUpdaterPlugin.java, DownloadService.java;
// ios/ mirrors them) of the release named by `pluginVersion`. What each
// line does is summarised in docs/capacitor.md ("The stock capgo plugin,
// line by line"); the code paths followed here:
//
// legacy lines (4.x, 5 < 5.10.0, 6 < 6.25.0, 7 < 7.0.30, npm 9.0.0 / 10.0.0):
//   - request: createInfoObject() (platform, device_id, app_id, custom_id,
//     version_build, version_code, version_os, version_name = running bundle,
//     plugin_version, is_emulator, is_prod), POSTed as JSON (Volley);
//   - answer: any `message` => "no update" (noNeedUpdate); else `version`,
//     `url`, `checksum`; the zip is downloaded, then CRC32 "%08x" of it is
//     compared with `checksum` when `checksum` is non-empty; mismatch =>
//     sendStats("checksum_fail"), bundle deleted;
//   - stats: createInfoObject() + action: `version_name` is always the
//     running bundle (the versionName argument is not sent);
//   - channels: POST set, PUT get (server-side storage), no unset.
// current lines (5.10.0+, 6.25.0+, 7.0.30+, 8.x):
//   - request: createInfoObject() plus defaultChannel (persisted
//     self-assignment, else config);
//   - answer: `error` or `kind` => not an update (kind up_to_date: no
//     update); `version: "builtin"` => next bundle is the built-in one;
//     `manifest` => per-file downloads, each checked with SHA-256 against
//     file_hash; else the zip, which needs a `checksum` (checksum_required)
//     and is checked with SHA-256;
//   - stats: info + version_name (the bundle the action is about, or the
//     running one for checksum_fail / some download_fail) + old_version_name;
//   - channels: from 5.34.0 / 6.34.0 / 7.34.0 / 8.0.0 kept on the device
//     (POST set validates; `unset: true` clears; unsetChannel is local);
//     before, server-side with DELETE for unset.
import { constants, createDecipheriv, createHash, publicDecrypt } from 'node:crypto';
import { brotliDecompressSync, crc32, inflateRawSync } from 'node:zlib';

const sha256 = (b) => createHash('sha256').update(b).digest('hex');

function semver(v) {
  const m = /^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?/.exec(v ?? '');
  return m ? [Number(m[1]), Number(m[2] ?? 0), Number(m[3] ?? 0)] : null;
}
const atLeast = (v, min) => {
  for (let i = 0; i < 3; i++) if (v[i] !== min[i]) return v[i] > min[i];
  return true;
};

/** The protocol family of a plugin release, as its native code behaves. */
export function lineOf(pluginVersion) {
  const v = semver(pluginVersion);
  let legacy;
  if (!v) legacy = true;
  else if (v[0] <= 4) legacy = true;
  else if (v[0] === 5) legacy = !atLeast(v, [5, 10, 0]);
  else if (v[0] === 6) legacy = !atLeast(v, [6, 25, 0]);
  else if (v[0] === 7) legacy = !atLeast(v, [7, 0, 30]);
  else if (v[0] === 9 || v[0] === 10) legacy = v[1] === 0 && v[2] === 0;
  else legacy = false;
  const localChannel =
    !!v && !legacy && (v[0] === 5 ? atLeast(v, [5, 34, 0]) : v[0] === 6 ? atLeast(v, [6, 34, 0]) : v[0] === 7 ? atLeast(v, [7, 34, 0]) : v[0] >= 8);
  // DownloadService decompresses a `*.br` manifest entry (then checks the
  // hash of the result) from 5.43.3, 6.39.0, 7.0.50 and in every 8.x read;
  // 5.10.0, 6.25.0 and 7.0.30 save it as it came.
  const brotli =
    !!v && !legacy && (v[0] === 5 ? atLeast(v, [5, 43, 3]) : v[0] === 6 ? atLeast(v, [6, 39, 0]) : v[0] === 7 ? atLeast(v, [7, 0, 50]) : v[0] >= 8);
  return { legacy, localChannel, brotli };
}

/** Reads a zip (stored or deflated entries) as {name: Buffer}, as the plugin's unzip does. */
export function unzip(buf) {
  let eocd = -1;
  for (let i = buf.length - 22; i >= 0; i--) {
    if (buf.readUInt32LE(i) === 0x06054b50) { eocd = i; break; }
  }
  if (eocd < 0) throw new Error('unzip_fail: not a zip');
  const count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  const files = {};
  for (let n = 0; n < count; n++) {
    if (buf.readUInt32LE(p) !== 0x02014b50) throw new Error('unzip_fail: bad central directory');
    const method = buf.readUInt16LE(p + 10);
    const csize = buf.readUInt32LE(p + 20);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    const local = buf.readUInt32LE(p + 42);
    const name = buf.subarray(p + 46, p + 46 + nameLen).toString('utf8');
    // The plugin refuses entries that leave the bundle directory.
    if (name.startsWith('/') || name.split('/').includes('..')) throw new Error(`unzip_fail: unsafe entry ${name}`);
    const lname = buf.readUInt16LE(local + 26);
    const lextra = buf.readUInt16LE(local + 28);
    const data = buf.subarray(local + 30 + lname + lextra, local + 30 + lname + lextra + csize);
    if (!name.endsWith('/')) files[name] = method === 8 ? inflateRawSync(data) : Buffer.from(data);
    p += 46 + nameLen + extraLen + commentLen;
  }
  return files;
}

export class CapgoDevice {
  /**
   * @param {{server: string, appId: string, pluginVersion: string, deviceId?: string,
   *   platform?: string, versionBuild?: string, defaultChannel?: string,
   *   tamper?: (url: string, body: Buffer) => Buffer}} o
   */
  constructor(o) {
    this.o = { deviceId: 'device-1', platform: 'android', versionBuild: '2.0.0', defaultChannel: '', ...o };
    this.line = lineOf(o.pluginVersion);
    this.current = { id: 'builtin', version: 'builtin', files: null };
    this.next = null;
    this.bundles = new Map();
    // DownloadService (current lines) takes a manifest entry from the
    // built-in bundle (same name and hash) or from its download cache
    // (`{hash}_{base name}`) before downloading it.
    this.builtin = o.builtin ?? {};
    this.cache = new Set();
    this.wireBytes = 0;
    this.persistedChannel = null; // current lines from x.34: setChannel() result
    this.log = [];
    this.statsSent = [];
  }

  get updateUrl() { return `${this.o.server}/capgo/updates`; }
  get statsUrl() { return `${this.o.server}/capgo/stats`; }
  get channelUrl() { return `${this.o.server}/capgo/channel_self`; }

  info() {
    const i = {
      platform: this.o.platform,
      device_id: this.o.deviceId,
      app_id: this.o.appId,
      custom_id: '',
      version_build: this.o.versionBuild,
      version_code: '20',
      version_os: '14',
      version_name: this.current.version,
      plugin_version: this.o.pluginVersion,
      is_emulator: true,
      is_prod: false,
    };
    if (!this.line.legacy) i.defaultChannel = this.persistedChannel ?? this.o.defaultChannel;
    // CryptoCipher.calcKeyId: the first 20 characters of the PKCS#1 body.
    if (!this.line.legacy && this.o.publicKey) {
      i.key_id = this.o.publicKey.replace(/\s+/g, '').replace('-----BEGINRSAPUBLICKEY-----', '').replace('-----ENDRSAPUBLICKEY-----', '').slice(0, 20);
    }
    return i;
  }

  async request(method, url, body) {
    const r = await fetch(url, { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    const text = await r.text();
    let json;
    try { json = JSON.parse(text); } catch { json = null; }
    if (!r.ok) {
      // Volley / OkHttp error paths: an error object with a message.
      return { error: json?.error ?? 'response_error', message: `${r.status}: ${text}`, statusCode: r.status };
    }
    return json;
  }

  async sendStats(action, versionName = this.current.version, oldVersionName = '') {
    const body = { ...this.info(), action };
    if (!this.line.legacy) {
      body.version_name = versionName;
      body.old_version_name = oldVersionName;
      body.timestamp = Date.now();
    }
    this.statsSent.push(body);
    const r = await fetch(this.statsUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (!r.ok) throw new Error(`stats ${action} answered ${r.status}: ${await r.text()}`);
  }

  async fetchBytes(url) {
    // OkHttp on Android asks for gzip only; URLSession on iOS also for br.
    const r = await fetch(url, { headers: { 'accept-encoding': this.o.platform === 'ios' ? 'br, gzip, deflate' : 'gzip' } });
    if (!r.ok) throw new Error(`download ${url} answered ${r.status}`);
    let b = Buffer.from(await r.arrayBuffer());
    this.wireBytes += Number(r.headers.get('content-length') ?? b.length);
    if (this.o.tamper) b = this.o.tamper(url, b);
    return b;
  }

  /** One background update check, as the plugin runs it on app start / foreground. Returns what happened. */
  async checkForUpdate() {
    const res = await this.request('POST', this.updateUrl, this.info());
    this.lastAnswer = res;
    if (this.line.legacy) {
      if (res.message !== undefined) return { result: 'no_update', message: res.message };
    } else if (res.error !== undefined || res.kind !== undefined) {
      return { result: res.kind === 'up_to_date' ? 'no_update' : 'error', error: res.error };
    }
    const version = res.version;
    if (!this.line.legacy && version === 'builtin') {
      this.next = 'builtin';
      return { result: 'next_builtin' };
    }
    if (!version || version === this.current.version) return { result: 'no_update' };
    if (typeof res.url !== 'string' || !/^https?:\/\//.test(res.url)) return { result: 'error', error: 'no url' };
    const existing = [...this.bundles.values()].find((b) => b.version === version);
    if (existing?.status === 'error') return { result: 'no_update', why: 'bundle in error state' };
    if (existing) { this.next = existing.id; return { result: 'scheduled', version }; }
    let files;
    if (!this.line.legacy && Array.isArray(res.manifest)) {
      files = {};
      for (const e of res.manifest) {
        if (!e.file_hash) return this.downloadFailed(version, 'download_fail');
        if (e.file_name.startsWith('/') || e.file_name.split('/').includes('..')) return this.downloadFailed(version, 'directory_path_fail');
        const plainName = this.line.brotli && e.file_name.endsWith('.br') ? e.file_name.slice(0, -3) : e.file_name;
        const hash = String(e.file_hash).toLowerCase();
        const cacheKey = `${hash}_${plainName.split('/').pop()}`;
        const own = this.builtin[plainName];
        if (own && sha256(own) === hash) { files[plainName] = own; continue; }
        const cached = this.cache.has(cacheKey) && this.cachedBytes?.get(cacheKey);
        if (cached) { files[plainName] = cached; continue; }
        let body = await this.fetchBytes(e.download_url);
        let name = e.file_name;
        // DownloadService: a name ending in .br is brotli-decompressed, and
        // the hash checked is that of the decompressed bytes.
        if (this.line.brotli && name.endsWith('.br')) {
          try {
            body = brotliDecompressSync(body);
          } catch {
            return this.downloadFailed(version, 'download_manifest_brotli_fail');
          }
          name = name.slice(0, -3);
        }
        if (sha256(body).toLowerCase() !== String(e.file_hash).toLowerCase()) {
          return this.downloadFailed(version, 'download_fail', 'checksum');
        }
        files[name] = body;
        this.cache.add(cacheKey);
        (this.cachedBytes ??= new Map()).set(cacheKey, body);
      }
    } else if (!this.line.legacy && this.o.publicKey) {
      // requireSessionKeyForEncryptedUpdate, then finishDownload's
      // decryptFile (AES-128-CBC, key RSA-decrypted with the public key) and
      // decryptChecksum (256 bytes, hex or base64) against calcChecksum.
      const sessionKey = res.session_key ?? '';
      const parts = sessionKey.split(':');
      if (parts.length !== 2 || !parts[0] || !parts[1]) {
        await this.sendStats('session_key_required');
        return { result: 'blocked', why: 'session_key_required' };
      }
      if (!res.checksum) {
        await this.sendStats('checksum_required');
        return { result: 'blocked', why: 'checksum_required' };
      }
      const encrypted = await this.fetchBytes(res.url);
      let zip;
      let expected;
      try {
        const pub = { key: this.o.publicKey, padding: constants.RSA_PKCS1_PADDING };
        const aesKey = publicDecrypt(pub, Buffer.from(parts[1], 'base64'));
        if (aesKey.length !== 16) throw new Error('session key must be 16 bytes');
        const d = createDecipheriv('aes-128-cbc', aesKey, Buffer.from(parts[0], 'base64'));
        zip = Buffer.concat([d.update(encrypted), d.final()]);
        const sum = /^[0-9a-fA-F]+$/.test(res.checksum) ? Buffer.from(res.checksum, 'hex') : Buffer.from(res.checksum, 'base64');
        if (sum.length !== 256) throw new Error('Bundle checksum is not encrypted');
        expected = publicDecrypt(pub, sum).toString('hex');
      } catch (e) {
        return this.downloadFailed(version, 'download_fail', e.message);
      }
      if (sha256(zip) !== expected) {
        await this.sendStats('checksum_fail', this.current.version);
        return { result: 'checksum_fail' };
      }
      files = unzip(zip);
      delete files['live-update-manifest.json'];
    } else {
      const checksum = res.checksum ?? '';
      if (!this.line.legacy && !checksum) {
        await this.sendStats('checksum_required');
        return { result: 'blocked', why: 'checksum_required' };
      }
      const zip = await this.fetchBytes(res.url);
      const computed = this.line.legacy ? crc32(zip).toString(16).padStart(8, '0') : sha256(zip);
      if (checksum !== '' && checksum !== computed) {
        // Both families report the running bundle here.
        await this.sendStats('checksum_fail', this.current.version);
        return { result: 'checksum_fail', expected: checksum, computed };
      }
      try {
        files = unzip(zip);
      } catch (e) {
        return this.downloadFailed(version, 'unzip_fail', e.message);
      }
      delete files['live-update-manifest.json'];
    }
    const id = `b${this.bundles.size + 1}`;
    this.bundles.set(id, { id, version, files, status: 'pending' });
    // The download listener reports the downloaded bundle; legacy lines
    // drop that argument and the server sees the running one.
    await this.sendStats('download_complete', version);
    this.next = id;
    return { result: 'scheduled', version, files };
  }

  async downloadFailed(version, action, why) {
    await this.sendStats(action, this.current.version);
    return { result: action, why, version };
  }

  /** The app goes to the background and back: the plugin installs `next`. `ready` false: the new bundle never calls notifyAppReady. */
  async restart({ ready = true } = {}) {
    if (this.next === null) return { result: 'nothing' };
    const previous = this.current;
    if (this.next === 'builtin') {
      this.next = null;
      this.current = { id: 'builtin', version: 'builtin', files: null };
      await this.sendStats('reset', 'builtin', previous.version);
      return { result: 'reset' };
    }
    const b = this.bundles.get(this.next);
    this.next = null;
    this.current = b;
    await this.sendStats('set', b.version, previous.version);
    if (!ready) {
      // DeferredNotifyAppReadyCheck: update_fail names the failed (running)
      // bundle, then an internal reset to the fallback.
      await this.sendStats('update_fail', b.version);
      b.status = 'error';
      this.current = previous;
      return { result: 'rolled_back', version: b.version };
    }
    b.status = 'success';
    return { result: 'applied', version: b.version };
  }

  async setChannel(channel) {
    const res = await this.request('POST', this.channelUrl, { ...this.info(), channel });
    if (res.error) return res;
    if (this.line.localChannel) {
      if (res.unset === true) this.persistedChannel = null;
      else this.persistedChannel = channel;
    }
    return res;
  }

  async unsetChannel() {
    if (this.line.localChannel) {
      this.persistedChannel = null;
      return { status: 'ok', message: 'Channel override removed' };
    }
    if (this.line.legacy) throw new Error(`plugin ${this.o.pluginVersion} has no unsetChannel`);
    return this.request('DELETE', this.channelUrl, this.info());
  }

  async getChannel() {
    const res = await this.request('PUT', this.channelUrl, this.info());
    return res;
  }

  async listChannels() {
    const q = new URLSearchParams(Object.entries(this.info()).map(([k, v]) => [k, String(v)]));
    const r = await fetch(`${this.channelUrl}?${q}`);
    return r.json();
  }
}
