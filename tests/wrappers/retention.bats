#!/usr/bin/env bats
# ka-keep with ka-prune, and the pause pair, through PATH as a user runs them.

load helpers

setup() {
	T=$(mktemp -d "${BATS_TMPDIR:-/tmp}/ka-test.XXXXXX")
	export HOME="$T/home" KA_ROOT="$T/root" USER=tester
	unset KA_NOW KA_TEST_CRASH_AT
	mkdir -p "$HOME" "$KA_ROOT/jobs" "$KA_ROOT/output/j1" "$KA_ROOT/output/j2"
	for j in j1 j2; do
		printf '{"kind":"ka.job-result","version":1,"id":"%s","host":"b","argv":["true"],"exit_code":0,"duration_ms":1,"stalled":false,"capped":false,"log":"/x","finished_at":"2027-01-01T00:00:00Z"}\n' "$j" >"$KA_ROOT/jobs/$j.json"
		echo pkg >"$KA_ROOT/output/$j/p.pkg.tar.gz"
	done
}

teardown() {
	teardown_fleet
}

@test "a job kept with ka-keep survives ka-prune until its keep runs out" {
	KA_NOW=2027-03-01T00:00:00Z run ka-keep --for 60d j1
	[ "$status" -eq 0 ]
	[[ $output == *'"until":"2027-04-30T00:00:00Z"'* ]]
	run ka-prune --now 2027-03-01T00:00:00Z
	[ "$status" -eq 0 ]
	[[ $output == *"archived"*"output/j2"* ]]
	[[ $output == *"held"*"output/j1"*"kept until 2027-04-30T00:00:00Z"* ]]
	[ -d "$KA_ROOT/output/j1" ]
	[ ! -e "$KA_ROOT/output/j2" ]
	run ka-prune --now 2027-05-01T00:00:00Z
	[ "$status" -eq 0 ]
	[ ! -e "$KA_ROOT/output/j1" ]
	run ka-restore-archive j1
	[ "$status" -eq 0 ]
	[ "$(cat "$KA_ROOT/output/j1/p.pkg.tar.gz")" = pkg ]
}

@test "ka-keep refuses an unknown job and a bad duration" {
	run ka-keep nosuch
	[ "$status" -eq 2 ]
	[[ $output == *"no job nosuch"* ]]
	run ka-keep --for soon j1
	[ "$status" -eq 2 ]
	[ ! -e "$KA_ROOT/keep/j1.json" ]
}

@test "ka-pause-prune stops ka-prune until ka-resume-prune" {
	run ka-pause-prune --reason "bisecting"
	[ "$status" -eq 0 ]
	run ka-prune --now 2027-03-01T00:00:00Z
	[ "$status" -eq 1 ]
	[[ $output == *"paused by tester@"*"bisecting"*"ka-resume-prune"* ]]
	[ -d "$KA_ROOT/output/j2" ]
	run ka-resume-prune
	[ "$status" -eq 0 ]
	[[ $output == *"resumed"* ]]
	run ka-prune --now 2027-03-01T00:00:00Z
	[ "$status" -eq 0 ]
	[ ! -e "$KA_ROOT/output/j2" ]
}
