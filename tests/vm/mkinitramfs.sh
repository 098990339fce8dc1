#!/usr/bin/env bash
# Build the test VM's initramfs as concatenated gzip'd cpio archives:
#   base    busybox, /init, the Debian kernel's modules (tun, tap, vhost_net, kvm, bridge ...); cached
#           under build/vm/ and rebuilt only when the kernel or this script changes;
#   nested  (-n only) QEMU with its libraries and firmware, and the kernel for a nested guest;
#           cached like base;
#   overlay vhnet.ko, the test binaries with their shared libraries, /vm/config and, with -n,
#           the nested guest's initramfs /vm/inner/initrd.gz (inner/init.sh, virtio-net,
#           ethtool and the -x binaries); rebuilt every time (about a second), so a module
#           change costs no base rebuild.
# Usage: mkinitramfs.sh -k KVER -o OUT.gz -m VHNET_KO -c CONFIG [-r MODROOT] [-n [-i INNER_KVER]
#                       [-x INNER_BIN]...] [BINARY...]
# -r: the root holding lib/modules/KVER (another kernel's, the debug kernel of make test-debug);
# default /. -i: the kernel the nested guest boots, from /boot and /lib/modules (default KVER).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

kver= out= ko= config= nested= inner_bins=() modroot= inner_kver=
while getopts k:o:m:c:nx:r:i: opt; do
	case $opt in
	k) kver=$OPTARG ;;
	o) out=$OPTARG ;;
	m) ko=$OPTARG ;;
	c) config=$OPTARG ;;
	n) nested=1 ;;
	x) inner_bins+=("$OPTARG") ;;
	r) modroot=$OPTARG ;;
	i) inner_kver=$OPTARG ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[[ -n $kver && -n $out && -n $ko && -n $config ]] || { echo "usage: $0 -k KVER -o OUT -m KO -c CONFIG [BIN...]" >&2; exit 2; }

work=$(dirname "$out")
mkdir -p "$work"
: "${inner_kver:=$kver}"
outer_moddir=$modroot/lib/modules/$kver
inner_moddir=/lib/modules/$inner_kver
[[ -e $outer_moddir/modules.dep ]] || { echo "mkinitramfs: no $outer_moddir/modules.dep" >&2; exit 1; }

# Kernel modules the guest loads, in this order after their dependencies (bridge, with stp and
# llc: the migration suite's bridge br-mig). This list is part of this script, so the base
# layer's stamp changes with it.
want=(tun tap vhost_iotlb vhost vhost_net irqbypass kvm kvm-amd bridge)

# The nested guest's modules: its NIC and the virtio-serial port its commands come through.
inner_want=(virtio_pci virtio_net virtio_console)

# Print the dependency closure of module $1 (paths relative to $moddir), dependencies first;
# nothing for a module built into the kernel.
declare -A seen
modclosure() {
	local name=$1 line path deps d
	if ! line=$(grep -E "(^|/)${name}\.ko(\.[a-z]+)?:" "$moddir/modules.dep"); then
		grep -qE "(^|/)${name//-/[-_]}\.ko\$" "$moddir/modules.builtin" 2>/dev/null && return 0
		echo "mkinitramfs: module $name not in $moddir/modules.dep" >&2
		return 1
	fi
	path=${line%%:*}
	deps=${line#*:}
	[[ -n ${seen[$path]:-} ]] && return 0
	seen[$path]=1
	for d in $deps; do
		d=$(basename "$d"); modclosure "${d%%.ko*}"
	done
	echo "$path"
}

# Copy a binary and every shared library it needs (as ldd resolves them) into root $1.
copy_with_libs() {
	local root=$1 bin=$2 dest=${3:-$2} lib
	install -D -m 0755 "$bin" "$root$dest"
	for lib in $(ldd "$bin" 2>/dev/null | grep -oE '/[^ ]+\.so[^ ]*' | sort -u); do
		[[ -e $root$lib ]] || install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
	done
}

mkcpio() { (cd "$1" && find . -print0 | cpio --null -o -H newc -R 0:0 --quiet | gzip -1); }

# Install modules $@ and their dependencies into root $root, listed in load order in
# $root/etc/vhnet/modules.
install_modules() {
	local m p order=()
	seen=()
	for m in "$@"; do
		while read -r p; do
			[[ " ${order[*]} " == *" $p "* ]] && continue
			order+=("$p")
			install -D -m 0644 "$moddir/$p" "$root/lib/modules/$modkver/$p"
		done < <(modclosure "$m")
	done
	mkdir -p "$root/etc/vhnet"
	printf '%s\n' "${order[@]}" >"$root/etc/vhnet/modules"
	echo "$modkver" >"$root/etc/vhnet/kver"
}

# A cached layer: build it with function $2 into $1 unless its stamp (this script, the files
# $3..., and the kernel: Debian updates a kernel package in place under the same version string,
# so its package version and modules.dep count too; a kernel from elsewhere has its own
# modules.dep) is unchanged.
cached_layer() {
	local file=$1 fn=$2 stamp
	shift 2
	stamp=$( (cat "$0" "$@" "$moddir/modules.dep"; echo "$modkver"
		dpkg-query -W -f='${Version}' "linux-image-$modkver" 2>/dev/null || true) |
		sha256sum | cut -c1-16)
	[[ -s $file && $(cat "$file.stamp" 2>/dev/null) == "$stamp" ]] && return 0
	root=$(mktemp -d "$work/layer.XXXXXX")
	"$fn"
	mkcpio "$root" >"$file.tmp" && mv "$file.tmp" "$file"
	echo "$stamp" >"$file.stamp"
	rm -rf "$root"
}

build_base() {
	mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,var/run,etc/vhnet,root,vm}
	install -m 0755 /bin/busybox "$root/bin/busybox"
	install -m 0755 "$here/guest/init.sh" "$root/init"
	install_modules "${want[@]}"
}
base=$work/base-$kver.cpio.gz
moddir=$outer_moddir modkver=$kver
cached_layer "$base" build_base "$here/guest/init.sh"

# QEMU as the nested guest's VMM: the binary, its libraries, its TCG accelerator module (found
# relative to the binary) and the firmware a -kernel boot needs, under /usr/share/vhnet-qemu
# (-L); the kernel the nested guest boots.
qemu_bin=/usr/bin/qemu-system-x86_64
build_nested() {
	local f
	copy_with_libs "$root" "$qemu_bin"
	for f in /usr/lib/x86_64-linux-gnu/qemu/accel-tcg-x86_64.so; do
		copy_with_libs "$root" "$f"
	done
	mkdir -p "$root/usr/share/vhnet-qemu"
	for f in /usr/share/seabios/bios-256k.bin /usr/share/qemu/linuxboot_dma.bin \
		/usr/share/qemu/kvmvapic.bin; do
		install -m 0644 "$(readlink -f "$f")" "$root/usr/share/vhnet-qemu/$(basename "$f")"
	done
	install -D -m 0644 "/boot/vmlinuz-$inner_kver" "$root/vm/inner/vmlinuz"
}

# The nested guest's own initramfs, without the project's binaries.
build_inner_base() {
	mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,var/run,root}
	install -m 0755 /bin/busybox "$root/bin/busybox"
	install -m 0755 "$here/inner/init.sh" "$root/init"
	copy_with_libs "$root" /usr/sbin/ethtool
	install_modules "${inner_want[@]}"
}

layers=("$base")
if [[ -n $nested ]]; then
	moddir=$inner_moddir modkver=$inner_kver
	nested_layer=$work/nested-$inner_kver.cpio.gz
	cached_layer "$nested_layer" build_nested "$qemu_bin"
	inner_base=$work/inner-base-$inner_kver.cpio.gz
	cached_layer "$inner_base" build_inner_base "$here/inner/init.sh" /usr/sbin/ethtool
	layers+=("$nested_layer")
fi

root=$(mktemp -d "$work/overlay.XXXXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/vm/bin"
install -m 0644 "$ko" "$root/vm/vhnet.ko"
install -m 0644 "$config" "$root/vm/config"
install -m 0755 "$here/guest/run-suites.sh" "$root/vm/run-suites.sh"
for b in "$@"; do
	copy_with_libs "$root" "$b" "/vm/bin/$(basename "$b")"
done
if [[ -n $nested ]]; then
	inner=$(mktemp -d "$work/inner.XXXXXX")
	for b in "${inner_bins[@]}"; do
		copy_with_libs "$inner" "$b" "/usr/bin/$(basename "$b")"
	done
	mkdir -p "$root/vm/inner"
	{ cat "$inner_base"; mkcpio "$inner"; } >"$root/vm/inner/initrd.gz"
	rm -rf "$inner"
fi
{ cat "${layers[@]}"; mkcpio "$root"; } >"$out.tmp"
mv "$out.tmp" "$out"
