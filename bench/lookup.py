#!/usr/bin/env python3
"""Load-tests the device lookup of `liveship serve` against nginx serving the
same JSON body as a static file, in one run on the same machine.

Two answers are measured, each against nginx serving exactly that body:
- `update_available` for a deployed 300-file manifest build (device ids vary
  per request, as real devices do);
- `up_to_date`, the answer most lookups get once devices have updated.

Load: wrk, 2 threads, 64 connections, 10 s per target (after a 2 s warm-up),
in 3 rounds per answer (liveship, then both nginx runs, each round): the
machine's speed drifts by tens of percent within minutes, so each round's
ratio is taken from neighbouring runs, and the median ratio is reported.
The server's lookup cache lives 1 s here (`--cache-ttl-seconds 1`, default
5), so every 10 s run crosses ten expiries and the p99 includes the refills
(each refilled once, whatever the number of waiting requests).
Reported: requests/s, p50 and p99 latency, the ratio to nginx, and the
server's peak resident memory (VmHWM) over the whole run.

nginx runs twice per answer: with `access_log off`, and with its default
access log (one line per request to a file, unbuffered, as Debian's
nginx.conf sets it). liveship logs one line per request too, so the second
is the like-for-like baseline; both are reported.
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ADMIN = "lsp_bench_admin_token_0123456789abcdef"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(argv, **kw):
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kw)


def wrk(url, seconds, script=None):
    argv = ["wrk", "-t2", "-c64", f"-d{seconds}s", "--latency"]
    if script:
        argv += ["-s", str(script)]
    out = run(argv + [url]).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))

    def pct(p):
        m = re.search(rf"^\s+{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        v, unit = float(m.group(1)), m.group(2)
        return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if errors:
        sys.exit(f"bench: {url} answered {errors.group(1)} errors:\n{out}")
    return {"rps": rps, "p50_ms": pct(50), "p99_ms": pct(99)}


def vm_hwm_kib(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--liveship", default=str(ROOT / "target/release/liveship"))
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--rounds", type=int, default=3, help="rounds per answer, each liveship then both nginx runs; medians reported")
    ap.add_argument("--cache-ttl", type=int, default=1, help="the server's lookup cache TTL in seconds (expiries per run)")
    ap.add_argument("--write-readme", action="store_true")
    ap.add_argument("--perf", metavar="FILE", help="also record liveship's process with `perf record -g` during its up_to_date run")
    args = ap.parse_args()
    for tool in ("wrk", "nginx"):
        if shutil.which(tool) is None and not Path(f"/usr/sbin/{tool}").exists():
            sys.exit(f"bench: {tool} is needed (apt-get install wrk nginx)")
    nginx_bin = shutil.which("nginx") or "/usr/sbin/nginx"
    liveship = Path(args.liveship).resolve()
    if not liveship.is_file():
        sys.exit(f"bench: {liveship} not found; cargo build --release -p liveship")

    work = Path(tempfile.mkdtemp(prefix="liveship-bench-"))
    os.chmod(work, 0o755)
    port = free_port()
    env = dict(os.environ, LIVESHIP_ADMIN_TOKEN=ADMIN, LIVESHIP_SERVER=f"http://127.0.0.1:{port}", LIVESHIP_TOKEN=ADMIN)
    log = open(work / "server.log", "w")
    server = subprocess.Popen([str(liveship), "serve", "--listen", f"127.0.0.1:{port}", "--data-dir", str(work / "data"),
                               "--cache-ttl-seconds", str(args.cache_ttl)],
                              stdout=subprocess.PIPE, stderr=log, env=env, text=True)
    nginx = None
    try:
        while "listening" not in (server.stdout.readline() or "listening"):
            pass
        www = work / "www"
        for i in range(300):
            p = www / f"js/chunk-{i:03d}.js"
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(f"export const v{i} = {i};\n" * (i % 50 + 1))
        (www / "index.html").write_text("<!doctype html><app-root></app-root>")
        run([str(liveship), "live-update", "generate-signing-key"], cwd=work)
        run([str(liveship), "apps", "create", "--app-id", "com.bench.app", "--public-key", "liveship_public.pem"], cwd=work, env=env)
        up = json.loads(run([str(liveship), "live-update", "upload-artifact", "--app-id", "com.bench.app", "--build-dir", "www",
                             "--signing-key", "liveship_private.pem", "--version", "1.0.0", "--channel", "production", "--json"],
                            cwd=work, env=env).stdout)
        build = up["build_id"]
        base = f"http://127.0.0.1:{port}/v1/apps/com.bench.app/channels/production/latest"
        static = work / "static"
        static.mkdir()
        bodies = {
            "update_available": urllib.request.urlopen(f"{base}?device_id=bench").read(),
            "up_to_date": urllib.request.urlopen(f"{base}?device_id=bench&current_build={build}").read(),
        }
        for name, body in bodies.items():
            (static / f"{name}.json").write_bytes(body)
        nport, lport = free_port(), free_port()
        conf = work / "nginx.conf"
        conf.write_text(f"""
user root;
worker_processes 2;
daemon off;
pid {work}/nginx.pid;
error_log {work}/nginx-error.log;
events {{ worker_connections 1024; }}
http {{
  access_log off;
  server {{
    listen 127.0.0.1:{nport};
    location / {{ root {static}; default_type application/json; }}
  }}
  server {{
    listen 127.0.0.1:{lport};
    access_log {work}/nginx-access.log;
    location / {{ root {static}; default_type application/json; }}
  }}
}}
""")
        nginx = subprocess.Popen([nginx_bin, "-c", str(conf), "-p", str(work)], stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        script = work / "devices.lua"
        results = []
        for name, body in bodies.items():
            query = "" if name == "update_available" else f"&current_build={build}"
            script.write_text(
                "math.randomseed(42)\n"
                f"request = function() return wrk.format(nil, '/v1/apps/com.bench.app/channels/production/latest?device_id=d' .. math.random(1, 1000000) .. '{query}') end\n")
            rounds = []
            for i in range(args.rounds):
                wrk(f"http://127.0.0.1:{port}/", 2, script)
                perf = None
                if args.perf and name == "up_to_date" and i == 0:
                    perf = subprocess.Popen(["perf", "record", "-F", "999", "-g", "-p", str(server.pid), "-o", args.perf,
                                             "--", "sleep", str(max(args.seconds - 2, 1))], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                ours = wrk(f"http://127.0.0.1:{port}/", args.seconds, script)
                if perf:
                    perf.wait()
                wrk(f"http://127.0.0.1:{nport}/{name}.json", 2)
                theirs = wrk(f"http://127.0.0.1:{nport}/{name}.json", args.seconds)
                wrk(f"http://127.0.0.1:{lport}/{name}.json", 2)
                logged = wrk(f"http://127.0.0.1:{lport}/{name}.json", args.seconds)
                rounds.append({"liveship": ours, "nginx": theirs, "nginx_logged": logged,
                               "ratio": round(ours["rps"] / theirs["rps"], 2),
                               "ratio_logged": round(ours["rps"] / logged["rps"], 2)})
                print(f"  {name} round {i + 1}: liveship {ours['rps']:.0f}, nginx {theirs['rps']:.0f}, nginx+log {logged['rps']:.0f} req/s"
                      f" (ratios {rounds[-1]['ratio']:.2f}, {rounds[-1]['ratio_logged']:.2f})")

            def med(target):
                rps = statistics.median(r[target]["rps"] for r in rounds)
                return {"rps": rps, "p50_ms": statistics.median(r[target]["p50_ms"] for r in rounds),
                        "p99_ms": max(r[target]["p99_ms"] for r in rounds)}

            ours, theirs, logged = med("liveship"), med("nginx"), med("nginx_logged")
            r = {"answer": name, "body_bytes": len(body), "liveship": ours, "nginx": theirs,
                 "ratio": statistics.median(x["ratio"] for x in rounds),
                 "nginx_logged": logged, "ratio_logged": statistics.median(x["ratio_logged"] for x in rounds),
                 "rounds": rounds}
            results.append(r)
            print(f"{name:17} {len(body):7} B  liveship {ours['rps']:9.0f} req/s p50 {ours['p50_ms']:.2f} ms p99 {ours['p99_ms']:.2f} ms"
                  f"  | nginx {theirs['rps']:9.0f} req/s p99 {theirs['p99_ms']:.2f} ms  | ratio {r['ratio']:.2f}"
                  f"  | nginx+log {logged['rps']:9.0f} req/s p99 {logged['p99_ms']:.2f} ms  | ratio {r['ratio_logged']:.2f}")
        hwm = vm_hwm_kib(server.pid)
        print(f"liveship serve peak RSS (VmHWM): {hwm / 1024:.1f} MiB")
        report = {"date": time.strftime("%Y-%m-%d"), "seconds": args.seconds, "rounds": args.rounds, "cache_ttl": args.cache_ttl,
                  "results": results, "peak_rss_mib": round(hwm / 1024, 1)}
        (HERE / "lookup-results.json").write_text(json.dumps(report, indent=2))
        if args.write_readme:
            write_readme(report)
    finally:
        if nginx:
            nginx.send_signal(signal.SIGQUIT)
            nginx.wait()
        server.send_signal(signal.SIGTERM)
        server.wait()
        shutil.rmtree(work, ignore_errors=True)


def write_readme(report):
    readme = HERE / "README.md"
    text = readme.read_text()
    start, end = "<!-- lookup:start -->", "<!-- lookup:end -->"
    lines = [start,
             f"Last run: {report['date']}, wrk -t2 -c64, {report['seconds']} s per target, {report['rounds']} rounds per answer "
             "(each round: liveship, then nginx with its access log off, then nginx with its default access log), "
             "same machine (2 cores shared by wrk, nginx and liveship); "
             f"lookup cache TTL {report['cache_ttl']} s, so each liveship run crosses {report['seconds'] // report['cache_ttl']} cache expiries. "
             "Requests/s and p50 are medians over the rounds, p99 the worst round, each ratio the median of the rounds' ratios.",
             "",
             "| answer | body | liveship req/s (logs each request) | p50 | p99 | nginx, access log off: req/s | p99 | ratio | nginx, default access log: req/s | p99 | ratio |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in report["results"]:
        a, b, c = r["liveship"], r["nginx"], r["nginx_logged"]
        lines.append(f"| `{r['answer']}` | {r['body_bytes']} B | {a['rps']:.0f} | {a['p50_ms']:.2f} ms | {a['p99_ms']:.2f} ms | "
                     f"{b['rps']:.0f} | {b['p99_ms']:.2f} ms | {r['ratio']:.2f}x | "
                     f"{c['rps']:.0f} | {c['p99_ms']:.2f} ms | {r['ratio_logged']:.2f}x |")
    lines += ["", "Each round's ratios (to nginx with its access log off / with its default access log):", ""]
    for r in report["results"]:
        rounds = "; ".join(f"round {i + 1}: {x['ratio']:.2f}x / {x['ratio_logged']:.2f}x" for i, x in enumerate(r["rounds"]))
        lines.append(f"- `{r['answer']}`: {rounds}")
    lines += ["", f"liveship serve peak resident memory over the run: {report['peak_rss_mib']} MiB.", end]
    before, rest = text.split(start, 1)
    _, after = rest.split(end, 1)
    readme.write_text(before + "\n".join(lines) + after)


if __name__ == "__main__":
    main()
