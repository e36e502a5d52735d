#!/usr/bin/env bash
# Warm OCI pulls: a blob and a manifest through gatehouse, against the same
# registry served directly (Debian's docker-registry, the reference
# distribution registry, on 127.0.0.1). wrk, one run each, req/s and p99.
#
#   tests/bench/oci.sh            # needs a release build, docker-registry, skopeo, wrk
#
# The image: one 1 MiB layer of random bytes and its config, pushed with
# skopeo from an OCI layout written here. gatehouse runs `gatehouse init`'s
# layout with the registry as upstream `up` (`format: oci`), its default
# policies, and fetches the image once before the timed runs.
set -euo pipefail
cd "$(dirname "$0")/../.."
bin=${GATEHOUSE:-$PWD/target/release/gatehouse}
duration=${DURATION:-10}
connections=${CONNECTIONS:-32}
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() { for _ in $(seq 100); do curl -fs -o /dev/null "$1" && return; sleep 0.2; done; echo "no answer from $1" >&2; exit 1; }

registry_port=$(free_port)
cat >"$work/registry.yml" <<YAML
version: 0.1
log: {level: error}
storage: {filesystem: {rootdirectory: $work/registry}}
http: {addr: 127.0.0.1:$registry_port}
YAML
docker-registry serve "$work/registry.yml" >/dev/null 2>&1 &
pids+=($!)
wait_for "http://127.0.0.1:$registry_port/v2/"

# An OCI layout: one layer, its config, the manifest, the index.
python3 - "$work/layout" <<'PY'
import gzip, hashlib, io, json, os, sys, tarfile
root = sys.argv[1]
os.makedirs(f"{root}/blobs/sha256")
def blob(data):
    digest = hashlib.sha256(data).hexdigest()
    open(f"{root}/blobs/sha256/{digest}", "wb").write(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}
tar = io.BytesIO()
with tarfile.open(fileobj=tar, mode="w") as t:
    payload = os.urandom(1 << 20)
    info = tarfile.TarInfo("data.bin"); info.size = len(payload)
    t.addfile(info, io.BytesIO(payload))
layer_tar = tar.getvalue()
layer = blob(gzip.compress(layer_tar))
config = blob(json.dumps({
    "architecture": "amd64", "os": "linux", "created": "2024-01-01T00:00:00Z",
    "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer_tar).hexdigest()]},
}).encode())
manifest = blob(json.dumps({
    "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
    "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **layer}],
}).encode())
json.dump({"schemaVersion": 2, "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
    **manifest, "annotations": {"org.opencontainers.image.ref.name": "1"}}]}, open(f"{root}/index.json", "w"))
open(f"{root}/oci-layout", "w").write('{"imageLayoutVersion": "1.0.0"}')
print(layer["digest"], file=open(f"{root}/../layer", "w"))
PY
skopeo copy --quiet --dest-tls-verify=false "oci:$work/layout:1" "docker://127.0.0.1:$registry_port/bench:1"
layer=$(cat "$work/layer")

gatehouse_port=$(free_port)
"$bin" init "$work/gatehouse" >/dev/null
python3 - "$work/gatehouse/gatehouse.yaml" "$registry_port" "$gatehouse_port" <<'PY'
import re, sys
path, registry, listen = sys.argv[1:]
text = re.sub(r"^listen:.*$", f"listen: 127.0.0.1:{listen}", open(path).read(), count=1, flags=re.M)
entry = f"upstreams:\n  up:\n    url: http://127.0.0.1:{registry}\n    format: oci"
if re.search(r"^upstreams:.*$", text, re.M):
    text = re.sub(r"^upstreams:.*$", entry, text, count=1, flags=re.M)
else:
    text += entry + "\n"
open(path, "w").write(text)
PY
(cd "$work/gatehouse" && "$bin" serve --config gatehouse.yaml >"$work/gatehouse.log" 2>&1) &
pids+=($!)
wait_for "http://127.0.0.1:$gatehouse_port/v2/"

accept="Accept: application/vnd.oci.image.manifest.v1+json"
direct="http://127.0.0.1:$registry_port/v2/bench"
through="http://127.0.0.1:$gatehouse_port/v2/up/bench"
# The first pull through gatehouse fetches and judges; the timed runs are warm.
skopeo copy --quiet --src-tls-verify=false "docker://127.0.0.1:$gatehouse_port/up/bench:1" "oci:$work/pulled:1"

run() { # name url [header]
  local out
  out=$(wrk -t2 -c"$connections" -d"${duration}s" --latency ${3:+-H "$3"} "$2")
  printf '%-28s %10s req/s  p99 %s\n' "$1" \
    "$(awk '/Requests\/sec/ {print $2}' <<<"$out")" "$(awk '$1 == "99%" {print $2}' <<<"$out")"
}
echo "warm, ${duration}s each, $connections connections"
run "registry manifest (tag)" "$direct/manifests/1" "$accept"
run "gatehouse manifest (tag)" "$through/manifests/1" "$accept"
run "registry blob (1 MiB layer)" "$direct/blobs/$layer"
run "gatehouse blob (1 MiB layer)" "$through/blobs/$layer"
