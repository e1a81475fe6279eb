#!/usr/bin/env bats
# ka-import of mbox files as git format-patch, b4 and mutt write them: real
# binaries, a small synthetic fleet, nothing written on a refusal.

load helpers
bats_require_minimum_version 1.5.0

setup() {
	setup_fleet
	host fresnel "driver/wifi"
	cd "$KA_REPO" || return 1
}

teardown() {
	teardown_fleet
}

# mail FROM_LINE LINE: a format-patch mail changing line LINE of wifi.c,
# without a signature (--no-signature), so no blank line at its end
mail() {
	printf '%s\n' "$1"
	printf 'From: Example <example@kernel-agent.invalid>\nDate: Thu, 4 Jan 2024 10:00:00 +0000\n'
	printf 'Subject: [PATCH] change line %s\n\n---\n' "$2"
	printf 'diff --git a/drivers/net/wifi.c b/drivers/net/wifi.c\n'
	change drivers/net/wifi.c "$2" "line $2" "line $2 fixed"
}

@test "From x Mon Sep 17 separators without a blank line split, and the result applies" {
	{
		mail 'From x Mon Sep 17 00:00:00 2001' 3
		mail 'From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001' 6
		mail 'From git@z Thu Jan  1 00:00:00 1970' 9
	} >"$T/series.mbox"
	run --separate-stderr ka-import wifi "$T/series.mbox" --to driver/wifi
	[ "$status" -eq 0 ]
	[[ $output == *"imported 3 patches as patches/driver/wifi/wifi"* ]]
	[[ $output == *"applies on every host that takes it (fresnel)"* ]]
	d=patches/driver/wifi/wifi
	[ -f "$d/0001-change-line-3.patch" ] && [ -f "$d/0002-change-line-6.patch" ] && [ -f "$d/0003-change-line-9.patch" ]
	# the mails keep their bytes: put together, they are the mbox
	cat "$d"/000[123]-*.patch | cmp - "$T/series.mbox"
}

@test "an mboxrd from mutt keeps >From and From-the-manual text in its mail" {
	{
		printf 'From ann@example.org Fri Jan  5 10:00:00 2024\nReturn-Path: <ann@example.org>\n'
		printf 'From: Ann <ann@example.org>\nSubject: [PATCH] wifi: line 12\n\n'
		printf 'From the manual: line 12 is wrong.\n>From an escaped line\n\n---\n'
		change drivers/net/wifi.c 12 'line 12' 'line twelve'
		printf '\n'
	} >"$T/mutt.mbox"
	run --separate-stderr ka-import mutt "$T/mutt.mbox" --to driver/wifi --no-check
	[ "$status" -eq 0 ]
	[[ $output == *"imported 1 patches"* ]]
	cmp patches/driver/wifi/mutt/0001-wifi-line-12.patch "$T/mutt.mbox"
}

@test "a mail header block inside a patch is refused with mail number and line, nothing imported" {
	{
		mail 'From x Mon Sep 17 00:00:00 2001' 3
		# the next mail lost its From line
		mail 'From x Mon Sep 17 00:00:00 2001' 6 | tail -n +2
	} >"$T/lost.mbox"
	# the tree's files (not its lock under .ka-journal/) and their bytes
	files() { find . -path ./.ka-journal -prune -o -type f -print | sort | xargs b2sum; }
	before=$(files)
	run --separate-stderr ka-import lost "$T/lost.mbox" --to driver/wifi
	[ "$status" -eq 1 ]
	[[ $stderr == *"$T/lost.mbox:15: mail 1 of 1 (from line 1) holds a mail header block"* ]]
	[[ $stderr == *"separate the mails with a blank line and a \`From \` line"* ]]
	[[ $stderr == *"nothing was imported"* ]]
	[ ! -e patches/driver/wifi/lost ]
	[ "$(files)" = "$before" ]
}

@test "a b4 mbox with a cover letter: the cover letter is said and skipped, the patches imported" {
	{
		printf 'From git@z Thu Jan  1 00:00:00 1970\nFrom: Example <example@kernel-agent.invalid>\n'
		printf 'Subject: [PATCH v2 0/2] wifi: two lines\n\nWhy these two.\n\n'
		mail 'From git@z Thu Jan  1 00:00:00 1970' 3
		mail 'From git@z Thu Jan  1 00:00:00 1970' 6
	} >"$T/b4.mbox"
	run --separate-stderr ka-import wifi "$T/b4.mbox" --to driver/wifi
	[ "$status" -eq 0 ]
	[[ $stderr == *"$T/b4.mbox (mail 1 of 3), line 1: skipping the cover letter \"wifi: two lines\" (it holds no diff)"* ]]
	[[ $output == *"imported 2 patches as patches/driver/wifi/wifi"* ]]
	[ -f patches/driver/wifi/wifi/0001-change-line-3.patch ] && [ -f patches/driver/wifi/wifi/0002-change-line-6.patch ]
}

@test "a symbolic link out of the tree is refused with file and line, nothing imported" {
	fixtures=$BATS_TEST_DIRNAME/../fixtures/hostile-symlinks
	files() { find . -path ./.ka-journal -prune -o -type f -print | sort | xargs b2sum; }
	before=$(files)
	run --separate-stderr ka-import links "$fixtures/link-absolute.patch" --to driver/wifi
	[ "$status" -eq 1 ]
	[[ $stderr == *"link-absolute.patch, line 11: creates the symbolic link drivers/bes2600/firmware -> /lib/firmware: an absolute target"* ]]
	run --separate-stderr ka-import links "$fixtures/link-inside.patch" "$fixtures/write-through-link.patch" --to driver/wifi
	[ "$status" -eq 1 ]
	[[ $stderr == *"write-through-link.patch, line 12: drivers/bes2600/tools/evil.sh is beyond the symbolic link drivers/bes2600/tools"* ]]
	[[ $stderr == *"nothing was imported"* ]]
	[ "$(files)" = "$before" ]
}
