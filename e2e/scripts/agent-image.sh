#!/usr/bin/env bash
# Builds the agent image from deploy/Containerfile with buildah, into the local containers-storage, and prints its
# name. NODE_BASE picks the base image; without it, e2e/scripts/node-base.sh makes one locally (no docker.io needed).
# GO_BASE picks the image checkpoint-store is built in; without it, the base above with this machine's Go.
#   bash e2e/scripts/agent-image.sh [name]   default name: localhost/stateful-migration/agent:<cli version>
# Chroot isolation, since RUN steps need no OCI runtime or cgroups then (as in CI containers); --layers keeps each
# step's result, so an unchanged tree rebuilds in seconds. With NODE_EXTRA_CA_CERTS set (a TLS-intercepting proxy),
# that CA bundle is mounted into the build stage for npm.
set -euo pipefail
cd "$(dirname "$0")/../.."
version=$(node -p 'require("./packages/cli/package.json").version')
name=${1:-localhost/stateful-migration/agent:$version}
# The base pinned by content: a name given in NODE_BASE as it is (give it @sha256:<digest>), the local base by its
# image ID, so a re-tagged name can never change what the image is built on.
base=${NODE_BASE:-$(buildah inspect --type image --format '{{.FromImageID}}' "$(bash e2e/scripts/node-base.sh)")}
# checkpoint-store's build stage: GO_BASE as it is (give it @sha256:<digest>; it downloads the modules through its
# GOPROXY), or, without it, the same base with this machine's Go and module cache mounted read-only, and GOPROXY=off,
# so the build needs no docker.io and no network (the modules are downloaded here first, a no-op when cached).
go=()
if [ -z "${GO_BASE:-}" ]; then
  if ! command -v go >/dev/null 2>&1; then
    echo "agent-image: the Go toolchain is missing (need go >= 1.26 on PATH, or GO_BASE=<a golang image>)" >&2
    exit 1
  fi
  (cd go/checkpoint-store && go mod download)
  go=(--build-arg GO_BASE="$base" --volume "$(go env GOROOT):/usr/local/go:ro"
    --volume "$(go env GOMODCACHE):/go/pkg/mod:ro" --build-arg GOPROXY=off)
else
  go=(--build-arg GO_BASE="$GO_BASE")
fi
ca=()
if [ -n "${NODE_EXTRA_CA_CERTS:-}" ]; then
  ca=(--volume "$NODE_EXTRA_CA_CERTS:/run/extra-ca.pem:ro" --build-arg NODE_EXTRA_CA_CERTS=/run/extra-ca.pem)
fi
t0=$(date +%s)
buildah bud --quiet --isolation chroot --layers -f deploy/Containerfile \
  --build-arg NODE_BASE="$base" --build-arg VERSION="$version" "${go[@]}" "${ca[@]}" -t "$name" . >&2
size=$(buildah images --format '{{.Size}}' "$name" 2>/dev/null || echo '?')
printf '[%s] agent-image: %s built in %ss (%s)\n' "$(date +%H:%M:%S)" "$name" "$(($(date +%s) - t0))" "$size" >&2
echo "$name"
