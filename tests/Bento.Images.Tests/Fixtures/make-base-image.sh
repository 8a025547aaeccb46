#!/usr/bin/env bash
# Builds the test base image: a Debian 13 (trixie) minbase rootfs with what the runtime needs (libstdc++ from GCC 14,
# ICU, OpenSSL, zlib, CA certificates), packed as a one-layer OCI image layout with umoci, tagged "trixie".
#   make-base-image.sh DIR        (DIR must not exist; it is created complete or not at all)
# Needs root, debootstrap and umoci. Mirror: $BENTO_BASE_IMAGE_MIRROR (default http://deb.debian.org/debian).
set -euo pipefail
out=${1:?usage: make-base-image.sh DIR}
mirror=${BENTO_BASE_IMAGE_MIRROR:-http://deb.debian.org/debian}
[[ $EUID -eq 0 ]] || { echo "make-base-image.sh: must run as root (debootstrap)" >&2; exit 1; }
for tool in debootstrap umoci; do
  command -v "$tool" >/dev/null || { echo "make-base-image.sh: $tool is missing (apt-get install $tool)" >&2; exit 1; }
done
work=$(mktemp -d "${out%/}.work.XXXXXX")
trap 'rm -rf "$work"' EXIT
debootstrap --variant=minbase --include=ca-certificates,libicu76,libssl3t64,zlib1g,libstdc++6 \
  trixie "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log" >&2; exit 1; }
# Smaller and reproducible enough for a test fixture: no apt lists, caches or logs.
rm -rf "$work/rootfs/var/lib/apt/lists/"* "$work/rootfs/var/cache/apt/"*.bin "$work/rootfs/var/cache/apt/archives/"*.deb \
  "$work/rootfs/var/log/"* "$work/rootfs/debootstrap"
umoci init --layout "$work/layout"
umoci new --image "$work/layout:trixie"
umoci insert --image "$work/layout:trixie" "$work/rootfs" /
umoci config --image "$work/layout:trixie" --os linux --architecture amd64 \
  --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --config.cmd /bin/bash --config.label org.opencontainers.image.title=bentobuilder-test-base
umoci gc --layout "$work/layout"
mv "$work/layout" "$out"
