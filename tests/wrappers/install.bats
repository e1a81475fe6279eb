#!/usr/bin/env bats
# ka-install wrapper: consent and refusals, with no VM (the host is on a port
# where nothing answers). tests/e2e/install.bats installs into the qemu guest.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	T=$(mktemp -d "${BATS_TMPDIR:-/tmp}/ka-test.XXXXXX")
	export HOME="$T/home" KA_ROOT="$T/root" KA_REPO="$T/repo"
	mkdir -p "$HOME" "$KA_REPO/fleet" "$KA_ROOT/hosts/tq" "$T/srv"
	export GNUPGHOME="$T/gnupg"
	mkdir -m 700 "$GNUPGHOME"
	printf '%s\n' '%no-protection' 'Key-Type: eddsa' 'Key-Curve: ed25519' 'Key-Usage: sign' \
		'Name-Real: ka test' 'Name-Email: t@kernel-agent.invalid' 'Expire-Date: 0' '%commit' >"$T/key-params"
	gpg --batch --gen-key "$T/key-params" 2>/dev/null
	FPR=$(gpg --batch --list-secret-keys --with-colons | awk -F: '$1 == "fpr" { print $10; exit }')
	gpg --batch --export "$FPR" >"$KA_REPO/fleet/keyring.gpg"
	export KA_SSH_IDENTITY="$KA_REPO/fleet/keyring.gpg"
	cat >"$KA_REPO/fleet/tq.yaml" <<YAML
host: tq
role: dev
arch: x86_64
distro: debian
ssh: { address: 127.0.0.1, port: 1, user: root }
kernel: { pkgbase: linux-tq, suffix: tq, baseline: { tarball: /nonexistent.tar.xz } }
install: { mode: alongside, bootloader: extlinux, initramfs: none }
YAML
	cat >"$KA_REPO/fleet/signer.yaml" <<YAML
host: signer
role: infra
arch: x86_64
distro: debian
sign: { local: true, key: $FPR, gnupghome: $GNUPGHOME, apt: { root: /nonexistent, suite: ka } }
YAML
	PKG="$T/srv/linux-image-6.1.158-tq_6.1.158-1_amd64.deb"
	echo "package bytes" >"$PKG"
	gpg --batch --detach-sign --no-armor -o "$PKG.sig" "$PKG"
	sum=$(b2sum "$PKG" | cut -d' ' -f1)
	cat >"$KA_ROOT/hosts/tq/published.json" <<JSON
{"kind":"ka.publish","version":1,"host":"tq","job":"j1","status":"done","message":"","sign_host":"signer","key":"$FPR",
 "repo":{"distro":"debian","arch":"x86_64","path":"/nonexistent","name":"ka"},
 "packages":[{"package":"linux-image-6.1.158-tq","version":"6.1.158-1","arch":"amd64","file":"$PKG","signature":"$PKG.sig","size":14,"b2sum":"$sum","kernel":true}],
 "published":[],"files":[],"blocks":[],"notices":[]}
JSON
}

teardown() {
	gpgconf --homedir "$T/gnupg" --kill all 2>/dev/null || true
	stop_test_sshd "$T/sshd"
	rm -rf -- "$T"
}

@test "--confirm lists host, package, backup, boot change, reboot and the plan; n changes nothing" {
	run ka-install --confirm tq <<<"n"
	[ "$status" -eq 1 ]
	[[ $output == *"plan for tq: ("*"did not answer"*") would install"* ]]
	[[ $output != *"dry-run"* ]]
	[[ $output == *"package  linux-image-6.1.158-tq 6.1.158-1"* ]]
	[[ $output == *"backup   /boot -> $KA_ROOT/backups/tq/"* ]]
	[[ $output == *"boot     extlinux.conf: managed block linux-tq"*"DEFAULT linux-tq"* ]]
	[[ $output == *"reboot   yes"* ]]
	[[ $output =~ plan\ +[0-9a-f]{16} ]]
	[[ $output == *"declined; nothing changed"* ]]
	[ ! -e "$KA_ROOT/backups" ]
	[ ! -e "$KA_ROOT/hosts/tq/installs" ]
	# audited
	run ka-audit list --json
	[ "$(jq -r .verb <<<"$output")" = install ]
	[ "$(jq -r '.targets[0] + " " + (.dry_run // false | tostring)' <<<"$output")" = "tq false" ]
}

@test "--confirm y runs exactly the shown plan (here: fails at connect, names the phase)" {
	run ka-install --confirm tq <<<"y"
	[ "$status" -eq 1 ]
	[[ $output == *"install tq: FAILED — phase connect failed"* ]]
	[ ! -e "$KA_ROOT/backups" ]
}

@test "--plan with another hash is refused and changes nothing" {
	run --separate-stderr ka-install --json --plan 0123456789abcdef tq
	[ "$status" -eq 1 ]
	[ "$(jq -r .status <<<"$output")" = blocked ]
	[[ $(jq -r .message <<<"$output") == *"does not match"* ]]
	[ ! -e "$KA_ROOT/backups" ]
}

@test "the gate refuses while [ka:regression] holds the host" {
	ka-block file --kind regression --host tq --title "tq broke" --detail "test" >/dev/null
	run ka-install tq
	[ "$status" -eq 1 ]
	[[ $output == *"refused by the gate"* ]]
}

@test "usage errors" {
	run ka-install
	[ "$status" -eq 2 ]
	run ka-install --confirm --dry-run tq
	[ "$status" -eq 2 ]
	run ka-install --confirm --plan 0123456789abcdef tq
	[ "$status" -eq 2 ]
	run ka-install --bogus tq
	[ "$status" -eq 2 ]
	run ka-install nosuch
	[ "$status" -eq 2 ]
	[[ $output == *"no host 'nosuch' in the fleet ($KA_REPO/fleet/); hosts: signer, tq"* ]]
}

# tq as an aarch64 Debian board with install.fdt; its package a real .deb
# holding the device trees named as arguments
board_with_fdt() {
	sed -i -e 's/^arch: x86_64$/arch: aarch64/' \
		-e 's/initramfs: none }/initramfs: none, fdt: rockchip\/rk3399-pinebook-pro.dtb }/' "$KA_REPO/fleet/tq.yaml"
	local tree="$T/tree" dtb
	mkdir -p "$tree/DEBIAN" "$tree/boot"
	printf '%s\n' 'Package: linux-image-6.1.158-tq' 'Version: 6.1.158-1' 'Architecture: arm64' \
		'Maintainer: t <t@kernel-agent.invalid>' 'Description: toy' >"$tree/DEBIAN/control"
	echo kernel >"$tree/boot/vmlinuz-6.1.158-tq"
	for dtb in "$@"; do
		mkdir -p "$tree/usr/lib/linux-image-6.1.158-tq/${dtb%/*}"
		echo dtb >"$tree/usr/lib/linux-image-6.1.158-tq/$dtb"
	done
	dpkg-deb --build --root-owner-group -Zgzip "$tree" "$PKG" >/dev/null
	rm -f "$PKG.sig"
	gpg --batch --detach-sign --no-armor -o "$PKG.sig" "$PKG"
	local sum size
	sum=$(b2sum "$PKG" | cut -d' ' -f1)
	size=$(stat -c %s "$PKG")
	jq -c --arg sum "$sum" --argjson size "$size" '.packages[0].b2sum = $sum | .packages[0].size = $size' \
		"$KA_ROOT/hosts/tq/published.json" >"$T/published.json"
	mv "$T/published.json" "$KA_ROOT/hosts/tq/published.json"
}

@test "install.fdt: a package without that device tree is refused before the host is contacted" {
	board_with_fdt rockchip/rk3399-rockpro64.dtb
	run --separate-stderr ka-install --json tq
	[ "$status" -eq 1 ]
	[ "$(jq -r .status <<<"$output")" = blocked ]
	[ "$(jq -r .failed_phase <<<"$output")" = package ]
	[ "$(jq -r '[.phases[].phase] | join(" ")' <<<"$output")" = "gate fetch signature package" ]
	[[ $stderr == *"the package $PKG does not contain usr/lib/linux-image-6.1.158-tq/rockchip/rk3399-pinebook-pro.dtb"* ]]
	[[ $stderr == *"install.fdt: rockchip/rk3399-pinebook-pro.dtb in fleet/tq.yaml"* ]]
	[[ $stderr == *"nothing was changed, the host's boot entry is as it was"* ]]
	[ ! -e "$KA_ROOT/backups" ]
}

@test "install.fdt: --dry-run and --confirm show the FDT line" {
	board_with_fdt rockchip/rk3399-pinebook-pro.dtb
	run ka-install --dry-run --json tq
	[ "$status" -eq 0 ]
	[[ $(jq -r .message <<<"$output") == *"the entry will say FDT /boot/dtbs-6.1.158-tq/rockchip/rk3399-pinebook-pro.dtb"* ]]
	run ka-install --confirm tq <<<"n"
	[[ $output == *"boot     extlinux.conf: managed block linux-tq"*"FDT dtbs-6.1.158-tq/rockchip/rk3399-pinebook-pro.dtb copied from /usr/lib/linux-image-6.1.158-tq/"* ]]
	# the package holds it: past the check, stopped where nothing answers
	run ka-install tq
	[ "$status" -eq 1 ]
	[[ $output == *"phase connect failed"* ]]
}

@test "a kill at every phase boundary ka-install reaches without a root login: no lock held, nothing touched, the next run says what to do" {
	# the host is the loopback sshd: its user is not root (and has no sudo), so
	# the install stops at preflight with nothing changed; the phases after it
	# (backup .. proof) are killed in tests/e2e against the qemu host
	test_sshd "$T/sshd"
	sed -i "s/^ssh: .*/ssh: { address: 127.0.0.1, port: $SSHD_PORT, user: $SSHD_USER }/" "$KA_REPO/fleet/tq.yaml"
	mapfile -t steps < <(crash_steps ka-install tq)
	[[ " ${steps[*]} " == *" install:gate install:fetch install:signature install:connect install:connect-facts "* ]]
	for step in "${steps[@]}"; do
		KA_TEST_CRASH_AT=$step run --separate-stderr ka-install tq
		[ "$status" -ne 0 ]
		[[ $stderr == *"KA_TEST_CRASH_AT=$step: killing this process"* ]]
		after_crash "$step"
		run --separate-stderr ka-install tq
		[ "$status" -eq 1 ] || {
			echo "after $step: $output $stderr"
			false
		}
		[[ $output == *"phase preflight failed: cannot act as root on the host"*"needs root or passwordless sudo"*"nothing was changed"* ]]
		[ ! -e "$KA_ROOT/backups" ]
		[ -z "$(ka-block list)" ]
	done
}

@test "two installs of one host: the second is refused naming the first; another host's install is not held up" {
	test_sshd "$T/sshd"
	sed -i "s/^ssh: .*/ssh: { address: 127.0.0.1, port: $SSHD_PORT, user: $SSHD_USER }/" "$KA_REPO/fleet/tq.yaml"
	# a second host with the same published package
	sed 's/^host: tq$/host: tr/; s/linux-tq/linux-tr/; s/suffix: tq/suffix: tr/' "$KA_REPO/fleet/tq.yaml" >"$KA_REPO/fleet/tr.yaml"
	mkdir -p "$KA_ROOT/hosts/tr"
	jq -c '.host = "tr"' "$KA_ROOT/hosts/tq/published.json" >"$KA_ROOT/hosts/tr/published.json"
	# tq's install waits once it has connected, its lock held
	paused_bg a install:connect ka-install tq
	run --separate-stderr ka-install tq
	[ "$status" -eq 1 ]
	[[ $stderr == *"host-tq.lock is locked by pid $(cat "$T/a.paused") on "*": ka-install tq (install-tq-"*"); wait for it to finish"* ]]
	# tr's install runs (to its preflight: the login is not root)
	run --separate-stderr ka-install tr
	[ "$status" -eq 1 ]
	[[ $output == *"phase preflight failed: cannot act as root"* ]]
	kill -KILL "$(cat "$T/a.paused")"
	wait
	after_crash killed
	run --separate-stderr ka-install tq
	[ "$status" -eq 1 ]
	[[ $output == *"phase preflight failed: cannot act as root"* ]]
}

@test "a changed host key of the sign host met by ka-install's fetch files [ka:host-changed] for the sign host" {
	test_sshd "$T/sshd"
	sed -i 's/^sign: { local: true, /sign: { /' "$KA_REPO/fleet/signer.yaml"
	printf 'ssh: { address: 127.0.0.1, port: %s, user: %s }\n' "$SSHD_PORT" "$SSHD_USER" >>"$KA_REPO/fleet/signer.yaml"
	ssh-keygen -q -t ed25519 -N '' -f "$T/other"
	printf '[127.0.0.1]:%s %s\n' "$SSHD_PORT" "$(cut -d' ' -f1,2 "$T/other.pub")" >"$KA_REPO/fleet/known_hosts"
	run --separate-stderr ka-install tq
	[ "$status" -eq 1 ]
	[[ $output == *"phase fetch failed: the sign host signer: host key of"*"changed"* ]]
	run ka-block list
	[[ $output == *"[ka:host-changed] signer"* ]]
	[[ $output != *"[ka:host-changed] tq"* ]]
	# the right key: fetch reaches the sign host, which lifts the block
	cp "$SSHD_KNOWN_HOSTS" "$KA_REPO/fleet/known_hosts"
	run --separate-stderr ka-install tq
	run ka-block list
	[[ $output != *"host-changed"* ]]
}
