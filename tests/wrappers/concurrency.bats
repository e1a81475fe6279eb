#!/usr/bin/env bats
# Two ka-promote runs at once (and two ka-build runs, over the loopback sshd): for the same host one is refused (naming the
# holder) or finds the work done; different hosts run in parallel, also on a
# fresh KA_ROOT where both need the baseline imported first.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	setup_fleet
	series driver/wifi/fix wifi
	change drivers/net/wifi.c 20 'line 20' 'line 20 fixed' \
		>"$KA_REPO/patches/driver/wifi/fix/0001-fix.diff"
	series board/pbp/opp fourier
	change arch/arm64/boot/dts/board.dts 3 'node 3;' 'node 3 = fast;' \
		>"$KA_REPO/patches/board/pbp/opp/0001-opp.diff"
	host fresnel "board/pbp, driver/wifi"
	host ohm "driver/wifi"
}

teardown() {
	stop_test_sshd "$T/sshd"
	teardown_fleet
}

# promote_bg NAME HOST: ka-promote HOST in the background; its exit status,
# stdout and stderr go to $T/NAME.{rc,out,err}
promote_bg() {
	(
		rc=0
		ka-promote "$2" >"$T/$1.out" 2>"$T/$1.err" || rc=$?
		echo "$rc" >"$T/$1.rc"
	) &
}

# runs_ended_as ROUND ALLOWED: each of the runs a and b exited 0, or (when
# ALLOWED is a pattern) 1 with ALLOWED on stderr; else show it and fail
runs_ended_as() {
	local r rc
	for r in a b; do
		rc=$(cat "$T/$r.rc")
		[ "$rc" -eq 0 ] && continue
		[ -n "$2" ] && [ "$rc" -eq 1 ] && grep -q "$2" "$T/$r.err" && continue
		echo "round $1, run $r (exit $rc):"
		cat "$T/$r.out" "$T/$r.err"
		return 1
	done
}

@test "different hosts promote in parallel, on a fresh KA_ROOT too (the baseline import is waited for)" {
	for round in 1 2 3; do
		rm -rf "$KA_ROOT"
		promote_bg a fresnel
		promote_bg b ohm
		wait
		runs_ended_as "$round" ""
		[ -f "$KA_ROOT/hosts/fresnel/promoted/manifest.lock" ]
		[ -f "$KA_ROOT/hosts/ohm/promoted/manifest.lock" ]
	done
}

@test "a promote of a host whose lock is held is refused naming the holder, nothing written; another host goes on" {
	ka-promote fresnel >/dev/null
	rm -rf "$KA_ROOT/hosts/fresnel"
	lock=$KA_ROOT/locks/host-fresnel.lock
	printf 'pid 4242 on builder: ka-promote fresnel\n' >"$lock"
	# hold the lock as a running ka-promote would (flock(2), as HostLock)
	flock --no-fork "$lock" sleep 30 &
	holder=$!
	# until the holder has it
	while flock -n "$lock" true; do sleep 0.05; done
	run --separate-stderr ka-promote fresnel
	kill "$holder"
	wait "$holder" || true
	[ "$status" -eq 1 ]
	[[ $stderr == *"$lock is locked by pid 4242 on builder: ka-promote fresnel; wait for it to finish"* ]]
	[ ! -e "$KA_ROOT/hosts/fresnel/promoted" ]
	# ohm was never blocked by fresnel's lock
	run --separate-stderr ka-promote ohm
	[ "$status" -eq 0 ]
	# once the holder is gone, the same promote goes through
	run --separate-stderr ka-promote fresnel
	[ "$status" -eq 0 ]
	[ -f "$KA_ROOT/hosts/fresnel/promoted/manifest.lock" ]
}

@test "two promotes of the same host at once: each promotes, finds it promoted, or is refused naming the other; the result is whole" {
	for round in 1 2 3; do
		rm -rf "$KA_ROOT/hosts"
		promote_bg a fresnel
		promote_bg b fresnel
		wait
		# (the holder writes its line just after taking the lock: a refusal
		# in between names "another process")
		runs_ended_as "$round" "host-fresnel.lock is locked by \(pid .*: ka-promote fresnel\|another process\); wait for it to finish"
		p=$KA_ROOT/hosts/fresnel/promoted
		want=$(b2sum <"$p/cumulative.patch" | cut -d' ' -f1)
		[ "$(jq -r .cumulative.b2sum "$p/manifest.lock")" = "$want" ]
	done
}

@test "two builds of one host: the second is refused naming the first; another host builds meanwhile; after a kill the next build goes through" {
	test_sshd "$T/sshd"
	# shellcheck source=tests/e2e/lib.bash
	. "$BATS_TEST_DIRNAME/../e2e/lib.bash"
	e2e_build_host builder "" 1
	buildable_toy fresnel ohm
	# fresnel's build stops once its sources are on the build host, its lock held
	paused_bg a build:staged ka-build fresnel
	run --separate-stderr ka-build fresnel
	[ "$status" -eq 1 ]
	[[ $stderr == *"build-fresnel.lock is locked by pid $(cat "$T/a.paused") on "*": ka-build fresnel; wait for it to finish"* ]]
	# a build of another host is not held up by it
	run --separate-stderr ka-build --json ohm
	[ "$status" -eq 0 ]
	[ "$(jq -r .status <<<"$output")" = "done" ]
	# the held build is killed (as a crash): its lock goes with it
	kill -KILL "$(cat "$T/a.paused")"
	wait
	after_crash killed
	run --separate-stderr ka-build --json fresnel
	[ "$status" -eq 0 ]
	[ "$(jq -r .status <<<"$output")" = "done" ]
}
