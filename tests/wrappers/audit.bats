#!/usr/bin/env bats
# Every verb run is audited when its wrapper exits, with its real exit status;
# and the operator's day: status, remind, snooze.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	setup_fleet
	series driver/wifi/lock besser
	change drivers/net/wifi.c 20 'line 20' 'line 20 /* locked */' \
		>"$KA_REPO/patches/driver/wifi/lock/0001-lock.diff"
	host fresnel "driver/wifi"
	host ohm "driver/wifi"
	LOG="$KA_ROOT/audit/audit.log"
}

teardown() {
	teardown_fleet
}

# last FIELD: a field of the last audit entry
last() {
	tail -n 1 "$LOG" | jq -r "$1"
}

@test "a promote is audited with its arguments, result and the lock it wrote" {
	run --separate-stderr ka-promote --json fresnel
	[ "$status" -eq 0 ]
	[ "$(wc -l <"$LOG")" -eq 1 ]
	[ "$(last .kind)" = ka.audit ]
	[ "$(last .verb)" = promote ]
	[ "$(last .title)" = "[ka:promote] --json fresnel" ]
	[ "$(last .result)" = ok ]
	[ "$(last .exit_code)" -eq 0 ]
	[ "$(last .user)" = "$(id -un)" ]
	want=$(b2sum "$KA_ROOT/hosts/fresnel/promoted/manifest.lock" | cut -d' ' -f1)
	[ "$(last '.locks[0].b2sum')" = "$want" ]
	# the same entry as a record, for an issue backend to mirror
	id=$(last .id)
	[ "$(jq -c . "$KA_ROOT/audit/records/$id.json")" = "$(tail -n 1 "$LOG" | jq -c .)" ]
	# --json output is untouched by auditing
	[ "$(jq -r .kind <<<"$output")" = ka.result ]
}

@test "--all records every promoted lock; --dry-run is audited as dry-run" {
	ka-promote --all >/dev/null
	[ "$(last '.locks | length')" -eq 2 ]
	ka-promote --dry-run ohm >/dev/null
	[ "$(last .result)" = dry-run ]
	[ "$(wc -l <"$LOG")" -eq 2 ]
}

@test "a failing verb is audited with its real exit status" {
	change drivers/net/wifi.c 5 'no such line' 'x' >"$KA_REPO/patches/driver/wifi/lock/0002-broken.diff"
	run ka-promote fresnel
	[ "$status" -eq 1 ]
	[ "$(last .result)" = negative ]
	[ "$(last .exit_code)" -eq 1 ]
	run ka-keep no-such-job
	[ "$status" -eq 2 ]
	[ "$(last .verb)" = keep ]
	[ "$(last .exit_code)" -eq 2 ]
	[ "$(last .result)" = error ]
	run ka-debug no-such-job
	[ "$status" -eq 2 ]
	[ "$(last .verb)" = debug ]
	run ka-build --dry-run fresnel
	[ "$status" -ne 0 ]
	[ "$(last .verb)" = build ]
	[ "$(last .exit_code)" -eq "$status" ]
}

@test "--help and usage errors are not audited" {
	ka-promote --help >/dev/null
	ka-build --help >/dev/null
	ka-keep --help >/dev/null
	run ka-promote --bogus
	[ "$status" -eq 2 ]
	[ ! -e "$LOG" ]
}

@test "a broken audit log keeps the verb's status and says auditing failed" {
	mkdir -p "$LOG" # a folder where the log should be
	run --separate-stderr ka-promote fresnel
	[ "$status" -eq 2 ]
	[[ $stderr == *"auditing failed"*"the verb itself exited 0"* ]]
	[[ $stderr == *"audit.log"* ]]
	# the promote itself happened
	[ -f "$KA_ROOT/hosts/fresnel/promoted/manifest.lock" ]
	# a verb that failed keeps its own status
	run --separate-stderr ka-keep no-such-job
	[ "$status" -eq 2 ]
	change drivers/net/wifi.c 5 'no such line' 'x' >"$KA_REPO/patches/driver/wifi/lock/0002-broken.diff"
	run --separate-stderr ka-promote ohm
	[ "$status" -eq 1 ]
	[[ $stderr == *"the verb itself exited 1"* ]]
}

@test "a day in the life: status, remind, snooze, install" {
	export KA_NOW=2026-03-02T08:00:00Z
	ka-promote --all >/dev/null
	# the publish step files [ka:installable]
	ka-notice file --kind installable --host fresnel --package linux-fresnel --version 6.1.158-2 >/dev/null
	run --separate-stderr ka-status
	[ "$status" -eq 0 ]
	[[ ${lines[0]} == HOST* ]]
	[[ $output == *fresnel*6.1.158-2* ]]
	# the prompt hook reminds once, then stays silent until the next rung
	run --separate-stderr ka-remind
	[ "$status" -eq 0 ]
	[[ $output == "[ka:installable] linux-fresnel 6.1.158-2 for fresnel"*"ka-install fresnel"* ]]
	id=$(jq -r .id <"$KA_ROOT"/notices/*.json)
	run --separate-stderr ka-remind
	[ -z "$output" ]
	run --separate-stderr ka-remind --now 2026-03-02T09:00:00Z
	[ -n "$output" ]
	# not now: snooze it for the afternoon
	ka-snooze "$id" --for 4h --now 2026-03-02T09:05:00Z >/dev/null
	[ "$(last .verb)" = snooze ]
	run --separate-stderr ka-remind --now 2026-03-02T13:00:00Z
	[ -z "$output" ]
	run --separate-stderr ka-remind --now 2026-03-02T13:05:00Z
	[ -n "$output" ]
	# the install step closes it: reminders stop, the state is dropped
	ka-notice close --host fresnel --package linux-fresnel --version 6.1.158-2 --reason installed >/dev/null
	run --separate-stderr ka-remind --now 2026-03-03T13:05:00Z
	[ -z "$output" ]
	[ ! -e "$KA_ROOT/remind/$id.json" ]
	run --separate-stderr ka-status fresnel
	[[ $output == *"installable: —"* ]]
	[[ $output == *"published:   linux-fresnel 6.1.158-2"* ]]
}
