# Shared set-up for the wrapper tests: a private KA_ROOT and HOME, a small fleet
# repository, and a baseline tarball made on the spot.

setup_fleet() {
	T=$(mktemp -d "${BATS_TMPDIR:-/tmp}/ka-test.XXXXXX")
	export HOME="$T/home" KA_ROOT="$T/root" KA_REPO="$T/repo"
	mkdir -p "$HOME" "$KA_REPO/fleet" "$KA_REPO/patches"
	# the baseline: a tiny "kernel" tarball
	mkdir -p "$T/src/linux-toy/drivers/net" "$T/src/linux-toy/arch/arm64/boot/dts"
	printf 'line %s\n' $(seq 1 30) >"$T/src/linux-toy/drivers/net/wifi.c"
	printf 'node %s;\n' $(seq 1 20) >"$T/src/linux-toy/arch/arm64/boot/dts/board.dts"
	printf 'VERSION = 6\nPATCHLEVEL = 1\n' >"$T/src/linux-toy/Makefile"
	tar -cJf "$T/linux-toy.tar.xz" -C "$T/src" linux-toy
}

teardown_fleet() {
	# a run a failed test left paused (paused_bg) waits forever and would
	# keep bats waiting for its output: stop it, by the pid it wrote
	local f
	for f in "$T"/*.paused; do
		if [ -s "$f" ]; then kill -KILL "$(cat "$f")" 2>/dev/null || true; fi
	done
	rm -rf -- "$T"
}

# host NAME SCOPES [EXTRA YAML]
host() {
	cat >"$KA_REPO/fleet/$1.yaml" <<YAML
host: $1
role: dev
arch: aarch64
distro: arch
kernel:
  pkgbase: linux-$1
  suffix: $1
  baseline: { tarball: $T/linux-toy.tar.xz }
scopes: [$2]
${3:-}
YAML
}

# series REF CAMPAIGN: a series folder with series.yaml
series() {
	mkdir -p "$KA_REPO/patches/$1"
	printf 'scope: %s\ncampaign: %s\n' "${1%/*}" "$2" >"$KA_REPO/patches/$1/series.yaml"
}

# baseline_line FILE N: line N of a toy baseline file
baseline_line() {
	case $1 in
	*.dts) printf 'node %s;' "$2" ;;
	*) printf 'line %s' "$2" ;;
	esac
}

# change FILE LINE OLD NEW: a unified diff replacing line LINE (which must read
# OLD) by NEW, with one line of context on each side, as diff -u writes it
change() {
	local file=$1 line=$2 old=$3 new=$4
	printf -- '--- a/%s\n+++ b/%s\n@@ -%s,3 +%s,3 @@\n' "$file" "$file" $((line - 1)) $((line - 1))
	printf ' %s\n-%s\n+%s\n %s\n' "$(baseline_line "$file" $((line - 1)))" "$old" "$new" "$(baseline_line "$file" $((line + 1)))"
}

# format_patch FILE LINE OLD NEW: the same, as a format-patch mail with a signature
format_patch() {
	printf 'From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n'
	printf 'From: Example <example@kernel-agent.invalid>\nSubject: [PATCH] change %s\n\n---\n' "$1"
	printf 'diff --git a/%s b/%s\n' "$1" "$1"
	change "$@"
	printf -- '-- \n2.39.5\n\n'
}

# crash_steps CMD...: run CMD (to its end, whatever its status) with KA_TEST_CRASH_POINTS
# set; print the crash steps it passed (ka_core::crash), once each, in order.
# The crash tests loop over them, so a new phase is covered without a change.
crash_steps() {
	local f
	f=$(mktemp "$T/steps.XXXXXX")
	KA_TEST_CRASH_POINTS=$f "$@" >/dev/null 2>&1 || true
	awk '!seen[$0]++' "$f"
	rm -f -- "$f"
}

# after_crash STEP: what a kill must never leave: a lock still held under
# KA_ROOT/locks, or a JSON record under KA_ROOT that does not parse
after_crash() {
	local l j
	for l in "$KA_ROOT"/locks/*.lock; do
		[ -e "$l" ] || continue
		flock -n "$l" true || {
			echo "$1: $l is still held"
			return 1
		}
	done
	while IFS= read -r -d '' j; do
		jq empty "$j" 2>/dev/null || {
			echo "$1: $j is not whole JSON"
			return 1
		}
	done < <(find "$KA_ROOT" -name '*.json' -print0)
}

# buildable_toy HOST...: each HOST (debian, x86_64) builds on the build host
# builder (e2e_build_host) from a toy baseline whose Makefile plays kbuild
# (olddefconfig; bindeb-pkg making a .deb), and is promoted: the whole build
# path runs over SSH without compiling a kernel. Its kconfig is a stand-in
# too (a Kconfig with the one option the hosts set, and olddefconfig keeping
# the config as it is): the real kconfig is config.bats' business.
buildable_toy() {
	local h
	# shellcheck disable=SC2016 # make's $(VAR), not the shell's
	printf '%s\n' 'VERSION = 6' 'PATCHLEVEL = 1' 'olddefconfig:' \
		'bindeb-pkg:' '	mkdir -p arch/x86/boot && echo toy >arch/x86/boot/bzImage' \
		'	echo toy >../linux-image-6.1.0$(LOCALVERSION)_$(KDEB_PKGVERSION)_amd64.deb' \
		>"$T/src/linux-toy/Makefile"
	printf 'config LOCALVERSION\n\tstring "local version"\n' >"$T/src/linux-toy/Kconfig"
	mkdir -p "$T/src/linux-toy/scripts/kconfig"
	printf '/* the toy kbuild has no conf */\n' >"$T/src/linux-toy/scripts/kconfig/conf.c"
	tar -cJf "$T/linux-toy.tar.xz" -C "$T/src" linux-toy
	series driver/wifi/fix wifi
	change drivers/net/wifi.c 20 'line 20' 'line 20 fixed' \
		>"$KA_REPO/patches/driver/wifi/fix/0001-fix.diff"
	mkdir -p "$KA_REPO/fleet/config"
	for h in "$@"; do
		host "$h" "driver/wifi" "build: { host: builder }
install: { mode: alongside, bootloader: extlinux, initramfs: none }"
		sed -i -e 's/^arch: aarch64$/arch: x86_64/' -e 's/^distro: arch$/distro: debian/' \
			-e "/^  pkgbase:/a\\  config: fleet/config/$h.config" "$KA_REPO/fleet/$h.yaml"
		echo "CONFIG_LOCALVERSION=\"-$h\"" >"$KA_REPO/fleet/config/$h.config"
		ka-promote "$h" >/dev/null
	done
}

# test_sshd DIR: start the loopback sshd (tests/sshd/start-sshd) in DIR as the
# fleet's SSH: its variables (SSHD_PORT, SSHD_USER, SSHD_REMOTE, ...) set,
# KA_SSH_IDENTITY its client key, fleet/known_hosts its host key. A DIR
# already running one is only read (setup_file starts one per file).
test_sshd() {
	if [ ! -f "$1/env" ]; then
		chmod 755 "$(dirname "$1")"
		"$BATS_TEST_DIRNAME/../sshd/start-sshd" "$1" >/dev/null
	fi
	# shellcheck disable=SC1091
	. "$1/env"
	export KA_SSH_IDENTITY="$SSHD_IDENTITY"
	cp "$SSHD_KNOWN_HOSTS" "$KA_REPO/fleet/known_hosts"
}

# stop_test_sshd DIR: stop the sshd test_sshd started there, by its pid
stop_test_sshd() {
	if [ -f "$1/sshd.pid" ]; then kill "$(cat "$1/sshd.pid")" 2>/dev/null || true; fi
}

# paused_bg NAME STEP CMD...: run CMD in the background until it reaches the
# crash step STEP (ka_core::crash), where it waits holding what it holds;
# returns once it is there. Its pid is in $T/NAME.paused; status and output
# go to $T/NAME.{rc,out,err}
paused_bg() {
	local name=$1 step=$2
	shift 2
	(
		rc=0
		KA_TEST_PAUSE_AT=$step KA_TEST_PAUSED=$T/$name.paused "$@" >"$T/$name.out" 2>"$T/$name.err" || rc=$?
		echo "$rc" >"$T/$name.rc"
	) &
	while [ ! -s "$T/$name.paused" ] && [ ! -e "$T/$name.rc" ]; do sleep 0.05; done
	[ -s "$T/$name.paused" ] || {
		echo "$* ended before $step:"
		cat "$T/$name.out" "$T/$name.err"
		return 1
	}
}
