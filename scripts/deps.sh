#!/usr/bin/env bash
# Install every Debian package vhnet needs; idempotent, and quick when all are present.
set -euo pipefail

pkgs=(
	# build; clang and its runtimes for the ring fuzzer (make fuzz)
	build-essential cmake pkg-config clang-format xz-utils clang libclang-rt-14-dev llvm
	# the kernel that the module is built for and that the test VM boots: install them together
	linux-image-amd64 linux-headers-amd64 linux-source-6.1
	# make test-debug builds a kernel from that source
	bc bison flex libelf-dev libssl-dev patch
	# the VM rig
	qemu-system-x86 busybox-static kmod cpio gzip
	# the nested guest of the qemu suite: ethtool turns its offloads off
	ethtool
	# make bench: the report (python3) and its chart (gnuplot-nox)
	python3 gnuplot-nox
	# userspace libraries
	libnl-3-dev libnl-route-3-dev libmnl-dev libfmt-dev libcli11-dev nlohmann-json3-dev catch2
)

missing=()
for p in "${pkgs[@]}"; do
	[[ $p == \#* ]] && continue
	st=$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)
	[[ $st == installed ]] || missing+=("$p")
done

if ((${#missing[@]} == 0)); then
	echo "deps: all ${#pkgs[@]} packages present"
	exit 0
fi
if ((EUID != 0)); then
	echo "deps: missing packages (run as root to install): ${missing[*]}" >&2
	exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
echo "deps: done"
