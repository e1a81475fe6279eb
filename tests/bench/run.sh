#!/usr/bin/env bash
# tests/bench/run.sh: `make bench`. Benchmarks of the promote stages against the
# standard tools, measured in the same run, with the ratios printed.
#
#  1. kernel: promote of one example host (fresnel, else the host with the most
#     patches) on the real baseline (Debian's linux-source-6.1, imported once
#     before timing) versus `git worktree add` + sequential `git apply`, versus
#     that `git apply` loop (and `patch -p1`) on an already checked-out tree;
#     and ka-check alone; and the kernel config check of that host (ka-kconfig)
#     warm and cold against the kernel's own `make olddefconfig` on the
#     checked-out tree, and of the whole example fleet warm.
#  3. probe: ka-probe fan-out to 20 hosts (20 loopback sshd, one per fleet
#     host, 10 probes each over real /proc and /sys) against one host; goal:
#     20 hosts take at most 2x the time of one. The servers run on the same
#     cores as ka-probe, so their CPU is printed too, with the floor it puts
#     under the fan-out (server CPU / cores).
#  4. site: ka-site renders the example fleet's site (every host with the
#     synthetic state of tests/support/site-state: blocks, drift, failed bars,
#     two build jobs with logs); goal: at most 0.5 s for a fresh generation.
#  2. scale: a generated fleet (10,000 patches in 500 series over 100 scopes,
#     50 hosts sharing a core of scopes): ka-resolve per host (time, peak RSS),
#     ka-resolve --all, and the fleet check in one pipeline versus one ka-check
#     per host.
#
# Needs the stage binaries and bin-wrappers on PATH (make bench sets it), git,
# jq, patch; hyperfine is used when installed (else a bash timing loop), GNU
# time (/usr/bin/time) for peak RSS when installed.
#
# Everything lives in one temp folder (TMPDIR, default /tmp), removed on exit;
# HOME points into it; nothing is written under the caller's $HOME.
#
# Knobs (environment):
#   KA_BENCH_PARTS      which parts to run (default "kernel scale probe site")
#   KA_BENCH_PROBE_HOSTS  hosts of part 3 (default 20)
#   KA_BENCH_HOST       the example host for part 1 (default fresnel, else the
#                       host with the most patches)
#   KA_BENCH_REPO       the fleet repository for part 1 (default: this checkout)
#   KA_BENCH_BASELINES  an existing KA_ROOT/baselines folder to reuse instead of
#                       importing the kernel tarball again (≈2 min); the bench
#                       adds and then prunes a git worktree of it
#   KA_BENCH_RUNS       runs of fast commands (default 10)
#   KA_BENCH_WT_RUNS    runs of `git worktree add` + apply (default 3)
#   KA_BENCH_SLOW_RUNS  runs of the fleet checks of part 2 (default 1)
#   SYNTH_*             sizes of the generated fleet (see gen-synth.sh)
set -euo pipefail

here=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
top=$(cd -- "$here/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

parts=${KA_BENCH_PARTS:-kernel scale probe site}
runs=${KA_BENCH_RUNS:-10}
wt_runs=${KA_BENCH_WT_RUNS:-3}
slow_runs=${KA_BENCH_SLOW_RUNS:-1}
fleet_repo=${KA_BENCH_REPO:-$top}

tools=(jq)
if [[ " $parts " == *" kernel "* || " $parts " == *" scale "* ]]; then
	tools+=(ka-resolve ka-baseline ka-check ka-concat ka-block ka-promote git patch)
fi
if [[ " $parts " == *" probe "* ]]; then
	tools+=(ka-probe)
fi
if [[ " $parts " == *" site "* ]]; then
	tools+=(ka-site ka-block ka-notice)
fi
for tool in "${tools[@]}"; do
	have "$tool" || bench_fail "$tool is not on PATH (run: make bench, or PATH=\$PWD/target/release:\$PWD/bin-wrappers:\$PATH $0)"
done
if use_hyperfine; then
	timer="hyperfine $(hyperfine --version | awk '{ print $2 }')"
else
	timer="bash loop (hyperfine not installed or KA_BENCH_HYPERFINE=0)"
fi
gnu_time=0
if [[ -x /usr/bin/time ]] && /usr/bin/time -f %M true >/dev/null 2>&1; then
	gnu_time=1
fi

# --- the scratch folder: everything below lives there ---------------------
real_home=${HOME:-}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ka-bench.XXXXXX")
tmp=$(cd -- "$tmp" && pwd -P)
if [[ -n $real_home && $real_home != / && $tmp/ == "$real_home"/* ]]; then
	rm -rf -- "$tmp"
	bench_fail "TMPDIR is inside \$HOME ($tmp); point TMPDIR elsewhere"
fi
shared_git_dir=""
probe_sshd_pids=()
kill_probe_sshds() {
	local pid
	for pid in "${probe_sshd_pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	probe_sshd_pids=()
}
cleanup() {
	kill_probe_sshds
	rm -rf -- "$tmp"
	if [[ -n $shared_git_dir ]]; then
		git --git-dir="$shared_git_dir" worktree prune 2>/dev/null || true
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

export HOME=$tmp/home GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1 LC_ALL=C
mkdir -p "$HOME"
bench_res=$tmp/results bench_log=$tmp/bench.log
mkdir -p "$bench_res"
: >"$bench_log"

q() { printf '%q' "$1"; }

printf 'kernel-agent bench — %s, %s cores, timer: %s\n' "$(date -u +%Y-%m-%dT%H:%MZ)" "$(nproc)" "$timer"

# ===========================================================================
# 1. the real kernel: one example host
# ===========================================================================
bench_kernel() {
	export KA_ROOT=$tmp/kroot KA_REPO=$fleet_repo
	mkdir -p "$KA_ROOT"
	local host=${KA_BENCH_HOST:-}
	if [[ -z $host ]]; then
		if [[ -f $fleet_repo/fleet/fresnel.yaml ]]; then
			host=fresnel
		else
			host=$(ka-resolve --all 2>>"$bench_log" | jq -rs 'max_by(.patches | length) | .host')
		fi
	fi
	ka-resolve "$host" >"$tmp/k-plan.json" 2>>"$bench_log" ||
		bench_fail "ka-resolve $host failed"
	local tarball
	tarball=$(jq -r '.baseline.spec.tarball // empty' "$tmp/k-plan.json")
	if [[ -n $tarball && ! -f $tarball ]]; then
		printf '\n== 1. kernel: skipped: %s baseline %s is not installed (apt-get install linux-source-6.1)\n' "$host" "$tarball"
		row "1. kernel promote" "skipped" "baseline missing" "" "" ""
		return 0
	fi
	if [[ -n ${KA_BENCH_BASELINES:-} ]]; then
		[[ -d $KA_BENCH_BASELINES ]] || bench_fail "KA_BENCH_BASELINES=$KA_BENCH_BASELINES is not a folder"
		ln -s -- "$(cd -- "$KA_BENCH_BASELINES" && pwd)" "$KA_ROOT/baselines"
	fi

	# the warm baseline: import once, untimed for the comparison
	local t0 t1
	t0=$EPOCHREALTIME
	ka-baseline <"$tmp/k-plan.json" >"$tmp/k-pinned.json" 2>>"$bench_log" ||
		bench_fail "ka-baseline failed for $host"
	t1=$EPOCHREALTIME
	local import_s git_dir commit npatches
	import_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
	git_dir=$(jq -r '.baseline.git_dir' "$tmp/k-pinned.json")
	commit=$(jq -r '.baseline.commit' "$tmp/k-pinned.json")
	npatches=$(jq '.patches | length' "$tmp/k-pinned.json")
	if [[ -n ${KA_BENCH_BASELINES:-} ]]; then
		shared_git_dir=$git_dir
	fi
	jq -r '.repo as $r | .patches[] | "\($r)/\(.path)"' "$tmp/k-pinned.json" >"$tmp/k-list"
	printf '\n== 1. kernel: promote %s (%s patches) on %s\n' "$host" "$npatches" "$(jq -r '.baseline.spec | .tarball // "\(.ref) of \(.git)"' "$tmp/k-pinned.json")"
	printf 'baseline import (once, not in the comparison): %s; commit %s\n' "$(fmt_s "$import_s")" "${commit:0:12}"

	# sanity: our stages agree the plan applies; a promote succeeds
	ka-check <"$tmp/k-pinned.json" >"$tmp/k-check.json" 2>>"$bench_log" ||
		bench_fail "ka-check says $host's plan does not apply cleanly"
	ka-promote "$host" >>"$bench_log" 2>&1 || bench_fail "ka-promote $host failed"

	local env_cmd
	env_cmd="KA_ROOT=$(q "$KA_ROOT") KA_REPO=$(q "$KA_REPO")"
	measure k-dry "$runs" 2 "" "$env_cmd ka-promote --dry-run $(q "$host") >/dev/null"
	measure k-promote "$runs" 2 "rm -rf -- $(q "$KA_ROOT/hosts")" \
		"$env_cmd ka-promote $(q "$host") >/dev/null"
	measure k-check "$runs" 2 "" "ka-check <$(q "$tmp/k-pinned.json") >/dev/null"

	# where a promote's time goes: each stage alone on the previous one's output
	local st=$tmp/k-stage
	ka-kconfig <"$tmp/k-check.json" >"$st.configured" 2>>"$bench_log" || bench_fail "ka-kconfig failed"
	ka-block sync <"$st.configured" >"$st.synced" 2>>"$bench_log" || bench_fail "ka-block sync failed"
	ka-concat --dry-run <"$st.synced" >"$st.preview" 2>>"$bench_log" || bench_fail "ka-concat --dry-run failed"
	measure k-st-resolve "$runs" 2 "" "$env_cmd ka-resolve $(q "$host") >/dev/null"
	measure k-st-baseline "$runs" 2 "" "$env_cmd ka-baseline <$(q "$tmp/k-plan.json") >/dev/null"
	measure k-st-kconfig "$runs" 2 "" "$env_cmd ka-kconfig <$(q "$tmp/k-check.json") >/dev/null"
	measure k-st-sync "$runs" 2 "" "$env_cmd ka-block sync <$(q "$st.configured") >/dev/null"
	measure k-st-concat "$runs" 2 "rm -rf -- $(q "$KA_ROOT/hosts")" \
		"$env_cmd ka-concat <$(q "$st.synced") >/dev/null"
	measure k-st-show "$runs" 2 "" "ka-show <$(q "$st.preview") >/dev/null"

	# (a) git worktree add + git apply loop; the previous tree is removed untimed
	local wt=$tmp/wt gd
	gd=$(q "$git_dir")
	measure k-wt "$wt_runs" 0 \
		"rm -rf -- $(q "$wt") && git --git-dir=$gd worktree prune" \
		"git --git-dir=$gd worktree add -q --detach $(q "$wt") $commit && $(q "$here/apply-loop.sh") git $(q "$wt") $(q "$tmp/k-list")"
	# (b) the loop alone on the checked-out tree, reset untimed before each run
	local reset
	reset="cd $(q "$wt") && git checkout -q -- . && git clean -fdq"
	measure k-apply "$runs" 1 "$reset" "$(q "$here/apply-loop.sh") git $(q "$wt") $(q "$tmp/k-list")"
	measure k-patch "$runs" 1 "$reset" "$(q "$here/apply-loop.sh") patch $(q "$wt") $(q "$tmp/k-list")"

	local ours dry
	ours=$(mean k-promote) dry=$(mean k-dry)
	printf '%-46s %s\n' "ka-promote $host (full, fresh hosts/):" "$(describe k-promote)"
	printf '%-46s %s\n' "ka-promote --dry-run $host:" "$(describe k-dry)"
	printf '%-46s %s\n' "ka-check alone (pinned plan):" "$(describe k-check)"
	local stages_sum
	stages_sum=$(awk -v a="$(mean k-st-resolve)" -v b="$(mean k-st-baseline)" -v c="$(mean k-check)" \
		-v g="$(mean k-st-kconfig)" -v d="$(mean k-st-sync)" -v e="$(mean k-st-concat)" -v f="$(mean k-st-show)" \
		'BEGIN { print a + b + c + g + d + e + f }')
	printf '%-46s resolve %s, baseline %s, check %s, kconfig %s, block sync %s, concat %s, show %s; sum %s, so the ka-promote script adds %s\n' \
		"stages alone (means):" "$(fmt_s "$(mean k-st-resolve)")" "$(fmt_s "$(mean k-st-baseline)")" \
		"$(fmt_s "$(mean k-check)")" "$(fmt_s "$(mean k-st-kconfig)")" "$(fmt_s "$(mean k-st-sync)")" "$(fmt_s "$(mean k-st-concat)")" \
		"$(fmt_s "$(mean k-st-show)")" "$(fmt_s "$stages_sum")" \
		"$(fmt_s "$(awk -v p="$(mean k-promote)" -v s="$stages_sum" 'BEGIN { d = p - s; print (d > 0) ? d : 0 }')")"
	printf '%-46s %s\n' "git worktree add + ${npatches}x git apply:" "$(describe k-wt)"
	printf '%-46s %s\n' "${npatches}x git apply on checked-out tree:" "$(describe k-apply)"
	printf '%-46s %s\n' "${npatches}x patch -p1 on checked-out tree:" "$(describe k-patch)"
	printf 'promote vs worktree+git apply: %s (goal >= 10x)  [%s]\n' \
		"$(ratio "$(mean k-wt)" "$ours")" "$(at_least "$(mean k-wt)" "$ours" 10)"
	printf 'promote vs git apply on checked-out tree: %s (goal >= 1x)  [%s]\n' \
		"$(ratio "$(mean k-apply)" "$ours")" "$(at_least "$(mean k-apply)" "$ours" 1)"
	printf 'promote --dry-run vs git apply on checked-out tree: %s\n' "$(ratio "$(mean k-apply)" "$dry")"
	printf 'ka-check vs git apply on checked-out tree: %s; vs patch -p1: %s\n' \
		"$(ratio "$(mean k-apply)" "$(mean k-check)")" "$(ratio "$(mean k-patch)" "$(mean k-check)")"

	row "1. promote $host vs worktree add + git apply" "$(fmt_s "$ours")" "$(fmt_s "$(mean k-wt)")" \
		"$(ratio "$(mean k-wt)" "$ours")" ">= 10x" "$(at_least "$(mean k-wt)" "$ours" 10)"
	row "1. promote $host vs git apply (checked out)" "$(fmt_s "$ours")" "$(fmt_s "$(mean k-apply)")" \
		"$(ratio "$(mean k-apply)" "$ours")" ">= 1x" "$(at_least "$(mean k-apply)" "$ours" 1)"
	row "1. promote --dry-run vs git apply (checked out)" "$(fmt_s "$dry")" "$(fmt_s "$(mean k-apply)")" \
		"$(ratio "$(mean k-apply)" "$dry")" "" ""
	row "1. ka-check vs git apply (checked out)" "$(fmt_s "$(mean k-check)")" "$(fmt_s "$(mean k-apply)")" \
		"$(ratio "$(mean k-apply)" "$(mean k-check)")" "" ""
	row "1. ka-check vs patch -p1 (checked out)" "$(fmt_s "$(mean k-check)")" "$(fmt_s "$(mean k-patch)")" \
		"$(ratio "$(mean k-patch)" "$(mean k-check)")" "" ""
	bench_config "$host" "$wt"
	# leave the kernel tree's disk space for part 2
	rm -rf -- "$wt"
	git --git-dir="$git_dir" worktree prune
}

# The kernel config check (part of 1): ka-kconfig for one host, warm (the
# kept result) and cold (conf runs; the Kconfig tree and conf are built),
# against the kernel's own `make olddefconfig` in a build folder of the
# checked-out tree WT (conf built there by a warm-up run); and the whole
# example fleet warm. Goals: one host warm <= 1 s, the fleet warm <= 5 s.
bench_config() {
	local host=$1 wt=$2 env_cmd
	env_cmd="KA_ROOT=$(q "$KA_ROOT") KA_REPO=$(q "$KA_REPO")"
	jq -e '.plan.config' "$tmp/k-check.json" >/dev/null || {
		row "1. config check $host" "skipped" "no kernel.config" "" "" ""
		return 0
	}
	have ka-kconfig || bench_fail "ka-kconfig is not on PATH"
	ka-kconfig <"$tmp/k-check.json" >"$tmp/k-config.json" 2>>"$bench_log" || bench_fail "ka-kconfig failed for $host"
	local commit arch karch cross input
	commit=$(jq -r '.plan.baseline.commit' "$tmp/k-config.json")
	arch=$(jq -r '.plan.config.arch' "$tmp/k-config.json")
	karch=$(jq -r '.config.arch' "$tmp/k-config.json")
	cross=""
	if [[ $arch != "$(uname -m)" ]] && have "$arch-linux-gnu-gcc"; then
		cross="CROSS_COMPILE=$arch-linux-gnu-"
	fi
	# the same input make olddefconfig gets: the merged request, as conf read it
	input=$tmp/k-config.input
	ka-resolve "$host" 2>>"$bench_log" | jq -r '.config | [.base // empty] + [.fragments[].path] | .[]' |
		while read -r f; do cat -- "$KA_REPO/$f"; echo; done >"$input"
	measure c-warm "$runs" 1 "" "$env_cmd ka-kconfig <$(q "$tmp/k-check.json") >/dev/null"
	measure c-cold "$runs" 1 "rm -rf -- $(q "$KA_ROOT/baselines/kconfig/$commit/results")" \
		"$env_cmd ka-kconfig <$(q "$tmp/k-check.json") >/dev/null"
	local obj=$tmp/k-obj
	mkdir -p "$obj"
	measure c-make "$runs" 1 "cp -- $(q "$input") $(q "$obj/.config")" \
		"make -s -C $(q "$wt") O=$(q "$obj") ARCH=$karch $cross olddefconfig >/dev/null"
	ka-resolve --all 2>>"$bench_log" | ka-baseline 2>>"$bench_log" | ka-check 2>>"$bench_log" >"$tmp/k-fleet.json" ||
		bench_fail "the example fleet's check failed"
	ka-kconfig <"$tmp/k-fleet.json" >/dev/null 2>>"$bench_log" || bench_fail "ka-kconfig of the example fleet failed"
	local nhosts
	nhosts=$(jq -s '[.[] | select(.plan.config)] | length' "$tmp/k-fleet.json")
	measure c-fleet "$runs" 1 "" "$env_cmd ka-kconfig <$(q "$tmp/k-fleet.json") >/dev/null"
	printf '%-46s %s\n' "ka-kconfig $host, warm (kept result):" "$(describe c-warm)"
	printf '%-46s %s\n' "ka-kconfig $host, cold (conf runs):" "$(describe c-cold)"
	printf '%-46s %s\n' "make olddefconfig (ARCH=$karch, checked out):" "$(describe c-make)"
	printf '%-46s %s\n' "ka-kconfig, example fleet ($nhosts hosts), warm:" "$(describe c-fleet)"
	row "1. config check $host warm vs make olddefconfig" "$(fmt_s "$(mean c-warm)")" "$(fmt_s "$(mean c-make)")" \
		"$(ratio "$(mean c-make)" "$(mean c-warm)")" "<= 1 s" "$(at_most "$(mean c-warm)" 1)"
	row "1. config check $host cold vs make olddefconfig" "$(fmt_s "$(mean c-cold)")" "$(fmt_s "$(mean c-make)")" \
		"$(ratio "$(mean c-make)" "$(mean c-cold)")" "" ""
	row "1. config check, example fleet ($nhosts hosts), warm" "$(fmt_s "$(mean c-fleet)")" "" "" "<= 5 s" "$(at_most "$(mean c-fleet)" 5)"
}

# ===========================================================================
# 2. scale: a generated fleet
# ===========================================================================
bench_scale() {
	local s=$tmp/synth t0 t1 gen_s
	t0=$EPOCHREALTIME
	"$here/gen-synth.sh" "$s" >>"$bench_log" 2>&1 || bench_fail "gen-synth.sh failed"
	t1=$EPOCHREALTIME
	gen_s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
	export KA_ROOT=$tmp/sroot KA_REPO=$s/repo
	mkdir -p "$KA_ROOT"

	local hosts=()
	mapfile -t hosts < <(find "$KA_REPO/fleet" -name '*.yaml' -printf '%f\n' | sed 's/\.yaml$//' | sort)
	local npatch nseries nscopes
	npatch=$(find "$KA_REPO/patches" -name '*.patch' | wc -l)
	nseries=$(find "$KA_REPO/patches" -name series.yaml | wc -l)
	nscopes=$(find "$KA_REPO/patches" -name series.yaml -printf '%h\n' | sed 's|/[^/]*$||' | sort -u | wc -l)

	# pin once (imports the generated tarball), check the fleet applies cleanly
	ka-resolve --all 2>>"$bench_log" | ka-baseline >"$tmp/s-pinned.json" 2>>"$bench_log" ||
		bench_fail "ka-resolve --all | ka-baseline failed on the generated fleet"
	mkdir -p "$tmp/s-each"
	awk -v d="$tmp/s-each" '{ f = sprintf("%s/%04d.json", d, NR); print > f; close(f) }' "$tmp/s-pinned.json"

	# distinct patches, hosts x patches, and distinct prefixes (the nodes of
	# the trie ka-check walks: the applications it really does)
	local counts
	counts=$(jq -r '"@@", (.patches[].path)' "$tmp/s-pinned.json" | awk '
		$0 == "@@" { node = 0; next }
		{ total++; seen[$0] = 1; k = node SUBSEP $0; if (!(k in id)) id[k] = ++n; node = id[k] }
		END { d = 0; for (p in seen) d++; print d, total, n }')
	local distinct total nodes
	read -r distinct total nodes <<<"$counts"

	printf '\n== 2. scale: generated fleet: %s patches in %s series over %s scopes, %s hosts (generated in %s)\n' \
		"$npatch" "$nseries" "$nscopes" "${#hosts[@]}" "$(fmt_s "$gen_s")"
	printf 'hosts x patches: %s; distinct patches: %s; distinct prefixes (trie nodes ka-check applies): %s\n' \
		"$total" "$distinct" "$nodes"

	# ka-resolve per host: time and peak RSS
	measure_each s-resolve 3 1 "ka-resolve {name} >/dev/null" "${hosts[@]}"
	local rss_line="peak RSS not measured (GNU time is not installed: apt-get install time)"
	local rss_max=""
	if ((gnu_time)); then
		: >"$tmp/s-resolve-rss"
		local h
		for h in "${hosts[@]}"; do
			/usr/bin/time -f %M -a -o "$tmp/s-resolve-rss" ka-resolve "$h" >/dev/null 2>>"$bench_log"
		done
		stats_of "$tmp/s-resolve-rss" >"$bench_res/s-resolve-rss.txt"
		rss_max=$(field s-resolve-rss 5)
		rss_line="peak RSS mean $(kb_to_mb "$(field s-resolve-rss 1)"), max $(kb_to_mb "$rss_max")"
	fi
	measure s-resolve-all 3 1 "" "ka-resolve --all >/dev/null"

	local per_host
	per_host=$(mean s-resolve)
	printf 'ka-resolve <host>: mean %s per host over %s hosts (slowest host %s); %s  [goal <= 0.3 s: %s]\n' \
		"$(fmt_s "$per_host")" "${#hosts[@]}" "$(fmt_s "$(field s-resolve 5)")" "$rss_line" "$(at_most "$per_host" 0.3)"
	printf 'ka-resolve --all (%s hosts): %s; %s per host\n' "${#hosts[@]}" "$(describe s-resolve-all)" \
		"$(fmt_s "$(awk -v t="$(mean s-resolve-all)" -v n="${#hosts[@]}" 'BEGIN { print t / n }')")"

	# the fleet check: one pipeline versus one ka-check per host
	local rss_fleet_cmd=""
	if ((gnu_time)); then
		rss_fleet_cmd="/usr/bin/time -f %M -o $(q "$tmp/s-fleet-rss")"
	fi
	measure s-fleet "$slow_runs" 0 "" \
		"ka-resolve --all 2>/dev/null | ka-baseline | $rss_fleet_cmd ka-check >/dev/null"
	measure s-each "$slow_runs" 0 "" "$(q "$here/check-each.sh") $(q "$tmp/s-each") $(q "$tmp/s-each-rss")"
	local fleet each
	fleet=$(mean s-fleet) each=$(mean s-each)
	printf 'fleet check: ka-resolve --all | ka-baseline | ka-check: %s\n' "$(describe s-fleet)"
	printf 'separate checks: %s x ka-check (one host each): %s; %s per host\n' "${#hosts[@]}" "$(describe s-each)" \
		"$(fmt_s "$(awk -v t="$each" -v n="${#hosts[@]}" 'BEGIN { print t / n }')")"
	if ((gnu_time)); then
		stats_of "$tmp/s-each-rss" >"$bench_res/s-each-rss.txt"
		printf 'ka-check peak RSS: fleet run %s; one host %s (max over hosts)\n' \
			"$(kb_to_mb "$(cat "$tmp/s-fleet-rss")")" "$(kb_to_mb "$(field s-each-rss 5)")"
	fi
	printf 'fleet check vs separate checks: %s (work: %s distinct prefixes vs %s hosts x patches, %s distinct patches)\n' \
		"$(ratio "$each" "$fleet")" "$nodes" "$total" "$distinct"

	row "2. ka-resolve <host> (mean of ${#hosts[@]})" "$(fmt_s "$per_host")" "" "" "<= 0.3 s" "$(at_most "$per_host" 0.3)"
	if [[ -n $rss_max ]]; then
		row "2. ka-resolve <host> peak RSS (max)" "$(kb_to_mb "$rss_max")" "" "" "" ""
	fi
	row "2. ka-resolve --all (${#hosts[@]} hosts)" "$(fmt_s "$(mean s-resolve-all)")" "" "" "" ""
	row "2. fleet check vs ${#hosts[@]} separate ka-check" "$(fmt_s "$fleet")" "$(fmt_s "$each") (${#hosts[@]}x ka-check)" \
		"$(ratio "$each" "$fleet")" "" ""
	row "2. patch applications: fleet trie vs hosts x patches" "$nodes" "$total" "$(ratio "$total" "$nodes")" "" "($distinct distinct patches)"
}

# ===========================================================================
# 3. probe fan-out: many hosts against one
# ===========================================================================
bench_probe() {
	have ka-probe || bench_fail "ka-probe is not on PATH"
	local n=${KA_BENCH_PROBE_HOSTS:-20} dir=$tmp/probe i h
	export KA_ROOT=$dir/root KA_REPO=$dir/repo
	# start-sshd needs a path every user can traverse (the login user reads authorized_keys)
	chmod 755 "$tmp"
	mkdir -p "$KA_REPO/fleet" "$KA_REPO/patches/subsystem/bench/probes" "$KA_ROOT" "$dir/srv"
	# One loopback sshd per fleet host (tests/sshd/start-sshd: its own port,
	# host key and config), on the same cores as ka-probe: their work per
	# connection is part of what is timed. As root they run as the
	# unprivileged kbuild, so sshd has no privilege separation and no PAM
	# session (start-sshd writes UsePAM no for a non-root server): the
	# leanest real server, so the ratio says more about ka-probe's fan-out
	# than about the servers. Every server accepts the first one's client
	# key, the one fleet identity. Each is killed by its PID at the end (and
	# by the EXIT trap on a failure).
	local as_kbuild=0
	if ((EUID == 0)) && id kbuild >/dev/null 2>&1; then
		as_kbuild=1
		chown kbuild: "$dir/srv"
	fi
	# Counting the servers' CPU: a listener's reaped children hold only the
	# pre-auth part, because sshd's per-connection monitor exits without
	# waiting for the session process, whose CPU (and its shell's, and od's)
	# then goes to init. Started as a child subreaper (prctl, kept across
	# exec; through perl, in every Debian), the listener adopts and reaps
	# those orphans, so its children's time is all the server did.
	local sshd_bin=/usr/sbin/sshd server_cpu_note="all of it: the listener is a child subreaper"
	if perl -e 'require "syscall.ph"; exit !defined &SYS_prctl' 2>/dev/null; then
		sshd_bin=$dir/sshd-subreaper
		cat >"$sshd_bin" <<'SH'
#!/bin/sh
# sshd as a child subreaper (PR_SET_CHILD_SUBREAPER = 36), for the bench's CPU count
exec perl -e 'require "syscall.ph"; syscall(&SYS_prctl, 36, 1, 0, 0, 0) == 0 or die "prctl: $!\n"; exec { $ARGV[0] } @ARGV or die "exec $ARGV[0]: $!\n"' /usr/sbin/sshd "$@"
SH
		chmod 755 "$sshd_bin"
	else
		server_cpu_note="pre-auth part only: perl's syscall.ph is missing, so the listener cannot adopt the sessions"
	fi
	local hosts=() ports=() srv identity="" pid port user
	: >"$KA_REPO/fleet/known_hosts"
	for ((i = 1; i <= n; i++)); do
		h=$(printf 'probe%02d' "$i")
		srv=$dir/srv/$h
		if ((as_kbuild)); then
			su kbuild -s /bin/bash -c "SSHD_BIN=$(q "$sshd_bin") $(q "$top/tests/sshd/start-sshd") $(q "$srv")" >"$dir/$h.env" 2>>"$bench_log" ||
				bench_fail "start-sshd (as kbuild) failed for $h"
		else
			SSHD_BIN=$sshd_bin "$top/tests/sshd/start-sshd" "$srv" >"$dir/$h.env" 2>>"$bench_log" ||
				bench_fail "start-sshd failed for $h"
		fi
		pid=$(sed -n 's/^SSHD_PID=//p' "$dir/$h.env")
		port=$(sed -n 's/^SSHD_PORT=//p' "$dir/$h.env")
		user=$(sed -n 's/^SSHD_USER=//p' "$dir/$h.env")
		[[ $pid =~ ^[0-9]+$ && $port =~ ^[0-9]+$ && -n $user ]] ||
			bench_fail "start-sshd printed no PID/port/user for $h (see $dir/$h.env)"
		probe_sshd_pids+=("$pid")
		if [[ -z $identity ]]; then
			identity=$srv/id_ed25519
		else
			cp "$identity.pub" "$srv/authorized_keys"
		fi
		cat "$srv/known_hosts" >>"$KA_REPO/fleet/known_hosts"
		hosts+=("$h") ports+=("$port")
	done
	export KA_SSH_IDENTITY=$identity
	cat >"$KA_REPO/patches/subsystem/bench/probes/series.yaml" <<'YAML'
scope: subsystem/bench
campaign: bench
probes:
  - 'procfs /proc/sys/kernel/ostype == Linux'
  - 'procfs /proc/sys/kernel/osrelease ~ ^[0-9]'
  - 'procfs /proc/sys/kernel/pid_max > 0'
  - 'procfs /proc/filesystems contains proc'
  - 'procfs /proc/sys/kernel/threads-max > 0'
  - 'sysfs /sys/kernel/uevent_seqnum >= 0'
  - 'file exists /dev/null'
  - 'file exists /sys/kernel'
  - 'file missing /sys/ka-bench-none'
  - 'procfs /proc/sys/vm/overcommit_memory <= 2'
YAML
	for ((i = 0; i < n; i++)); do
		h=${hosts[i]}
		printf 'host: %s\nrole: dev\narch: x86_64\ndistro: debian\nssh: { address: 127.0.0.1, port: %s, user: %s }\nverify: { heartbeat: 30s }\n' \
			"$h" "${ports[i]}" "$user" >"$KA_REPO/fleet/$h.yaml"
		mkdir -p "$KA_ROOT/hosts/$h/promoted"
		printf '{"kind":"ka.lock","version":1,"host":"%s","manifest":"fleet/%s.yaml","manifest_b2sum":"00","baseline":{"spec":{"tarball":"/x.tar.xz"},"commit":"c0"},"patches":[{"path":"patches/subsystem/bench/probes/0001-x.patch","scope":"subsystem/bench","series":"subsystem/bench/probes","campaign":"bench","size":1,"b2sum":"00"}],"cumulative":{"file":"cumulative.patch","size":0,"b2sum":"00"}}\n' \
			"$h" "$h" >"$KA_ROOT/hosts/$h/promoted/manifest.lock"
	done
	# every host must pass, or the timing means nothing
	ka-probe "${hosts[@]}" >"$dir/check.out" 2>>"$bench_log" || bench_fail "ka-probe of the bench hosts failed: $(head -c 2000 "$dir/check.out")"
	[[ $(jq -s 'map(select(.passed)) | length' "$dir/check.out") == "$n" ]] ||
		bench_fail "not every bench host passed: $(head -c 2000 "$dir/check.out")"
	measure p-one "$runs" 2 "" "ka-probe ${hosts[0]} >/dev/null"
	measure p-many "$runs" 2 "" "ka-probe ${hosts[*]} >/dev/null"
	# The standard tool on the same servers: one OpenSSH `ssh` per host, all at
	# once, reading the same files and testing the same paths (what a shell
	# loop with `&` over the fleet would do).
	cat >"$dir/ssh-fanout" <<SH
#!/usr/bin/env bash
# ssh-fanout PORT...: the bench's reads over OpenSSH, one ssh per port, in parallel
for port in "\$@"; do
	ssh -F /dev/null -p "\$port" -i $(q "$identity") -o IdentitiesOnly=yes -o IdentityAgent=none \\
		-o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=$(q "$KA_REPO/fleet/known_hosts") \\
		-o GlobalKnownHostsFile=/dev/null -o LogLevel=ERROR $(q "$user")@127.0.0.1 \\
		'cat /proc/sys/kernel/random/boot_id /proc/sys/kernel/osrelease /proc/sys/kernel/ostype /proc/sys/kernel/pid_max /proc/filesystems /proc/sys/kernel/threads-max /sys/kernel/uevent_seqnum /proc/sys/vm/overcommit_memory; test -e /dev/null; test -e /sys/kernel; test ! -e /sys/ka-bench-none' >/dev/null &
done
status=0
while ((\$# > 0)); do wait -n || status=1; shift; done
exit "\$status"
SH
	chmod +x "$dir/ssh-fanout"
	"$dir/ssh-fanout" "${ports[@]}" || bench_fail "the OpenSSH fan-out over the bench hosts failed"
	measure s-one "$runs" 2 "" "$(q "$dir/ssh-fanout") ${ports[0]}"
	measure s-many "$runs" 2 "" "$(q "$dir/ssh-fanout") ${ports[*]}"
	# The servers' CPU (each listener's own and its reaped children's user +
	# system time, /proc/PID/stat fields 14-17; see the subreaper above) over
	# 5 more fan-out runs (the clock ticks are 10 ms): with the servers on
	# ka-probe's cores, that CPU
	# divided by the cores is a floor no client can go under, whatever its
	# concurrency.
	local hz t0 t1 server_cpu cpu_runs=5
	hz=$(getconf CLK_TCK)
	server_ticks() {
		local p sum=0 f
		for p in "${probe_sshd_pids[@]}"; do
			read -ra f <"/proc/$p/stat"
			# fields after the "(comm)" one; comm is "sshd", no spaces
			sum=$((sum + f[13] + f[14] + f[15] + f[16]))
		done
		echo "$sum"
	}
	t0=$(server_ticks)
	for ((i = 0; i < cpu_runs; i++)); do
		ka-probe "${hosts[@]}" >/dev/null 2>>"$bench_log" || bench_fail "ka-probe failed"
	done
	# the listeners reap their connection children just after ka-probe ends
	sleep 0.2
	t1=$(server_ticks)
	server_cpu=$(awk -v a="$t0" -v b="$t1" -v hz="$hz" -v r="$cpu_runs" 'BEGIN { print (b - a) / hz / r }')
	local one many cores floor client
	one=$(mean p-one) many=$(mean p-many) cores=$(nproc)
	floor=$(awk -v c="$server_cpu" -v k="$cores" 'BEGIN { print c / k }')
	client=$(client_cpu p-many)
	local r
	r=$(awk -v a="$many" -v b="$one" 'BEGIN { print a / b }')
	printf '\n== 3. probe fan-out (%s hosts, 10 probes each, one loopback sshd per host)\n' "$n"
	printf 'ka-probe 1 host:   %s\n' "$(describe p-one)"
	printf 'ka-probe %s hosts: %s\n' "$n" "$(describe p-many)"
	printf '%s hosts / 1 host: %s (goal <= 2x)  [%s]\n' "$n" "$(ratio "$many" "$one")" "$(at_most "$r" 2)"
	local s_one s_many
	s_one=$(mean s-one) s_many=$(mean s-many)
	printf 'OpenSSH ssh, the same reads, 1 host:   %s\n' "$(describe s-one)"
	printf 'OpenSSH ssh, the same reads, %s hosts: %s (%s of its 1 host)\n' "$n" "$(describe s-many)" "$(ratio "$s_many" "$s_one")"
	printf 'server CPU (all %s sshd, %s): %s, %s per host; ka-probe CPU: %s (load now: %s)\n' \
		"$n" "$server_cpu_note" "$(fmt_s "$server_cpu")" "$(fmt_s "$(awk -v c="$server_cpu" -v n="$n" 'BEGIN { print c / n }')")" \
		"$client" "$(cut -d' ' -f1-3 /proc/loadavg)"
	printf 'floor from the co-located servers: %s CPU / %s cores = %s, i.e. %s of 1 host; the %s-host run is %s of that floor\n' \
		"$(fmt_s "$server_cpu")" "$cores" "$(fmt_s "$floor")" "$(ratio "$floor" "$one")" "$n" "$(ratio "$many" "$floor")"
	if awk -v r="$r" 'BEGIN { exit !(r > 2) }'; then
		printf 'goal missed by %s: with the servers on the same %s cores, their CPU alone needs %s (%s of 1 host)\n' \
			"$(awk -v r="$r" 'BEGIN { printf "%.0f%%", (r / 2 - 1) * 100 }')" "$cores" "$(fmt_s "$floor")" "$(ratio "$floor" "$one")"
	fi
	row "3. ka-probe $n hosts vs 1 host" "$(fmt_s "$many")" "$(fmt_s "$one") (1 host)" \
		"$(ratio "$many" "$one")" "<= 2x" "$(at_most "$r" 2)"
	row "3. server CPU floor ($n sshd / $cores cores)" "$(fmt_s "$floor")" "" "$(ratio "$floor" "$one")" "" ""
	row "3. ka-probe vs OpenSSH ssh, $n hosts" "$(fmt_s "$many")" "$(fmt_s "$s_many") (ssh x$n)" \
		"$(ratio "$s_many" "$many")" ">= 1x" "$(at_least "$s_many" "$many" 1)"
	kill_probe_sshds
}

# ===========================================================================
# 4. site: the example fleet's static site
# ===========================================================================
bench_site() {
	export KA_ROOT=$tmp/site-root KA_REPO=$fleet_repo KA_NOW=2026-03-01T10:00:00Z
	mkdir -p "$KA_ROOT"
	local hosts=() h
	mapfile -t hosts < <(find "$KA_REPO/fleet" -maxdepth 1 -name '*.yaml' -printf '%f\n' | sed 's/\.yaml$//' | sort)
	for h in "${hosts[@]}"; do
		"$top/tests/support/site-state" "$h" boltzmann >>"$bench_log" 2>&1 ||
			bench_fail "tests/support/site-state $h failed"
	done
	local site=$tmp/site
	# a fresh generation each run: the old one is removed untimed
	measure site "$runs" 1 "rm -rf -- $(q "$site") $(q "$tmp/.site.generations")" \
		"ka-site --out $(q "$site") >/dev/null"
	local t pages
	t=$(mean site)
	pages=$(find -L "$site" -name '*.html' | wc -l)
	printf '\n== 4. site: ka-site --out for the example fleet (%s hosts, %s pages, %s jobs with logs)\n' \
		"${#hosts[@]}" "$pages" "$(find "$KA_ROOT/jobs" -name '*.json' | wc -l)"
	printf 'ka-site (fresh generation): %s  [goal <= 0.5 s: %s]\n' "$(describe site)" "$(at_most "$t" 0.5)"
	row "4. ka-site, example fleet (${#hosts[@]} hosts)" "$(fmt_s "$t")" "" "" "<= 0.5 s" "$(at_most "$t" 0.5)"
	unset KA_NOW
}

for part in $parts; do
	case $part in
	kernel) bench_kernel ;;
	scale) bench_scale ;;
	probe) bench_probe ;;
	site) bench_site ;;
	*) bench_fail "unknown part $part in KA_BENCH_PARTS (kernel, scale, probe, site)" ;;
	esac
done

print_summary
printf "\n(ratio = standard tool time / our time; timer: %s)\n" "$timer"
