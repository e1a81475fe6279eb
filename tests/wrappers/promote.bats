#!/usr/bin/env bats
# ka-promote end to end on a small fleet: real git, real tar, real binaries.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	setup_fleet
	series board/pbp/opp fourier
	format_patch arch/arm64/boot/dts/board.dts 3 'node 3;' 'node 3 = fast;' \
		>"$KA_REPO/patches/board/pbp/opp/0001-opp.patch"
	format_patch arch/arm64/boot/dts/board.dts 10 'node 10;' 'node 10 = hdmi;' \
		>"$KA_REPO/patches/board/pbp/opp/0002-hdmi.patch"
	series driver/wifi/lock besser
	change drivers/net/wifi.c 20 'line 20' 'line 20 /* locked */' \
		>"$KA_REPO/patches/driver/wifi/lock/0001-lock.diff"
	host fresnel "board/pbp, driver/wifi"
	host ohm "driver/wifi"
}

teardown() {
	teardown_fleet
}

@test "promote writes cumulative.patch and manifest.lock whose b2sum coreutils agrees with" {
	run ka-promote fresnel
	[ "$status" -eq 0 ]
	[[ $output == *"promote fresnel: done"* ]]
	p="$KA_ROOT/hosts/fresnel/promoted"
	[ -f "$p/cumulative.patch" ] && [ -f "$p/manifest.lock" ]
	want=$(b2sum "$p/cumulative.patch" | cut -d' ' -f1)
	[ "$(jq -r .cumulative.b2sum "$p/manifest.lock")" = "$want" ]
	[ "$(jq -r '.patches | length' "$p/manifest.lock")" -eq 3 ]
	# the cumulative applies with patch(1) to the baseline
	mkdir "$T/tree" && tar -xJf "$T/linux-toy.tar.xz" -C "$T/tree"
	patch -d "$T/tree/linux-toy" -Np1 --dry-run <"$p/cumulative.patch"
	# the signatures are gone, the mails' other bytes are not
	run ! grep -q '^2.39.5$' "$p/cumulative.patch"
	grep -q '^Subject: \[PATCH\] change' "$p/cumulative.patch"
}

@test "--json prints one ka.result per host naming every file written" {
	run --separate-stderr ka-promote --json fresnel
	[ "$status" -eq 0 ]
	[ "$(jq -r .kind <<<"$output")" = ka.result ]
	[ "$(jq -r .status <<<"$output")" = "done" ]
	for f in $(jq -r '.files[]' <<<"$output"); do [ -e "$f" ]; done
	run --separate-stderr ka-promote --json fresnel
	[ "$(jq -r .status <<<"$output")" = unchanged ]
}

@test "--all promotes every kernel host and is byte-identical when repeated" {
	run --separate-stderr ka-promote --all --json
	[ "$status" -eq 0 ]
	[ "$(jq -s length <<<"$output")" -eq 2 ]
	cp "$KA_ROOT/hosts/ohm/promoted/manifest.lock" "$T/lock1"
	rm -rf "$KA_ROOT/hosts"
	ka-promote --all --json >/dev/null
	cmp "$T/lock1" "$KA_ROOT/hosts/ohm/promoted/manifest.lock"
}

@test "--dry-run writes nothing and files no blocks" {
	change drivers/net/wifi.c 5 'no such line' 'x' >"$KA_REPO/patches/driver/wifi/lock/0002-broken.diff"
	run ka-promote --dry-run fresnel
	[ "$status" -eq 1 ]
	[ ! -e "$KA_ROOT/hosts" ]
	[ ! -e "$KA_ROOT/blocks" ] || [ -z "$(ls -A "$KA_ROOT/blocks")" ]
}

@test "--confirm asks; no writes on no, writes on yes" {
	run ka-promote --confirm fresnel <<<"n"
	[ "$status" -eq 1 ]
	[[ $output == *"declined"* ]]
	[ ! -e "$KA_ROOT/hosts/fresnel/promoted" ]
	run ka-promote --confirm fresnel <<<"y"
	[ "$status" -eq 0 ]
	[ -f "$KA_ROOT/hosts/fresnel/promoted/manifest.lock" ]
}

@test "a failing patch files [ka:patch-fail], halts only the hosts carrying it, and lifts when fixed" {
	ka-promote fresnel >/dev/null
	before=$(readlink "$KA_ROOT/hosts/fresnel/promoted")
	change arch/arm64/boot/dts/board.dts 15 'no such node' 'x' >"$KA_REPO/patches/board/pbp/opp/0003-broken.patch"
	run ka-promote --all
	[ "$status" -eq 1 ]
	[[ $output == *"promote fresnel: BLOCKED"* ]]
	[[ $output == *"FAILS"*"0003-broken.patch"* ]]
	[[ $output == *"promote ohm: done"* ]]
	# the old promotion of fresnel stays in place
	[ "$(readlink "$KA_ROOT/hosts/fresnel/promoted")" = "$before" ]
	run ka-block list
	[ "$(jq -r .block <<<"$output")" = patch-fail ]
	[[ $(jq -r .title <<<"$output") == "[ka:patch-fail] patches/board/pbp/opp/0003-broken.patch" ]]
	# fixed: the block lifts and fresnel promotes
	change arch/arm64/boot/dts/board.dts 15 'node 15;' 'node 15 = spi;' >"$KA_REPO/patches/board/pbp/opp/0003-broken.patch"
	run ka-promote fresnel
	[ "$status" -eq 0 ]
	[ -z "$(ka-block list)" ]
}

@test "two campaigns changing the same lines file [ka:campaign-conflict] naming both" {
	series driver/wifi/other-fix vendor
	printf -- '--- a/drivers/net/wifi.c\n+++ b/drivers/net/wifi.c\n@@ -19,3 +19,3 @@\n line 19\n-line 20 /* locked */\n+line 20 /* locked twice */\n line 21\n' \
		>"$KA_REPO/patches/driver/wifi/other-fix/0001-relock.diff"
	run ka-promote ohm
	[ "$status" -eq 1 ]
	run ka-block list
	[ "$(jq -r .block <<<"$output")" = campaign-conflict ]
	[[ $(jq -r .title <<<"$output") == *besser* ]]
	[[ $(jq -r .title <<<"$output") == *vendor* ]]
	[ ! -e "$KA_ROOT/hosts/ohm/promoted" ]
}

@test "an infra host without opt-in is refused; nothing written" {
	cat >"$KA_REPO/fleet/hertz.yaml" <<YAML
host: hertz
role: infra
arch: x86_64
distro: debian
kernel: { pkgbase: linux-hertz, suffix: hertz, baseline: { tarball: $T/linux-toy.tar.xz } }
scopes: [driver/wifi]
YAML
	run ka-promote hertz
	[ "$status" -eq 1 ]
	[[ $output == *"infra host"* ]]
	[ ! -e "$KA_ROOT/hosts" ]
}

@test "a missing baseline is refused clearly; nothing written" {
	host fresnel "board/pbp" && sed -i "s|$T/linux-toy.tar.xz|$T/missing.tar.xz|" "$KA_REPO/fleet/fresnel.yaml"
	run ka-promote fresnel
	[ "$status" -eq 1 ]
	[[ $output == *"missing.tar.xz is missing"* ]]
	[ ! -e "$KA_ROOT/hosts" ]
}

@test "malformed YAML stops with exit 3 naming file:line:col" {
	printf 'host: fresnel\nrole: dev\nflavour: x\n' >"$KA_REPO/fleet/fresnel.yaml"
	run ka-promote fresnel
	[ "$status" -eq 3 ]
	[[ $output == *"fleet/fresnel.yaml:3:1: unknown field \`flavour\`"* ]]
}

@test "bad patches: empty, not a diff, non-UTF-8 bytes" {
	: >"$KA_REPO/patches/driver/wifi/lock/0002-empty.diff"
	run ka-promote ohm
	[ "$status" -eq 1 ]
	[[ $output == *"0002-empty.diff"* ]]
	printf 'just some prose\n' >"$KA_REPO/patches/driver/wifi/lock/0002-empty.diff"
	run ka-promote ohm
	[ "$status" -eq 1 ]
	[[ $output == *"0002-empty.diff"* ]]
	[ ! -e "$KA_ROOT/hosts/ohm" ]
	# non-UTF-8 bytes apply and hash byte-exactly
	rm "$KA_REPO/patches/driver/wifi/lock/0002-empty.diff"
	printf -- '--- a/drivers/net/wifi.c\n+++ b/drivers/net/wifi.c\n@@ -1,2 +1,2 @@\n-line 1\n+line 1 \xff\xfe\n line 2\n' \
		>"$KA_REPO/patches/driver/wifi/lock/0002-latin1.diff"
	run ka-promote ohm
	[ "$status" -eq 0 ]
	p="$KA_ROOT/hosts/ohm/promoted"
	[ "$(jq -r '.patches[1].b2sum' "$p/manifest.lock")" = "$(b2sum "$KA_REPO/patches/driver/wifi/lock/0002-latin1.diff" | cut -d' ' -f1)" ]
}

@test "usage errors exit 2" {
	run ka-promote
	[ "$status" -eq 2 ]
	run ka-promote --frobnicate fresnel
	[ "$status" -eq 2 ]
	run ka-promote --repo
	[ "$status" -eq 2 ]
	run ka-promote --help
	[ "$status" -eq 0 ]
	[[ $output == *"usage: ka-promote"* ]]
}

@test "KA_ROOT inside HOME is refused" {
	run env KA_ROOT="$HOME/state" ka-promote fresnel
	[ "$status" -eq 2 ]
	# shellcheck disable=SC2016 # a literal $HOME in the message
	[[ $output == *'inside $HOME'* ]]
	[ ! -e "$HOME/state" ]
}

@test "a GIT binary patch applies; a 'Binary files differ' marker is refused clearly" {
	# make a real binary patch with git against the toy baseline
	mkdir "$T/g" && tar -xJf "$T/linux-toy.tar.xz" -C "$T/g"
	git -C "$T/g/linux-toy" init -q
	git -C "$T/g/linux-toy" add -f -A
	git -C "$T/g/linux-toy" -c user.name=t -c user.email=t@t commit -qm base
	{ printf '\0\1\2fw'; head -c 300 /dev/urandom; } >"$T/g/linux-toy/drivers/net/firmware.bin" # NUL: git sees binary
	git -C "$T/g/linux-toy" add -f drivers/net/firmware.bin
	series driver/wifi/firmware besser
	git -C "$T/g/linux-toy" diff --cached --binary >"$KA_REPO/patches/driver/wifi/firmware/0001-fw.patch"
	run ka-promote ohm
	[ "$status" -eq 0 ]
	grep -q '^GIT binary patch' "$KA_ROOT/hosts/ohm/promoted/cumulative.patch"
	# without --binary git writes only a marker: nothing to apply
	git -C "$T/g/linux-toy" diff --cached >"$KA_REPO/patches/driver/wifi/firmware/0001-fw.patch"
	run ka-promote ohm
	[ "$status" -eq 1 ]
	[[ $output == *"0001-fw.patch"* ]]
	[[ $output == *"binary"* ]]
}

@test "series names with shell metacharacters or a leading dash are refused" {
	mkdir -p "$KA_REPO/patches/driver/wifi/a;b"
	printf 'scope: driver/wifi\ncampaign: c\n' >"$KA_REPO/patches/driver/wifi/a;b/series.yaml"
	change drivers/net/wifi.c 5 'line 5' 'x' >"$KA_REPO/patches/driver/wifi/a;b/0001-x.diff"
	run ka-promote ohm
	[ "$status" -eq 3 ]
	[[ $output == *"invalid series name"* ]]
	mv "$KA_REPO/patches/driver/wifi/a;b" "$KA_REPO/patches/driver/wifi/-rf"
	run ka-promote ohm
	[ "$status" -eq 3 ]
	[[ $output == *'invalid series name "-rf"'* ]]
	[ ! -e "$KA_ROOT/hosts/ohm" ]
}

@test "an unknown host: one clear error from the stage that knows, exit 2" {
	run --separate-stderr ka-promote nosuchhost
	[ "$status" -eq 2 ]
	[ "$stderr" = "ka-resolve: error: no host 'nosuchhost' in the fleet ($KA_REPO/fleet/); hosts: fresnel, ohm" ]
	[ -z "$output" ]
}

@test "--all --dry-run groups hosts whose plans are identical (fleet impact view)" {
	host volta "driver/wifi"
	run --separate-stderr ka-promote --all --dry-run
	[ "$status" -eq 0 ]
	[[ $output == *"fleet impact: 3 hosts, 2 distinct plans"* ]]
	[[ $output == *"group 1: ohm, volta — baseline "*", 1 patches,"* ]]
	[[ $output == *"group 2: fresnel — "*", 3 patches,"* ]]
	[ ! -e "$KA_ROOT/hosts" ]
	# one host alone is no fleet view
	run --separate-stderr ka-promote --dry-run ohm
	[[ $output != *"fleet impact"* ]]
}
