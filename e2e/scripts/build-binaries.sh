#!/usr/bin/env bash
# Builds the federation's Go binaries once per version into a per-user cache.
# A warm cache never rebuilds: each binary's directory is keyed by its version.
#   bash e2e/scripts/build-binaries.sh        every binary
#   bash e2e/scripts/build-binaries.sh helm   helm only (what `pnpm gen` and the chart's tests need)
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
ETCD_VERSION=v3.6.6
KUBE_VERSION=v1.35.4
KARMADA_VERSION=v1.18.2
CHECKPOINTCTL_VERSION=v1.6.0
HELM_VERSION=v3.22.0 # as packages/cli/src/helm.ts (a test checks they match)
REGISTRY_VERSION=v3.1.2
# The project's own Go helper (go/checkpoint-store, ADR 0015) is versioned by its sources: a change rebuilds it.
# paths.ts (checkpointStoreVersion) hashes the same files in the same order.
CHECKPOINT_STORE_VERSION=src-$(cd "$here/../go/checkpoint-store" && cat go.mod go.sum $(LC_ALL=C ls *.go) | sha256sum | cut -c1-16)
cache=${STATEFUL_MIGRATION_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/stateful-migration}/bin
export CGO_ENABLED=0 GOFLAGS=-mod=mod

if ! command -v go >/dev/null 2>&1; then
  echo "build-binaries: the Go toolchain is missing (need go >= 1.25 on PATH; see README)" >&2
  exit 1
fi

start=$(date +%s)
built=0
step() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*"; }

# build NAME VERSION CMD...: runs CMD with $out set, unless $cache/NAME-VERSION/NAME exists.
build() {
  local name=$1 version=$2; shift 2
  out="$cache/$name-$version"
  if [ -x "$out/$name" ]; then return 0; fi
  step "building $name $version"
  local t0=$(date +%s) tmp="$out.tmp.$$"
  rm -rf "$out".tmp.*; mkdir -p "$tmp"  # leftovers of failed builds go too
  if ! out=$tmp "$@" >"$tmp.log" 2>&1; then
    echo "build-binaries: building $name $version failed; log: $tmp.log" >&2
    tail -20 "$tmp.log" >&2
    if grep -qE 'proxy|dial tcp|no such host|i/o timeout' "$tmp.log"; then
      echo "build-binaries: the Go module proxy ($(go env GOPROXY)) looks unreachable" >&2
    fi
    exit 1
  fi
  rm -rf "$out"; mv "$tmp" "$out"; rm -f "$tmp.log"
  built=$((built + 1))
  step "built $name in $(( $(date +%s) - t0 ))s"
}

kube_ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$KUBE_VERSION -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=35"
kube_build() { (cd "$here/gobuild/kube" && go build -trimpath -ldflags "$kube_ldflags" -o "$out/$1" "k8s.io/kubernetes/cmd/$1"); }
karmada_build() { (cd "$here/gobuild/karmada" && go build -trimpath -ldflags "-s -w" -o "$out/karmada-$1" "github.com/karmada-io/karmada/cmd/$1"); }

# helm renders and lints the chart (pnpm gen, chart.test.ts) and installs it; built from its Go module, as Karmada.
build helm "$HELM_VERSION" sh -c 'cd "$0/gobuild/helm" && go build -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$1" -o "$out/helm" helm.sh/helm/v3/cmd/helm' "$here" "$HELM_VERSION"
if [ "${1:-}" = helm ]; then exit 0; fi

build etcd "$ETCD_VERSION" sh -c 'cd "$0/gobuild/etcd" && go build -trimpath -ldflags "-s -w" -o "$out/etcd" .' "$here"
for c in kube-apiserver kube-controller-manager kube-scheduler kubectl; do
  build "$c" "$KUBE_VERSION" kube_build "$c"
done
for c in controller-manager scheduler webhook aggregated-apiserver; do
  build "karmada-$c" "$KARMADA_VERSION" karmada_build "$c"
done

# checkpointctl reads checkpoint archives; v1.7.0 needs a go-criu version the proxy refuses.
build checkpointctl "$CHECKPOINTCTL_VERSION" sh -c 'cd "$0/gobuild/checkpointctl" && go build -trimpath -ldflags "-s -w" -o "$out/checkpointctl" github.com/checkpoint-restore/checkpointctl' "$here"

# The registry checkpoint images are pushed to. Built here rather than taken from Debian's docker-registry
# 2.8.2: that build's Go (1.19) hashes uploads without the CPU's SHA extensions, which bounded the push.
build registry "$REGISTRY_VERSION" sh -c 'cd "$0/gobuild/registry" && go build -trimpath -ldflags "-s -w -X github.com/distribution/distribution/v3/version.version=$1" -o "$out/registry" github.com/distribution/distribution/v3/cmd/registry' "$here" "$REGISTRY_VERSION"

# checkpoint-store writes the agent's local checkpoint images into containers-storage (the stand-in nodes' agents
# run it from here; the agent image builds it in deploy/Containerfile). Pure Go: no gpgme (the OpenPGP tag), no btrfs.
build checkpoint-store "$CHECKPOINT_STORE_VERSION" sh -c 'cd "$0/../go/checkpoint-store" && go build -trimpath -tags containers_image_openpgp,exclude_graphdriver_btrfs -ldflags "-s -w" -o "$out/checkpoint-store" .' "$here"

# The karmada module's source holds the CRDs and webhook configuration the federation installs.
mkdir -p "$cache"
(cd "$here/gobuild/karmada" && go mod download -json "github.com/karmada-io/karmada@$KARMADA_VERSION") \
  | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' > "$cache/karmada-$KARMADA_VERSION.dir"

if [ $built -gt 0 ]; then
  step "built $built binaries in $(( $(date +%s) - start ))s (cache: $cache)"
fi
