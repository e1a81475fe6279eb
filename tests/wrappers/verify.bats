#!/usr/bin/env bats
# ka-verify: the verb over ka-verify-run, with a loopback sshd as the host; its
# probes read this machine's /proc over SSH. Audited like every verb.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	setup_fleet
	chmod 755 "$T"
	"$BATS_TEST_DIRNAME/../sshd/start-sshd" "$T/sshd" >"$T/sshd.env"
	# shellcheck disable=SC1091
	. "$T/sshd.env"
	export KA_SSH_IDENTITY="$SSHD_IDENTITY" KA_NOW=2026-03-01T10:00:00Z
	cp "$SSHD_KNOWN_HOSTS" "$KA_REPO/fleet/known_hosts"
	series driver/wifi/lock besser
	printf 'probes:\n  - %s\n' "'procfs /proc/sys/kernel/ostype == Linux'" \
		>>"$KA_REPO/patches/driver/wifi/lock/series.yaml"
	change drivers/net/wifi.c 20 'line 20' 'line 20 /* locked */' \
		>"$KA_REPO/patches/driver/wifi/lock/0001-lock.diff"
	host ohm "driver/wifi" "ssh: { address: 127.0.0.1, port: $SSHD_PORT, user: $SSHD_USER }"
	ka-promote ohm >/dev/null
}

teardown() {
	kill "$SSHD_PID" 2>/dev/null || true
	teardown_fleet
}

@test "a passing verify records the report, prints a summary and is audited" {
	run --separate-stderr ka-verify ohm
	[ "$status" -eq 0 ]
	[[ $output == *"verify ohm: done — passed: heartbeat, 0 package, 0 dt/sysfs, 1 probe"* ]]
	[[ $output == *"wrote $KA_ROOT/hosts/ohm/verify/last.json"* ]]
	[ "$(jq -r .passed "$KA_ROOT/hosts/ohm/verify/last.json")" = true ]
	[ "$(tail -n 1 "$KA_ROOT/audit/audit.log" | jq -r .title)" = "[ka:verify] ohm" ]
	[ "$(tail -n 1 "$KA_ROOT/audit/audit.log" | jq -r .result)" = ok ]
	run ka-status --json ohm
	[ "$(jq -r .verify.passed <<<"$output")" = true ]
}

@test "a failing verify files regression and drift, and the gate then refuses installs" {
	printf 'scope: driver/wifi\ncampaign: besser\nprobes:\n  - %s\n' "'procfs /proc/sys/kernel/ostype == Plan9'" \
		>"$KA_REPO/patches/driver/wifi/lock/series.yaml"
	run --separate-stderr ka-verify --json ohm
	[ "$status" -eq 1 ]
	[ "$(jq -r .status <<<"$output")" = failed ]
	[ "$(jq -r '.blocks | length' <<<"$output")" -eq 2 ]
	run ka-gate --verb install --host ohm
	[ "$status" -eq 1 ]
	[[ $output == *regression* && $output == *host-drifted* ]]
	run ka-block list
	[[ $output == *"expected == Plan9, actual Linux"* || $output == *"[ka:regression] ohm: verification failed (bar 4)"* ]]
	[ "$(tail -n 1 "$KA_ROOT/audit/audit.log" | jq -r .exit_code)" -eq 1 ]
	run ka-status --json ohm
	[ "$(jq -r '.verify.failed_bars[0]' <<<"$output")" -eq 4 ]
}

@test "--burn-in before any install, unknown options and no host are refused" {
	run --separate-stderr ka-verify --burn-in ohm
	[ "$status" -eq 2 ]
	[[ $stderr == *"a burn-in starts at an install"* ]]
	run --separate-stderr ka-verify --bogus ohm
	[ "$status" -eq 2 ]
	[[ $stderr == *"unknown option --bogus"* ]]
	run --separate-stderr ka-verify
	[ "$status" -eq 2 ]
	[[ $stderr == *"name a host"* ]]
	run --separate-stderr ka-verify --now
	[ "$status" -eq 2 ]
}
