#!/usr/bin/env bash
# Measures gatehouse beside nginx (the machine's ceiling), Verdaccio and devpi
# with the workplace's shared script (../shared/bench/peers.sh), then writes
# the table, the date, the machine and the goals of issue 10 into
# BENCHMARKS.md.
#
#   bash host/benches/peers.sh            # release build, default layout, full run
#   DURATION=5 SKIP_VERDACCIO=1 bash host/benches/peers.sh
#
# gatehouse runs with the default layout (`gatehouse serve` with no config:
# default adapters and policies, upstreams from npm's and pip's own settings),
# starting from an empty cache, so its first request of each object is the
# cold number. Needs network access to the npm and PyPI registries.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
PEERS="${PEERS:-$ROOT/../shared/bench/peers.sh}"
PORT="${PORT:-18188}"
[[ -f $PEERS ]] || { echo "peers script not found: $PEERS (set PEERS=)" >&2; exit 2; }

cargo build --release -p gatehouse --manifest-path "$ROOT/Cargo.toml"
DATA="$(mktemp -d /tmp/gatehouse-bench.XXXXXX)"
"$ROOT/target/release/gatehouse" serve --data-dir "$DATA" --listen "127.0.0.1:$PORT" \
  >"$DATA/serve.log" 2>&1 &
PID=$!
trap 'kill $PID 2>/dev/null || true' EXIT
for _ in $(seq 300); do
  curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null && break
  sleep 0.1
done
curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null || { cat "$DATA/serve.log" >&2; exit 1; }

TSV="$DATA/peers.tsv"
OUT_TSV="$TSV" bash "$PEERS" gatehouse "http://127.0.0.1:$PORT"

MACHINE="$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/ {print $2}') GiB"
python3 - "$TSV" "$ROOT/BENCHMARKS.md" "$MACHINE" "$(git -C "$ROOT" rev-parse --short HEAD)" <<'PY'
import datetime, sys
tsv, out, machine, commit = sys.argv[1:]
lines = open(tsv).read().splitlines()
versions = lines[0].lstrip("# ")
header = lines[1].split("\t")
rows = [dict(zip(header, l.split("\t"))) for l in lines[2:] if l.strip()]

def num(x):
    try:
        return float(x)
    except (TypeError, ValueError):
        return None

gh = [r for r in rows if r["peer"] == "gatehouse"]
def warm(*words):
    return [r for r in gh if r["test"].startswith("warm") and any(w in r["test"] for w in words)]
def ratio(*words):
    return [(r["test"], num(r["x_ref"])) for r in warm(*words)]
def p99(*words):
    return [(r["test"], num(r["p99_ms"])) for r in warm(*words)]
rss = max((num(r["rss_peak_mb"]) or 0 for r in gh), default=None)
cold_ts = [(r["test"], num(r["x_ref"])) for r in gh if r["test"].startswith("cold") and "typescript" in r["test"] and "abbrev" not in r["test"]]

goals = []
def goal(text, items, test):
    if not items:
        goals.append((text, "not measured", "–"))
    for name, value in items:
        ok = value is not None and test(value)
        goals.append((f"{text}: {name}", "-" if value is None else f"{value:g}", "met" if ok else "NOT met"))
goal("packument ≥ 0.5× nginx", ratio("full", "abbrev"), lambda v: v >= 0.5)
goal("express packument p99 < 50 ms", [t for t in p99("full", "abbrev") if "express" in t[0]], lambda v: v < 50)
goal("tarball ≥ 0.8× nginx", ratio("tarball"), lambda v: v >= 0.8)
goal("wheel ≥ 0.8× nginx", ratio("wheel"), lambda v: v >= 0.8)
goal("simple page ≥ 0.5× nginx", ratio("simple"), lambda v: v >= 0.5)
goal("peak RSS < 150 MB", [("whole run", rss)], lambda v: v < 150)
goal("cold typescript ≤ 2× upstream", cold_ts, lambda v: v <= 2)

md = []
md.append("# Benchmarks\n")
md.append("Written by `bash host/benches/peers.sh`, which runs the workplace's shared "
          "`peers.sh` (wrk on loopback, warm caches after one cold request) with gatehouse "
          "in its default layout (default adapters and policy set, upstreams from npm's and "
          "pip's settings) beside nginx serving the same bytes as static files, Verdaccio and devpi.\n")
md.append(f"- date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; commit {commit}")
md.append(f"- machine: {machine}")
md.append(f"- tools: {versions}\n")
md.append("## Goals (issue 10)\n")
md.append("| goal | measured | |")
md.append("|---|---|---|")
for text, value, verdict in goals:
    md.append(f"| {text} | {value} | {verdict} |")
md.append("\n`x_ref`: warm rows are req/s ÷ nginx's req/s for the same test; cold rows are "
          "time ÷ the time of fetching the same object straight from upstream.\n")
md.append("## Table\n")
cols = ["peer", "test", "bytes", "cold_ms", "req_s", "p50_ms", "p99_ms", "errors", "x_ref", "rss_peak_mb", "note"]
md.append("| " + " | ".join(cols) + " |")
md.append("|" + "---|" * len(cols))
for r in rows:
    md.append("| " + " | ".join(r.get(c, "") or "" for c in cols) + " |")
open(out, "w").write("\n".join(md) + "\n")
print(f"wrote {out}")
PY
