#!/usr/bin/env bash
# The artifact check's cost (reading an artifact's own manifest, the
# adapter's reading of it, the judgement and its SBOM) next to the artifact's
# fetch, on real packages from the real registries: express's tree through
# npm, and large wheels through pip. Upstreams come from the clients' own
# configuration (gatehouse's default layout); nothing here names a registry.
#
#   tests/bench/sbom.sh [GATEHOUSE_BINARY]   (default: target/release/gatehouse)
set -euo pipefail
cd "$(dirname "$0")/../.."
binary=${1:-target/release/gatehouse}
[ -x "$binary" ] || cargo build --release -p gatehouse
work=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$work"' EXIT
port=$((20000 + RANDOM % 20000))
npm_registry=$(npm config get registry)
"$binary" serve --data-dir "$work/data" --listen "127.0.0.1:$port" \
  --upstream "npm=$npm_registry" >"$work/serve.log" 2>&1 &
server=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
base="http://127.0.0.1:$port"

mkdir -p "$work/app" && cd "$work/app" && echo '{"name":"bench","version":"1.0.0"}' >package.json
npm install --registry "$base/npm/" --cache "$work/npm-cache" --no-audit --no-fund express >/dev/null
python3 -m pip download --no-deps --no-cache-dir --only-binary :all: --dest "$work/wheels" \
  --index-url "$base/pypi/simple/" numpy pandas >/dev/null || echo "(pip download failed; npm figures only)"
cd - >/dev/null

curl -s "$base/metrics" | awk '
  /^gatehouse_artifact_fetch_seconds_sum/ { fetch_sum = $2 }
  /^gatehouse_artifact_fetch_seconds_count/ { fetch_n = $2 }
  /^gatehouse_artifact_check_seconds_sum/ { check_sum = $2 }
  /^gatehouse_artifact_check_seconds_count/ { check_n = $2 }
  END {
    printf "artifacts fetched: %d, total fetch %.2f s (mean %.1f ms)\n", fetch_n, fetch_sum, 1000 * fetch_sum / fetch_n
    printf "artifacts checked: %d, total check %.2f s (mean %.1f ms), %.1f%% of the fetch time\n", check_n, check_sum, 1000 * check_sum / check_n, 100 * check_sum / fetch_sum
  }'
ls -l "$work/wheels" 2>/dev/null | awk 'NR > 1 { printf "wheel: %s (%.1f MB)\n", $9, $5 / 1e6 }'
