#!/usr/bin/env bats
# ka-site: the fleet at a glance, opened in headless Chromium. A synthetic
# state (tests/support/site-state) with blocks, drift, failed bars and a failed
# build; the pages are checked through the DOM Chromium builds, and
# screenshots are kept under tests/artifacts/site/ (git-ignored).

load helpers
bats_require_minimum_version 1.5.0

setup() {
	setup_fleet
	export KA_NOW=2026-03-01T10:00:00Z
	series driver/wifi/lock besser
	printf 'probes:\n  - %s\n' "'procfs /proc/sys/kernel/ostype == Linux'" \
		>>"$KA_REPO/patches/driver/wifi/lock/series.yaml"
	change drivers/net/wifi.c 20 'line 20' 'line 20 /* locked */' \
		>"$KA_REPO/patches/driver/wifi/lock/0001-lock.diff"
	host ohm "driver/wifi"
	printf 'host: boltzmann\nrole: infra\narch: x86_64\ndistro: debian\n' >"$KA_REPO/fleet/boltzmann.yaml"
	ka-promote ohm >/dev/null
	"$BATS_TEST_DIRNAME/../support/site-state" ohm boltzmann
	ART=$BATS_TEST_DIRNAME/../artifacts/site
	mkdir -p "$ART"
}

teardown() {
	teardown_fleet
}

# browser: Debian's chromium; the test fails (never skips) without it
browser() {
	command -v chromium >/dev/null || {
		echo "chromium is not installed: run scripts/debian-deps (as root) to install it" >&2
		return 1
	}
	timeout 60 chromium --headless --no-sandbox --disable-gpu --user-data-dir="$T/chromium" \
		--no-first-run --disable-extensions "$@" 2>>"$T/chromium.log"
}

# dom PAGE: the DOM Chromium builds of the site's PAGE
dom() {
	browser --dump-dom "file://$T/site/$1"
}

# rows: each table row of the DOM on stdin as "cell | cell | ...", the text
# a reader sees (tags dropped, entities decoded)
rows() {
	python3 -c '
import sys
from html.parser import HTMLParser
class Rows(HTMLParser):
    def __init__(self):
        super().__init__(); self.row = None; self.cell = None
    def handle_starttag(self, tag, attrs):
        if tag == "tr": self.row = []
        elif tag in ("td", "th") and self.row is not None: self.cell = []
        elif tag == "br" and self.cell is not None: self.cell.append(" ")
    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.row.append(" ".join("".join(self.cell).split())); self.cell = None
        elif tag == "tr" and self.row is not None:
            print(" | ".join(self.row)); self.row = None
    def handle_data(self, data):
        if self.cell is not None: self.cell.append(data)
Rows().feed(sys.stdin.read())'
}

@test "the fleet page in Chromium shows blocks, drift, failed bars and the failed build" {
	run --separate-stderr ka-site --out "$T/site"
	[ "$status" -eq 0 ]
	[ "$output" = "wrote $T/site/index.html (generation $(basename "$(readlink "$T/site")"): 2 host(s), 2 job(s))" ]
	dom index.html >"$T/index.dom"
	rows <"$T/index.dom" >"$T/index.rows"
	cat "$T/index.rows"
	ohm=$(grep '^ohm |' "$T/index.rows")
	[[ $ohm == "ohm | dev | aarch64 | 6.1.158-1 2026-02-27 08:00:00Z (2d ago) |"* ]]
	[[ $ohm == *"6.1.160-1 run ka-install ohm"* ]]                 # pending install
	[[ $ohm == *"| ⚠ DRIFTED |"* ]]
	[[ $ohm == *"⚠ regression, 0m ago: triage, then ka-block lift"* ]]
	[[ $ohm == *"⚠ host-drifted, 0m ago: ka-install ohm converges it"* ]]
	[[ $ohm == *"bar 1 ✓ pass, bar 4 ✗ FAIL 2026-03-01 09:00:00Z (1h ago)"* ]]
	[[ $ohm == *"⚠ last build FAILED ohm-20260301T080000Z-0123abcd"* ]]
	[[ $ohm == *"✗ FAIL 5 run(s), 1 failed"* ]]                     # burn-in
	grep -q '^boltzmann | infra | x86_64 |' "$T/index.rows"
	grep -q '^ohm-20260301T080000Z-0123abcd | ohm | boltzmann | ✗ FAIL (exit 2) |' "$T/index.rows"
	# semantic tables: scoped headers; the page fits a phone
	grep -q '<th scope="col">Host</th>' "$T/index.dom"
	grep -q '<meta name="viewport" content="width=device-width, initial-scale=1">' "$T/index.dom"
	run ! grep -q '<script' "$T/index.dom"
	browser --screenshot="$ART/fleet.png" --window-size=1280,900 "file://$T/site/index.html"
	browser --screenshot="$ART/fleet-phone.png" --window-size=390,844 "file://$T/site/index.html"
	[ -s "$ART/fleet.png" ] && [ -s "$ART/fleet-phone.png" ]
	echo "# screenshots: $(cd "$ART" && pwd)" >&3
}

@test "the host, job and matrix pages in Chromium" {
	ka-site --out "$T/site" >/dev/null
	dom hosts/ohm.html | rows >"$T/host.rows"
	cat "$T/host.rows"
	grep -q '^install-ohm-20260227T080000Z | 0123456789abcdef | linux-ohm 6.1.158-1 | ✓ pass installed' "$T/host.rows"
	run ! grep -q '^driver/wifi/lock | besser | ⚠ BLOCKED' "$T/host.rows"
	grep -q '^driver/wifi/lock | besser | ✓ promoted | procfs /proc/sys/kernel/ostype == Linux: ✗ FAIL (saw <b>Plan9</b>)$' "$T/host.rows"
	grep -q '^block-regression-' "$T/host.rows" || grep -q '| ⚠ regression |' "$T/host.rows"
	dom hosts/ohm.html >"$T/host.dom"
	grep -q 'Last pass: <time datetime="2026-02-28T00:00:00Z">' "$T/host.dom"
	grep -q 'First failure of the current streak: <time datetime="2026-02-28T12:00:00Z">' "$T/host.dom"
	[ "$(grep -o '<li title="[^"]*">[^<]*</li>' "$T/host.dom" | sed 's/<[^>]*>//g' | tr '\n' ' ')" = "✓ pass ✓ pass ✗ FAIL ✗ FAIL " ]

	failed=ohm-20260301T080000Z-0123abcd ok=ohm-20260228T100000Z-0123abcd
	dom "jobs/$failed.html" >"$T/failed.dom"
	rows <"$T/failed.dom" >"$T/failed.rows"
	grep -q '^Build host | boltzmann$' "$T/failed.rows"
	grep -q '^Native or cross | cross: aarch64 on x86_64$' "$T/failed.rows"
	grep -q '^Result | ✗ FAIL (exit 2)$' "$T/failed.rows"
	grep -q '^Duration | 12m 34s$' "$T/failed.rows"
	# the log line with HTML in it is text, not markup
	grep -q "error: &lt;script&gt;alert('x')&lt;/script&gt; undeclared" "$T/failed.dom"
	grep -q "<a href=\"$failed/build.log.txt\">the whole log</a>" "$T/failed.dom"
	cmp "$T/site/jobs/$failed/build.log.txt" "$KA_ROOT/logs/boltzmann/$failed/build.log"
	browser --screenshot="$ART/job.png" --window-size=1280,900 "file://$T/site/jobs/$failed.html"

	dom "jobs/$ok.html" | rows >"$T/ok.rows"
	grep -q "^linux-ohm-6.1.160-1-aarch64.pkg.tar.zst | 14 | $(b2sum <<<'package bytes' | cut -d' ' -f1)\$" "$T/ok.rows"
	grep -q '^1 | patches/driver/wifi/lock/0001-lock.diff | driver/wifi/lock | besser$' "$T/ok.rows"

	dom matrix.html | rows >"$T/matrix.rows"
	grep -q '^Series | Campaign | ohm$' "$T/matrix.rows"
	grep -q '^driver/wifi/lock | besser | ✓ promoted$' "$T/matrix.rows"
	browser --screenshot="$ART/matrix.png" --window-size=800,600 "file://$T/site/matrix.html"
}

@test "the demo fleet's site in Chromium: every example host, nothing promoted yet" {
	mkdir -p "$T/demo-root"
	run --separate-stderr env -u KA_NOW ka-site --repo "$BATS_TEST_DIRNAME/../.." --root "$T/demo-root" --out "$T/site"
	[ "$status" -eq 0 ]
	dom index.html | rows >"$T/demo.rows"
	for h in ampere boltzmann curie fermi fresnel hertz higgs ohm; do
		grep -q "^$h | " "$T/demo.rows"
	done
	dom matrix.html | rows | grep -q '^Series | Campaign | ampere | curie | fresnel | higgs | ohm$'
	browser --screenshot="$ART/demo-fleet.png" --window-size=1280,900 "file://$T/site/index.html"
}

@test "a corrupt state file is an error row naming it; the rest is still shown" {
	printf '{ not json' >"$KA_ROOT/hosts/ohm/installed.json"
	printf '[]' >"$KA_ROOT/hosts/ohm/verify/history/20260301T093000Z.json"
	run --separate-stderr ka-site --out "$T/site"
	[ "$status" -eq 3 ]
	[[ $stderr == *"ka-site: error: installed record is corrupt"*"$KA_ROOT/hosts/ohm/installed.json"* ]]
	[[ $output == *"2 unreadable state file(s)"* ]]
	dom index.html | rows >"$T/index.rows"
	grep -q "^error: installed record is corrupt: .*repair or remove $KA_ROOT/hosts/ohm/installed.json\$" "$T/index.rows"
	grep -q "^error: verify report is corrupt: .*$KA_ROOT/hosts/ohm/verify/history/20260301T093000Z.json\$" "$T/index.rows"
	grep -q '^ohm | dev | aarch64 | ? unreadable |' "$T/index.rows"
	# the other fields and pages are still there
	grep -q '| ⚠ DRIFTED |' "$T/index.rows"
	[ -f "$T/site/hosts/ohm.html" ]
}

@test "host names and log lines with HTML in them are escaped" {
	cp "$KA_REPO/fleet/boltzmann.yaml" "$KA_REPO/fleet/a<b>&c.yaml"
	run --separate-stderr ka-site --out "$T/site"
	[ "$status" -eq 3 ]
	grep -q 'a&lt;b&gt;&amp;c' "$T/site/index.html"
	run ! grep -q 'a<b>' "$T/site/index.html"
	run ! grep -rq '<script>' "$T/site/"*.html "$T/site/jobs/"*.html
	grep -q '&lt;script&gt;' "$T/site/jobs/ohm-20260301T080000Z-0123abcd.html"
	# the Plan9 probe value from the verify report
	grep -q '&lt;b&gt;Plan9&lt;/b&gt;' "$T/site/hosts/ohm.html"
	dom index.html | rows | grep -q '^a<b>&c | '
}

@test "the same state gives the same bytes, and unchanged state writes nothing" {
	ka-site --out "$T/one" >/dev/null
	ka-site --out "$T/two" >/dev/null
	diff -r "$T/one/" "$T/two/"
	[ "$(readlink "$T/one")" = ".one.generations/$(basename "$(readlink "$T/two")")" ]
	run ka-site --out "$T/one"
	[ "$status" -eq 0 ]
	[[ $output == "unchanged: $T/one/index.html (generation "* ]]
	# without KA_NOW the ages count to the newest time in the state, not the clock
	unset KA_NOW
	ka-site --out "$T/three" >/dev/null
	sleep 1
	ka-site --out "$T/four" >/dev/null
	diff -r "$T/three/" "$T/four/"
}

@test "a new generation is swapped in by one rename and leaves no temp folders" {
	ka-site --out "$T/site" >/dev/null
	first=$(readlink "$T/site")
	ka-block file --kind host-changed --host ohm --title "ohm's host key changed" >/dev/null
	ka-site --out "$T/site" >/dev/null
	second=$(readlink "$T/site")
	[ "$first" != "$second" ]
	[ -L "$T/site" ]
	grep -q 'host-changed' "$T/site/index.html"
	ka-block lift "$(ka-block list | jq -r 'select(.block == "host-changed") | .id')" --reason test >/dev/null
	ka-site --out "$T/site" >/dev/null
	# the live generation and the one before it; no temp folders, no temp links
	[ "$(find "$T/.site.generations" -mindepth 1 -maxdepth 1 | wc -l)" -eq 2 ]
	[ -z "$(find "$T/.site.generations" -mindepth 1 -maxdepth 1 -name '.*')" ]
	[ -z "$(find "$T" -maxdepth 1 -name '.site.tmp*')" ]
	[ -d "$T/.site.generations/${second#*/}" ]
	# a folder with content is never replaced
	mkdir "$T/www" && touch "$T/www/keep"
	run --separate-stderr ka-site --out "$T/www"
	[ "$status" -eq 2 ]
	[[ $stderr == *"$T/www is a folder, not a symlink"* ]]
	[ -f "$T/www/keep" ]
}

@test "KA_SITE: a verb's real run renders the site when it exits; a dry run does not; a site that cannot be written is a warning" {
	export KA_SITE=$T/live
	ka-promote --dry-run ohm >/dev/null
	[ ! -e "$T/live" ]
	ka-block file --kind host-changed --host ohm --title "ohm's host key changed" >/dev/null
	run --separate-stderr ka-promote ohm
	[ "$status" -eq 0 ]
	[ -L "$T/live" ]
	grep -q 'host-changed' "$T/live/index.html"
	# a site that cannot be written: the verb's status is its own, the warning says why
	mkdir "$T/www" && touch "$T/www/keep"
	KA_SITE=$T/www run --separate-stderr ka-promote ohm
	[ "$status" -eq 0 ]
	[[ $stderr == *"ka-promote: warning: the site $T/www was not refreshed"*"the verb itself exited 0"* ]]
	[ -f "$T/www/keep" ]
	# set but empty is a mistake, said before anything runs
	KA_SITE='' run --separate-stderr ka-promote ohm
	[ "$status" -eq 2 ]
	[[ $stderr == *"KA_SITE is set but empty"* ]]
}
