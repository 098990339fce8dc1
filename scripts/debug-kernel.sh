#!/usr/bin/env bash
# Build the debug kernel of make test-debug from Debian's linux-source-6.1 (KASAN, lockdep,
# kmemleak, UBSAN, KFENCE: tests/debug/debug.config; the fixes in tests/debug/patches), or reuse
# the one already built. The cache lives outside the checkout, keyed by the config, the patches,
# this script and the source package version,
# so a fresh clone on the same machine reuses it:
#   $VHNET_CACHE (default /var/cache/vhnet)/debug-kernel-KEY/
#     linux/    the configured and built tree (vhnet.ko builds against it: make -C linux M=...)
#     vmlinuz   the kernel image
#     root/     its modules, under root/lib/modules/RELEASE
#     release   RELEASE (uname -r of the debug kernel)
# The last line of the output is that folder. About 17 minutes on 2 cores, once.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
frag=$top/tests/debug/debug.config
tarball=/usr/src/linux-source-6.1.tar.xz
jobs=${JOBS:-$(nproc)}

srcver=$(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null || true)
[[ -n $srcver && -e $tarball ]] ||
	{ echo "debug-kernel: linux-source-6.1 is not installed; run 'make deps'" >&2; exit 1; }
# Fixes the tree needs to boot reliably (each names its upstream commit), applied in name order.
patches=("$top"/tests/debug/patches/*.patch)
key=$( (cat "$frag" "$0" "${patches[@]}"; echo "$srcver") | sha256sum | cut -c1-12)
cache=${VHNET_CACHE:-/var/cache/vhnet}/debug-kernel-$key
if [[ -e $cache/release ]]; then
	echo "debug-kernel: reusing $(cat "$cache/release") (linux-source-6.1 $srcver)" >&2
	echo "$cache"
	exit 0
fi

echo "debug-kernel: building from linux-source-6.1 $srcver into $cache (about 17 minutes)" >&2
start=$SECONDS
rm -rf "$cache"
mkdir -p "$cache"
tar -xJf "$tarball" -C "$cache"
mv "$cache/linux-source-6.1" "$cache/linux"
cd "$cache/linux"
for p in "${patches[@]}"; do
	patch -s -p1 <"$p" || { echo "debug-kernel: $p does not apply" >&2; exit 1; }
done
make -s x86_64_defconfig >/dev/null
make -s kvm_guest.config >/dev/null
scripts/kconfig/merge_config.sh -m .config "$frag" >/dev/null
make -s olddefconfig >/dev/null
# Every option of the fragment must have survived olddefconfig (a dependency left unmet drops
# one silently): compare what was asked with what .config says.
missing=0
while IFS= read -r line; do
	if [[ $line =~ ^(CONFIG_[A-Z0-9_]+)=(.*)$ ]]; then
		grep -qxF "$line" .config || { echo "debug-kernel: $line did not stick" >&2; missing=1; }
	elif [[ $line =~ ^#\ (CONFIG_[A-Z0-9_]+)\ is\ not\ set$ ]]; then
		! grep -q "^${BASH_REMATCH[1]}=" .config ||
			{ echo "debug-kernel: ${BASH_REMATCH[1]} is set" >&2; missing=1; }
	fi
done <"$frag"
((missing == 0)) || { echo "debug-kernel: the config is not what tests/debug/debug.config asks" >&2; exit 1; }

make -s -j"$jobs" bzImage modules >"$cache/build.log" 2>&1 ||
	{ tail -n 30 "$cache/build.log" >&2; exit 1; }
make -s INSTALL_MOD_PATH="$cache/root" INSTALL_MOD_STRIP=1 modules_install >/dev/null
cp arch/x86/boot/bzImage "$cache/vmlinuz"
make -s kernelrelease >"$cache/release.tmp"
mv "$cache/release.tmp" "$cache/release"
echo "debug-kernel: built $(cat "$cache/release") in $((SECONDS - start)) s" >&2
echo "$cache"
