#!/usr/bin/env bats
# ka-build end to end with real parts: an OpenSSH sshd on 127.0.0.1 plays the
# build host (user kbuild), Debian's makepkg builds a small x86_64 kernel from
# linux-source-6.1 with the example tree's arch/x86_64 series, and the faults
# of the build issue file their blocks.

bats_require_minimum_version 1.5.0

REPO=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
# shellcheck source=tests/e2e/lib.bash
. "$BATS_TEST_DIRNAME/lib.bash"

# board NAME BUILD DISTRO [INITRAMFS]: an aarch64 board's manifest, built on BUILD
board() {
	cat >"$KA_REPO/fleet/$1.yaml" <<YAML
host: $1
role: dev
arch: aarch64
distro: $3
kernel:
  pkgbase: linux-$1
  suffix: $1
  baseline: { tarball: /usr/src/linux-source-6.1.tar.xz }
  config: fleet/config/qemu-arm64.config
scopes: [arch/arm64]
build: { host: $2, wall_clock: 45m, stall: 10m }
install: { mode: alongside, bootloader: extlinux, initramfs: ${4:-none} }
YAML
}

# target NAME BUILD [FALLBACK] [WALL_CLOCK]: a kernel host built on BUILD
target() {
	cat >"$KA_REPO/fleet/$1.yaml" <<YAML
host: $1
role: dev
arch: x86_64
distro: arch
kernel:
  pkgbase: linux-$1
  suffix: $1
  baseline: { tarball: /usr/src/linux-source-6.1.tar.xz }
  config: fleet/config/qemu-x86.config
scopes: [arch/x86_64]
build: { host: $2, fallback: [${3:-}], wall_clock: ${4:-45m}, stall: 10m }
install: { mode: alongside, bootloader: extlinux, initramfs: mkinitcpio }
YAML
}

setup_file() {
	export T
	T=$(mktemp -d "${BATS_TMPDIR:-/tmp}/ka-e2e.XXXXXX")
	chmod 755 "$T"
	export HOME="$T/home" KA_ROOT="$T/root" KA_REPO="$T/repo"
	mkdir -p "$HOME" "$KA_REPO/fleet/config"
	"$REPO/tests/sshd/start-sshd" "$T/sshd" >"$T/sshd.env"
	# shellcheck disable=SC1091
	. "$T/sshd.env"
	export SSHD_PID SSHD_PORT SSHD_REMOTE KA_SSH_IDENTITY="$SSHD_IDENTITY"
	e2e_ccache "$SSHD_REMOTE"
	cp -r "$REPO/patches" "$KA_REPO/"
	cp "$REPO/tests/fixtures/kernel/qemu-x86.config" "$REPO/tests/fixtures/kernel/qemu-arm64.config" "$KA_REPO/fleet/config/"
	cp "$SSHD_KNOWN_HOSTS" "$KA_REPO/fleet/known_hosts"
	e2e_build_host buildbox
	target planck buildbox
	ka-promote planck >"$T/promote.out"
	# the real build, once; the tests below read its result
	ka-build --json planck >"$T/build.json" 2>"$T/build.err" || true
}

teardown_file() {
	[[ -z ${SSHD_PID:-} ]] || kill "$SSHD_PID" 2>/dev/null || true
	rm -rf -- "$T"
}

@test "the kernel package is built over SSH with makepkg and fetched" {
	[ "$(jq -r .status "$T/build.json")" = "done" ] || { cat "$T/build.json" "$T/build.err"; false; }
	[ "$(jq -r .build_host "$T/build.json")" = buildbox ]
	job=$(jq -r .job "$T/build.json")
	out="$KA_ROOT/output/$job"
	# whatever extension Debian's makepkg.conf chose: read it, never assume it
	pkg=$(ls "$out"/linux-planck-6.1.*-x86_64.pkg.tar.*)
	headers=$(ls "$out"/linux-planck-headers-6.1.*-x86_64.pkg.tar.*)
	bsdtar -tf "$pkg" >"$T/pkg.list"
	grep -qx 'boot/vmlinuz-planck' "$T/pkg.list"
	grep -qx 'usr/lib/modules/6.1.[0-9]*-planck/' "$T/pkg.list"
	grep -qx 'usr/share/libalpm/hooks/90-linux-planck.hook' "$T/pkg.list"
	grep -qx 'etc/mkinitcpio.d/linux-planck.preset' "$T/pkg.list"
	grep -qx 'usr/bin/ka-extlinux-linux-planck' "$T/pkg.list"
	run ! grep -q '^boot/vmlinuz$' "$T/pkg.list"
	bsdtar -tf "$headers" | grep -qx 'usr/src/linux-planck'
	# the log is kept, and the job is recorded
	[ -s "$KA_ROOT/logs/buildbox/$job/build.log" ]
	grep -q 'Finished making: linux-planck' "$KA_ROOT/logs/buildbox/$job/build.log"
	run ka-job show "$job"
	[ "$status" -eq 0 ]
	[ "$(jq -r .exit_code <<<"$output")" = 0 ]
	# ccache was used, in the build host's root
	[ -n "$(ls -A "$SSHD_REMOTE/ccache")" ]
	# the baseline tarball was sent once and kept in the source cache by content
	[[ $(jq -r .message "$T/build.json") == *" MiB sent)"* ]]
	sum=$(b2sum "$KA_ROOT"/hosts/planck/render/*/linux.tar | cut -d' ' -f1)
	cached="$SSHD_REMOTE/cache/sources/$sum"
	[ "$(stat -c %i "$cached")" = "$(stat -c %i "$SSHD_REMOTE/source/$job/linux.tar")" ]
}

# tree_job JOB: the job record's tree mode and reason, "mode: reason"
tree_job() {
	jq -r '"\(.tree.mode): \(.tree.reason)"' "$KA_ROOT/jobs/$1.json"
}

@test "the first build is clean in the build tree, records the image's b2sum, and writes the marker last" {
	job=$(jq -r .job "$T/build.json")
	[[ $(tree_job "$job") == "clean: no build tree"* ]]
	tree="$SSHD_REMOTE/trees/planck-x86_64"
	# the recorded b2sum is the image's, and the package installs those bytes
	sum=$(jq -r .image_b2sum "$KA_ROOT/jobs/$job.json")
	[ "$sum" = "$(b2sum "$tree/linux/arch/x86/boot/bzImage" | cut -d' ' -f1)" ]
	jq -e '.modules_b2sum | test("^[0-9a-f]{128}$")' "$KA_ROOT/jobs/$job.json"
	bsdtar -xOf "$(ls "$KA_ROOT/output/$job"/linux-planck-6.1.*-x86_64.pkg.tar.*)" boot/vmlinuz-planck | b2sum | grep -q "^$sum "
	grep -qx "lock $(jq -r .lock_b2sum <(ka-render --dry-run planck))" "$tree/state"
	grep -qx "job $job" "$tree/state"
	# the time, user and host in the kernel come from the lock, not the build host
	grep -qa 'kernel-agent@planck' "$tree/linux/arch/x86/boot/bzImage"
}

@test "a one-patch change builds incrementally and gives the bytes of a clean build of the same lock" {
	patch=$(ls "$KA_REPO"/patches/arch/x86_64/*/0001-*.patch)
	sed -i 's/^+\t\t.ident = "Clevo NL5xNU",$/+\t\t.ident = "Clevo NL5xNU (e2e)",/' "$patch"
	grep -q 'NL5xNU (e2e)' "$patch"
	ka-promote planck >/dev/null
	run --separate-stderr ka-build --dry-run --json planck
	[ "$status" -eq 0 ]
	[[ $(jq -r .message <<<"$output") == *"incremental build: from lock "* ]]
	# built incrementally, then clean in another folder, and compared
	run --separate-stderr ka-build --check-reproducible --json planck
	[ "$status" -eq 0 ] || { echo "$output"; echo "$stderr"; false; }
	[ "$(jq -r .status <<<"$output")" = "done" ]
	[[ $(jq -r .message <<<"$output") == *"reproducible: a clean build in $SSHD_REMOTE/trees/planck-x86_64-check gave the same image"* ]]
	job=$(jq -r .job <<<"$output")
	[[ $(tree_job "$job") == "incremental: from lock "* ]]
	# only the file whose content changed was replaced in the tree
	[ "$(grep -c '^changed ' "$KA_ROOT/logs/buildbox/$job/tree-prepare.log")" -eq 1 ]
	grep -qx 'changed arch/x86/kernel/reboot.c' "$KA_ROOT/logs/buildbox/$job/tree-prepare.log"
	grep -qx 'mode clean' "$KA_ROOT/logs/buildbox/$job/tree-prepare-check.log"
	# kbuild recompiled what depends on it, and nothing else (but the image
	# wrapper around the relinked vmlinux)
	grep -qx '  CC      arch/x86/kernel/reboot.o' "$KA_ROOT/logs/buildbox/$job/build.log"
	grep '^  CC ' "$KA_ROOT/logs/buildbox/$job/build.log" >"$T/compiled"
	run ! grep -v -e '^  CC      arch/x86/kernel/reboot.o$' -e '^  CC      arch/x86/boot/' "$T/compiled"
	# the image is the clean build's
	sum=$(jq -r .image_b2sum "$KA_ROOT/jobs/$job.json")
	grep -qx "file $sum  ./arch/x86/boot/bzImage" "$KA_ROOT/logs/buildbox/$job/tree-commit-check.log"
	# the same bytes: the second tree is removed
	[ ! -e "$SSHD_REMOTE/trees/planck-x86_64-check" ]
	echo "$sum" >"$T/incremental.sum"
}

@test "a config change forces a clean build; a job killed mid-build is followed by a clean build" {
	tree="$SSHD_REMOTE/trees/planck-x86_64"
	config="$KA_REPO/fleet/config/qemu-x86.config"
	# a changed value is a new checked config (ka-promote puts it in the
	# lock): the next build is clean. (A comment alone changes nothing: the
	# checked config is what the baseline's kconfig writes.)
	cp "$config" "$T/config.orig"
	sed -i 's/^# CONFIG_PRINTK_TIME is not set$/CONFIG_PRINTK_TIME=y/' "$config"
	grep -qx 'CONFIG_PRINTK_TIME=y' "$config"
	ka-promote planck >/dev/null
	run --separate-stderr ka-build --dry-run --json planck
	[ "$status" -eq 0 ]
	[[ $(jq -r .message <<<"$output") == *"clean build: config changed ("* ]]
	# back to the built config (building the new one would miss the whole
	# ccache: every object includes autoconf.h); a clean build of it, killed:
	# every process of the job once its build has begun (job ids sort by
	# time: the last planck-* log folder is the newest job)
	cp "$T/config.orig" "$config"
	ka-promote planck >/dev/null
	logs=("$KA_ROOT"/logs/buildbox/planck-*)
	before=${logs[-1]}
	ka-build --clean --json planck >"$T/killed.json" 2>"$T/killed.err" &
	pid=$!
	log=""
	while kill -0 "$pid" 2>/dev/null; do
		logs=("$KA_ROOT"/logs/buildbox/planck-*)
		log=${logs[-1]}/build.log
		[[ ${logs[-1]} != "$before" ]] && grep -qs 'Starting build()' "$log" && break
		sleep 1
	done
	job=$(basename "$(dirname "$log")")
	[[ $job == planck-* ]]
	pids=$(grep -lsxz "KA_JOB=$job" /proc/[0-9]*/environ | cut -d/ -f3 || true)
	[ -n "$pids" ]
	# shellcheck disable=SC2086 # one PID a word
	kill -KILL $pids 2>/dev/null || true
	rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 1 ] || { cat "$T/killed.json" "$T/killed.err"; false; }
	[ "$(jq -r .status "$T/killed.json")" = failed ]
	[[ $(tree_job "$job") == "clean: --clean asked for one"* ]]
	# the marker went first: the tree says it is in flux
	[ ! -e "$tree/state" ]
	ka-block lift "$(ka-block list | jq -r 'select(.block == "build-fail" and .subject.host == "buildbox") | .id')" --reason "killed by the e2e test" >/dev/null
	run --separate-stderr ka-build --dry-run --json planck
	[[ $(jq -r .message <<<"$output") == *"clean build: the tree has no state marker"* ]]
	run --separate-stderr ka-build --json planck
	[ "$status" -eq 0 ] || { echo "$output"; echo "$stderr"; false; }
	job=$(jq -r .job <<<"$output")
	[[ $(tree_job "$job") == "clean: the tree has no state marker"* ]]
	[ -f "$tree/state" ]
	# the same lock and the same kbuild configuration: the incremental build's bytes
	[ "$(jq -r .image_b2sum "$KA_ROOT/jobs/$job.json")" = "$(cat "$T/incremental.sum")" ]
}

@test "a marker from another lock, or none, makes the next build clean; --clean forces one" {
	tree="$SSHD_REMOTE/trees/planck-x86_64"
	run --separate-stderr ka-build --dry-run --json planck
	[[ $(jq -r .message <<<"$output") == *"incremental build: the tree holds this lock"* ]]
	run --separate-stderr ka-build --dry-run --clean --json planck
	[[ $(jq -r .message <<<"$output") == *"clean build: --clean asked for one"* ]]
	cp "$tree/state" "$T/state.good"
	sed -i "s/^cumulative .*/cumulative $(printf 'a%.0s' {1..128})/" "$tree/state"
	run --separate-stderr ka-build --dry-run --json planck
	[[ $(jq -r .message <<<"$output") == *"clean build: the tree's patch is not the one its state marker names (marker from another lock"* ]]
	head -n 3 "$T/state.good" >"$tree/state"
	run --separate-stderr ka-build --dry-run --json planck
	[[ $(jq -r .message <<<"$output") == *"clean build: the tree's state marker has no baseline"* ]]
	rm "$tree/state"
	run --separate-stderr ka-build --dry-run --json planck
	[[ $(jq -r .message <<<"$output") == *"clean build: the tree has no state marker"* ]]
	# a dry run changed nothing on the build host
	[ ! -e "$tree/state" ]
	cp "$T/state.good" "$tree/state"
}

@test "--dry-run routes and pre-flights without building" {
	run --separate-stderr ka-build --dry-run --json planck
	[ "$status" -eq 0 ]
	[ "$(jq -r .status <<<"$output")" = dry-run ]
	[ "$(jq -r .build_host <<<"$output")" = buildbox ]
}

@test "--confirm shows the routing and builds nothing on no" {
	jobs_before=$(find "$KA_ROOT/jobs" -name "*.json" | wc -l)
	run ka-build --confirm planck <<<"n"
	[ "$status" -eq 1 ]
	[[ $output == *"plan for planck: would build on buildbox"* ]]
	[[ $output != *"dry-run"* ]]
	[[ $output == *"declined; nothing built"* ]]
	[ "$(find "$KA_ROOT/jobs" -name "*.json" | wc -l)" -eq "$jobs_before" ]
}

@test "a pre-flight miss files [ka:bootstrap-missing] naming what is missing; the fallback builds" {
	e2e_build_host starved "$SSHD_PORT" 100000
	target fermat starved buildbox
	ka-promote fermat >/dev/null
	run --separate-stderr ka-build --dry-run --json fermat
	[ "$status" -eq 0 ]
	[ "$(jq -r .build_host <<<"$output")" = buildbox ]
	[[ $(jq -r .message <<<"$output") == *"starved: pre-flight: disk:"* ]]
	[[ $(jq -r .message <<<"$output") == *"a real run files [ka:bootstrap-missing]"* ]]
	# a dry run files nothing
	run ka-block list
	[[ $output != *'"block":"bootstrap-missing"'* ]]
	# a real run with starved alone: the miss is filed, nothing is built
	target fermat starved
	ka-promote fermat >/dev/null
	run --separate-stderr ka-build --json fermat
	[ "$status" -eq 1 ]
	[ "$(jq -r .status <<<"$output")" = blocked ]
	run ka-block list
	[[ $output == *'"block":"bootstrap-missing"'* ]]
	[[ $output == *'"host":"starved"'* ]]
	[[ $output == *'a build needs 100000G'* ]]
	# fixed: the next pre-flight lifts it
	e2e_build_host starved "$SSHD_PORT" 1
	target fermat starved
	ka-promote fermat >/dev/null # the manifest changed: promote again
	run ka-gate --verb build --host fermat --build-host starved
	[ "$status" -eq 1 ]
	ka-block lift "$(ka-block list | jq -r 'select(.subject.host == "starved") | .id')" --reason "disk freed" >/dev/null
	run --separate-stderr ka-build --dry-run --json fermat
	[ "$status" -eq 0 ]
	[ "$(jq -r .build_host <<<"$output")" = starved ]
}

@test "an unreachable primary falls back; with no fallback the build is blocked" {
	port=$((SSHD_PORT + 1))
	e2e_build_host gone "$port"
	target euler gone buildbox
	ka-promote euler >/dev/null
	run --separate-stderr ka-build --dry-run --json euler
	[ "$status" -eq 0 ]
	[ "$(jq -r .build_host <<<"$output")" = buildbox ]
	[[ $(jq -r .message <<<"$output") == *"gone: unreachable"* ]]
	target euler gone
	ka-promote euler >/dev/null # the manifest changed: promote again
	run --separate-stderr ka-build --dry-run --json euler
	[ "$status" -eq 1 ]
	[ "$(jq -r .status <<<"$output")" = blocked ]
}

@test "a changed host key is a refusal and files [ka:host-changed]" {
	ssh-keygen -q -t ed25519 -N '' -f "$T/otherkey"
	e2e_build_host imposter
	target gauss imposter
	ka-promote gauss >/dev/null
	cp "$KA_REPO/fleet/known_hosts" "$T/known_hosts.good"
	printf '[127.0.0.1]:%s %s\n' "$SSHD_PORT" "$(cut -d' ' -f1,2 "$T/otherkey.pub")" >"$KA_REPO/fleet/known_hosts"
	run --separate-stderr ka-build --dry-run --json gauss
	[ "$status" -eq 1 ]
	[[ $(jq -r .message <<<"$output") == *"host key"* ]]
	[[ $(jq -r .message <<<"$output") == *"a real run files [ka:host-changed]"* ]]
	run ka-block list
	[[ $output != *'"block":"host-changed"'* ]]
	# the real run refuses the same way, and files the block
	run --separate-stderr ka-build --json gauss
	cp "$T/known_hosts.good" "$KA_REPO/fleet/known_hosts"
	[ "$status" -eq 1 ]
	[[ $(jq -r .message <<<"$output") == *"host key"* ]]
	run ka-block list
	[[ $output == *'"block":"host-changed"'* ]]
	[[ $output == *'"host":"imposter"'* ]]
	# the block halts builds routed to imposter, and nothing else
	run ka-gate --verb build --host gauss --build-host imposter
	[ "$status" -eq 1 ]
	run ka-gate --verb build --host gauss --build-host buildbox
	[ "$status" -eq 0 ]
	run ka-gate --verb install --host imposter
	[ "$status" -eq 0 ]
}

@test "a build over its wall clock fails, files [ka:build-fail], keeps the tree and the log" {
	e2e_build_host slowbox
	target hilbert slowbox "" 20s
	ka-promote hilbert >/dev/null
	run --separate-stderr ka-build --json hilbert
	[ "$status" -eq 1 ]
	[ "$(jq -r .status <<<"$output")" = failed ]
	job=$(jq -r .job <<<"$output")
	[[ $(jq -r .message <<<"$output") == *"wall-clock cap"* ]]
	# the job record names its render folder and when it ended (for ka-prune)
	jq -e '.render.host == "hilbert" and (.finished_at | test("^[0-9-]+T[0-9:]+Z$"))' "$KA_ROOT/jobs/$job.json"
	[ -d "$SSHD_REMOTE/source/$job" ]
	# the baseline came from the build host's source cache, not over the wire
	grep -qx 'from the source cache: linux.tar' "$KA_ROOT/logs/slowbox/$job/source-cache-link.log"
	[ "$(stat -c %h "$SSHD_REMOTE/source/$job/linux.tar")" -ge 2 ]
	[ -s "$KA_ROOT/logs/slowbox/$job/build.log" ]
	run ka-block list
	[[ $output == *'"block":"build-fail"'* ]]
	[[ $output == *'"host":"slowbox"'* ]]
	# no process of the job is left on the build host
	run ! grep -lqsxz "KA_JOB=$job" /proc/[0-9]*/environ
	# the gate now halts builds routed to slowbox
	run --separate-stderr ka-build --json hilbert
	[ "$status" -eq 1 ]
	[ "$(jq -r .status <<<"$output")" = blocked ]
	# keep and debug
	run ka-keep --for 7d "$job"
	[ "$status" -eq 0 ]
	[ -f "$KA_ROOT/keep/$job.json" ]
	run ka-job ssh-argv "$job"
	[ "$status" -eq 0 ]
	[[ $output == *"StrictHostKeyChecking=yes"* ]]
	[[ $output == *"source/$job"* ]]
	# ka-debug lands in the tree (stdin is not a terminal here: the shell reads it)
	run ka-debug "$job" <<<'pwd; ls PKGBUILD'
	[ "$status" -eq 0 ]
	[[ $output == *"$SSHD_REMOTE/source/$job"* ]]
	[[ $output == *PKGBUILD* ]]
}

@test "a build host without the cross compiler: [ka:bootstrap-missing] names the package to install" {
	[ "$(uname -m)" = x86_64 ] || skip "the cross build is from x86_64"
	e2e_build_host nocross "$SSHD_PORT" 1 "x86_64, aarch64"
	board euclid-e2e nocross arch
	ka-promote euclid-e2e >/dev/null
	# a build host that lacks the cross compiler: a second key whose
	# authorized_keys entry runs every command with a PATH where every tool
	# but aarch64-linux-gnu-* is
	bin="$T/nocross-bin"
	mkdir -p "$bin"
	chmod 755 "$bin"
	for f in /usr/local/bin/* /usr/bin/* /bin/* /usr/sbin/* /sbin/*; do
		case ${f##*/} in aarch64-linux-gnu-*) continue ;; esac
		[ -e "$bin/${f##*/}" ] || ln -s "$f" "$bin/${f##*/}"
	done
	ssh-keygen -q -t ed25519 -N '' -f "$T/nocross-key"
	# shellcheck disable=SC2016 # $SSH_ORIGINAL_COMMAND is for sshd's shell, not ours
	printf 'command="PATH=%s; export PATH; eval \\"$SSH_ORIGINAL_COMMAND\\"" %s\n' "$bin" "$(cat "$T/nocross-key.pub")" >>"$T/sshd/authorized_keys"
	run --separate-stderr env KA_SSH_IDENTITY="$T/nocross-key" ka-build --json euclid-e2e
	[ "$status" -eq 1 ]
	[ "$(jq -r .status <<<"$output")" = blocked ]
	run ka-block list
	[[ $output == *'"block":"bootstrap-missing"'* ]]
	[[ $output == *'"host":"nocross"'* ]]
	[[ $output == *'gcc-aarch64-linux-gnu'* ]]
}
