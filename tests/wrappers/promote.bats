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
	[[ $output == *"ka-promote: created the state folder $KA_ROOT (KA_ROOT)"* ]]
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

@test "a patch made against another release: the cumulative's hunk headers say where ka-check placed it" {
	# written as if line 10 were line 14: ka-check finds it 4 lines up
	change drivers/net/wifi.c 10 'line 10' 'line 10 /* moved */' | sed 's/^@@ -9,3 +9,3 @@/@@ -13,3 +13,3 @@/' \
		>"$KA_REPO/patches/driver/wifi/lock/0002-moved.diff"
	grep -q '^@@ -13,3 +13,3 @@' "$KA_REPO/patches/driver/wifi/lock/0002-moved.diff"
	run --separate-stderr ka-promote --json ohm
	[ "$status" -eq 0 ]
	p="$KA_ROOT/hosts/ohm/promoted"
	grep -q '^@@ -9,3 +9,3 @@$' "$p/cumulative.patch"
	# the lock names the patch's own bytes; only the cumulative moved the header
	[ "$(jq -r '.patches[1].b2sum' "$p/manifest.lock")" = "$(b2sum "$KA_REPO/patches/driver/wifi/lock/0002-moved.diff" | cut -d' ' -f1)" ]
	mkdir "$T/tree" && tar -xJf "$T/linux-toy.tar.xz" -C "$T/tree"
	run patch -d "$T/tree/linux-toy" -Np1 -F0 --batch -i "$p/cumulative.patch"
	[ "$status" -eq 0 ]
	[[ $output != *offset* ]]
	grep -qx 'line 10 /\* moved \*/' "$T/tree/linux-toy/drivers/net/wifi.c"
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

@test "an unchanged promote still names the promoted files: .files[] lists them" {
	ka-promote fresnel >/dev/null
	run --separate-stderr ka-promote --json fresnel
	[ "$status" -eq 0 ]
	[ "$(jq -r .status <<<"$output")" = unchanged ]
	p="$KA_ROOT/hosts/fresnel/promoted"
	[ "$(jq -r '.files[]' <<<"$output")" = "$p/cumulative.patch"$'\n'"$p/manifest.lock" ]
	for f in $(jq -r '.files[]' <<<"$output"); do [ -f "$f" ]; done
	# the summary says they are in place, not written
	run --separate-stderr ka-promote fresnel
	[[ $output == *"promote fresnel: unchanged — already promoted (3 patches)"* ]]
	[[ $output == *"in place $p/manifest.lock"* ]]
	[[ $output != *"wrote"* ]]
}

@test "a dry run says what the real run would: would be unchanged, or would promote" {
	# the baseline imported once, as a real run would (a dry run imports nothing)
	ka-baseline --import "$T/linux-toy.tar.xz" >/dev/null
	run --separate-stderr ka-promote --all --dry-run
	[[ $output == *"promote fresnel: dry-run — would promote 3 patches"* ]]
	[[ $output == *"promote ohm: dry-run — would promote 1 patch"* ]]
	ka-promote --all >/dev/null
	run --separate-stderr ka-promote --all --dry-run
	[ "$status" -eq 0 ]
	[[ $output == *"promote fresnel: dry-run — would be unchanged: already promoted (3 patches)"* ]]
	[[ $output == *"promote ohm: dry-run — would be unchanged: already promoted (1 patch)"* ]]
	[[ $output != *"would promote"* ]]
	run --separate-stderr ka-promote --all
	[[ $output == *"promote fresnel: unchanged — already promoted (3 patches)"* ]]
	# a new patch for ohm: ohm would promote, fresnel stays unchanged
	change drivers/net/wifi.c 5 'line 5' 'line 5 /* new */' >"$KA_REPO/patches/driver/wifi/lock/0002-new.diff"
	run --separate-stderr ka-promote --all --dry-run
	[[ $output == *"promote ohm: dry-run — would promote 2 patches"* ]]
	[[ $output == *"promote fresnel: dry-run — would promote 4 patches"* ]]
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
	# no state yet: nothing is imported or created; it says what a real run imports
	run --separate-stderr ka-promote --dry-run fresnel
	[ "$status" -eq 0 ]
	[[ $output == "promote fresnel: dry-run — would import $T/linux-toy.tar.xz ("*" bytes) into $KA_ROOT/baselines/linux-toy.git once, then check and promote 3 patches"* ]]
	[ ! -e "$KA_ROOT" ]
	run --separate-stderr ka-promote --all --dry-run --json
	[ "$status" -eq 0 ]
	[ "$(jq -r .status <<<"$output" | sort -u)" = dry-run ]
	[ ! -e "$KA_ROOT" ]
	# with the baseline imported (a real promote of ohm), the dry run checks
	ka-promote ohm >/dev/null
	# the audit log is the one thing a dry run adds, to a state folder already there
	find "$KA_ROOT" -path "$KA_ROOT/audit" -prune -o -print | sort >"$T/before"
	change drivers/net/wifi.c 5 'no such line' 'x' >"$KA_REPO/patches/driver/wifi/lock/0002-broken.diff"
	run ka-promote --dry-run fresnel
	[ "$status" -eq 1 ]
	[ ! -e "$KA_ROOT/hosts/fresnel" ]
	[ -z "$(ls -A "$KA_ROOT/blocks" 2>/dev/null)" ]
	find "$KA_ROOT" -path "$KA_ROOT/audit" -prune -o -print | sort | diff "$T/before" -
}

@test "--confirm asks; no writes on no, writes on yes" {
	run ka-promote --confirm fresnel <<<"n"
	[ "$status" -eq 1 ]
	[[ $output == *"declined"* ]]
	# the preview is the plan the question is about, not a finished dry run
	printf '%s\n' "${lines[@]}" | grep -qx "plan for fresnel: would promote 3 patches"
	[[ $output != *"dry-run"* ]]
	[[ $output == *"Write cumulative.patch and manifest.lock for the hosts above?"* ]]
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

@test "a symbolic link out of the tree fails the promote naming file and line; a write through a link too" {
	printf 'diff --git a/drivers/net/fw b/drivers/net/fw\nnew file mode 120000\nindex 0000000..1111111\n--- /dev/null\n+++ b/drivers/net/fw\n@@ -0,0 +1 @@\n+/lib/firmware\n\\ No newline at end of file\n' \
		>"$KA_REPO/patches/driver/wifi/lock/0002-fw-link.diff"
	run --separate-stderr ka-promote ohm
	[ "$status" -eq 1 ]
	[[ $stderr == *"patches/driver/wifi/lock/0002-fw-link.diff: line 1: creates the symbolic link drivers/net/fw -> /lib/firmware: an absolute target"* ]]
	[ ! -e "$KA_ROOT/hosts/ohm/promoted" ]
	# a link inside the tree is fine; a later patch writing through it is not
	printf 'diff --git a/drivers/wl b/drivers/wl\nnew file mode 120000\nindex 0000000..1111111\n--- /dev/null\n+++ b/drivers/wl\n@@ -0,0 +1 @@\n+net\n\\ No newline at end of file\n' \
		>"$KA_REPO/patches/driver/wifi/lock/0002-fw-link.diff"
	change drivers/wl/wifi.c 5 'line 5' 'line 5 through' >"$KA_REPO/patches/driver/wifi/lock/0003-through.diff"
	run --separate-stderr ka-promote ohm
	[ "$status" -eq 1 ]
	[[ $stderr == *"0003-through.diff: line 1: drivers/wl/wifi.c is beyond the symbolic link drivers/wl, made earlier in the series"* ]]
	[ ! -e "$KA_ROOT/hosts/ohm/promoted" ]
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
	ka-baseline --import "$T/linux-toy.tar.xz" >/dev/null
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
