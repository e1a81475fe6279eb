#!/usr/bin/env bats
# Errors say what the user did (issue 19): an empty variable is named, an
# unknown host is named with the fleet's hosts, an infra host or the gate is
# said before "run the previous verb first", a missing tarball's hint is for
# the version asked for, and a huge input is not quoted whole.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	setup_fleet
	series driver/wifi/lock besser
	change drivers/net/wifi.c 20 'line 20' 'line 20 /* locked */' \
		>"$KA_REPO/patches/driver/wifi/lock/0001-lock.diff"
	host fresnel "driver/wifi" "ssh: { address: 127.0.0.1, port: 1, user: root }
install: { mode: alongside, bootloader: extlinux, initramfs: mkinitcpio }"
	host ohm "driver/wifi"
	# an infra host with a kernel, without opt_in
	host hz "driver/wifi" "ssh: { address: 127.0.0.1, port: 1, user: root }"
	sed -i 's/^role: dev$/role: infra/' "$KA_REPO/fleet/hz.yaml"
	cat >"$KA_REPO/fleet/signer.yaml" <<YAML
host: signer
role: infra
arch: x86_64
distro: arch
sign: { local: true, key: 0123456789ABCDEF0123456789ABCDEF01234567, gnupghome: $T/gnupg, pacman: { name: ka, root: $T/srv/arch } }
YAML
	HOSTS="fresnel, hz, ohm, signer"
}

teardown() {
	teardown_fleet
}

@test "an empty KA_ROOT or KA_REPO is named, once, by the verb and by the stage in the same words" {
	want="KA_ROOT is set but empty; unset it (default /srv/kernel-agent) or set it to a folder"
	for verb in ka-promote ka-build ka-publish ka-install ka-verify; do
		KA_ROOT='' run --separate-stderr "$verb" fresnel
		[ "$status" -eq 2 ]
		[ "$stderr" = "$verb: error: $want" ]
		[ -z "$output" ]
	done
	KA_ROOT='' run --separate-stderr ka-rebase-check --tarball "$T/linux-toy.tar.xz" fresnel
	[ "$status" -eq 2 ]
	[ "$stderr" = "ka-rebase-check: error: $want" ]
	KA_ROOT='' run --separate-stderr ka-keep some-job
	[ "$stderr" = "ka-keep: error: $want" ]
	# the stages say it the same way: no "--root" the user never typed
	KA_ROOT='' run --separate-stderr ka-status
	[ "$status" -eq 2 ]
	[ "$stderr" = "ka-status: error: $want" ]
	KA_ROOT='' run --separate-stderr ka-block list
	[ "$stderr" = "ka-block: error: $want" ]
	KA_REPO='' run --separate-stderr ka-promote fresnel
	[ "$status" -eq 2 ]
	[ "$stderr" = "ka-promote: error: KA_REPO is set but empty; unset it (default: the current directory) or set it to the fleet repository" ]
	KA_REPO='' run --separate-stderr ka-resolve fresnel
	[ "$stderr" = "ka-resolve: error: KA_REPO is set but empty; unset it (default: the current directory) or set it to the fleet repository" ]
	# refused before anything ran: nothing audited, nothing written
	[ ! -e "$KA_ROOT" ]
	# --root and --repo still win over the variables
	root=$KA_ROOT repo=$KA_REPO
	KA_ROOT='' KA_REPO='' run ka-promote --root "$root" --repo "$repo" --dry-run fresnel
	[ "$status" -eq 0 ]
	[[ $output == *"promote fresnel: dry-run"* ]]
}

@test "other empty variables are named too: KA_SSH_IDENTITY, KA_NOW, KA_CONFIG" {
	KA_SSH_IDENTITY='' run --separate-stderr ka-install fresnel
	[ "$status" -eq 2 ]
	[ "$stderr" = "ka-install: error: KA_SSH_IDENTITY is set but empty; unset it (default KA_ROOT/ssh/id_ed25519) or set it to the fleet's SSH private key" ]
	KA_SSH_IDENTITY='' run --separate-stderr ka-probe fresnel
	[ "$status" -eq 2 ]
	[[ $stderr == *"KA_SSH_IDENTITY is set but empty; unset it"* ]]
	KA_NOW='' run --separate-stderr ka-status
	[ "$status" -eq 2 ]
	[ "$stderr" = "ka-status: error: KA_NOW is set but empty; unset it (default: the clock) or set it to a time, seconds since the epoch or YYYY-MM-DDTHH:MM:SSZ" ]
	KA_CONFIG='' run --separate-stderr ka-verify fresnel
	[ "$status" -eq 2 ]
	[ "$stderr" = "ka-verify: error: KA_CONFIG is set but empty; unset it (default KA_ROOT/config.yaml) or set it to a config file" ]
	KA_CONFIG='' run --separate-stderr ka-block file --kind signing-fail --title t
	[ "$status" -eq 2 ]
	[[ $stderr == *"KA_CONFIG is set but empty"* ]]
}

@test "an unknown host is named with the fleet's hosts by every verb, exit 2" {
	want="no host 'fresnell' in the fleet ($KA_REPO/fleet/); hosts: $HOSTS"
	for verb in ka-promote ka-build ka-publish ka-install; do
		run --separate-stderr "$verb" fresnell
		[ "$status" -eq 2 ]
		[[ $stderr == *": error: $want" ]]
		[ "$(wc -l <<<"$stderr")" -eq 1 ]
		[ -z "$output" ]
	done
	run --separate-stderr ka-verify fresnell
	[ "$status" -eq 2 ]
	[[ $stderr == *": error: fresnell: $want" ]]
	run --separate-stderr ka-rebase-check --tarball "$T/linux-toy.tar.xz" fresnell
	[ "$status" -eq 2 ]
	[ "$stderr" = "ka-resolve: error: $want" ]
	# the other hosts of a ka-verify run are still named on their own
	run --separate-stderr ka-verify fresnell ohm
	[[ $stderr == *"fresnell: $want"* ]]
}

@test "an infra host without opt_in is refused as such before 'run the previous verb first'" {
	want="fleet/hz.yaml: hz is an infra host; kernel-agent never targets infra hosts unless the manifest says opt_in: true"
	for verb in ka-promote ka-build ka-publish ka-install; do
		run --separate-stderr "$verb" hz
		[ "$status" -eq 1 ]
		[[ $stderr == *": error: $want" ]]
		[[ $stderr != *first* && $stderr != *"nothing published"* ]]
	done
	run --separate-stderr ka-verify hz
	[ "$status" -eq 1 ]
	[[ $stderr == *"$want" ]]
	[ ! -e "$KA_ROOT/hosts/hz" ]
}

@test "the gate's blocks are said before 'run the previous verb first'" {
	# with no block: what is missing
	run --separate-stderr ka-install fresnel
	[ "$status" -eq 2 ]
	[[ $stderr == *"fresnel: nothing published"* ]]
	run --separate-stderr ka-build fresnel
	[ "$status" -eq 1 ]
	[[ $stderr == *"run ka-promote fresnel first"* ]]
	run --separate-stderr ka-publish fresnel
	[ "$status" -eq 1 ]
	[[ $stderr == *"run \`ka-build fresnel\` first"* ]]
	# a drifted host: installs are refused by the gate, whatever is published
	ka-block file --kind host-drifted --host fresnel --title drifted >/dev/null
	run --separate-stderr ka-install fresnel
	[ "$status" -eq 1 ]
	[[ $stderr =~ "ka-install-run: error: refused by the gate: host-drifted-"[0-9a-f]+" [ka:host-drifted] holds installs to fresnel; nothing was changed" ]]
	# a signing failure halts builds and publishing
	ka-block file --kind signing-fail --title "key expired" >/dev/null
	run --separate-stderr ka-build fresnel
	[ "$status" -eq 1 ]
	[[ $stderr == *"refused by the gate: signing-fail-"*" [ka:signing-fail] holds builds of fresnel"* ]]
	[[ $stderr != *first* ]]
	run --separate-stderr ka-publish fresnel
	[ "$status" -eq 1 ]
	[[ $stderr == *"signing is halted by signing-fail-"* ]]
	[[ $stderr != *first* ]]
}

@test "the missing-tarball hint names the version the manifest asks for" {
	sed -i "s|tarball: $T/linux-toy.tar.xz|tarball: $T/nonexistent/linux-source-6.12.tar.xz|" "$KA_REPO/fleet/ohm.yaml"
	run --separate-stderr ka-promote ohm
	[ "$status" -eq 1 ]
	[[ $stderr == *"baseline tarball $T/nonexistent/linux-source-6.12.tar.xz is missing; install it (apt-get install linux-source-6.12) or fix kernel.baseline"* ]]
	[[ $stderr != *"linux-source-6.1)"* ]]
}

@test "an error on a huge malformed manifest quotes a few hundred bytes of it, not all" {
	# 8 MB, one YAML scalar: "invalid type: string ..." would quote it whole
	head -c 8000000 /dev/zero | tr '\0' x >"$KA_REPO/fleet/ohm.yaml"
	run --separate-stderr ka-promote ohm
	[ "$status" -eq 3 ]
	[ "${#stderr}" -lt 600 ]
	[[ $stderr == *'xxx…" (7999800 bytes more), expected struct HostManifest'* ]]
	# a huge value, and the same through --all (errors per host)
	{
		printf 'host: ohm\nrole: dev\narch: aarch64\ndistro: arch\nscopes: ["'
		head -c 8000000 /dev/zero | tr '\0' y
		printf '"]\n'
	} >"$KA_REPO/fleet/ohm.yaml"
	run --separate-stderr ka-promote ohm
	[ "$status" -eq 3 ]
	[ "${#stderr}" -lt 600 ]
	[[ $stderr == *'invalid scope "yyy'*'… (7999800 bytes more)'* ]]
	run --separate-stderr ka-promote --all --dry-run
	[ "${#stderr}" -lt 2000 ]
	[[ $stderr == *"bytes more"* ]]
}
