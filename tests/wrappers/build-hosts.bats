#!/usr/bin/env bats
# Build hosts fill up: ka-prune prunes their job trees and source cache over
# SSH (the loopback sshd as the build host) by the same records as KA_ROOT,
# and ka-build's pre-flight refuses a host below build_host.min_free_gib,
# naming the folders to prune.

load helpers
bats_require_minimum_version 1.5.0

setup_file() {
	# one sshd for the file (test_sshd in setup only reads it)
	S=$(mktemp -d "${BATS_TMPDIR:-/tmp}/ka-sshd.XXXXXX")
	chmod 755 "$S"
	"$BATS_TEST_DIRNAME/../sshd/start-sshd" "$S/sshd" >/dev/null
	echo "$S" >"$BATS_FILE_TMPDIR/sshd-dir"
}

teardown_file() {
	S=$(cat "$BATS_FILE_TMPDIR/sshd-dir")
	stop_test_sshd "$S/sshd"
	rm -rf -- "$S"
}

setup() {
	setup_fleet
	S=$(cat "$BATS_FILE_TMPDIR/sshd-dir")
	test_sshd "$S/sshd"
	# shellcheck source=tests/e2e/lib.bash
	. "$BATS_TEST_DIRNAME/../e2e/lib.bash"
	unset KA_NOW KA_TEST_CRASH_AT
	# the build host's root, emptied for each test (owned by the login user)
	R=$SSHD_REMOTE
	find "$R" -mindepth 1 -delete
	e2e_build_host builder "" 1 "x86_64, aarch64"
}

teardown() {
	find "$R" -mindepth 1 -delete 2>/dev/null || true
	teardown_fleet
}

# as_login CMD...: run CMD as the build host's login user (files it can remove)
as_login() {
	if ((EUID == 0)); then
		runuser -u "$SSHD_USER" -- "$@"
	else
		"$@"
	fi
}

# when OFFSET: a UTC time OFFSET from now (date -d syntax), as ka-prune --now takes it
when() {
	date -u -d "$1" +%Y-%m-%dT%H:%M:%SZ
}

# id_at OFFSET HOST SUM: a job id of HOST started OFFSET from now
id_at() {
	printf '%s-%s-%s' "$2" "$(date -u -d "$1" +%Y%m%dT%H%M%SZ)" "$3"
}

@test "ka-prune prunes old trees and source cache on build hosts; keeps the newest, kept and running ones; --dry-run lists" {
	old=$(id_at '-40 days' fresnel aaaaaaaa)
	kept=$(id_at '-39 days' fresnel bbbbbbbb)
	running=$(id_at '-38 days' ohm cccccccc)
	newest=$(id_at '-20 days' fresnel dddddddd)
	for id in "$old" "$kept" "$running" "$newest"; do
		as_login mkdir -p "$R/source/$id/out"
		as_login sh -c "echo tree >'$R/source/$id/out/pkg'"
	done
	# a tree whose id holds no time is aged by its folder's mtime
	as_login mkdir -p "$R/source/handmade" "$R/source/.prune-$old-partial" "$R/cache/sources"
	as_login touch -d '-50 days' "$R/source/handmade"
	# source cache: one entry unused, one still linked from a tree
	as_login sh -c "echo big >'$R/cache/sources/1111' && echo big >'$R/cache/sources/2222'"
	as_login ln "$R/cache/sources/2222" "$R/source/$kept/linux.tar"
	# kept with ka-keep (its record is here; ka-keep itself wants the job's record)
	mkdir -p "$KA_ROOT/keep"
	printf '{"kind":"ka.keep","version":1,"job":"%s","kept_at":"2026-01-01T00:00:00Z"}\n' "$kept" >"$KA_ROOT/keep/$kept.json"
	# a build of ohm is running: its build lock is held (flock(2), as HostLock)
	lock=$KA_ROOT/locks/build-ohm.lock
	mkdir -p "$KA_ROOT/locks"
	printf 'pid 4242 on builder: ka-build ohm\n' >"$lock"
	flock --no-fork "$lock" sleep 60 &
	holder=$!
	while flock -n "$lock" true; do sleep 0.05; done
	now=$(when '+35 days')

	run --separate-stderr ka-prune --repo "$KA_REPO" --dry-run --now "$now"
	[ "$status" -eq 0 ]
	[[ $output == *"would remove  build-tree"*"builder:$R/source/$old  (job finished "*"build trees are kept 7d)"* ]]
	[[ $output == *"would remove  build-tree"*"builder:$R/source/handmade"* ]]
	[[ $output == *"would remove  leftover"*"builder:$R/source/.prune-$old-partial"* ]]
	[[ $output == *"would remove  source-cache"*"builder:$R/cache/sources/1111"* ]]
	[[ $output == *"held"*"builder:$R/source/$newest  (the newest tree on builder)"* ]]
	[[ $output == *"held"*"builder:$R/source/$kept  (kept (ka-keep"* ]]
	[[ $output == *"held"*"builder:$R/source/$running  (a build of ohm is running: "*"ka-build ohm"* ]]
	[[ $output == *"held"*"builder:$R/cache/sources/2222  (a job tree still links it"* ]]
	# the dry run changed nothing there
	[ -d "$R/source/$old" ] && [ -d "$R/source/handmade" ] && [ -e "$R/cache/sources/1111" ]

	# KA_REPO names the fleet as --repo does
	KA_REPO=$KA_REPO run --separate-stderr ka-prune --json --now "$now"
	kill "$holder"
	wait "$holder" || true
	[ "$status" -eq 0 ]
	[ "$(jq -r '[.actions[] | select(.class == "build-tree")] | length' <<<"$output")" -eq 2 ]
	[ ! -e "$R/source/$old" ] && [ ! -e "$R/source/handmade" ] && [ ! -e "$R/source/.prune-$old-partial" ]
	[ ! -e "$R/cache/sources/1111" ]
	for id in "$kept" "$running" "$newest"; do [ -f "$R/source/$id/out/pkg" ]; done
	[ -e "$R/cache/sources/2222" ]
	# without the fleet repository only KA_ROOT is pruned
	run --separate-stderr env -u KA_REPO ka-prune --now "$now"
	[ "$status" -eq 0 ]
	[ -d "$R/source/$running" ]
}

@test "an unreachable build host is reported and skipped; the others are pruned" {
	e2e_build_host away 1 1
	old=$(id_at '-40 days' fresnel aaaaaaaa)
	newest=$(id_at '-2 days' fresnel bbbbbbbb)
	as_login mkdir -p "$R/source/$old" "$R/source/$newest"
	run --separate-stderr ka-prune --repo "$KA_REPO" --now "$(when now)"
	[ "$status" -eq 2 ]
	[[ $stderr == *"ka-prune: error: away: unreachable: "*"skipped: nothing there was pruned (the next run tries again)"* ]]
	[[ $output == *"removed"*"builder:$R/source/$old"* ]]
	[ ! -e "$R/source/$old" ] && [ -d "$R/source/$newest" ]
	# a changed host key is named as such, with what to do
	e2e_build_host away "$SSHD_PORT" 1
	ssh-keygen -q -t ed25519 -N '' -f "$T/other" <<<y >/dev/null
	printf '[127.0.0.1]:%s %s\n' "$SSHD_PORT" "$(cut -d' ' -f1,2 "$T/other.pub")" >"$KA_REPO/fleet/known_hosts"
	run --separate-stderr ka-prune --repo "$KA_REPO" --now "$(when now)"
	[ "$status" -eq 2 ]
	[[ $stderr == *"builder: its host key changed"*"update $KA_REPO/fleet/known_hosts"* ]]
	# a bad --repo is a usage error before anything is pruned
	run --separate-stderr ka-prune --repo "$T/nowhere"
	[ "$status" -eq 2 ]
	[[ $stderr == *"not a fleet repository"* ]]
}

@test "ka-build refuses a build host below build_host.min_free_gib with [ka:bootstrap-missing] naming the folders to prune" {
	buildable_toy fresnel
	e2e_build_host builder "" 1000000
	run --separate-stderr ka-build --dry-run fresnel
	[ "$status" -eq 1 ]
	[[ $output$stderr == *"a real run files [ka:bootstrap-missing]"* ]]
	[ -z "$(ka-block list)" ]
	run --separate-stderr ka-build fresnel
	[ "$status" -eq 1 ]
	run ka-block list
	[[ $output == *"[ka:bootstrap-missing] builder"* ]]
	[[ $output == *"a build needs 1000000G (build_host.min_free_gib); free space: prune $R/source/ (old job trees) and $R/cache/sources/ with ka-prune"* ]]
	[ ! -e "$R/source" ]
}

@test "a kill at every phase boundary of ka-build: no lock held, no torn record, the next run builds" {
	buildable_toy fresnel
	mapfile -t steps < <(crash_steps ka-build fresnel)
	[[ " ${steps[*]} " == *" build:preflight build:staged build:built build:recorded build:fetched "* ]]
	for step in "${steps[@]}"; do
		KA_TEST_CRASH_AT=$step run --separate-stderr ka-build fresnel
		[ "$status" -ne 0 ]
		[[ $stderr == *"KA_TEST_CRASH_AT=$step: killing this process"* ]]
		after_crash "$step"
		run --separate-stderr ka-build --json fresnel
		[ "$status" -eq 0 ] || {
			echo "after $step: $output $stderr"
			false
		}
		[ "$(jq -r .status <<<"$output")" = "done" ]
		job=$(jq -r .job <<<"$output")
		[ "$(cat "$KA_ROOT/output/$job/linux-image-6.1.0-fresnel_"*.deb)" = toy ]
		[ "$(jq -r .exit_code "$KA_ROOT/jobs/$job.json")" -eq 0 ]
		[ -z "$(ka-block list)" ]
	done
}
