#!/usr/bin/env bats
# Output a person can read: empty lists say so on a terminal and stay silent
# when piped; ka-status shows what is promoted; ka-audit list is a table.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	setup_fleet
	series driver/wifi/lock besser
	change drivers/net/wifi.c 20 'line 20' 'line 20 /* locked */' \
		>"$KA_REPO/patches/driver/wifi/lock/0001-lock.diff"
	host fresnel "driver/wifi"
	host ohm "driver/wifi"
}

teardown() {
	teardown_fleet
}

# on_terminal CMD...: run CMD with stdout on a pseudo-terminal (script(1)),
# its output without the terminal's carriage returns
on_terminal() {
	script -qec "$(printf '%q ' "$@")" /dev/null </dev/null | tr -d '\r'
}

@test "empty lists say none on a terminal and print nothing when piped" {
	rm "$KA_REPO"/fleet/*.yaml
	for cmd in "ka-block list" "ka-block list --all" "ka-notice list" "ka-notice list --host fresnel" \
		"ka-remind --peek" "ka-audit list" "ka-audit list --json" "ka-status"; do
		# shellcheck disable=SC2086 # word-split on purpose
		run --separate-stderr $cmd
		[ "$status" -eq 0 ]
		[ -z "$output" ] || { echo "$cmd printed: $output"; false; }
	done
	# no state folder yet: the views say so on stderr
	[ "$(on_terminal ka-block list)" = "ka-block: no state at $KA_ROOT yet (a real run of ka-promote creates it)
no open blocks" ]
	mkdir -p "$KA_ROOT"
	[ "$(on_terminal ka-block list)" = "no open blocks" ]
	[ "$(on_terminal ka-block list --all)" = "no blocks" ]
	[ "$(on_terminal ka-notice list)" = "no open notices" ]
	[ "$(on_terminal ka-notice list --all --host fresnel)" = "no notices for fresnel" ]
	[ "$(on_terminal ka-remind --peek)" = "no open blocks or notices" ]
	[ "$(on_terminal ka-audit list)" = "no audit entries" ]
	[ "$(on_terminal ka-audit list --verb promote)" = "no audit entries for promote" ]
	[ "$(on_terminal ka-status)" = "no hosts: $KA_REPO/fleet has no <host>.yaml" ]
	# the prompt hook stays silent even on a terminal: nothing is due
	[ -z "$(on_terminal ka-remind)" ]
}

@test "lists with items print them, on a terminal too, and no 'none' line" {
	ka-notice file --kind installable --host fresnel --package linux-fresnel --version 6.1-1 >/dev/null
	out=$(on_terminal ka-notice list)
	[ "$(jq -r .title <<<"$out")" = "[ka:installable] linux-fresnel 6.1-1 for fresnel" ]
	[[ $out != *"no open notices"* ]]
	out=$(on_terminal ka-remind --peek)
	[[ $out == installable-*"due now"*"[ka:installable] linux-fresnel 6.1-1 for fresnel" ]]
	[ "$(on_terminal ka-block list)" = "no open blocks" ]
}

@test "ka-status shows the promoted plan and its age; --json has promoted and promoted_at" {
	run --separate-stderr ka-status
	[[ ${lines[0]} == "HOST     INSTALLED  PROMOTED  BUILT"* ]]
	[[ ${lines[1]} == "fresnel  —          —         —"* ]]
	ka-promote --all >/dev/null
	lock="$KA_ROOT/hosts/fresnel/promoted/manifest.lock"
	id=$(b2sum "$lock" | cut -c1-8)
	now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	run --separate-stderr ka-status --now "$now"
	[ "$status" -eq 0 ]
	[[ $output == *"fresnel  —          $id "*"s ago  —"* ]]
	# every promoted host shows its own promotion
	[[ $output == *"ohm      —          $(b2sum "$KA_ROOT/hosts/ohm/promoted/manifest.lock" | cut -c1-8) "* ]]
	run --separate-stderr ka-status --now "$now" fresnel
	[[ $output == *"promoted:    $id ("*"s ago, "*", 1 patch on baseline $T/linux-toy.tar.xz, manifest.lock b2sum $(b2sum "$lock" | cut -c1-16))"* ]]
	run --separate-stderr ka-status --json fresnel
	[ "$(jq -r .promoted <<<"$output")" = "$(b2sum "$lock" | cut -d' ' -f1)" ]
	[[ $(jq -r .promoted_at <<<"$output") =~ ^20[0-9-]{8}T[0-9:]{8}Z$ ]]
	# an unchanged promote leaves the time of the promotion as it was
	at=$(jq -r .promoted_at <<<"$output")
	sleep 1
	ka-promote fresnel >/dev/null
	[ "$(ka-status --json fresnel | jq -r .promoted_at)" = "$at" ]
}

@test "ka-audit list is a table a person reads; --json keeps the ka.audit lines" {
	ka-promote --json fresnel >/dev/null
	ka-promote --all --dry-run >/dev/null
	run ka-keep no-such-job
	run --separate-stderr ka-audit list
	[ "$status" -eq 0 ]
	[ "${#lines[@]}" -eq 4 ]
	[[ ${lines[0]} =~ ^WHEN\ +VERB\ +TARGET\ +DRY-RUN\ +EXIT\ +RESULT\ +BY\ +ARGUMENTS$ ]]
	[[ ${lines[1]} =~ ^20[^\ ]+Z\ +promote\ +fresnel\ +no\ +0\ +ok\ +[^\ ]+@[^\ ]+\ +--json\ fresnel$ ]]
	[[ ${lines[2]} =~ \ promote\ +fresnel\ +yes\ +0\ +dry-run\ .*\ --all\ --dry-run$ ]]
	[[ ${lines[3]} =~ \ keep\ +—\ +no\ +2\ +error\ .*\ no-such-job$ ]]
	# not JSON
	[[ $output != *'"kind"'* ]]
	run --separate-stderr ka-audit list --json
	[ "$(jq -s length <<<"$output")" -eq 3 ]
	[ "$output" = "$(cat "$KA_ROOT/audit/audit.log")" ]
	[ "$(jq -r 'select(.verb == "promote") | .targets | join(",")' <<<"$output" | paste -sd' ')" = "fresnel fresnel" ]
}
