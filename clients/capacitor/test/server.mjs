// Starts a real `liveship serve` on a free port and drives the real CLI.
// With LIVESHIP_TEST_STACK=lambda, the server is instead the three Lambda
// function binaries behind a local API Gateway on moto (the tests crate's
// lambda-stack binary; LIVESHIP_TEST_MOTO_URL must be set): the same tests,
// unchanged, against the AWS deployment's code.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, writeFileSync, existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join, dirname, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const root = fileURLToPath(new URL('../../../', import.meta.url));
export const BIN = process.env.LIVESHIP_BIN ?? join(root, 'target/debug/liveship');
const ADMIN = 'lsp_node_test_admin_token_0123456789';

const STACK_BIN = join(root, 'target/debug/lambda-stack');

export async function startServer() {
  if (!existsSync(BIN)) {
    throw new Error(`${BIN} not found: build it with \`cargo build -p liveship\` (scripts/test does)`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'liveship-node-'));
  const lambda = process.env.LIVESHIP_TEST_STACK === 'lambda';
  if (lambda && !existsSync(STACK_BIN)) {
    throw new Error(`${STACK_BIN} not found: build it with \`cargo build --workspace --bins\` (scripts/test does)`);
  }
  const [cmd, args] = lambda
    ? [STACK_BIN, []]
    : [BIN, ['serve', '--listen', '127.0.0.1:0', '--data-dir', join(dir, 'data')]];
  const child = spawn(cmd, args, {
    // On Lambda, a warm function may serve channel state up to its cache
    // TTL old; these tests expect CI writes to show at once, so it is off.
    env: { ...process.env, LIVESHIP_ADMIN_TOKEN: ADMIN, LIVESHIP_LOG: 'warn', LIVESHIP_CACHE_TTL_SECONDS: '0' },
    // The Lambda stack serves until its stdin closes.
    stdio: [lambda ? 'pipe' : 'ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: child.stdout });
  const url = await new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`liveship serve exited (${code})`)));
    lines.on('line', (l) => {
      const m = /^liveship listening on (\S+)/.exec(l);
      if (m) resolve(m[1]);
    });
  });
  const cli = (args, token = ADMIN) =>
    JSON.parse(execFileSync(BIN, [...args, '--json'], { cwd: dir, env: { ...process.env, LIVESHIP_SERVER: url, LIVESHIP_TOKEN: token } }).toString());
  const writeBuild = (name, files) => {
    for (const [p, body] of Object.entries(files)) {
      const full = join(dir, name, p);
      mkdirSync(dirname(full), { recursive: true });
      writeFileSync(full, body);
    }
    return name;
  };
  const stop = () => (lambda ? child.stdin.end() : child.kill('SIGTERM'));
  return { url, dir, cli, writeBuild, stop };
}

/**
 * A team's own static host (their bucket or CDN) for self-hosted artifacts:
 * serves the files below `dir` on a free loopback port.
 */
export async function startFileHost(dir) {
  const server = createServer((req, res) => {
    const p = normalize(decodeURIComponent(new URL(req.url, 'http://x').pathname)).replace(/^\/+/, '');
    try {
      res.writeHead(200, { 'content-type': 'application/octet-stream' }).end(readFileSync(join(dir, p)));
    } catch {
      res.writeHead(404).end();
    }
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => server.close() };
}
