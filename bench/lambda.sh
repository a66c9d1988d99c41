#!/usr/bin/env bash
# The Lambda functions' figures (bench/README.md#lambda-functions):
#   - size of each arm64 bootstrap and zip, when `cargo lambda build --profile
#     functions --arm64 --output-format zip` has been run (docs/deploy.md);
#   - process start to first answered request of each function binary (x86_64
#     here), a new process per run, through the Lambda runtime API emulator,
#     answering a request that reads DynamoDB in moto on loopback; baseline:
#     `liveship --version` start to exit (a bare process start of a binary of
#     the same size and dependencies), same run;
#   - DynamoDB requests per 1,000 lookups with the warm cache and without.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/moto.sh

for f in register latest download-complete; do
  zip=target/lambda/$f/bootstrap.zip
  if [ -f "$zip" ]; then
    printf '%-18s bootstrap %s bytes, zip %s bytes\n' "$f" \
      "$(unzip -l "$zip" | awk '/bootstrap$/ {print $1}')" "$(stat -c %s "$zip")"
  else
    echo "$f: $zip not built (see docs/deploy.md)"
  fi
done

# The functions under the size-minded `functions` profile they ship with,
# and under `release` (the profile before it) for the comparison.
cargo build --release --locked -p liveship -p register -p latest -p download-complete
cargo build --profile functions --locked -p register -p latest -p download-complete
cargo build --locked --workspace --bins
start_moto target/moto-bench.log

python3 - <<'PY'
import statistics, subprocess, time
runs = []
for _ in range(5):
    t = time.perf_counter()
    subprocess.run(["target/release/liveship", "--version"], check=True, capture_output=True)
    runs.append((time.perf_counter() - t) * 1000)
print(f"baseline: liveship --version, start to exit: median {statistics.median(runs):.1f} ms")
PY
for profile in release functions; do
  echo "functions built with --profile $profile:"
  LIVESHIP_BIN="$PWD/target/debug/liveship" LIVESHIP_FUNCTIONS_DIR="$PWD/target/$profile" \
  LIVESHIP_TEST_MOTO_URL="$MOTO_URL" \
    cargo test --locked --workspace --test functions_aws -- --ignored --nocapture \
    cold_start_to_first_answer dynamodb_reads_per_thousand_lookups 2>&1 \
    | grep -E 'cold start|cache ttl|test result'
done
