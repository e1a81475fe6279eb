#!/usr/bin/env bats
# The kernel config as a checked input of ka-promote, with the real kconfig:
# the toy baseline carries the kernel's own top Makefile and scripts/ (taken
# from Debian's linux-source-6.1 when the file starts) and a small Kconfig
# tree of ours, so conf, its dependencies and its choices are the kernel's.

load helpers
bats_require_minimum_version 1.5.0

TARBALL=/usr/src/linux-source-6.1.tar.xz

setup_file() {
	[ -f "$TARBALL" ] || {
		echo "missing $TARBALL: apt-get install linux-source-6.1 (scripts/debian-deps)" >&2
		return 1
	}
	export KCONFIG_SRC="$BATS_FILE_TMPDIR/kernel"
	mkdir -p "$KCONFIG_SRC"
	tar -xJf "$TARBALL" -C "$KCONFIG_SRC" --strip-components=1 \
		linux-source-6.1/Makefile linux-source-6.1/scripts
}

# toy_kconfig: give the toy baseline the kernel's kconfig and our Kconfig tree
toy_kconfig() {
	local src="$T/src/linux-toy"
	cp -a "$KCONFIG_SRC/Makefile" "$KCONFIG_SRC/scripts" "$src/"
	mkdir -p "$src/arch/arm64"
	: >"$src/arch/arm64/Makefile"
	printf 'config ARM64\n\tdef_bool y\n\tselect CRC\n' >"$src/arch/arm64/Kconfig"
	cat >"$src/Kconfig" <<'KCONFIG'
mainmenu "toy"
source "arch/$(SRCARCH)/Kconfig"
config MODULES
	bool "loadable modules"
	modules
config NET
	bool "networking"
config MMC
	tristate "MMC/SD"
if NET
config WIFI
	tristate "the wifi driver"
	depends on MMC
	help
	  depends on nothing: help text is not read as a dependency
endif
config CRC
	tristate "crc"
config HZ
	int "timer frequency"
	range 100 1000
	default 250
KCONFIG
	tar -cJf "$T/linux-toy.tar.xz" -C "$T/src" linux-toy
}

# kernel_host NAME SCOPES: an aarch64 host (helpers' host) with a base config
kernel_host() {
	mkdir -p "$KA_REPO/fleet/config"
	host "$1" "$2"
	sed -i "/^  suffix:/a\\  config: fleet/config/$1.config" "$KA_REPO/fleet/$1.yaml"
}

setup() {
	setup_fleet
	toy_kconfig
	series driver/wifi/lock besser
	change drivers/net/wifi.c 20 'line 20' 'line 20 /* locked */' \
		>"$KA_REPO/patches/driver/wifi/lock/0001-lock.diff"
	kernel_host ohm driver/wifi
	printf 'CONFIG_MODULES=y\nCONFIG_NET=y\n' >"$KA_REPO/fleet/config/ohm.config"
	printf 'CONFIG_WIFI=m\n' >"$KA_REPO/patches/driver/wifi/lock/fragment.config"
}

teardown() {
	teardown_fleet
}

# state: a listing of KA_ROOT (the audit log aside), to show nothing was written
state() {
	find "$KA_ROOT" -path "$KA_ROOT/audit" -prune -o -print 2>/dev/null | sort
}

@test "a series option with an unmet dependency: the reason, [ka:config-drop], the promote halted; meeting it lifts the block" {
	run ka-promote ohm
	[ "$status" -eq 1 ]
	[[ $output == *"config-drop CONFIG_WIFI=m (patches/driver/wifi/lock/fragment.config:1) is n: its dependencies are not met"* ]]
	[[ $output == *"depends on NET [=y] && MMC [=n]"* ]]
	[[ $output == *"because MMC=n"* ]]
	[ ! -e "$KA_ROOT/hosts/ohm/promoted" ]
	run ka-block list
	[[ $output == *"[ka:config-drop] CONFIG_WIFI=m asked by driver/wifi/lock is n on ohm"* ]]
	# the block halts this host's promote, and only this host's
	run ka-gate --verb promote --host ohm
	[ "$status" -eq 1 ]
	run ka-gate --verb promote --host fresnel
	[ "$status" -eq 0 ]

	# the owner meets the dependency in the base config
	printf 'CONFIG_MODULES=y\nCONFIG_NET=y\nCONFIG_MMC=y\n' >"$KA_REPO/fleet/config/ohm.config"
	run --separate-stderr ka-promote --json ohm
	[ "$status" -eq 0 ]
	[[ $stderr == *"lifted config-drop-"* ]]
	[ "$(jq -r .status <<<"$output")" = "done" ]
	p="$KA_ROOT/hosts/ohm/promoted"
	grep -qx 'CONFIG_WIFI=m' "$p/config"
	grep -qx 'CONFIG_ARM64=y' "$p/config"
	[ "$(jq -r .config.b2sum "$p/manifest.lock")" = "$(b2sum "$p/config" | cut -d' ' -f1)" ]
	[ "$(jq -r .config.file "$p/manifest.lock")" = config ]
	run ka-block list
	[[ $output != *config-drop* ]]
	# unchanged inputs: the kept result, no kconfig run, the same promotion
	run --separate-stderr ka-promote --json ohm
	[ "$status" -eq 0 ]
	[ "$(jq -r .status <<<"$output")" = unchanged ]
	[ "$(jq -r .config.cached <<<"$output")" = true ]
}

@test "the reasons: an unknown symbol with its nearest spelling, a select that forces a value up, a range; the base config's drops only warn" {
	printf 'CONFIG_MODULES=y\nCONFIG_NET=y\nCONFIG_MMC=y\nCONFIG_HZ=5000\n' >"$KA_REPO/fleet/config/ohm.config"
	printf 'CONFIG_WIFI=m\nCONFIG_WIFII=y\n' >"$KA_REPO/patches/driver/wifi/lock/fragment.config"
	mkdir -p "$KA_REPO/patches/driver/wifi"
	printf '# CONFIG_CRC is not set\n' >"$KA_REPO/patches/driver/wifi/fragment.config"
	run --separate-stderr ka-promote --json ohm
	[ "$status" -eq 1 ]
	drop() { jq -r --arg o "$1" '.config.drops[] | select(.option == $o) | "\(.halts) \(.reason)"' <<<"$output"; }
	[[ $(drop CONFIG_WIFII) == "true unknown symbol: "*"did you mean CONFIG_WIFI?" ]]
	[ "$(drop CONFIG_CRC)" = "true it is selected by ARM64=y, which forces it to y" ]
	[[ $(drop CONFIG_HZ) == "false 5000 is outside its range 100 1000"* ]]
	[ "$(jq -r '.config.drops[] | select(.option == "CONFIG_CRC") | .at.file' <<<"$output")" = patches/driver/wifi/fragment.config ]
	# the same inputs again: the kept result and reasons, the same report
	first=$(jq -c '.config.drops' <<<"$output")
	run --separate-stderr ka-promote --json ohm
	[ "$status" -eq 1 ]
	[ "$(jq -r .config.cached <<<"$output")" = true ]
	[ "$(jq -c '.config.drops' <<<"$output")" = "$first" ]
}

@test "two campaigns asking different values of one option: [ka:campaign-conflict]; a later fragment overrides the base, reported" {
	series driver/wifi/power powersave
	change drivers/net/wifi.c 5 'line 5' 'line 5 /* power */' \
		>"$KA_REPO/patches/driver/wifi/power/0001-power.diff"
	printf 'CONFIG_MODULES=y\nCONFIG_NET=y\nCONFIG_MMC=m\n' >"$KA_REPO/fleet/config/ohm.config"
	printf 'CONFIG_WIFI=m\nCONFIG_MMC=y\n' >"$KA_REPO/patches/driver/wifi/lock/fragment.config"
	printf 'CONFIG_WIFI=y\n' >"$KA_REPO/patches/driver/wifi/power/fragment.config"
	run --separate-stderr ka-promote --json ohm
	[ "$status" -eq 1 ]
	[ "$(jq -r '.config.conflicts[0] | "\(.option) \(.first_value) \(.first.campaign) \(.second_value) \(.second.campaign)"' <<<"$output")" = "CONFIG_WIFI m besser y powersave" ]
	[ "$(jq -r '.config.overrides[0] | "\(.option) \(.value) \(.at.file):\(.at.line) \(.by_value)"' <<<"$output")" = "CONFIG_MMC m fleet/config/ohm.config:3 y" ]
	run ka-block list
	[[ $output == *"[ka:campaign-conflict] besser vs powersave on CONFIG_WIFI"* ]]
	# one campaign gives way: the conflict lifts
	printf 'CONFIG_MMC=y\n' >"$KA_REPO/patches/driver/wifi/power/fragment.config"
	run ka-promote ohm
	[ "$status" -eq 0 ]
	run ka-block list
	[[ $output != *campaign-conflict* ]]
}

@test "bad inputs exit 3 naming file:line, and write nothing: a line that is no setting, a value of the wrong type, a baseline without scripts/kconfig" {
	# a promoted host whose next promote meets bad input keeps what it had
	printf 'CONFIG_MODULES=y\nCONFIG_NET=y\nCONFIG_MMC=y\n' >"$KA_REPO/fleet/config/ohm.config"
	ka-promote ohm >/dev/null
	before=$(state)
	printf 'CONFIG_WIFI=m\nWIFI=y\n' >"$KA_REPO/patches/driver/wifi/lock/fragment.config"
	run ka-promote ohm
	[ "$status" -eq 3 ]
	[[ $output == *"patches/driver/wifi/lock/fragment.config:2: not a setting: \"WIFI=y\"; write CONFIG_<NAME>=<value> or # CONFIG_<NAME> is not set"* ]]
	printf 'CONFIG_NET=m\n' >"$KA_REPO/patches/driver/wifi/lock/fragment.config"
	run ka-promote ohm
	[ "$status" -eq 3 ]
	[[ $output == *"patches/driver/wifi/lock/fragment.config:1: CONFIG_NET is a bool (defined at Kconfig:6): m is not a value it takes; use y or n"* ]]
	[ "$(state)" = "$before" ]
	run ka-block list
	[ -z "$output" ]

	# a baseline that is no kernel tree: refused, and nothing is kept of it
	rm -rf "$T/src/linux-toy/scripts"
	tar -cJf "$T/linux-toy2.tar.xz" -C "$T/src" linux-toy
	sed -i "s|$T/linux-toy.tar.xz|$T/linux-toy2.tar.xz|" "$KA_REPO/fleet/ohm.yaml"
	printf 'CONFIG_WIFI=m\n' >"$KA_REPO/patches/driver/wifi/lock/fragment.config"
	run ka-promote ohm
	[ "$status" -eq 3 ]
	[[ $output == *"has no scripts/kconfig or no top-level Kconfig, so its own kconfig cannot check the config"* ]]
	[ "$(readlink "$KA_ROOT/hosts/ohm/promoted")" = "$(cd "$KA_ROOT/hosts/ohm" && readlink promoted)" ]
	run ls "$KA_ROOT/baselines/kconfig"
	[[ $output != *tmp* ]]
}

@test "a dry run checks the config and writes nothing under KA_ROOT" {
	printf 'CONFIG_MODULES=y\nCONFIG_NET=y\nCONFIG_MMC=y\n' >"$KA_REPO/fleet/config/ohm.config"
	ka-baseline --import "$T/linux-toy.tar.xz" >/dev/null
	before=$(state)
	run --separate-stderr ka-promote --dry-run --json ohm
	[ "$status" -eq 0 ]
	[ "$(jq -r .status <<<"$output")" = dry-run ]
	[ "$(jq -r '.config.drops | length' <<<"$output")" = 0 ]
	[ "$(jq -r '.config.kept' <<<"$output")" = null ]
	[ "$(state)" = "$before" ]
}

@test "ka-rebase-check: options the new baseline drops or renames, values that no longer stick, new symbols with their value" {
	printf 'CONFIG_MODULES=y\nCONFIG_NET=y\nCONFIG_MMC=y\nCONFIG_HZ=300\n' >"$KA_REPO/fleet/config/ohm.config"
	ka-promote ohm >/dev/null
	# the next release renames WIFI, lowers HZ's range and adds a symbol
	cp -a "$T/src/linux-toy" "$T/src/next" && rm -rf "$T/src/linux-toy"
	mv "$T/src/next" "$T/src/linux-toy"
	sed -i -e 's/^config WIFI$/config WIFI_DRV/' -e 's/range 100 1000/range 100 250/' "$T/src/linux-toy/Kconfig"
	printf 'config CRC_FAST\n\tdef_bool y\n' >>"$T/src/linux-toy/Kconfig"
	tar -cJf "$T/linux-next.tar.xz" -C "$T/src" linux-toy
	run --separate-stderr ka-rebase-check --tarball "$T/linux-next.tar.xz" ohm
	[ "$status" -eq 1 ]
	[[ $output == *"gone     CONFIG_WIFI=m (patches/driver/wifi/lock/fragment.config:1): the new baseline does not define it; renamed to CONFIG_WIFI_DRV?"* ]]
	[[ $output == *"new      CONFIG_CRC_FAST=y"* ]]
	[[ $output == *"dropped  CONFIG_HZ=300 (fleet/config/ohm.config:4) would be 250: 300 is outside its range 100 250"* ]]
	[[ $output == *"config: 1 gone, 1 no longer stick, 2 new symbols"* ]]
	run --separate-stderr ka-rebase-check --json --tarball "$T/linux-next.tar.xz" ohm
	[ "$(jq -r '.config.new_symbols | map(.option) | join(" ")' <<<"$output")" = "CONFIG_CRC_FAST CONFIG_WIFI_DRV" ]
}
