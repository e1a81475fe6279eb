#!/usr/bin/env bats
# The aarch64 path end to end, the owner's case: the example board curie
# (fleet/curie.yaml: the qemu virt board, its device tree from the
# board/qemu-virt series) is cross-built as a pacman package on the x86_64
# build host (the loopback sshd, user kbuild), signed and published, installed
# with consent on the arm64 test board (tests/qemu, --arch arm64: U-Boot →
# extlinux → Image + FDT from the installed package → Debian → sshd), and
# verified: bar 3 reads /proc/device-tree/model and the series' dt probes
# pass. The fault: a U-Boot without fdt_addr_r ignores the FDT line and boots
# qemu's own tree; bar 3 fails naming the model it read, [ka:regression] and
# [ka:host-drifted] are filed, and the backup restores the old entry.
#
# The owner's lessons on the package and on the board: Image (not vmlinuz)
# triggers the alpm hook that runs mkinitcpio with the suffixed preset (the
# Debian board has no mkinitcpio: a stand-in records the call and writes an
# empty initramfs where the preset says), every path is the alongside one, and
# the managed extlinux block is idempotent and carries the FDT line.
#
# Part of make e2e. The first run on a machine builds the arm64 board image
# (a cross-built kernel, debootstrap's second stage in the guest: cached per
# machine); curie's build then hits the machine's test ccache that the
# board's kernel filled (tests/e2e/lib.bash). KA_E2E_ARM64=0 skips it.

bats_require_minimum_version 1.5.0

REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
# shellcheck source=tests/e2e/lib.bash
. "$BATS_TEST_DIRNAME/lib.bash"
Q=$REPO/tests/qemu
OUR_MODEL="kernel-agent qemu-virt board, qemu-virt-dt series"
QEMU_MODEL="linux,dummy-virt"

setup_file() {
	[[ ${KA_E2E_ARM64:-1} != 0 ]] || return 0 # setup skips each test
	export T
	T=$(mktemp -d "${BATS_TMPDIR:-/tmp}/ka-e2e-arm64.XXXXXX")
	chmod 755 "$T"
	export HOME="$T/home" KA_ROOT="$T/root" KA_REPO="$T/repo"
	mkdir -p "$HOME" "$KA_REPO/fleet/config"
	"$Q/make-image" --arch arm64 --include pacman-package-manager,gnupg >"$T/image.env"
	# shellcheck disable=SC1091
	. "$T/image.env"
	export IMAGE_DIR IMAGE_KERNEL_RELEASE
	"$REPO/tests/sshd/start-sshd" "$T/sshd" >"$T/sshd.env"
	# shellcheck disable=SC1091
	. "$T/sshd.env"
	export SSHD_PID SSHD_PORT SSHD_REMOTE
	e2e_ccache "$SSHD_REMOTE"
	"$Q/start-guest" --timeout 900 "$T/g" "$IMAGE_DIR" >"$T/g.env"
	# shellcheck disable=SC1091
	. "$T/g.env"
	export GUEST_PORT GUEST_KEY
	ssh-keygen -y -f "$GUEST_KEY" >>"$T/sshd/authorized_keys"
	export KA_SSH_IDENTITY="$GUEST_KEY"
	cat "$SSHD_KNOWN_HOSTS" "$GUEST_KNOWN_HOSTS" >"$KA_REPO/fleet/known_hosts"
	cp -r "$REPO/patches" "$KA_REPO/"
	cp "$REPO/fleet/config/curie.config" "$KA_REPO/fleet/config/"
	e2e_build_host buildbox "$SSHD_PORT" 1 "x86_64, aarch64"
	# curie as the example fleet has it, on the board and the loopback build host
	sed -e "s|^ssh: .*|ssh: { address: 127.0.0.1, port: $GUEST_PORT, user: root }|" \
		-e 's|^host: curie$|host: curie|' \
		-e 's|^build: .*|build: { host: buildbox, wall_clock: 90m, stall: 15m }|' \
		-e 's|initramfs: none|initramfs: mkinitcpio|' \
		"$REPO/fleet/curie.yaml" >"$KA_REPO/fleet/curie.yaml"
	grep -q "port: $GUEST_PORT" "$KA_REPO/fleet/curie.yaml"
	grep -q "initramfs: mkinitcpio" "$KA_REPO/fleet/curie.yaml"
	e2e_sign_key
	e2e_signer pacman
	ka-promote curie >"$T/promote.out"
	ka-build --json curie >"$T/build.json" 2>"$T/build.err" || true
}

setup() {
	[[ ${KA_E2E_ARM64:-1} != 0 ]] || skip "KA_E2E_ARM64=0: the arm64 end to end is switched off"
}

teardown_file() {
	[[ -n ${T:-} ]] || return 0
	"$Q/stop-guest" "$T/g" || true
	[[ -z ${SSHD_PID:-} ]] || kill "$SSHD_PID" 2>/dev/null || true
	gpgconf --homedir "$T/gnupg" --kill all 2>/dev/null || true
	rm -rf -- "$T"
}

on_board() {
	"$Q/guest-ssh" "$T/g" "$@"
}

model() {
	on_board cat /proc/device-tree/model | tr -d '\0'
}

# open block kinds of HOST, sorted, one line
open_kinds() {
	ka-block list | jq -r --arg h "$1" 'select(.state == "open" and .subject.host == $h) | .block' | sort | paste -sd' '
}

@test "arm64: curie is cross-built, published, installed with consent, booted with its own FDT and verified" {
	[ "$(jq -r .status "$T/build.json")" = "done" ] || { cat "$T/build.json" "$T/build.err"; tail -40 "$KA_ROOT"/logs/buildbox/*/build.log; false; }
	[[ $(jq -r .message "$T/build.json") == *"cross aarch64 on x86_64"* ]]
	out="$KA_ROOT/output/$(jq -r .job "$T/build.json")"
	pkg=$(ls "$out"/linux-curie-6.1.*-aarch64.pkg.tar.*)
	# makepkg built for CARCH=aarch64, not with --ignorearch
	bsdtar -xOf "$pkg" .PKGINFO | grep -qx 'arch = aarch64'
	bsdtar -tf "$pkg" >"$T/pkg.list"
	grep -qx 'boot/Image-curie' "$T/pkg.list"
	grep -qx 'boot/dtbs-curie/qemu/qemu-virt.dtb' "$T/pkg.list"
	run ! grep -q '^boot/vmlinuz' "$T/pkg.list"
	# an arm64 Image: "ARM\x64" at byte 56 of its header
	bsdtar -xOf "$pkg" boot/Image-curie >"$T/Image"
	[ "$(od -An -c -j56 -N4 "$T/Image" | tr -d ' ')" = 'ARMd' ]
	# Image (not vmlinuz) triggers the initramfs hook; the preset's paths are
	# the suffixed ones; every path is the alongside one
	[ "$(bsdtar -xOf "$pkg" usr/share/libalpm/hooks/90-linux-curie.hook | grep '^Target = boot/')" = 'Target = boot/Image-curie' ]
	bsdtar -xOf "$pkg" etc/mkinitcpio.d/linux-curie.preset | grep -qx "ALL_kver='/boot/Image-curie'"
	bsdtar -xOf "$pkg" etc/mkinitcpio.d/linux-curie.preset | grep -qx "default_image='/boot/initramfs-curie.img'"
	grep -qx 'usr/share/libalpm/hooks/91-linux-curie-extlinux.hook' "$T/pkg.list"
	grep -qx 'usr/bin/ka-extlinux-linux-curie' "$T/pkg.list"
	run ! grep -E '^boot/(Image|vmlinuz|initramfs|dtbs)($|[^-])' "$T/pkg.list"
	ka-publish curie >/dev/null
	e2e_as_arch_host "$T/g"
	# mkinitcpio's stand-in (Debian has none), as a pacman package that
	# provides mkinitcpio: it records the hook's call and writes an empty
	# initramfs (a newc archive with only its trailer) where the preset says
	mkdir -p "$T/ka-e2e-mkinitcpio"
	cat >"$T/ka-e2e-mkinitcpio/mkinitcpio" <<'SH'
#!/bin/bash
set -eu
[ "$1" = -p ]
. "/etc/mkinitcpio.d/$2.preset"
echo "mkinitcpio $*" >>/var/log/ka-e2e-mkinitcpio.log
cp /usr/lib/ka-e2e/empty-initramfs.img "$default_image"
SH
	# shellcheck disable=SC2016 # $startdir, $pkgdir: makepkg's, in package()
	standin=$(e2e_any_package ka-e2e-mkinitcpio mkinitcpio '	install -Dm755 "$startdir/mkinitcpio" "$pkgdir/usr/bin/mkinitcpio"
	mkdir -p "$pkgdir/usr/lib/ka-e2e"
	bsdtar -cf - --format newc -T /dev/null | gzip -n >"$pkgdir/usr/lib/ka-e2e/empty-initramfs.img"')
	on_board "cat >/tmp/standin.pkg.tar && pacman -U --noconfirm /tmp/standin.pkg.tar >/dev/null" <"$standin"
	before=$(on_board uname -r)
	distro_files=$(on_board "ls /boot | grep -v -e '-curie' | sort | b2sum")
	[ "$(model)" = "kernel-agent qemu-virt board" ] # the image's own tree
	run ka-install --confirm curie <<<"y"
	[ "$status" -eq 0 ] || { echo "$output"; tail -60 "$T/g/console.log"; false; }
	[[ $output == *"FDT /boot/dtbs-curie/qemu/qemu-virt.dtb"* ]]
	release=$(on_board uname -r)
	[ "$release" != "$before" ]
	[[ $release == *-curie ]]
	[ "$(on_board uname -m)" = aarch64 ]
	# U-Boot loaded the FDT of the installed package: the series' model
	[ "$(model)" = "$OUR_MODEL" ]
	on_board "grep -qx '	FDT /boot/dtbs-curie/qemu/qemu-virt.dtb' /boot/extlinux/extlinux.conf"
	on_board "grep -qx 'DEFAULT curie' /boot/extlinux/extlinux.conf || grep -qx 'DEFAULT linux-curie' /boot/extlinux/extlinux.conf"
	# alongside: the distro kernel's files untouched, ours suffixed
	[ "$(on_board "ls /boot | grep -v -e '-curie' | sort | b2sum")" = "$distro_files" ]
	on_board test -f /boot/Image-curie
	# pacman's hook ran mkinitcpio with curie's preset, and the entry loads it
	[ "$(on_board cat /var/log/ka-e2e-mkinitcpio.log)" = "mkinitcpio -p linux-curie" ]
	on_board test -s /boot/initramfs-curie.img
	on_board "grep -qx '	INITRD /boot/initramfs-curie.img' /boot/extlinux/extlinux.conf"
	# the managed block is idempotent: the hook's script again changes nothing
	sum=$(on_board b2sum /boot/extlinux/extlinux.conf)
	on_board /usr/bin/ka-extlinux-linux-curie install # as its alpm hook runs it
	[ "$(on_board b2sum /boot/extlinux/extlinux.conf)" = "$sum" ]
	run ka-verify curie
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "$(jq -r '[.bars[] | select(.bar == 3) | .passed] | all' "$KA_ROOT/hosts/curie/verify/last.json")" = true ]
	# the series' dt probes: the model and the kernel-agent node, read back
	[ "$(jq '[.bars[] | select(.bar == 4 and .passed and (.probe | startswith("dt ")))] | length' "$KA_ROOT/hosts/curie/verify/last.json")" -eq 3 ]
	echo "$release" >"$T/installed-release"
	echo "$before" >"$T/old-release"
}

@test "arm64 fault: a U-Boot without fdt_addr_r ignores the FDT line; bar 3 names the model it read; regression, drift; the backup restores the old entry" {
	[ -s "$T/installed-release" ] || skip "needs the install above"
	old=$(cat "$T/old-release")
	"$Q/stop-guest" "$T/g"
	"$Q/start-guest" --timeout 900 --no-fdt-addr-r "$T/g" "$IMAGE_DIR" >"$T/g2.env"
	grep -q "^GUEST_PORT=$GUEST_PORT$" "$T/g2.env"
	# the installed kernel, but qemu's own device tree: silently
	[ "$(on_board uname -r)" = "$(cat "$T/installed-release")" ]
	[ "$(model)" = "$QEMU_MODEL" ]
	run --separate-stderr ka-verify --json curie
	[ "$status" -eq 1 ]
	jq -e --arg m "$QEMU_MODEL" '.bars[] | select(.bar == 3 and .passed == false and .actual == $m)' "$KA_ROOT/hosts/curie/verify/last.json" >/dev/null ||
		{ cat "$KA_ROOT/hosts/curie/verify/last.json"; false; }
	[ "$(open_kinds curie)" = "host-drifted regression" ]
	# the owner restores the backup's /boot (its extlinux.conf without our block) and power-cycles
	backup=$(find "$KA_ROOT/backups/curie" -mindepth 1 -maxdepth 1 -type d | head -n 1)
	on_board tar -xzf - -C / <"$backup/boot.tgz"
	on_board sync
	boot=$("$Q/power-cycle" "$T/g" | sed -n 's/^GUEST_BOOT=//p')
	"$Q/wait-guest" --timeout 900 --boot "$boot" "$T/g"
	[ "$(on_board uname -r)" = "$old" ]
	run ! on_board grep -q 'curie (managed)' /boot/extlinux/extlinux.conf
}
