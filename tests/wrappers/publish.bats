#!/usr/bin/env bats
# ka-publish: sign and publish a built package through the local sign host,
# the human summary, --json, --dry-run, --confirm, --check and auditing.
# (crates/ka-sign/tests/ covers pacman and apt clients, SSH and the failures.)

load helpers
bats_require_minimum_version 1.5.0

setup() {
	setup_fleet
	host toy "arch/x86_64"
	sed -i 's/^arch: aarch64$/arch: x86_64/' "$KA_REPO/fleet/toy.yaml"
	export GNUPGHOME="$T/gnupg"
	mkdir -m 700 "$GNUPGHOME"
	printf '%s\n' '%no-protection' 'Key-Type: eddsa' 'Key-Curve: ed25519' 'Key-Usage: sign' \
		'Name-Real: kernel-agent test' 'Expire-Date: 0' '%commit' >"$T/key-params"
	gpg --batch --gen-key "$T/key-params" 2>/dev/null
	FPR=$(gpg --batch --list-secret-keys --with-colons | awk -F: '$1 == "fpr" { print $10; exit }')
	signer "$GNUPGHOME"
	# a built package: what repo-add reads is the .PKGINFO
	mkdir -p "$T/pkg/boot" "$KA_ROOT/output/toy-1" "$KA_ROOT/jobs"
	printf 'pkgname = linux-toy\npkgbase = linux-toy\npkgver = 6.1-1\npkgdesc = toy\narch = x86_64\nsize = 5\n' >"$T/pkg/.PKGINFO"
	echo toy >"$T/pkg/boot/toy"
	bsdtar -czf "$KA_ROOT/output/toy-1/linux-toy-6.1-1-x86_64.pkg.tar.gz" -C "$T/pkg" .PKGINFO boot
	cat >"$KA_ROOT/jobs/toy-1.json" <<JSON
{"kind":"ka.job-result","version":1,"id":"toy-1","host":"local","argv":["makepkg"],"exit_code":0,"duration_ms":1,"stalled":false,"capped":false,"log":"/dev/null","finished_at":"2026-05-18T10:00:00Z","render":{"host":"toy","id":"0123456789abcdef"}}
JSON
	LIVE="$T/srv/arch/x86_64"
}

teardown() {
	gpgconf --homedir "$T/gnupg" --kill all 2>/dev/null || true
	stop_test_sshd "$T/sshd"
	teardown_fleet
}

# signer GNUPGHOME: the local sign host, signing from GNUPGHOME
signer() {
	cat >"$KA_REPO/fleet/signer.yaml" <<YAML
host: signer
role: infra
arch: x86_64
distro: debian
sign:
  local: true
  key: $FPR
  gnupghome: $1
  staging: $T/srv/staging
  pacman: { name: ka, root: $T/srv/arch }
YAML
}

@test "ka-publish signs, publishes, files [ka:installable] and says what it wrote" {
	run --separate-stderr ka-publish toy
	[ "$status" -eq 0 ]
	[[ ${lines[0]} == "publish toy (job toy-1): done — signed 1 package(s)"* ]]
	[[ $output == *"kernel   linux-toy 6.1-1"* ]]
	[[ $output == *"filed installable-"* ]]
	[[ $output == *"wrote signer:$LIVE/ka.db.tar.gz.sig"* ]]
	[ -L "$LIVE" ]
	gpg --batch --verify "$LIVE/linux-toy-6.1-1-x86_64.pkg.tar.gz.sig" "$LIVE/linux-toy-6.1-1-x86_64.pkg.tar.gz"
	[ "$(ka-notice list | jq -r .title)" = "[ka:installable] linux-toy 6.1-1 for toy" ]
	[ "$(tail -n 1 "$KA_ROOT/audit/audit.log" | jq -r '.verb + " " + .result')" = "publish ok" ]
	# again: nothing new
	run --separate-stderr ka-publish --json toy
	[ "$status" -eq 0 ]
	[ "$(jq -r .status <<<"$output")" = unchanged ]
}

@test "--dry-run and a declined --confirm publish nothing" {
	run --separate-stderr ka-publish --dry-run --json toy
	[ "$status" -eq 0 ]
	[ "$(jq -r .status <<<"$output")" = dry-run ]
	[ "$(tail -n 1 "$KA_ROOT/audit/audit.log" | jq -r .result)" = dry-run ]
	run --separate-stderr ka-publish --confirm toy <<<"n"
	[ "$status" -eq 1 ]
	[[ $stderr == *"plan for toy (job toy-1): would copy 1 package(s)"* ]]
	[[ $stderr != *"dry-run"* ]]
	[[ $stderr == *"declined; nothing published"* ]]
	[ ! -e "$T/srv/arch" ]
	run --separate-stderr ka-publish --confirm toy <<<"y"
	[ "$status" -eq 0 ]
	[ -L "$LIVE" ]
}

@test "a signing failure blocks publishing until --check finds the key again" {
	mkdir -m 700 "$T/gnupg-empty"
	signer "$T/gnupg-empty"
	run --separate-stderr ka-publish toy
	[ "$status" -eq 1 ]
	[[ $output == *"FAILED"*"no secret key"* ]]
	[[ $output == *"blocked by signing-fail-"* ]]
	[ ! -e "$LIVE" ]
	signer "$GNUPGHOME"
	run --separate-stderr ka-publish toy
	[ "$status" -eq 1 ]
	[[ $output == *"BLOCKED"*"ka-publish --check"* ]]
	run --separate-stderr ka-publish --check
	[ "$status" -eq 0 ]
	[[ $output == *"signing works"*"lifted signing-fail-"* ]]
	run --separate-stderr ka-publish toy
	[ "$status" -eq 0 ]
}

@test "ka-publish refuses bad usage" {
	run --separate-stderr ka-publish
	[ "$status" -eq 2 ]
	[[ $stderr == *"name a host"* ]]
	run --separate-stderr ka-publish --check toy
	[ "$status" -eq 2 ]
	run --separate-stderr ka-publish toy --job
	[ "$status" -eq 2 ]
	run --separate-stderr ka-publish --job nope toy
	[ "$status" -eq 2 ]
	[[ $stderr == *"no job nope"* ]]
	run --separate-stderr ka-publish --frobnicate toy
	[ "$status" -eq 2 ]
}

@test "a kill at every phase boundary of ka-publish: no lock held, no torn record, the next run publishes" {
	mapfile -t steps < <(crash_steps ka-publish toy)
	[ "${#steps[@]}" -ge 4 ]
	for step in "${steps[@]}"; do
		# each step from the state before the first publish
		rm -rf -- "$T/srv"
		find "$KA_ROOT" -mindepth 1 -maxdepth 1 ! -name output ! -name jobs -exec rm -rf -- {} +
		KA_TEST_CRASH_AT=$step run --separate-stderr ka-publish toy
		[ "$status" -ne 0 ]
		[[ $stderr == *"KA_TEST_CRASH_AT=$step: killing this process"* ]]
		after_crash "$step"
		# the live repository is a whole generation or none
		[ ! -e "$LIVE" ] || gpg --batch --verify "$LIVE/ka.db.tar.gz.sig" "$LIVE/ka.db.tar.gz" 2>/dev/null
		run --separate-stderr ka-publish --json toy
		[ "$status" -eq 0 ] || {
			echo "after $step: $output $stderr"
			false
		}
		[[ $(jq -r .status <<<"$output") == @(done|unchanged) ]]
		[ "$(jq -r .status "$KA_ROOT/hosts/toy/published.json")" != failed ]
		gpg --batch --verify "$LIVE/linux-toy-6.1-1-x86_64.pkg.tar.gz.sig" "$LIVE/linux-toy-6.1-1-x86_64.pkg.tar.gz" 2>/dev/null
		[ "$(ka-notice list | jq -r .title)" = "[ka:installable] linux-toy 6.1-1 for toy" ]
	done
}

@test "a changed host key of the sign host files [ka:host-changed] for it; the next strict connection lifts it" {
	test_sshd "$T/sshd"
	# the sign host over SSH (the loopback sshd), its key in known_hosts replaced
	sed -i -e 's/^  local: true$/  local: false/' "$KA_REPO/fleet/signer.yaml"
	printf 'ssh: { address: 127.0.0.1, port: %s, user: %s }\n' "$SSHD_PORT" "$SSHD_USER" >>"$KA_REPO/fleet/signer.yaml"
	ssh-keygen -q -t ed25519 -N '' -f "$T/other"
	printf '[127.0.0.1]:%s %s\n' "$SSHD_PORT" "$(cut -d' ' -f1,2 "$T/other.pub")" >"$KA_REPO/fleet/known_hosts"
	run --separate-stderr ka-publish toy
	[ "$status" -eq 1 ]
	[[ $output == *"host key of"*"changed"* ]]
	run ka-block list
	[[ $output == *"[ka:host-changed] signer"* ]]
	[ ! -e "$T/srv/staging" ]
	# the right key again: the next connection to the sign host lifts it
	cp "$SSHD_KNOWN_HOSTS" "$KA_REPO/fleet/known_hosts"
	run --separate-stderr ka-publish --check
	run ka-block list
	[[ $output != *"host-changed"* ]]
}
