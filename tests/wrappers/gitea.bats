#!/usr/bin/env bats
# ka-block with the Gitea backend: the real chain ka-block -> outbox ->
# ka-gitea flush -> a fake Gitea (ka-fake-gitea) on 127.0.0.1 that checks every
# request against Gitea's API description and dumps its issues as JSON.
bats_require_minimum_version 1.5.0

setup() {
	T=$(mktemp -d "${BATS_TMPDIR:-/tmp}/ka-gitea.XXXXXX")
	export HOME="$T/home" KA_ROOT="$T/root"
	mkdir -p "$HOME" "$KA_ROOT" "$T/secrets"
	printf 'bats-token\n' >"$T/secrets/token"
	ka-fake-gitea --owner owner --repo fleet --token-file "$T/secrets/token" \
		--port-file "$T/port" --dump "$T/dump.json" 3>&- &
	FAKE_PID=$!
	for _ in $(seq 1 200); do
		[[ -s $T/port ]] && break
		sleep 0.05
	done
	[[ -s $T/port ]]
	URL="http://127.0.0.1:$(cat "$T/port")"
	config "$URL"
}

teardown() {
	kill "$FAKE_PID" 2>/dev/null || true
	wait "$FAKE_PID" 2>/dev/null || true
	rm -rf -- "$T"
}

# config URL: select the Gitea backend at URL
config() {
	cat >"$KA_ROOT/config.yaml" <<YAML
issues:
  backend: gitea
  gitea:
    url: $1
    owner: owner
    repo: fleet
    token_file: $T/secrets/token
    attempts: 2
    backoff: 0s
YAML
}

issues() { jq -r "$1" "$T/dump.json"; }

@test "ka-block file opens a Gitea issue and ka-block lift closes it" {
	run --separate-stderr ka-block file --kind regression --host fresnel --title "bar 3 fails" --detail "dt model differs"
	[ "$status" -eq 0 ]
	[ "$(jq -r .state <<<"$output")" = open ]
	[ "$(issues '.issues | length')" = 1 ]
	[ "$(issues '.issues[0].title')" = "[ka:regression] bar 3 fails" ]
	[ "$(issues '.issues[0].labels | join(",")')" = "ka,ka:block,ka:regression" ]
	id=$(jq -r .id <<<"$output")
	run ka-block file --kind regression --host fresnel --title "bar 3 fails" --detail "dt model differs"
	[ "$status" -eq 0 ]
	[ "$(issues '.issues | length')" = 1 ]
	run ka-block lift "$id" --reason "triaged: a board quirk"
	[ "$status" -eq 0 ]
	[ "$(issues '.issues[0].state')" = closed ]
	[ "$(issues '.issues[0].comments[0]')" != null ]
	[[ $(issues '.issues[0].comments[0]') == "Lifted: triaged: a board quirk"* ]]
	[ "$(issues '.violations | length')" = 0 ]
	run ka-gitea status
	[[ $output == *"queued:   0 event(s)"* ]]
}

@test "Gitea unreachable: the block is filed, the event stays queued, a later flush sends it once" {
	config "http://127.0.0.1:9"
	run --separate-stderr ka-block file --kind build-fail --build-host boltzmann --title "makepkg failed" --detail "exit 4"
	[ "$status" -eq 0 ]
	[[ $stderr == *"stay queued"* ]]
	run ka-gate --verb build --host fresnel --build-host boltzmann
	[ "$status" -eq 1 ]
	run ka-gitea status
	[[ $output == *"queued:   1 event(s)"* ]]
	[[ $output == *"error:"* ]]
	config "$URL"
	run ka-gitea flush
	[ "$status" -eq 0 ]
	run ka-gitea flush
	[ "$status" -eq 0 ]
	[ "$(issues '.issues | length')" = 1 ]
	[ "$(issues '.issues[0].title')" = "[ka:build-fail] makepkg failed" ]
	[ "$(issues '.violations | length')" = 0 ]
}
