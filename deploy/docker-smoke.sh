#!/usr/bin/env bash
# Build the consent-proxy image and check it the way an orchestrator will use it:
#   - the process runs as a UID >= 10000;
#   - the HEALTHCHECK (urllib against /livez on the admin port) turns healthy;
#   - `docker stop` (SIGTERM) lets a slow in-flight request finish and the process exits 0;
# all with a read-only root filesystem, every capability dropped and no network at all.
#
# Usage: deploy/docker-smoke.sh            (from anywhere; needs a running Docker daemon)
#   BASE_IMAGE=python:3.11-slim-bookworm deploy/docker-smoke.sh   to use an image you have
# Without BASE_IMAGE it uses python:3.11-slim-bookworm if that is present locally, otherwise it
# makes a Debian bookworm base locally with debootstrap (python3 + python3-venv, from the
# mirror apt already uses). Python wheels come from the host's pip (a wheelhouse in a temporary
# build context), so the build itself runs with --network none.
# Exits 0 with "skipped: no docker daemon" when no daemon answers.
set -euo pipefail

if ! command -v docker >/dev/null 2>&1 || ! docker info >/dev/null 2>&1; then
    echo "skipped: no docker daemon"
    exit 0
fi

repo="$(cd "$(dirname "$0")/.." && pwd)"
tag="consent-proxy:smoke"
name="consent-proxy-smoke-$$"
local_base="consent-proxy-base:bookworm-local"

work="$(mktemp -d)"
cleanup() {
    docker rm -f "$name" >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT

base="${BASE_IMAGE:-}"
if [[ -z "$base" ]]; then
    if docker image inspect python:3.11-slim-bookworm >/dev/null 2>&1; then
        base="python:3.11-slim-bookworm"
    elif docker image inspect "$local_base" >/dev/null 2>&1; then
        base="$local_base"
    else
        command -v debootstrap >/dev/null || { echo "FAIL: no base image and no debootstrap to make one" >&2; exit 1; }
        # The Debian mirror apt is configured with (one-line or deb822 sources).
        mirror="$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
                  | grep -oE '^(deb|URIs:)[[:space:]]+(\[[^]]*\][[:space:]]+)?[^[:space:]]+' | awk '{print $NF}' \
                  | grep -E '/debian/?$' | head -n1 || true)"
        echo "== making a local bookworm base image with debootstrap"
        debootstrap --variant=minbase --include=python3,python3-venv bookworm "$work/rootfs" ${mirror:+"$mirror"} >"$work/debootstrap.log" 2>&1 \
            || { tail -n 20 "$work/debootstrap.log" >&2; exit 1; }
        rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
        tar -C "$work/rootfs" -c . | docker import --change 'CMD ["python3"]' - "$local_base" >/dev/null
        rm -rf "$work/rootfs"
        base="$local_base"
    fi
fi
echo "== base image: $base"

# Build context: exactly what .dockerignore lets through, plus a wheelhouse from the host's pip.
ctx="$work/ctx"
mkdir -p "$ctx/deploy"
cp -r "$repo/Dockerfile" "$repo/.dockerignore" "$repo/pyproject.toml" "$repo/README.md" "$repo/proxy" "$repo/config" "$ctx/"
cp -r "$repo/deploy/docker" "$ctx/deploy/"
pip_cmd=("${PYTHON:-$repo/.venv/bin/python}" -m pip)
"${pip_cmd[@]}" wheel --quiet --wheel-dir "$ctx/wheelhouse" "$repo[fast]" "setuptools>=68" wheel
rm -f "$ctx"/wheelhouse/consent_proxy-*.whl

echo "== docker build"
docker build --network none --quiet -t "$tag" --build-arg BASE_IMAGE="$base" \
    --build-arg PIP_NO_INDEX=1 --build-arg PIP_FIND_LINKS=/src/wheelhouse "$ctx" >/dev/null

docker run -d --name "$name" --network none --read-only --tmpfs /tmp --cap-drop ALL \
    --security-opt no-new-privileges "$tag" >/dev/null

fail() { echo "FAIL: $*" >&2; docker logs "$name" 2>&1 | tail -n 20 >&2; exit 1; }

uid="$(docker exec "$name" id -u)"
[[ "$uid" -ge 10000 ]] || fail "runs as UID $uid, want >= 10000"
echo "ok: runs as UID $uid (image USER $(docker image inspect --format '{{.Config.User}}' "$tag"))"

status=""
for _ in $(seq 1 60); do
    status="$(docker inspect --format '{{.State.Health.Status}}' "$name")"
    [[ "$status" == healthy || "$status" == unhealthy ]] && break
    sleep 1
done
[[ "$status" == healthy ]] || fail "HEALTHCHECK is '$status', want healthy"
echo "ok: HEALTHCHECK healthy"

# Drain: a slow origin on the built-in config's upstream address (127.0.0.1:8080, inside the
# container), a request in flight through the proxy, then SIGTERM: the request must complete.
docker exec -d "$name" python3 -c "
import asyncio
from aiohttp import web
async def slow(request):
    await asyncio.sleep(3)
    return web.Response(text='drained-ok')
app = web.Application()
app.router.add_get('/{tail:.*}', slow)
web.run_app(app, host='127.0.0.1', port=8080, access_log=None, print=None)"
sleep 2
docker exec "$name" python3 -c "
import urllib.request
print(urllib.request.urlopen('http://127.0.0.1:8000/slow', timeout=20).read().decode())" >"$work/inflight" 2>&1 &
client=$!
sleep 1

start=$(date +%s)
docker stop --time 40 "$name" >/dev/null
took=$(( $(date +%s) - start ))
code="$(docker inspect --format '{{.State.ExitCode}}' "$name")"
[[ "$code" == 0 ]] || fail "exit code $code after SIGTERM, want 0"
docker logs "$name" 2>&1 | grep -q '"event":"stopping"' || fail "no drain log line after SIGTERM"
wait "$client" || true
grep -q drained-ok "$work/inflight" || fail "the in-flight request did not complete: $(cat "$work/inflight")"
echo "ok: SIGTERM drained the in-flight request and exited 0 in ${took}s"
echo "docker smoke: all checks passed ($tag from $base)"
