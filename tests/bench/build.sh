#!/usr/bin/env bash
# build.sh: ka-build against bare makepkg on the same rendered folder; then,
# side by side as ratios of a cold build: a clean build with a warm ccache,
# an incremental build after a one-patch change, and a build after a config
# change (which must fall back to clean); and the reproducibility check.
# Each number is one kernel build (minutes each), so each is measured once;
# the ratios are what to read. Run with `make bench-build` (about 45 minutes;
# KA_BENCH_BARE=0 leaves out the bare makepkg build, about 8 of them).
set -euo pipefail

repo=$(cd "$(dirname -- "$0")/../.." && pwd)
T=$(mktemp -d "${TMPDIR:-/tmp}/ka-bench-build.XXXXXX")
chmod 755 "$T"
sshd_pid=""
cleanup() {
	[[ -z $sshd_pid ]] || kill "$sshd_pid" 2>/dev/null || true
	rm -rf -- "$T"
}
trap cleanup EXIT

export HOME="$T/home" KA_ROOT="$T/root" KA_REPO="$T/repo"
mkdir -p "$HOME" "$KA_REPO/fleet/config"
"$repo/tests/sshd/start-sshd" "$T/sshd" >"$T/sshd.env"
# shellcheck disable=SC1091 # sshd.env defines SSHD_*
. "$T/sshd.env"
# shellcheck disable=SC2153 # from sshd.env
sshd_pid=$SSHD_PID
export KA_SSH_IDENTITY="$SSHD_IDENTITY"
cp -r "$repo/patches" "$KA_REPO/"
cp "$repo/tests/fixtures/kernel/qemu-x86.config" "$KA_REPO/fleet/config/"
cp "$SSHD_KNOWN_HOSTS" "$KA_REPO/fleet/known_hosts"
cat >"$KA_REPO/fleet/buildbox.yaml" <<YAML
host: buildbox
role: dev
arch: x86_64
distro: debian
ssh: { address: 127.0.0.1, port: $SSHD_PORT, user: kbuild }
build_host: { user: kbuild, arches: [x86_64], root: $SSHD_REMOTE, min_free_gib: 1 }
YAML
cat >"$KA_REPO/fleet/planck.yaml" <<YAML
host: planck
role: dev
arch: x86_64
distro: arch
kernel:
  pkgbase: linux-planck
  suffix: planck
  baseline: { tarball: /usr/src/linux-source-6.1.tar.xz }
  config: fleet/config/qemu-x86.config
scopes: [arch/x86_64]
build: { host: buildbox, wall_clock: 2h, stall: 15m }
install: { mode: alongside, bootloader: extlinux, initramfs: mkinitcpio }
YAML
if [[ -n ${KA_BENCH_BASELINES:-} ]]; then
	mkdir -p "$KA_ROOT"
	cp -a "$KA_BENCH_BASELINES" "$KA_ROOT/baselines"
fi
ka-promote planck >/dev/null

secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
as_kbuild() { setpriv --reuid=kbuild --regid=kbuild --clear-groups -- "$@"; }
# timed_build NAME [OPTION...]: one timed ka-build of planck; the result is in $T/NAME.json
timed_build() {
	local name=$1 t0=$EPOCHREALTIME
	shift
	ka-build --json "$@" planck >"$T/$name.json"
	secs "$t0" "$EPOCHREALTIME"
	[ "$(jq -r .status "$T/$name.json")" = "done" ] || { cat "$T/$name.json" >&2; exit 1; }
	# as it goes, on stderr: a long run shows its figures before the end
	echo "bench: $name: $(secs "$t0" "$EPOCHREALTIME") s, $(tree_of "$name")" >&2
}
# tree_of NAME: the build tree mode and reason the job of $T/NAME.json used
tree_of() { jq -r '"\(.tree.mode): \(.tree.reason)"' "$KA_ROOT/jobs/$(jq -r .job "$T/$1.json").json"; }
# expect_tree NAME MODE: the build used MODE, or the bench stops
expect_tree() {
	[[ $(tree_of "$1") == "$2:"* ]] || { echo "bench: build $1 was not $2: $(tree_of "$1")" >&2; exit 1; }
}

# 1. the first build on this baseline and build host, cold ccache: the
#    baseline is archived (once per commit) and uploaded (once per build host)
rm -rf "$SSHD_REMOTE/ccache"
t_first=$(timed_build first)

# 2. bare makepkg on a copy of the same rendered folder, its own cold ccache
#    (by hand, the PKGBUILD unpacks and patches linux.tar itself)
t_bare=""
if [[ ${KA_BENCH_BARE:-1} != 0 ]]; then
	bare="$SSHD_REMOTE/bare"
	rm -rf "$bare" "$T/bare-ccache"
	cp -r "$KA_ROOT/hosts/planck/render/"*/ "$bare"
	mkdir -p "$T/kbuild-home" "$T/bare-ccache"
	chown -R kbuild:kbuild "$bare" "$T/kbuild-home" "$T/bare-ccache"
	t0=$EPOCHREALTIME
	(cd "$bare" && as_kbuild env HOME="$T/kbuild-home" CCACHE_DIR="$T/bare-ccache" \
		PKGDEST="$bare/out" PATH="/usr/lib/ccache:$PATH" makepkg --noconfirm --nodeps --nocolor >"$T/bare.log" 2>&1)
	t_bare=$(secs "$t0" "$EPOCHREALTIME")
	rm -rf "$bare"
fi

# 3. cold: the same build again, clean, cold ccache: what every later clean
#    build on a baseline the build host has seen costs (no archive, no
#    tarball upload). The reference of the ratios below.
rm -rf "$SSHD_REMOTE/ccache"
t_ka=$(timed_build steady --clean)
expect_tree steady clean
jq -r .message "$T/steady.json" | grep -q "from the build host's source cache" ||
	{ echo "bench: the second build did not use the source cache: $(jq -r .message "$T/steady.json")" >&2; exit 1; }

# 4. clean again, with the ccache build 3 left (warm): what ccache alone gives
t_warmclean=$(timed_build warmclean --clean)
expect_tree warmclean clean

# 5. a one-patch change: incremental in the tree build 4 left
patch=$(ls "$KA_REPO"/patches/arch/x86_64/*/0001-*.patch)
# one changed line of code: reboot.c (and what includes nothing of it) recompiles
sed -i 's/^+\t\t.ident = "Clevo NL5xNU",$/+\t\t.ident = "Clevo NL5xNU (bench)",/' "$patch"
grep -q 'NL5xNU (bench)' "$patch" || { echo "bench: could not change $patch" >&2; exit 1; }
ka-promote planck >/dev/null
t_warm=$(timed_build warm)
expect_tree warm incremental

# 6. a config change (one more driver built in): must fall back to clean; the
#    ccache misses what the new configuration changes (every file that sees
#    the changed symbol's header)
config="$KA_REPO/fleet/config/qemu-x86.config"
grep -qx '# CONFIG_DUMMY is not set' "$config" || { echo "bench: $config does not leave CONFIG_DUMMY unset" >&2; exit 1; }
sed -i 's/^# CONFIG_DUMMY is not set$/CONFIG_DUMMY=y/' "$config"
t_config=$(timed_build config)
expect_tree config clean
[[ $(tree_of config) == "clean: config changed"* ]] || { echo "bench: the config build was clean for another reason: $(tree_of config)" >&2; exit 1; }

# 7. the reproducibility check: the same lock built again (incremental, with
#    nothing to replace) and clean in another folder, image and modules compared
t0=$EPOCHREALTIME
ka-build --json --check-reproducible planck >"$T/repro.json" || true
t_repro=$(secs "$t0" "$EPOCHREALTIME")
repro=$(jq -r .message "$T/repro.json" | grep -o '\(NOT \)\?reproducible[^;]*' || jq -r .message "$T/repro.json")

# What ka-build adds around makepkg, from the same run (robust to other load
# on the machine): its wall time minus the makepkg job's own duration. This is
# the overhead the goal is about; the whole-build ratio below also measures
# how busy the machine was during each build.
job_secs() { jq -r '.duration_ms / 1000' "$KA_ROOT/jobs/$(jq -r .job "$T/$1.json").json"; }
awk -v first="$t_first" -v jfirst="$(job_secs first)" -v ka="$t_ka" -v jka="$(job_secs steady)" \
	-v bare="$t_bare" -v warm="$t_warm" 'BEGIN {
	af = first - jfirst; ak = ka - jka
	printf "ka-build around makepkg, baseline seen:  %6.1f s = %.1f %% of its makepkg job (goal <= 3 %%)  [%s]\n", ak, ak / jka * 100, (ak / jka <= 0.03) ? "met" : "MISSED"
	printf "ka-build around makepkg, first build:    %6.1f s = %.1f %% (archive the baseline, send it to the build host: once)\n", af, af / jfirst * 100
	printf "whole builds: ka-build first %.1f s, seen %.1f s, bare makepkg %s (cold ccache; includes other load on the machine)\n", first, ka, (bare == "") ? "left out" : sprintf("%.1f s", bare)
}'
awk -v cold="$t_ka" -v warmclean="$t_warmclean" -v incr="$t_warm" -v config="$t_config" 'BEGIN {
	printf "\n%-52s %8s %9s\n", "ka-build of planck (one run, side by side)", "seconds", "of cold"
	printf "%-52s %8.1f %8.1f %%\n", "cold: clean tree, cold ccache", cold, 100
	printf "%-52s %8.1f %8.1f %%\n", "clean tree, warm ccache", warmclean, warmclean / cold * 100
	printf "%-52s %8.1f %8.1f %%  (goal <= 10 %%) [%s]\n", "incremental after a one-patch change", incr, incr / cold * 100, (incr / cold <= 0.10) ? "met" : "MISSED"
	printf "%-52s %8.1f %8.1f %%  (fell back to clean)\n", "after a config change (CONFIG_DUMMY=y)", config, config / cold * 100
}'
printf 'reproducibility (ka-build --check-reproducible, %s s): %s\n' "$t_repro" "$repro"
[[ $repro == reproducible* ]]
