#!/usr/bin/env python3
"""Benchmarks liveship's artifact commands against standard tools, in one run.

- `liveship live-update generate-manifest` against `sha256sum` over the same files;
- `liveship live-update bundle-artifact` against `zip -r -q -6` of the same directory.

The build is synthetic but deterministic (same seed, same bytes): about 3,000
files and 120 MB, mixed like a real Ionic `www/` (many small JS chunks, CSS,
HTML, JSON, SVG, source maps, a few large vendor bundles, incompressible
images, fonts and two media files above liveship's streaming threshold).

Each command runs once untimed (page cache warm), then N times in turns; the
median wall time and the peak RSS of each are reported with the ratio to the
baseline. With --write-readme the table in bench/README.md is replaced.
"""

import argparse
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

TOKENS = (
    "const let var function return if else for while import export from default class "
    "extends new this super async await yield try catch finally throw typeof instanceof "
    "null undefined true false => ( ) { } [ ] ; , . = == === !== + - * / && || ? : "
    "Component Injectable NgModule ionViewDidEnter subscribe pipe map filter switchMap "
    "HttpClient Observable Promise resolve reject console.log document window element "
    "querySelector addEventListener setAttribute innerHTML style display none block "
).split()


def text_pool(rng, size):
    """Pseudo-source text: compresses with deflate about like minified JS."""
    out = []
    n = 0
    while n < size:
        line = " ".join(rng.choice(TOKENS) for _ in range(rng.randint(4, 18)))
        ident = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz_$0123456789") for _ in range(rng.randint(2, 9)))
        line = f"{line} {ident}{rng.randint(0, 99999)};\n"
        out.append(line)
        n += len(line)
    return "".join(out).encode()


def make_build(dest, scale=1.0, seed=20261122):
    """Writes the synthetic build into dest; returns (files, bytes)."""
    rng = random.Random(seed)
    pool = text_pool(rng, 6 * 1024 * 1024)

    def text(n):
        start = rng.randrange(0, len(pool) - n - 1)
        return b"/* %d */\n" % rng.getrandbits(48) + pool[start : start + n]

    def binary(n):
        return rng.randbytes(n)

    plan = [
        # (count, directory, extension, min size, max size, kind)
        (2100, "js", "js", 800, 42_000, text),
        (150, "css", "css", 500, 30_000, text),
        (40, "", "html", 300, 8_000, text),
        (120, "assets/i18n", "json", 300, 20_000, text),
        (250, "svg", "svg", 400, 9_000, text),
        (45, "js/maps", "js.map", 100_000, 600_000, text),
        (3, "js/vendor", "js", 1_000_000, 2_600_000, text),
        (380, "assets/img", "png", 4_000, 120_000, binary),
        (40, "assets/img", "jpg", 60_000, 350_000, binary),
        (40, "assets/fonts", "woff2", 15_000, 120_000, binary),
        (2, "assets/media", "mp4", 9_000_000, 12_000_000, binary),
    ]
    files = total = 0
    for count, directory, ext, lo, hi, kind in plan:
        count = max(1, int(count * scale))
        for i in range(count):
            size = max(1, int(rng.randint(lo, hi) * (scale if scale < 1 else 1)))
            sub = f"{directory}/g{i % 23:02d}" if directory and count > 200 else directory
            path = dest / sub / f"f{i:04d}-{rng.getrandbits(24):06x}.{ext}"
            path.parent.mkdir(parents=True, exist_ok=True)
            data = kind(size)
            path.write_bytes(data)
            files += 1
            total += len(data)
    (dest / "index.html").write_bytes(b"<!doctype html><html><body><app-root></app-root></body></html>\n")
    return files + 1, total + 66


GNU_TIME = "/usr/bin/time"


def run_measured(argv, cwd, rss_file):
    """Runs argv; returns (seconds, peak RSS in KiB). Fails loudly.

    Peak RSS comes from GNU time (`%M`): the rusage of a child of this Python
    process would include the forked interpreter's memory before exec.
    The wall time is taken around GNU time, which adds the same ~1 ms to
    every command, ours and the baselines alike.
    """
    start = time.perf_counter()
    proc = subprocess.run([GNU_TIME, "-f", "%M", "-o", str(rss_file), *argv], cwd=cwd,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"bench: {' '.join(map(str, argv[:3]))} ... failed ({proc.returncode}): {proc.stderr.decode(errors='replace')}")
    return elapsed, int(Path(rss_file).read_text().split()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7, help="timed runs per command (median reported)")
    ap.add_argument("--quick", action="store_true", help="tiny build, one run, for smoke-testing this script")
    ap.add_argument("--liveship", default=str(ROOT / "target/release/liveship"), help="liveship binary")
    ap.add_argument("--work", default=str(HERE / "work"), help="scratch directory (deleted and recreated)")
    ap.add_argument("--write-readme", action="store_true", help="replace the results in bench/README.md")
    args = ap.parse_args()
    for tool in ("sha256sum", "zip", GNU_TIME):
        if shutil.which(tool) is None:
            sys.exit(f"bench: {tool} is needed (apt-get install coreutils zip time)")
    liveship = Path(args.liveship).resolve()
    if not liveship.is_file():
        sys.exit(f"bench: {liveship} not found; build it with: cargo build --release -p liveship")

    work = Path(args.work).resolve()
    shutil.rmtree(work, ignore_errors=True)
    www = work / "www"
    www.mkdir(parents=True)
    scale = 0.1 if args.quick else 1.0
    runs = 1 if args.quick else args.runs
    t0 = time.perf_counter()
    files, size = make_build(www, scale=scale)
    print(f"synthetic build: {files} files, {size / 1e6:.1f} MB (made in {time.perf_counter() - t0:.1f}s)")
    subprocess.run([str(liveship), "live-update", "generate-signing-key", "--json"], cwd=work, check=True, stdout=subprocess.DEVNULL)
    key = str(work / "liveship_private.pem")
    rel_files = sorted(str(p.relative_to(www)) for p in www.rglob("*") if p.is_file())
    zip_out = work / "baseline.zip"
    rss = work / "rss.txt"
    ours_out = work / "liveship.zip"

    def zip_baseline():
        zip_out.unlink(missing_ok=True)
        return run_measured(["zip", "-r", "-q", "-6", str(zip_out), "."], www, rss)

    def bundle():
        return run_measured(
            [str(liveship), "live-update", "bundle-artifact", "--build-dir", str(www), "--signing-key", key,
             "--output-path", str(ours_out), "--json"], work, rss)

    def manifest():
        return run_measured(
            [str(liveship), "live-update", "generate-manifest", "--build-dir", str(www), "--signing-key", key, "--json"], work, rss)

    def sha256sum():
        return run_measured(["sha256sum", "--", *rel_files], www, rss)

    pairs = [
        ("generate-manifest", manifest, "sha256sum", sha256sum, 1.0),
        ("bundle-artifact", bundle, "zip -r -q -6", zip_baseline, 1.2),
    ]
    results = []
    for name, ours, base_name, base, target in pairs:
        ours(); base()  # warm the page cache and the binaries
        t_ours, t_base, m_ours, m_base = [], [], [], []
        for i in range(runs):
            order = [(ours, t_ours, m_ours), (base, t_base, m_base)]
            if i % 2:
                order.reverse()
            for fn, times, mems in order:
                t, m = fn()
                times.append(t)
                mems.append(m)
        med_ours, med_base = statistics.median(t_ours), statistics.median(t_base)
        ratio = med_ours / med_base
        results.append({
            "command": name, "baseline": base_name, "runs": runs,
            "median_s": round(med_ours, 3), "baseline_median_s": round(med_base, 3),
            "ratio": round(ratio, 3), "target_ratio": target,
            "peak_rss_mib": round(max(m_ours) / 1024, 1), "baseline_peak_rss_mib": round(max(m_base) / 1024, 1),
        })
        print(f"{name:18} median {med_ours:7.3f}s  vs {base_name:13} {med_base:7.3f}s  ratio {ratio:5.2f} "
              f"(target <= {target})  peak RSS {max(m_ours) / 1024:6.1f} MiB vs {max(m_base) / 1024:6.1f} MiB")

    # The outputs are right, not only fast.
    check = subprocess.run([str(liveship), "live-update", "verify", "--artifact", str(ours_out), "--public-key",
                            str(work / "liveship_public.pem"), "--json"], cwd=work, capture_output=True, text=True)
    if check.returncode != 0:
        sys.exit(f"bench: the benchmarked bundle does not verify: {check.stderr}")
    sizes = {"liveship_zip_bytes": ours_out.stat().st_size, "baseline_zip_bytes": zip_out.stat().st_size}
    print(f"zip sizes: liveship {sizes['liveship_zip_bytes'] / 1e6:.1f} MB, zip -6 {sizes['baseline_zip_bytes'] / 1e6:.1f} MB")

    report = {
        "date": time.strftime("%Y-%m-%d"), "machine": machine(),
        "files": files, "bytes": size, "results": results, **sizes,
    }
    (work / "results.json").write_text(json.dumps(report, indent=2))
    if args.write_readme and not args.quick:
        write_readme(report)
    shutil.rmtree(www, ignore_errors=True)


def machine():
    """Architecture, cores, and whether the CPU has SHA extensions (which
    liveship's SHA-256 uses and sha256sum does not)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
        sha = "SHA extensions" if (" sha_ni" in flags or " sha2" in flags) else "no SHA extensions"
    except OSError:
        sha = "SHA extensions unknown"
    return f"{platform.machine()}, {os.cpu_count()} cores, {sha}"


def write_readme(report):
    readme = HERE / "README.md"
    text = readme.read_text()
    start, end = "<!-- results:start -->", "<!-- results:end -->"
    lines = [
        start,
        f"Last run: {report['date']}, {report['machine']}, {report['files']} files, "
        f"{report['bytes'] / 1e6:.1f} MB, median of {report['results'][0]['runs']} runs.",
        "",
        "| command | median | baseline | baseline median | ratio | target | peak RSS (ours / baseline) |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in report["results"]:
        lines.append(
            f"| `{r['command']}` | {r['median_s']:.3f} s | `{r['baseline']}` | {r['baseline_median_s']:.3f} s | "
            f"{r['ratio']:.2f}x | <= {r['target_ratio']}x | {r['peak_rss_mib']} / {r['baseline_peak_rss_mib']} MiB |"
        )
    lines += [
        "",
        f"Zip size: liveship {report['liveship_zip_bytes'] / 1e6:.1f} MB, "
        f"`zip -6` {report['baseline_zip_bytes'] / 1e6:.1f} MB.",
        end,
    ]
    before, rest = text.split(start, 1)
    _, after = rest.split(end, 1)
    readme.write_text(before + "\n".join(lines) + after)


if __name__ == "__main__":
    main()
