#!/usr/bin/env bash
# gen-synth.sh OUTDIR: a synthetic fleet for the scale benchmark.
#
# Writes, under OUTDIR (which must not exist yet or be empty):
#   synth-1.0.tar.gz        the baseline: FILES small C-like files (100+ lines each)
#   repo/patches/...        SERIES series of PER_SERIES patches each, spread
#                           over SERIES/5 scopes (5 series per scope)
#   repo/fleet/hNN.yaml     HOSTS host manifests
#
# Every series owns FILES/SERIES files of its own; each of its patches replaces
# one line in its own region of one of them (3 lines of context on each side,
# no line count change), so any subset of series applies in any order, and no
# two campaigns touch the same lines.
#
# Scopes: the first CORE scopes (soc/core/cNN) are taken by every host; the
# other ones (driver/dNN, subsystem/net/sNN) are taken in overlapping windows
# of EXTRA scopes, one window per host, so hosts share a common core plus
# a few scopes with their neighbours.
#
# Sizes come from the environment (defaults: the brief's 10,000 patches, 50 hosts):
#   SYNTH_FILES=2000 SYNTH_SERIES=500 SYNTH_PER_SERIES=20 SYNTH_HOSTS=50
#   SYNTH_CORE=20 SYNTH_EXTRA=8
set -euo pipefail

out=${1:?usage: gen-synth.sh OUTDIR}
files=${SYNTH_FILES:-2000}
series=${SYNTH_SERIES:-500}
per_series=${SYNTH_PER_SERIES:-20}
hosts=${SYNTH_HOSTS:-50}
core=${SYNTH_CORE:-20}
extra=${SYNTH_EXTRA:-8}

((files % series == 0)) || {
	echo "gen-synth: SYNTH_FILES must be a multiple of SYNTH_SERIES" >&2
	exit 2
}
((series % 5 == 0)) || {
	echo "gen-synth: SYNTH_SERIES must be a multiple of 5" >&2
	exit 2
}
nscopes=$((series / 5))
((core < nscopes && extra <= nscopes - core)) || {
	echo "gen-synth: SYNTH_CORE + SYNTH_EXTRA must not exceed SYNTH_SERIES/5" >&2
	exit 2
}

mkdir -p "$out/src/synth-1.0" "$out/repo/fleet" "$out/repo/patches"
out=$(cd "$out" && pwd)

# One awk program makes every folder name first (mkdir in one go), then the
# files: forking per file would dominate the run time.
gen() {
	awk -v mode="$1" -v out="$out" -v files="$files" -v series="$series" \
		-v per_series="$per_series" -v hosts="$hosts" -v core="$core" \
		-v extra="$extra" -v nscopes="$nscopes" '
function scope(i,   e) {
	if (i < core) return sprintf("soc/core/c%02d", i)
	e = i - core
	if (e % 2 == 0) return sprintf("driver/d%02d", e / 2)
	return sprintf("subsystem/net/s%02d", (e - 1) / 2)
}
function fpath(f) { return sprintf("d%02d/f%05d.c", int(f / 100), f) }
function line(f, l) { return sprintf("int f%05d_l%03d = %d;", f, l, l) }
BEGIN {
	fps = files / series                      # files per series
	regions = int((per_series + fps - 1) / fps)
	nlines = 20 * regions + 10
	if (mode == "dirs") {
		for (d = 0; d <= int((files - 1) / 100); d++)
			printf "%s/src/synth-1.0/d%02d\n", out, d
		for (s = 0; s < series; s++)
			printf "%s/repo/patches/%s/s%03d\n", out, scope(int(s / 5)), s
		exit
	}
	# the baseline
	for (f = 0; f < files; f++) {
		p = out "/src/synth-1.0/" fpath(f)
		printf "/* synthetic file %d */\n", f > p
		for (l = 2; l <= nlines; l++) print line(f, l) > p
		close(p)
	}
	# the patch tree
	for (s = 0; s < series; s++) {
		sc = scope(int(s / 5))
		dir = sprintf("%s/repo/patches/%s/s%03d", out, sc, s)
		y = dir "/series.yaml"
		printf "scope: %s\ncampaign: camp-%03d\norigin: \"synth#%d\"\n", sc, s, s > y
		close(y)
		for (k = 0; k < per_series; k++) {
			f = s * fps + (k % fps)
			n = 10 + 20 * int(k / fps)           # the line this patch replaces
			fp = fpath(f)
			p = sprintf("%s/%04d-synth-f%05d-line-%03d.patch", dir, k + 1, f, n)
			printf "From %040d Mon Sep 17 00:00:00 2001\n", 0 > p
			printf "From: Bench <bench@example.invalid>\n" > p
			printf "Date: Thu, 1 Jan 1970 00:00:00 +0000\n" > p
			printf "Subject: [PATCH %d/%d] synth: f%05d: patch line %d\n\n", k + 1, per_series, f, n > p
			# a body of varying length, so patch sizes vary as real ones do
			for (b = 0; b < (s * 7 + k * 13) % 9; b++)
				printf "Body line %d of the message of series %d patch %d.\n", b, s, k > p
			printf "\nSigned-off-by: Bench <bench@example.invalid>\n---\n" > p
			printf " %s | 2 +-\n 1 file changed, 1 insertion(+), 1 deletion(-)\n\n", fp > p
			printf "diff --git a/%s b/%s\n--- a/%s\n+++ b/%s\n", fp, fp, fp, fp > p
			printf "@@ -%d,7 +%d,7 @@\n", n - 3, n - 3 > p
			for (l = n - 3; l < n; l++) print " " line(f, l) > p
			print "-" line(f, n) > p
			printf "+int f%05d_l%03d = %d; /* series %d patch %d */\n", f, n, -n, s, k + 1 > p
			for (l = n + 1; l <= n + 3; l++) print " " line(f, l) > p
			printf "%s", "-- \n2.47.3\n\n" > p
			close(p)
		}
	}
	# the fleet: every host takes the core scopes and a window of extras
	nextra = nscopes - core
	for (h = 0; h < hosts; h++) {
		p = sprintf("%s/repo/fleet/h%02d.yaml", out, h)
		list = ""
		for (i = 0; i < core; i++) list = list (i ? ", " : "") scope(i)
		start = (hosts > 1) ? int(h * nextra / hosts) : 0
		for (j = 0; j < extra; j++) list = list ", " scope(core + (start + j) % nextra)
		printf "host: h%02d\nrole: dev\narch: aarch64\ndistro: debian\n", h > p
		printf "kernel:\n  pkgbase: linux-h%02d\n  suffix: h%02d\n", h, h > p
		printf "  baseline: { tarball: %s/synth-1.0.tar.gz }\n", out > p
		printf "scopes: [%s]\ninclude: []\nexclude: []\n", list > p
		close(p)
	}
}'
}

gen dirs | xargs mkdir -p
gen files
tar -czf "$out/synth-1.0.tar.gz" -C "$out/src" synth-1.0
rm -rf -- "$out/src"
