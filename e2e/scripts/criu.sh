#!/usr/bin/env bash
# Installs CRIU 4.1.1 for the node stand-ins' runc, cached by version. Debian bookworm's CRIU 3.17 fails its kernel
# feature detection on the project's kernel (vDSO); trixie's 4.1.1 works but needs trixie's glibc, so it lives in a
# minimal trixie root made by mmdebstrap and runs with that root's own loader and libraries, from the host (inside a
# chroot CRIU cannot make sense of the mount table). See ../shared/reference/real-criu.md.
#
# Prints the path of an executable `criu` wrapper, for `runc --criu`. A warm cache does nothing.
set -euo pipefail

CRIU_VERSION=4.1.1
SUITE=trixie
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache=${STATEFUL_MIGRATION_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/stateful-migration}
dir=$cache/criu-$CRIU_VERSION
wrapper=$dir/criu

if [ -x "$wrapper" ] && "$wrapper" --version 2>/dev/null | grep -q "Version: $CRIU_VERSION"; then
  echo "$wrapper"
  exit 0
fi
command -v mmdebstrap >/dev/null 2>&1 || { echo "criu: mmdebstrap is missing (apt-get install mmdebstrap)" >&2; exit 1; }
t0=$(date +%s)
echo "[$(date +%H:%M:%S)] criu: installing CRIU $CRIU_VERSION from Debian $SUITE into $dir" >&2
rm -rf "$dir".tmp.*
tmp=$dir.tmp.$$
mkdir -p "$tmp"
trap 'rm -rf "$tmp"' EXIT
mmdebstrap --quiet --variant=minbase --include=criu \
  --customize-hook='rm -rf "$1"/var/cache/apt/*.bin "$1"/var/lib/apt/lists/*' \
  "$SUITE" "$tmp/root" "deb $mirror $SUITE main" >&2
have=$(sed -n '/^Package: criu$/,/^$/s/^Version: //p' "$tmp/root/var/lib/dpkg/status")
case "$have" in
  "$CRIU_VERSION"-*) ;;
  *) echo "criu: Debian $SUITE gave criu $have, not $CRIU_VERSION; update CRIU_VERSION in $0 after checking it" >&2; exit 1 ;;
esac
root=$dir/root
cat > "$tmp/criu" <<WRAP
#!/bin/sh
# CRIU $CRIU_VERSION from Debian $SUITE, run with its own loader and libraries (made by e2e/scripts/criu.sh).
exec $root/usr/lib64/ld-linux-x86-64.so.2 --library-path $root/usr/lib/x86_64-linux-gnu $root/usr/sbin/criu "\$@"
WRAP
chmod 0755 "$tmp/criu"
rm -rf "$dir"
mv "$tmp" "$dir"
trap - EXIT
if ! "$wrapper" check >/dev/null 2>&1; then
  echo "criu: 'criu check' fails on this machine:" >&2
  "$wrapper" check >&2 || true
  exit 1
fi
echo "[$(date +%H:%M:%S)] criu: ready in $(( $(date +%s) - t0 ))s" >&2
echo "$wrapper"
