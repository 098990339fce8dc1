#!/usr/bin/env bash
# Build the test VM's initramfs as two concatenated gzip'd cpio archives:
#   base    busybox, /init, the Debian kernel's modules (tun, tap, vhost_net, kvm ...); cached
#           under build/vm/ and rebuilt only when the kernel or this script changes;
#   overlay vhnet.ko, the test binaries with their shared libraries, /vm/config; rebuilt every
#           time (well under a second), so a module change costs no base rebuild.
# Usage: mkinitramfs.sh -k KVER -o OUT.gz -m VHNET_KO -c CONFIG [BINARY...]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

kver= out= ko= config=
while getopts k:o:m:c: opt; do
	case $opt in
	k) kver=$OPTARG ;;
	o) out=$OPTARG ;;
	m) ko=$OPTARG ;;
	c) config=$OPTARG ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
[[ -n $kver && -n $out && -n $ko && -n $config ]] || { echo "usage: $0 -k KVER -o OUT -m KO -c CONFIG [BIN...]" >&2; exit 2; }

work=$(dirname "$out")
mkdir -p "$work"
moddir=/lib/modules/$kver

# Kernel modules the guest loads, in this order after their dependencies.
want=(tun tap vhost_iotlb vhost vhost_net irqbypass kvm kvm-amd)

# Print the dependency closure of module $1 (paths relative to $moddir), dependencies first.
declare -A seen
modclosure() {
	local name=$1 line path deps d
	line=$(grep -E "(^|/)${name}\.ko(\.[a-z]+)?:" "$moddir/modules.dep") ||
		{ echo "mkinitramfs: module $name not in $moddir/modules.dep" >&2; return 1; }
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

base=$work/base-$kver.cpio.gz
stamp=$(cat "$0" "$here/guest/init.sh" | sha256sum | cut -c1-16)
if [[ ! -s $base || $(cat "$base.stamp" 2>/dev/null) != "$stamp" ]]; then
	root=$(mktemp -d "$work/base.XXXXXX")
	mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,var/run,etc/vhnet,root,vm}
	install -m 0755 /bin/busybox "$root/bin/busybox"
	install -m 0755 "$here/guest/init.sh" "$root/init"
	order=()
	for m in "${want[@]}"; do
		while read -r p; do
			[[ " ${order[*]} " == *" $p "* ]] && continue
			order+=("$p")
			install -D -m 0644 "$moddir/$p" "$root$moddir/$p"
		done < <(modclosure "$m")
	done
	printf '%s\n' "${order[@]}" >"$root/etc/vhnet/modules"
	echo "$kver" >"$root/etc/vhnet/kver"
	mkcpio "$root" >"$base.tmp" && mv "$base.tmp" "$base"
	echo "$stamp" >"$base.stamp"
	rm -rf "$root"
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
{ cat "$base"; mkcpio "$root"; } >"$out.tmp"
mv "$out.tmp" "$out"
