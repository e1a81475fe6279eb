#!/usr/bin/env bats
# The qemu test host, booted for real (TCG): U-Boot distro boot reads
# /boot/extlinux/extlinux.conf and starts the image's kernel, sshd answers on
# a loopback port with a host key known in advance, `reboot` is a power cycle,
# a loader entry naming a missing kernel never brings SSH back (the wait ends
# at its timeout), and a kernel that cannot mount its root panics and is
# recorded as a panic. Needs root (debootstrap) and scripts/debian-deps.

bats_require_minimum_version 1.5.0

Q=$(cd "$BATS_TEST_DIRNAME" && pwd)
# generous but finite: a boot to SSH takes ~30-90 s on a loaded 2-core machine
BOOT_TIMEOUT=${KA_GUEST_BOOT_TIMEOUT:-600}

setup_file() {
	export T
	T=$(mktemp -d "${BATS_TMPDIR:-/tmp}/ka-qemu.XXXXXX")
	export HOME=$T/home
	mkdir -p "$HOME"
	"$Q/make-image" >"$T/image.env"
	# shellcheck source=/dev/null
	. "$T/image.env"
	export IMAGE_DIR IMAGE_KERNEL_RELEASE
	"$Q/start-guest" --timeout "$BOOT_TIMEOUT" "$T/a" "$IMAGE_DIR" >"$T/a.env"
}

teardown_file() {
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

# reboot_guest GUEST: `reboot` inside; prints the boot the power cycle starts
reboot_guest() {
	local boot
	boot=$(cat "$T/$1/boot-current")
	on "$1" reboot >/dev/null 2>&1 || true # the connection may drop first
	echo $((boot + 1))
}

@test "the guest boots through U-Boot and extlinux into the image's kernel, reachable by SSH" {
	console_of a 1 >"$T/a.boot1"
	grep -q 'U-Boot 2023' "$T/a.boot1"
	grep -q 'Retrieving file: /boot/extlinux/extlinux.conf' "$T/a.boot1"
	grep -q "Linux version $IMAGE_KERNEL_RELEASE" "$T/a.boot1"
	run on a uname -r
	[ "$status" -eq 0 ]
	[ "$output" = "$IMAGE_KERNEL_RELEASE" ]
	run on a cat /proc/sys/kernel/random/boot_id
	[ "$status" -eq 0 ]
	[[ $output =~ ^[0-9a-f-]{36}$ ]]
	run on a 'cat /proc/cmdline'
	[[ $output == *"root=/dev/vda1"*"net.ifnames=0"* ]]
	run on a 'ip -o link show eth0'
	[ "$status" -eq 0 ]
}

@test "SSH is strict both ways: another host key and another client key are refused" {
	# shellcheck source=/dev/null
	. "$T/a.env"
	ssh-keygen -q -t ed25519 -N '' -f "$T/other"
	printf '[127.0.0.1]:%s %s\n' "$GUEST_PORT" "$(cut -d' ' -f1,2 "$T/other.pub")" >"$T/wrong_known_hosts"
	common=(-F /dev/null -p "$GUEST_PORT" -o BatchMode=yes -o IdentitiesOnly=yes -o StrictHostKeyChecking=yes -o GlobalKnownHostsFile=/dev/null)
	run --separate-stderr ssh "${common[@]}" -i "$GUEST_KEY" -o UserKnownHostsFile="$T/wrong_known_hosts" root@127.0.0.1 true
	[ "$status" -eq 255 ]
	[[ $stderr == *"REMOTE HOST IDENTIFICATION HAS CHANGED"* || $stderr == *"Host key verification failed"* ]]
	run --separate-stderr ssh "${common[@]}" -i "$T/other" -o UserKnownHostsFile="$GUEST_KNOWN_HOSTS" root@127.0.0.1 true
	[ "$status" -eq 255 ]
	[[ $stderr == *"Permission denied (publickey)"* ]]
}

@test "reboot in the guest power-cycles it: SSH comes back with a new boot id" {
	before=$(on a cat /proc/sys/kernel/random/boot_id)
	next=$(reboot_guest a)
	run --separate-stderr "$Q/wait-guest" --timeout "$BOOT_TIMEOUT" --boot "$next" "$T/a"
	[ "$status" -eq 0 ]
	after=$(on a cat /proc/sys/kernel/random/boot_id)
	[ -n "$after" ]
	[ "$after" != "$before" ]
	run tail -n 1 "$T/a/boots"
	[[ $output == "boot=$((next - 1)) "*" exit=0 cause=reboot mode=normal" ]]
	console_of a "$next" | grep -q 'Retrieving file: /boot/extlinux/extlinux.conf'
}

@test "stop-guest stops the supervisor and qemu it started" {
	sup=$(cat "$T/a/supervisor.pid")
	qemu=$(cat "$T/a/qemu.pid")
	run "$Q/stop-guest" "$T/a"
	[ "$status" -eq 0 ]
	run ! kill -0 "$sup"
	run ! kill -0 "$qemu"
	run tail -n 1 "$T/a/boots"
	[[ $output == *" cause=stopped mode=normal" ]]
	run ! "$Q/wait-guest" --timeout 5 "$T/a"
	# stopping twice is fine
	"$Q/stop-guest" "$T/a"
}

@test "extlinux.conf naming a missing kernel: no SSH within the timeout; a rescue boot repairs it" {
	"$Q/start-guest" --timeout "$BOOT_TIMEOUT" "$T/b" "$IMAGE_DIR" >/dev/null
	on b 'cp /boot/extlinux/extlinux.conf /root/extlinux.good &&
		sed -i "s|^\([[:space:]]*linux\) .*|\1 /boot/vmlinuz-missing|" /boot/extlinux/extlinux.conf &&
		grep -q vmlinuz-missing /boot/extlinux/extlinux.conf && sync'
	next=$(reboot_guest b)
	# U-Boot reads the entry and fails to load the kernel...
	for ((i = 0; i < BOOT_TIMEOUT; i++)); do
		console_of b "$next" | grep -q 'vmlinuz-missing' && break
		sleep 1
	done
	console_of b "$next" | grep -q 'Retrieving file: /boot/vmlinuz-missing'
	# ...and nothing answers SSH: the wait ends at its timeout and says so
	run --separate-stderr "$Q/wait-guest" --timeout 60 --boot "$next" "$T/b"
	[ "$status" -eq 1 ]
	[[ $stderr == *"no SSH banner on 127.0.0.1:"*"within 60s (waited for boot $next or later"* ]]
	# a rescue boot (the image's kernel, past U-Boot) lets us restore the entry
	run "$Q/power-cycle" --rescue "$T/b"
	[ "$output" = "GUEST_BOOT=$((next + 1))" ]
	"$Q/wait-guest" --timeout "$BOOT_TIMEOUT" --boot "$((next + 1))" "$T/b"
	on b 'cp /root/extlinux.good /boot/extlinux/extlinux.conf && sync'
	run tail -n 1 "$T/b/boots"
	[[ $output == "boot=$next "*" cause=power-cycle mode=normal" ]]
	next=$(reboot_guest b)
	"$Q/wait-guest" --timeout "$BOOT_TIMEOUT" --boot "$next" "$T/b"
	run on b uname -r
	[ "$output" = "$IMAGE_KERNEL_RELEASE" ]
	run tail -n 1 "$T/b/boots"
	[[ $output == *" cause=reboot mode=rescue" ]]
	"$Q/stop-guest" "$T/b"
}

@test "a kernel that cannot mount its root disk panics: recorded as a panic, the guest stays off" {
	"$Q/start-guest" --timeout "$BOOT_TIMEOUT" "$T/c" "$IMAGE_DIR" >/dev/null
	# the effect of a kernel without its disk driver: no root device to mount
	on c 'cp /boot/extlinux/extlinux.conf /root/extlinux.good &&
		sed -i "s|root=/dev/vda1|root=/dev/vdb1|" /boot/extlinux/extlinux.conf && sync'
	next=$(reboot_guest c)
	run --separate-stderr "$Q/wait-guest" --off --timeout "$BOOT_TIMEOUT" "$T/c"
	[ "$status" -eq 0 ]
	[[ $output == "boot=$next "*" exit=1 cause=panic mode=normal" ]]
	console_of c "$next" | grep -q 'Kernel panic - not syncing: VFS: Unable to mount root fs'
	[ ! -e "$T/c/supervisor.pid" ]
	run ! "$Q/wait-guest" --timeout 5 "$T/c"
	# power it on from a rescue medium, restore, and it boots normally again
	run "$Q/power-cycle" --rescue "$T/c"
	[ "$output" = "GUEST_BOOT=$((next + 1))" ]
	"$Q/wait-guest" --timeout "$BOOT_TIMEOUT" --boot "$((next + 1))" "$T/c"
	on c 'cp /root/extlinux.good /boot/extlinux/extlinux.conf && sync'
	next=$(reboot_guest c)
	"$Q/wait-guest" --timeout "$BOOT_TIMEOUT" --boot "$next" "$T/c"
	run on c cat /proc/cmdline
	[[ $output == *"root=/dev/vda1"* ]]
	"$Q/stop-guest" "$T/c"
}
