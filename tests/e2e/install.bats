#!/usr/bin/env bats
# ka-install end to end with real parts: ka-build makes a Debian kernel package
# (make bindeb-pkg over the loopback sshd), ka-publish signs it (a local sign
# host, a throwaway GNUPGHOME key), and ka-install puts it on the qemu test
# host (tests/qemu: U-Boot -> extlinux), reboots it through extlinux and
# proves it; ka-verify's bars 1-4 pass. Then a kernel without VIRTIO_BLK: the
# heartbeat runs out, [ka:regression] and [ka:host-drifted] are filed, the
# backup is there, and restoring it (rescue boot, untar) boots the old kernel.
# Between the two, the faults: /boot read-only, sshd gone mid-install, a host
# key changed across the reboot; the sudo path (a non-root ssh user); and
# install.copy: lan (the guest copies from the sign host's sshd itself); and
# an Arch package (makepkg, pacman -U, its alpm hook) on the guest playing an
# Arch host.
# Root; kernel builds are minutes each (ccache helps the second).

bats_require_minimum_version 1.5.0

REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
# shellcheck source=tests/e2e/lib.bash
. "$BATS_TEST_DIRNAME/lib.bash"

# target NAME SUFFIX CONFIG [DISTRO]: a kernel host on the qemu guest
target() {
	cat >"$KA_REPO/fleet/$1.yaml" <<YAML
host: $1
role: dev
arch: x86_64
distro: ${4:-debian}
ssh: { address: 127.0.0.1, port: $GUEST_PORT, user: root }
kernel:
  pkgbase: linux-$2
  suffix: $2
  baseline: { tarball: /usr/src/linux-source-6.1.tar.xz }
  config: fleet/config/$3
scopes: [arch/x86_64]
build: { host: buildbox, wall_clock: 90m, stall: 15m }
install: { mode: alongside, bootloader: extlinux, initramfs: none }
verify:
  heartbeat: 10m
  sysfs: { /proc/sys/kernel/ostype: "Linux" }
YAML
}

setup_file() {
	export T
	T=$(mktemp -d "${BATS_TMPDIR:-/tmp}/ka-e2e-install.XXXXXX")
	chmod 755 "$T"
	export HOME="$T/home" KA_ROOT="$T/root" KA_REPO="$T/repo"
	mkdir -p "$HOME" "$KA_REPO/fleet/config"
	# pacman (and gpg for its keyring): the guest also plays an Arch host
	"$REPO/tests/qemu/make-image" --include pacman-package-manager,gnupg >"$T/image.env"
	# shellcheck disable=SC1091
	. "$T/image.env"
	"$REPO/tests/sshd/start-sshd" "$T/sshd" >"$T/sshd.env"
	# shellcheck disable=SC1091
	. "$T/sshd.env"
	export SSHD_PID SSHD_PORT SSHD_REMOTE
	e2e_ccache "$SSHD_REMOTE"
	# the guest reaches the loopback sshd (the sign host's, for copy: lan) at 10.0.2.100:22
	"$REPO/tests/qemu/start-guest" --host-service "10.0.2.100:22=$SSHD_PORT" "$T/g" "$IMAGE_DIR" >"$T/g.env"
	# shellcheck disable=SC1091
	. "$T/g.env"
	export GUEST_PORT GUEST_KEY
	# one fleet identity: the guest's key, also accepted by the build host
	ssh-keygen -y -f "$GUEST_KEY" >>"$T/sshd/authorized_keys"
	export KA_SSH_IDENTITY="$GUEST_KEY"
	cat "$SSHD_KNOWN_HOSTS" "$GUEST_KNOWN_HOSTS" >"$KA_REPO/fleet/known_hosts"
	cp -r "$REPO/patches" "$KA_REPO/"
	cp "$REPO/tests/fixtures/kernel/qemu-x86.config" "$KA_REPO/fleet/config/"
	grep -v '^CONFIG_VIRTIO_BLK=' "$REPO/tests/fixtures/kernel/qemu-x86.config" >"$KA_REPO/fleet/config/no-virtio-blk.config"
	echo '# CONFIG_VIRTIO_BLK is not set' >>"$KA_REPO/fleet/config/no-virtio-blk.config"
	e2e_build_host buildbox
	e2e_sign_key
	e2e_signer "apt pacman"
	target qhost qemu qemu-x86.config
	target qbroken broken no-virtio-blk.config
	target qarch arch qemu-x86.config arch
	# the builds, once each; the tests below read their results (the Arch one
	# after qhost: same config, so ccache serves most of it)
	ka-promote qhost >"$T/promote.out"
	ka-build --json qhost >"$T/build.json" 2>"$T/build.err" || true
	ka-promote qarch >>"$T/promote.out"
	ka-build --json qarch >"$T/build-arch.json" 2>"$T/build-arch.err" || true
	ka-promote qbroken >>"$T/promote.out"
	ka-build --json qbroken >"$T/build-broken.json" 2>"$T/build-broken.err" || true
}

teardown_file() {
	"$REPO/tests/qemu/stop-guest" "$T/g" || true
	[[ -z ${SSHD_PID:-} ]] || kill "$SSHD_PID" 2>/dev/null || true
	gpgconf --homedir "$T/gnupg" --kill all 2>/dev/null || true
	rm -rf -- "$T"
}

@test "a published Debian kernel is installed with consent, booted through extlinux and verified" {
	[ "$(jq -r .status "$T/build.json")" = "done" ] || { cat "$T/build.json" "$T/build.err"; false; }
	ka-publish qhost >/dev/null
	before=$(tests_guest uname -r)
	# --confirm shows the plan; "n" changes nothing
	run ka-install --confirm qhost <<<"n"
	[ "$status" -eq 1 ]
	[[ $output == *"plan "* && $output == *"backup   /boot -> $KA_ROOT/backups/qhost/$before/"* ]]
	[[ $output == *"declined; nothing changed"* ]]
	[ ! -e "$KA_ROOT/backups/qhost" ]
	# "y" installs exactly what was shown
	run ka-install --confirm qhost <<<"y"
	[ "$status" -eq 0 ] || { echo "$output"; tail -50 "$T/g/console.log"; false; }
	[[ $output == *"install qhost: done"* ]]
	release=$(jq -r '.packages[] | select(.kernel) | .package | sub("^linux-image-"; "")' "$KA_ROOT/hosts/qhost/published.json")
	[ "$(tests_guest uname -r)" = "$release" ]
	tests_guest "grep -qx 'DEFAULT linux-qemu' /boot/extlinux/extlinux.conf"
	[ "$(jq -r .package "$KA_ROOT/hosts/qhost/installed.json")" = "linux-image-$release" ]
	[ "$(jq -r .kernel_version "$KA_ROOT/backups/qhost/$before/backup.json")" = "$before" ]
	tar -tzf "$KA_ROOT/backups/qhost/$before/boot.tgz" | grep -qx "boot/vmlinuz-$before"
	# the installable notice is closed
	run ka-notice list
	[[ $output != *'"state":"open"'* ]]
	run ka-verify qhost
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	# bar 2 compared the image on the host with the b2sum its build recorded
	[ "$(jq -r .image "$KA_ROOT/hosts/qhost/installed.json")" = "/boot/vmlinuz-$release" ]
	[ "$(jq -r '.bars[] | select(.bar == 2 and (.probe | startswith("image "))) | .passed' "$KA_ROOT/hosts/qhost/verify/last.json")" = "true" ]
}

# the owner triages: every open block of HOST lifted
triage() {
	local id
	for id in $(ka-block list | jq -r --arg h "$1" 'select(.state == "open" and .subject.host == $h) | .id'); do
		ka-block lift "$id" --reason "e2e: triaged" >/dev/null
	done
}

# open block kinds of HOST, sorted, one line
open_kinds() {
	ka-block list | jq -r --arg h "$1" 'select(.state == "open" and .subject.host == $h) | .block' | sort | paste -sd' '
}

@test "fault: /boot read-only is refused in preflight; nothing changes, nothing is filed" {
	[ -s "$KA_ROOT/hosts/qhost/installed.json" ] || skip "needs the first install"
	release=$(tests_guest uname -r)
	boot_id=$(tests_guest cat /proc/sys/kernel/random/boot_id)
	conf=$(tests_guest b2sum /boot/extlinux/extlinux.conf)
	tests_guest "mount --bind /boot /boot && mount -o remount,bind,ro /boot"
	run --separate-stderr ka-install --json qhost
	tests_guest "umount /boot"
	[ "$status" -eq 1 ]
	[ "$(jq -r .failed_phase <<<"$output")" = preflight ] || { echo "$output"; false; }
	[[ $(jq -r .message <<<"$output") == *"/boot (Read-only file system)"*"nothing was changed"* ]]
	[ "$(jq -r '[.phases[].phase] | join(" ")' <<<"$output")" = "gate fetch signature connect connect-facts preflight" ]
	[ -z "$(open_kinds qhost)" ]
	[ ! -e "$KA_ROOT/backups/qhost/$release" ]
	[ "$(tests_guest cat /proc/sys/kernel/random/boot_id)" = "$boot_id" ]
	[ "$(tests_guest b2sum /boot/extlinux/extlinux.conf)" = "$conf" ]
}

@test "fault: sshd stops during the install: phase install fails, regression and drift, no boot change, no reboot" {
	[ -s "$KA_ROOT/hosts/qhost/installed.json" ] || skip "needs the first install"
	conf=$(tests_guest b2sum /boot/extlinux/extlinux.conf)
	release=$(tests_guest uname -r)
	boot=$(cat "$T/g/boot-current")
	# a kernel hook that takes sshd (and every session) away mid-install
	tests_guest "cat >/etc/kernel/postinst.d/zz-ka-e2e-stop-sshd && chmod 755 /etc/kernel/postinst.d/zz-ka-e2e-stop-sshd" <<'HOOK'
#!/bin/sh
rm -f "$0"
sync
systemctl stop ssh.service
pkill -x sshd
exit 0
HOOK
	run --separate-stderr ka-install --json --heartbeat 2m qhost
	[ "$status" -eq 1 ]
	[ "$(jq -r .failed_phase <<<"$output")" = install ] || { echo "$output"; false; }
	run -0 jq -r '[.phases[].phase] | join(" ")' <<<"$output"
	[[ $output != *boot-config* && $output != *reboot* ]]
	[ "$(open_kinds qhost)" = "host-drifted regression" ]
	# no sshd: only the power switch helps, as on a board
	run ! env KA_GUEST_SSH_TIMEOUT=5 "$REPO/tests/qemu/guest-ssh" "$T/g" true
	[ "$(cat "$T/g/boot-current")" = "$boot" ]
	boot=$("$REPO/tests/qemu/power-cycle" "$T/g" | sed -n 's/^GUEST_BOOT=//p')
	"$REPO/tests/qemu/wait-guest" --timeout 600 --boot "$boot" "$T/g"
	[ "$(tests_guest b2sum /boot/extlinux/extlinux.conf)" = "$conf" ]
	[ "$(tests_guest uname -r)" = "$release" ]
	run ka-install qhost
	[ "$status" -eq 1 ]
	[[ $output == *"refused by the gate"* ]]
	triage qhost
}

@test "a non-root ssh user installs through sudo -n" {
	[ -s "$KA_ROOT/hosts/qhost/installed.json" ] || skip "needs the first install"
	# sudo from Debian's archive (the guest has no network)
	(cd "$T" && apt-get download sudo >/dev/null)
	tests_guest "cat >/tmp/sudo.deb && dpkg -i /tmp/sudo.deb >/dev/null && rm /tmp/sudo.deb" <"$T"/sudo_*.deb
	tests_guest "useradd -m -s /bin/sh ka && install -d -o ka -m 700 ~ka/.ssh && install -o ka -m 600 /root/.ssh/authorized_keys ~ka/.ssh/ && echo 'ka ALL=(ALL) NOPASSWD: ALL' >/etc/sudoers.d/ka && chmod 440 /etc/sudoers.d/ka"
	sed -i 's/user: root }/user: ka }/' "$KA_REPO/fleet/qhost.yaml"
	before=$(tests_guest cat /proc/sys/kernel/random/boot_id)
	run --separate-stderr ka-install --json qhost
	sed -i 's/user: ka }/user: root }/' "$KA_REPO/fleet/qhost.yaml"
	[ "$status" -eq 0 ] || { echo "$output"; echo "$stderr"; false; }
	[ "$(jq -r .status <<<"$output")" = "done" ]
	[ "$(tests_guest cat /proc/sys/kernel/random/boot_id)" != "$before" ]
	[ "$(jq -r .boot_id_after <<<"$output")" != "$before" ]
	run ka-verify qhost
	[ "$status" -eq 0 ] || { echo "$output"; false; }
}

@test "install.copy: lan: the host copies the package from the sign host and checks the signature itself" {
	[ -s "$KA_ROOT/hosts/qhost/installed.json" ] || skip "needs the first install"
	# the guest's root key is authorized on the sign host (the loopback sshd)
	tests_guest "test -f /root/.ssh/id_ed25519 || ssh-keygen -q -t ed25519 -N '' -f /root/.ssh/id_ed25519; cat /root/.ssh/id_ed25519.pub" >>"$T/sshd/authorized_keys"
	lan=", copy: lan, copy_from: { address: 10.0.2.100, port: 22 }"
	sed -i "s/initramfs: none }/initramfs: none$lan }/" "$KA_REPO/fleet/qhost.yaml"
	# a package replaced on the sign host is caught on the host, before any change
	pkg=$(jq -r '.packages[] | select(.kernel) | .file' "$KA_ROOT/hosts/qhost/published.json")
	cp -p "$pkg" "$T/pkg.orig"
	printf 'x' >>"$pkg"
	boot_id=$(tests_guest cat /proc/sys/kernel/random/boot_id)
	run --separate-stderr ka-install --json qhost
	cp -p "$T/pkg.orig" "$pkg"
	[ "$status" -eq 1 ]
	[ "$(jq -r .failed_phase <<<"$output")" = copy ] || { echo "$output"; false; }
	[[ $(jq -r .message <<<"$output") == *"does not have the published b2sum"* ]]
	[ -z "$(open_kinds qhost)" ]
	[ "$(tests_guest cat /proc/sys/kernel/random/boot_id)" = "$boot_id" ]
	run --separate-stderr ka-install --json qhost
	sed -i "s/$lan//" "$KA_REPO/fleet/qhost.yaml"
	[ "$status" -eq 0 ] || { echo "$output"; echo "$stderr"; false; }
	[ "$(jq -r '[.phases[].phase] | join(" ")' <<<"$output")" = "gate connect connect-facts preflight backup copy signature install boot-config pre-reboot reboot heartbeat proof" ]
	[[ $(jq -r '.phases[] | select(.phase == "copy") | .detail' <<<"$output") == *"copied by the host from the sign host 10.0.2.100:22"* ]]
	[[ $(jq -r '.phases[] | select(.phase == "signature") | .detail' <<<"$output") == *"good signature by $FPR (gpgv on the host)"* ]]
}

@test "an Arch kernel package (pacman -U, its own extlinux hook) is installed and verified (bar 2: pacman -Q)" {
	[ "$(jq -r .status "$T/build-arch.json")" = "done" ] || { cat "$T/build-arch.json" "$T/build-arch.err"; false; }
	ka-publish qarch >/dev/null
	e2e_as_arch_host "$T/g"
	run --separate-stderr ka-install --json qarch
	[ "$status" -eq 0 ] || { echo "$output"; echo "$stderr"; tail -30 "$T/g/console.log"; false; }
	release=$(jq -r .kernel_release <<<"$output")
	[ "$(tests_guest uname -r)" = "$release" ]
	tests_guest "grep -qx '# >>> linux-arch (managed) >>>' /boot/extlinux/extlinux.conf && grep -qx 'DEFAULT linux-arch' /boot/extlinux/extlinux.conf"
	[ "$(tests_guest "pacman -Qq linux-arch")" = linux-arch ]
	run ka-verify qarch
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "$(jq -r '.bars[] | select(.bar == 2) | .passed' "$KA_ROOT/hosts/qarch/verify/last.json" | sort -u)" = "true" ]
	# installed means these bytes: bar 2 read the image's b2sum on the host
	job=$(jq -r .job "$T/build-arch.json")
	[ "$(jq -r .image_b2sum "$KA_ROOT/hosts/qarch/installed.json")" = "$(jq -r .image_b2sum "$KA_ROOT/jobs/$job.json")" ]
	[ "$(jq -r '.bars[] | select(.bar == 2 and .probe == "image /boot/vmlinuz-arch b2sum") | .passed' "$KA_ROOT/hosts/qarch/verify/last.json")" = "true" ]
}

@test "fault: a host key changed across the reboot files host-changed and drift; the owner's new known_hosts line lifts host-changed" {
	[ -s "$KA_ROOT/hosts/qhost/installed.json" ] || skip "needs the first install"
	# the next boot's sshd uses a new key (the running one keeps its config)
	new=$(tests_guest "ssh-keygen -q -t ed25519 -N '' -C ka-rekeyed -f /etc/ssh/ka_rekeyed_host_key && sed -i 's|^HostKey .*|HostKey /etc/ssh/ka_rekeyed_host_key|' /etc/ssh/sshd_config.d/ka-test.conf && cut -d' ' -f1,2 /etc/ssh/ka_rekeyed_host_key.pub")
	run --separate-stderr ka-install --json qhost
	[ "$status" -eq 1 ]
	[ "$(jq -r .failed_phase <<<"$output")" = heartbeat ] || { echo "$output"; false; }
	[[ $(jq -r .message <<<"$output") == *"another host key"* ]]
	[ "$(open_kinds qhost)" = "host-changed host-drifted" ]
	# the owner checks the key on the console and replaces the line
	for kh in "$KA_REPO/fleet/known_hosts" "$T/g/known_hosts"; do
		grep -v "^\[127.0.0.1\]:$GUEST_PORT " "$kh" >"$kh.new" || true
		echo "[127.0.0.1]:$GUEST_PORT $new" >>"$kh.new"
		mv "$kh.new" "$kh"
	done
	run ka-verify qhost
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[ "$(open_kinds qhost)" = "host-drifted" ]
	triage qhost
}

@test "a kernel without VIRTIO_BLK: no heartbeat, regression, drift, backup; the backup restores the old kernel" {
	[ "$(jq -r .status "$T/build-broken.json")" = "done" ] || { cat "$T/build-broken.json" "$T/build-broken.err"; false; }
	ka-publish qbroken >/dev/null
	good=$(tests_guest uname -r)
	run --separate-stderr ka-install --json --heartbeat 90s qbroken
	[ "$status" -eq 1 ]
	[ "$(jq -r .status <<<"$output")" = failed ]
	[ "$(jq -r .failed_phase <<<"$output")" = heartbeat ]
	run ka-block list
	[[ $output == *'"block":"regression"'*'"host":"qbroken"'* || $output == *'"host":"qbroken"'*'"block":"regression"'* ]]
	[[ $output == *'"block":"host-drifted"'* ]]
	[ -s "$KA_ROOT/backups/qbroken/$good/boot.tgz" ]
	run ka-install qbroken
	[ "$status" -eq 1 ]
	[[ $output == *"refused by the gate"* ]]
	# the guest panicked (no root disk); restore /boot from the backup
	"$REPO/tests/qemu/wait-guest" --off --timeout 600 "$T/g" >/dev/null
	boot=$("$REPO/tests/qemu/power-cycle" --rescue "$T/g" | sed -n 's/^GUEST_BOOT=//p')
	"$REPO/tests/qemu/wait-guest" --timeout 600 --boot "$boot" "$T/g"
	"$REPO/tests/qemu/guest-ssh" "$T/g" tar -xzf - -C / <"$KA_ROOT/backups/qbroken/$good/boot.tgz"
	"$REPO/tests/qemu/guest-ssh" "$T/g" sync
	boot=$("$REPO/tests/qemu/power-cycle" "$T/g" | sed -n 's/^GUEST_BOOT=//p')
	"$REPO/tests/qemu/wait-guest" --timeout 600 --boot "$boot" "$T/g"
	[ "$(tests_guest uname -r)" = "$good" ]
}

tests_guest() {
	"$REPO/tests/qemu/guest-ssh" "$T/g" "$@"
}
