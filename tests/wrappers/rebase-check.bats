#!/usr/bin/env bats
# ka-rebase-check on a small fleet: a new baseline tarball where one patch is
# upstream already, one moved and one no longer applies.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	setup_fleet
	series board/pbp/opp fourier
	change arch/arm64/boot/dts/board.dts 3 'node 3;' 'node 3 = fast;' \
		>"$KA_REPO/patches/board/pbp/opp/0001-opp.patch"
	change arch/arm64/boot/dts/board.dts 15 'node 15;' 'node 15 = hdmi;' \
		>"$KA_REPO/patches/board/pbp/opp/0002-hdmi.patch"
	series driver/wifi/lock besser
	change drivers/net/wifi.c 20 'line 20' 'line 20 /* locked */' \
		>"$KA_REPO/patches/driver/wifi/lock/0001-lock.diff"
	host fresnel "board/pbp, driver/wifi"
	host ohm "driver/wifi"
	# the next baseline: opp is upstream, dts grew at the top, wifi.c changed
	cp -r "$T/src/linux-toy" "$T/src/linux-toy-2"
	dts="$T/src/linux-toy-2/arch/arm64/boot/dts/board.dts"
	sed -i 's/^node 3;$/node 3 = fast;/' "$dts"
	sed -i '1i /* new */' "$dts"
	sed -i 's/^line 20$/line 20 upstream/' "$T/src/linux-toy-2/drivers/net/wifi.c"
	tar -cJf "$T/linux-toy-2.tar.xz" -C "$T/src" linux-toy-2
}

teardown() {
	teardown_fleet
}

@test "every patch of a host gets a proposal with its evidence, grouped by host" {
	run --separate-stderr ka-rebase-check --tarball "$T/linux-toy-2.tar.xz" fresnel
	[ "$status" -eq 1 ]
	[[ $output == "fresnel: $T/linux-toy.tar.xz ("*") -> $T/linux-toy-2.tar.xz ("* ]]
	[[ $output == *"  drop     patches/board/pbp/opp/0001-opp.patch  (reverse-applies to the new baseline"* ]]
	[[ $output == *"  refresh  patches/board/pbp/opp/0002-hdmi.patch  (arch/arm64/boot/dts/board.dts hunk 1 at offset +1)"* ]]
	[[ $output == *"  rebase   patches/driver/wifi/lock/0001-lock.diff  (drivers/net/wifi.c hunk 1"* ]]
	[[ $output == *"3 patches: 0 keep, 1 refresh, 1 rebase, 1 drop"* ]]
	# nothing promoted, nothing blocked
	[ ! -e "$KA_ROOT/hosts/fresnel/promoted" ]
	[ ! -d "$KA_ROOT/blocks" ] || [ -z "$(ls -A "$KA_ROOT/blocks")" ]
}

@test "--all --json: one ka.rebase-report per host" {
	run --separate-stderr ka-rebase-check --all --json --tarball "$T/linux-toy-2.tar.xz"
	[ "$status" -eq 1 ]
	[ "$(jq -s length <<<"$output")" -eq 2 ]
	[ "$(jq -r 'select(.host == "ohm") | .patches[0].verdict' <<<"$output")" = needs-rebase ]
	[ "$(jq -r 'select(.host == "fresnel") | .patches[0].proposal' <<<"$output")" = drop ]
}

@test "the same baseline carries everything over" {
	run ka-rebase-check --tarball "$T/linux-toy.tar.xz" ohm
	[ "$status" -eq 0 ]
	[[ $output == *"1 patches: 1 keep, 0 refresh, 0 rebase, 0 drop"* ]]
}

@test "refusals: no baseline named, no host, a tarball host asked for a ref" {
	run ka-rebase-check fresnel
	[ "$status" -eq 2 ]
	[[ $output == *"--ref REF or --tarball PATH"* ]]
	run ka-rebase-check --tarball "$T/linux-toy-2.tar.xz"
	[ "$status" -eq 2 ]
	run --separate-stderr ka-rebase-check --ref v2 fresnel
	[ "$status" -eq 2 ]
	[[ $stderr == *"give --git URL with --ref"* ]]
	run --separate-stderr ka-rebase-check --tarball "$T/missing.tar.xz" fresnel
	[ "$status" -eq 1 ]
	[[ $stderr == *"missing.tar.xz is missing"* ]]
}
