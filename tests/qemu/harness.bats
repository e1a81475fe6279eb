#!/usr/bin/env bats
# The qemu test-host scripts without booting anything: the cache's lock and
# rename, usage errors, and that stop-guest never touches a process it did not
# start.

bats_require_minimum_version 1.5.0

Q=$(cd "$BATS_TEST_DIRNAME" && pwd)

setup() {
	T=$(mktemp -d "${BATS_TMPDIR:-/tmp}/ka-qemu-h.XXXXXX")
	export KA_TEST_CACHE=$T/cache HOME=$T/home
	mkdir -p "$HOME"
}

teardown() {
	[[ -z ${decoy:-} ]] || kill "$decoy" 2>/dev/null || true
	rm -rf "$T"
}

# a builder that counts its runs and takes a moment, so two callers overlap
slow_builder() {
	echo run >>"$T/runs"
	sleep 1
	echo content >"$1/file"
}

failing_builder() {
	echo half >"$1/file"
	return 1
}

# entries ROOT: what a cache root holds besides the test ccache that
# cache_root sets up in it (lib.sh, test_ccache)
entries() {
	find "$1" -mindepth 1 -maxdepth 1 ! -name ccache -printf '%f\n' | sort
}

@test "two concurrent builders of one cache entry: built once, complete" {
	# shellcheck source=/dev/null
	. "$Q/lib.sh"
	root=$(cache_root)
	with_cache_entry "$root/e1" slow_builder &
	with_cache_entry "$root/e1" slow_builder &
	wait
	[ "$(wc -l <"$T/runs")" -eq 1 ]
	[ "$(cat "$root/e1/file")" = content ]
	run entries "$root"
	[ "$output" = "$(printf 'e1\ne1.lock')" ]
}

@test "a failing builder leaves no entry and no temp folder" {
	# shellcheck source=/dev/null
	. "$Q/lib.sh"
	root=$(cache_root)
	run --separate-stderr with_cache_entry "$root/e2" failing_builder
	[ "$status" -eq 2 ]
	[[ $stderr == *"building e2 failed"* ]]
	[ ! -e "$root/e2" ]
	run entries "$root"
	[ "$output" = e2.lock ]
}

@test "a waiter gives up after its timeout and names the holder" {
	# shellcheck source=/dev/null
	. "$Q/lib.sh"
	root=$(cache_root)
	exec {held}>>"$root/e3.lock"
	flock "$held"
	echo "pid 4242 on test" >"$root/e3.lock"
	KA_TEST_CACHE_LOCK_TIMEOUT=1 run --separate-stderr with_cache_entry "$root/e3" slow_builder
	exec {held}>&-
	[ "$status" -eq 2 ]
	[[ $stderr == *"gave up after 1s"*"pid 4242 on test"* ]]
	[ ! -e "$root/e3" ]
}

@test "usage errors say what is wrong" {
	run --separate-stderr "$Q/start-guest"
	[ "$status" -eq 2 ]
	[[ $stderr == *"usage: start-guest"* ]]
	run --separate-stderr "$Q/start-guest" "$T/g" "$T/no-image"
	[ "$status" -eq 2 ]
	[[ $stderr == *"no disk image at $T/no-image"*make-image* ]]
	run --separate-stderr "$Q/wait-guest" "$T"
	[ "$status" -eq 2 ]
	[[ $stderr == *"holds no guest"* ]]
	run --separate-stderr "$Q/wait-guest" --boot 0 "$T"
	[ "$status" -eq 2 ]
	[[ $stderr == *"--boot needs a boot number"* ]]
	run --separate-stderr "$Q/power-cycle" "$T"
	[ "$status" -eq 2 ]
	[[ $stderr == *"holds no guest"* ]]
	run --separate-stderr "$Q/stop-guest"
	[ "$status" -eq 2 ]
	[[ $stderr == *"usage: stop-guest DIR"* ]]
	run --separate-stderr "$Q/make-image" --include 'bad name'
	[ "$status" -eq 2 ]
	[[ $stderr == *"expected Debian package names"* ]]
	run --separate-stderr "$Q/build-kernel" "$T/none.config"
	[ "$status" -eq 2 ]
	[[ $stderr == *"no kernel config at $T/none.config"* ]]
	run --separate-stderr "$Q/build-kernel" "$Q/../fixtures/kernel/qemu-x86.config" -d virtio_blk
	[ "$status" -eq 2 ]
	[[ $stderr == *"a config symbol is upper case"* ]]
}

@test "stop-guest leaves alone a process whose PID it finds but did not start" {
	mkdir -p "$T/g"
	sleep 300 &
	decoy=$!
	echo "$decoy" >"$T/g/supervisor.pid"
	echo "$decoy" >"$T/g/qemu.pid"
	run "$Q/stop-guest" "$T/g"
	[ "$status" -eq 0 ]
	kill -0 "$decoy"
	[ ! -e "$T/g/qemu.pid" ]
}

@test "a cache that cannot be created is an error naming KA_TEST_CACHE" {
	touch "$T/file"
	KA_TEST_CACHE=$T/file/cache run --separate-stderr "$Q/build-kernel" "$Q/../fixtures/kernel/qemu-x86.config"
	[ "$status" -eq 2 ]
	[[ $stderr == *"cannot create the test cache $T/file/cache"*KA_TEST_CACHE* ]]
}
