#!/usr/bin/env bats
# The arm64 test board, booted for real (qemu-system-aarch64 -M virt, TCG):
# U-Boot (Debian's qemu_arm64 u-boot.bin, its environment in pflash unit 1)
# reads /boot/extlinux/extlinux.conf, loads the kernel and OUR device tree
# (fdt /boot/dtbs/qemu-virt.dtb), sshd answers with the host key known in
# advance, `reboot` is a power cycle; and a U-Boot without fdt_addr_r (a vendor
# U-Boot that ignores the fdt line) boots the kernel with qemu's own tree.
#
# Part of `make qemu` (and so of make e2e and CI); KA_QEMU_ARM64=0 skips it.
# The first run on a machine cross-builds the board's kernel and runs
# debootstrap's second stage in the guest; both are cached per machine. The
# image has the packages tests/e2e/arm64.bats needs (pacman, gnupg), so the
# two share one image. Needs root (debootstrap) and scripts/debian-deps.

bats_require_minimum_version 1.5.0

Q=$(cd "$BATS_TEST_DIRNAME" && pwd)
BOOT_TIMEOUT=${KA_GUEST_BOOT_TIMEOUT:-600}
OUR_MODEL="kernel-agent qemu-virt board"
QEMU_MODEL="linux,dummy-virt"

setup_file() {
	[[ ${KA_QEMU_ARM64:-1} != 0 ]] || return 0 # setup skips each test
	export T
	T=$(mktemp -d "${BATS_TMPDIR:-/tmp}/ka-qemu-arm64.XXXXXX")
	export HOME=$T/home
	mkdir -p "$HOME"
	"$Q/make-image" --arch arm64 --include pacman-package-manager,gnupg >"$T/image.env"
	# shellcheck source=/dev/null
	. "$T/image.env"
	export IMAGE_DIR IMAGE_KERNEL_RELEASE
	"$Q/start-guest" --timeout "$BOOT_TIMEOUT" "$T/a" "$IMAGE_DIR" >"$T/a.env"
}

setup() {
	[[ ${KA_QEMU_ARM64:-1} != 0 ]] || skip "KA_QEMU_ARM64=0: the arm64 board is switched off"
}

teardown_file() {
	[[ -n ${T:-} ]] || return 0
	local g
	for g in "$T"/*/; do
		if [[ -f $g/guest.conf ]]; then "$Q/stop-guest" "$g"; fi
	done
	rm -rf "$T"
}

# on GUEST COMMAND: run COMMAND in the guest of folder $T/GUEST
on() {
	"$Q/guest-ssh" "$T/$1" "${@:2}"
}

# console_of GUEST N: the serial console of boot N only
console_of() {
	awk -v n="$2" '/^=== ka-guest: power on, boot / { on = ($6 == n "") } on' "$T/$1/console.log" | tr -d '\r'
}

# model_of GUEST: the running kernel's device tree model (without its NUL)
model_of() {
	on "$1" cat /proc/device-tree/model | tr -d '\0'
}

@test "arm64: U-Boot loads extlinux's kernel and our device tree; SSH answers; the model is ours" {
	grep -q '^GUEST_ARCH=arm64$' "$T/a.env"
	grep -q '^fdt_addr_r=0x40100000$' "$T/a/uboot-env.txt"
	console_of a 1 >"$T/a.boot1"
	grep -q 'U-Boot 2023' "$T/a.boot1"
	grep -q 'Loading Environment from Flash... OK' "$T/a.boot1"
	grep -q 'Retrieving file: /boot/extlinux/extlinux.conf' "$T/a.boot1"
	grep -q 'Retrieving file: /boot/dtbs/qemu-virt.dtb' "$T/a.boot1"
	grep -q "Linux version $IMAGE_KERNEL_RELEASE" "$T/a.boot1"
	# the image's file system was left clean by its second stage
	run ! grep -q 'orphan inodes deleted' "$T/a.boot1"
	run on a uname -rm
	[ "$status" -eq 0 ]
	[ "$output" = "$IMAGE_KERNEL_RELEASE aarch64" ]
	run model_of a
	[ "$status" -eq 0 ]
	[ "$output" = "$OUR_MODEL" ]
}

@test "arm64: reboot is a power cycle: back to SSH through U-Boot, with our tree again" {
	boot=$(cat "$T/a/boot-current")
	on a reboot >/dev/null 2>&1 || true # the connection may drop first
	"$Q/wait-guest" --timeout "$BOOT_TIMEOUT" --boot $((boot + 1)) "$T/a"
	grep -q "^boot=$boot .* cause=reboot mode=normal$" "$T/a/boots"
	console_of a $((boot + 1)) | grep -q 'Retrieving file: /boot/dtbs/qemu-virt.dtb'
	run model_of a
	[ "$status" -eq 0 ]
	[ "$output" = "$OUR_MODEL" ]
}

@test "arm64 fault: a U-Boot without fdt_addr_r ignores the fdt line; the kernel gets qemu's tree" {
	"$Q/stop-guest" "$T/a" # one guest at a time: TCG on a shared machine
	"$Q/start-guest" --no-fdt-addr-r --timeout "$BOOT_TIMEOUT" "$T/v" "$IMAGE_DIR" >"$T/v.env"
	run ! grep -q '^fdt_addr_r=' "$T/v/uboot-env.txt"
	console_of v 1 >"$T/v.boot1"
	grep -q 'Retrieving file: /boot/extlinux/extlinux.conf' "$T/v.boot1"
	run ! grep -q 'Retrieving file: /boot/dtbs/qemu-virt.dtb' "$T/v.boot1"
	run model_of v
	[ "$status" -eq 0 ]
	[ "$output" = "$QEMU_MODEL" ]
}
