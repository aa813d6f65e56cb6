#!/usr/bin/env bash
# The render function image's runtime filesystem, built from Debian's packages without a
# container registry: the base image's Debian release (function/Dockerfile's last FROM) with
# exactly the packages of function/image/runtime-packages.txt, which the Dockerfile installs
# too. The tests run the function from it inside the emulated Lambda sandbox.
#
#   bash scripts/function-rootfs.sh            # prints the folder (built once, then cached)
#
# The folder is cached under ~/.cache/remotion-operator, keyed by the package list and the
# release; delete it to rebuild. Needs root (mmdebstrap --mode=root) and Debian's mirror.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
list="$here/function/image/runtime-packages.txt"
suite=$(sed -n 's/^FROM docker.io\/library\/debian:\([a-z]*\)-slim.*/\1/p' "$here/function/Dockerfile" | tail -n 1)
[ -n "$suite" ] || { echo "function-rootfs: no debian:<release>-slim base in function/Dockerfile" >&2; exit 1; }
packages=$(grep -v -e '^[[:space:]]*#' -e '^[[:space:]]*$' "$list" | paste -sd, -)
key=$( { echo "$suite"; cat "$list" "$0"; } | sha256sum | cut -c1-12)
out=${FUNCTION_ROOTFS_DIR:-$HOME/.cache/remotion-operator/function-rootfs-$suite-$key}
if [ -f "$out/.complete" ]; then
  echo "$out"
  exit 0
fi
command -v mmdebstrap >/dev/null || {
  apt-get install -y -qq --no-install-recommends mmdebstrap >/dev/null \
    || { echo "function-rootfs: apt-get install mmdebstrap failed" >&2; exit 1; }
}
partial="$out.partial"
rm -rf "$partial" "$out"
mkdir -p "$(dirname "$out")"
# As the Dockerfile: no recommended packages, the security archive (Debian's Chromium is
# updated there), fontconfig's cache built, apt's lists removed, and the image's folders (the
# bootstrap's path exists for the binary to be mounted on).
mmdebstrap --mode=root --variant=apt --quiet \
  --aptopt='APT::Install-Recommends "false"' \
  --include="$packages" \
  --customize-hook='chroot "$1" fc-cache -f' \
  --customize-hook='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
  --customize-hook='mkdir -p "$1/var/runtime" "$1/var/task" && touch "$1/var/runtime/bootstrap"' \
  "$suite" "$partial" \
  "deb http://deb.debian.org/debian $suite main" \
  "deb http://deb.debian.org/debian $suite-updates main" \
  "deb http://deb.debian.org/debian-security $suite-security main" >&2
touch "$partial/.complete"
mv "$partial" "$out"
echo "$out"
