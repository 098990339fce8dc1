#!/usr/bin/env bash
# Print the newest kernel version that has both /boot/vmlinuz-<ver> and /lib/modules/<ver>/build,
# so that the module is built for exactly the kernel that the test VM boots.
set -euo pipefail
best=
for img in /boot/vmlinuz-*; do
	[[ -e $img ]] || continue
	v=${img#/boot/vmlinuz-}
	[[ -d /lib/modules/$v/build ]] || continue
	best=$(printf '%s\n%s\n' "$best" "$v" | sed '/^$/d' | sort -V | tail -n 1)
done
if [[ -z $best ]]; then
	echo "kver: no /boot/vmlinuz-<ver> with a matching /lib/modules/<ver>/build; run 'make deps'" >&2
	exit 1
fi
echo "$best"
