# lib.sh: timing and reporting helpers for tests/bench/run.sh (sourced).
# shellcheck shell=bash
#
# Needs: $bench_res (a folder for result files) and $bench_log (a log file).
# Every measurement leaves "$bench_res/<id>.txt" holding one line:
#   mean stddev median min max runs        (seconds)
# measured with hyperfine when it is installed (and KA_BENCH_HYPERFINE is not 0), else with a bash loop over
# EPOCHREALTIME (the same statistics, computed with awk).

have() { command -v "$1" >/dev/null 2>&1; }

# use_hyperfine: hyperfine is installed and not turned off with
# KA_BENCH_HYPERFINE=0 (which runs the bash fallback, to check it still works)
use_hyperfine() { [[ ${KA_BENCH_HYPERFINE:-1} != 0 ]] && have hyperfine; }

bench_fail() {
	printf 'bench: error: %s\n' "$*" >&2
	if [[ -s ${bench_log:-} ]]; then
		printf -- '--- last lines of %s ---\n' "$bench_log" >&2
		tail -n 25 -- "$bench_log" >&2
	fi
	exit 1
}

# stats_of FILE: "mean stddev median min max n" of the numbers in FILE (one per line).
stats_of() {
	sort -g -- "$1" | awk '
		{ t[NR] = $1; s += $1 }
		END {
			if (NR == 0) { print "0 0 0 0 0 0"; exit }
			m = s / NR
			for (i = 1; i <= NR; i++) v += (t[i] - m) ^ 2
			sd = (NR > 1) ? sqrt(v / (NR - 1)) : 0
			med = (NR % 2) ? t[(NR + 1) / 2] : (t[NR / 2] + t[NR / 2 + 1]) / 2
			printf "%.6f %.6f %.6f %.6f %.6f %d\n", m, sd, med, t[1], t[NR], NR
		}'
}

# loop_time RUNS PREPARE CMD OUTFILE: the bash fallback; one wall time per line.
loop_time() {
	local runs=$1 prepare=$2 cmd=$3 out=$4 i t0 t1
	: >"$out"
	for ((i = 0; i < runs; i++)); do
		if [[ -n $prepare ]]; then
			bash -c "$prepare" >>"$bench_log" 2>&1 || return 1
		fi
		t0=$EPOCHREALTIME
		bash -c "$cmd" >>"$bench_log" 2>&1 || return 1
		t1=$EPOCHREALTIME
		awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.6f\n", b - a }' >>"$out"
	done
}

# measure ID RUNS WARMUP PREPARE CMD: time the bash command line CMD.
# PREPARE (may be empty) runs before every timed run and is not timed.
measure() {
	local id=$1 runs=$2 warmup=$3 prepare=$4 cmd=$5
	printf '\n### %s: %s\n' "$id" "$cmd" >>"$bench_log"
	if use_hyperfine; then
		local args=(--shell=bash --style basic --runs "$runs" --warmup "$warmup"
			--export-json "$bench_res/$id.json")
		if [[ -n $prepare ]]; then
			args+=(--prepare "$prepare")
		fi
		hyperfine "${args[@]}" "set -o pipefail; $cmd" >>"$bench_log" 2>&1 ||
			bench_fail "$id failed: $cmd"
		jq -r '.results[0].times[]' "$bench_res/$id.json" >"$bench_res/$id.times"
	else
		# warm-up runs get the prepare step too, as hyperfine gives them: a
		# command that changes its input (applying patches) needs it every time
		loop_time "$warmup" "$prepare" "set -o pipefail; $cmd" "$bench_res/$id.warmup" ||
			bench_fail "$id failed: $cmd"
		loop_time "$runs" "$prepare" "set -o pipefail; $cmd" "$bench_res/$id.times" ||
			bench_fail "$id failed: $cmd"
	fi
	stats_of "$bench_res/$id.times" >"$bench_res/$id.txt"
}

# measure_each ID RUNS WARMUP CMD NAME...: time CMD once per NAME, with {name}
# in CMD replaced by NAME; leaves "$bench_res/ID.each" (mean per NAME, one per
# line) and "$bench_res/ID.txt" (statistics of those means).
measure_each() {
	local id=$1 runs=$2 warmup=$3 cmd=$4 name
	shift 4
	printf '\n### %s: %s for %s names\n' "$id" "$cmd" "$#" >>"$bench_log"
	if use_hyperfine; then
		local list
		list=$(
			IFS=,
			printf '%s' "$*"
		)
		hyperfine --shell=bash --style basic --runs "$runs" --warmup "$warmup" \
			--export-json "$bench_res/$id.json" -L name "$list" "$cmd" >>"$bench_log" 2>&1 ||
			bench_fail "$id failed: $cmd"
		jq -r '.results[].mean' "$bench_res/$id.json" >"$bench_res/$id.each"
	else
		: >"$bench_res/$id.each"
		for name in "$@"; do
			loop_time "$runs" "" "${cmd//\{name\}/$name}" "$bench_res/$id.one" ||
				bench_fail "$id failed for $name: $cmd"
			stats_of "$bench_res/$id.one" | awk '{ print $1 }' >>"$bench_res/$id.each"
		done
	fi
	stats_of "$bench_res/$id.each" >"$bench_res/$id.txt"
}

# field ID N: field N of a result (1 mean, 2 stddev, 3 median, 4 min, 5 max, 6 runs).
field() { awk -v n="$2" '{ print $n }' "$bench_res/$1.txt"; }
mean() { field "$1" 1; }

# client_cpu ID: the mean user + system CPU of the timed command itself, as
# hyperfine measured it ("not measured" under the bash loop).
client_cpu() {
	if [[ -f $bench_res/$1.json ]]; then
		fmt_s "$(jq '.results[0] | .user + .system' "$bench_res/$1.json")"
	else
		printf 'not measured (hyperfine not installed)'
	fi
}

# fmt_s SECONDS: 12.3 ms / 1.23 s
fmt_s() {
	awk -v t="$1" 'BEGIN {
		if (t < 0.001) printf "%.0f us", t * 1e6
		else if (t < 1) printf "%.1f ms", t * 1000
		else printf "%.2f s", t }'
}

# describe ID: "12.3 ms ± 0.4 ms (median 12.1 ms, n=10)"
describe() {
	local m sd med n
	read -r m sd med _ _ n <"$bench_res/$1.txt"
	if ((n > 1)); then
		printf '%s ± %s (median %s, n=%s)' "$(fmt_s "$m")" "$(fmt_s "$sd")" "$(fmt_s "$med")" "$n"
	else
		printf '%s (n=1)' "$(fmt_s "$m")"
	fi
}

# ratio A B: A/B as "12.3x"
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.1fx", a / b; else print "inf" }'; }

# at_least A B GOAL: prints "met" when A/B >= GOAL, else "MISSED"
at_least() { awk -v a="$1" -v b="$2" -v g="$3" 'BEGIN { print (b > 0 && a / b >= g) ? "met" : "MISSED" }'; }

# at_most X LIMIT: prints "met" when X <= LIMIT, else "MISSED"
at_most() { awk -v x="$1" -v l="$2" 'BEGIN { print (x <= l) ? "met" : "MISSED" }'; }

# kb_to_mb KB: "12.3 MB"
kb_to_mb() { awk -v k="$1" 'BEGIN { printf "%.1f MB", k / 1024 }'; }

# Rows of the final summary: benchmark | ours | standard tool | ratio | goal | status
summary_rows=()
row() {
	local IFS='|'
	summary_rows+=("$*")
}

print_summary() {
	local r
	printf '\n== summary\n'
	{
		printf 'benchmark|ours|standard tool|ratio|goal|status\n'
		for r in "${summary_rows[@]}"; do
			printf '%s\n' "$r"
		done
	} | awk -F'|' '
		{ for (i = 1; i <= NF; i++) { c[NR, i] = $i; if (length($i) > w[i]) w[i] = length($i) } n = NR; nf = (NF > nf) ? NF : nf }
		END {
			for (r = 1; r <= n; r++) {
				line = ""
				for (i = 1; i <= nf; i++) line = line sprintf("%-" (w[i] + 2) "s", c[r, i])
				sub(/ +$/, "", line)
				print line
				if (r == 1) { line = ""; for (i = 1; i <= nf; i++) { d = ""; for (j = 0; j < w[i]; j++) d = d "-"; line = line d "  " } sub(/ +$/, "", line); print line }
			}
		}'
}
