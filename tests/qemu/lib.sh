# shellcheck shell=bash
# lib.sh: helpers shared by the qemu test-host scripts (sourced, never run).
# Every wait here has a deadline and says what it waited for.

# die MESSAGE: the calling script's name, the message, exit 2
die() {
	echo "${0##*/}: $*" >&2
	exit 2
}

# note MESSAGE: progress on stderr (stdout is reserved for assignments)
note() {
	echo "${0##*/}: $*" >&2
}

# cache_root: the machine-wide cache of built kernels and images (reading a
# finished entry needs no write access; building one does). Its ccache/ is
# set up for sharing whenever we may write it (test_ccache).
cache_root() {
	local root=${KA_TEST_CACHE:-/var/cache/kernel-agent-tests}
	mkdir -p "$root" 2>/dev/null ||
		die "cannot create the test cache $root: run as root, or set KA_TEST_CACHE to a writable folder"
	root=$(cd "$root" && pwd)
	if [[ -w $root ]]; then test_ccache "$root"; fi
	echo "$root"
}

# test_ccache ROOT: ROOT/ccache, the machine's test ccache. build-kernel
# fills it (as root) when it builds the test boards' kernels, and the e2e
# build host (kbuild, makepkg over the loopback sshd; tests/e2e/lib.bash)
# builds the same configs through it. For the two to hit each other's
# objects: umask 000, so both may write, and sloppiness locale, because
# ccache hashes LANG and the ssh session has none while a test's shell may
# (seen: every object of curie's build missed the board kernel's entries,
# whose only difference was LANG=C.UTF-8).
test_ccache() {
	local dir=$1/ccache
	mkdir -p "$dir"
	if ! grep -qsx 'sloppiness = locale' "$dir/ccache.conf"; then
		printf 'umask = 000\nsloppiness = locale\n' >"$dir/ccache.conf"
		chmod -R a+rwX "$dir"
	fi
	# the e2e build host had a ccache of its own before (e2e-ccache): its
	# objects were hashed without a locale too, so fold them in once
	if [[ -d $1/e2e-ccache && ! -L $1/e2e-ccache ]]; then
		cp -a "$1/e2e-ccache/." "$dir/" && rm -rf "$1/e2e-ccache"
		printf 'umask = 000\nsloppiness = locale\n' >"$dir/ccache.conf"
		chmod -R a+rwX "$dir"
	fi
}

# with_cache_entry DIR BUILDER [ARGS...]: make DIR exactly once per machine.
# Concurrent callers serialise on DIR.lock (the holder's PID is written into
# it, so a waiter can say whom it waits for); BUILDER fills a temp folder next
# to DIR (passed as its last argument), which is renamed to DIR only when
# BUILDER succeeded, so a crash never leaves a half-built entry behind.
with_cache_entry() {
	local entry=$1 builder=$2
	shift 2
	[[ -d $entry ]] && return 0
	local lock=$entry.lock fd wait_s=${KA_TEST_CACHE_LOCK_TIMEOUT:-5400}
	{ exec {fd}>>"$lock"; } 2>/dev/null ||
		die "cannot write $lock to build ${entry##*/}: run as root, or set KA_TEST_CACHE to a writable folder"
	if ! flock -n "$fd"; then
		note "waiting up to ${wait_s}s for another builder of ${entry##*/} (holder: $(cat "$lock" 2>/dev/null || echo unknown))"
		flock -w "$wait_s" "$fd" ||
			die "gave up after ${wait_s}s waiting for the cache lock $lock (holder: $(cat "$lock" 2>/dev/null || echo unknown))"
	fi
	printf 'pid %s on %s since %s\n' "$$" "$(hostname)" "$(date -Is)" >"$lock"
	if [[ ! -d $entry ]]; then
		local tmp
		tmp=$(mktemp -d "${entry%/*}/.tmp.${entry##*/}.XXXXXX")
		# an interrupted build leaves nothing behind either
		trap 'rm -rf "$tmp"; exit 130' INT TERM HUP
		if ! "$builder" "$@" "$tmp"; then
			rm -rf "$tmp"
			exec {fd}>&-
			die "building ${entry##*/} failed (see the messages above)"
		fi
		trap - INT TERM HUP
		chmod 0755 "$tmp"
		sync -f "$tmp" 2>/dev/null || true
		mv -T "$tmp" "$entry"
	fi
	exec {fd}>&-
}

# ssh_banner PORT: true when 127.0.0.1:PORT answers with an SSH- banner
# (qemu's port forward accepts TCP with nothing behind it, so a connect alone
# proves nothing).
ssh_banner() {
	local port=$1 line=
	{ exec {bfd}<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || return 1
	IFS= read -r -t 5 line <&"$bfd" || true
	exec {bfd}<&- {bfd}>&-
	[[ $line == SSH-* ]]
}

# free_port: a TCP port on 127.0.0.1 that nobody listens on right now
free_port() {
	local i port
	for ((i = 0; i < 50; i++)); do
		port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
		if ! { exec {pfd}<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then
			echo "$port"
			return 0
		fi
		exec {pfd}<&- {pfd}>&-
	done
	die "found no free port on 127.0.0.1 after 50 tries"
}

# hash_of ITEMS...: a short sha256 over strings and, for an item @PATH, the
# contents of the file PATH; for %PATH, its lines that are not comments (so
# documenting a script does not rebuild what it makes)
hash_of() {
	local item
	for item in "$@"; do
		if [[ $item == @* ]]; then
			printf 'file %s\n' "${item##*/}"
			cat "${item#@}" || die "cannot read ${item#@}"
		elif [[ $item == %* ]]; then
			printf 'code %s\n' "${item##*/}"
			grep -v '^[[:space:]]*#' "${item#%}" || die "cannot read ${item#%}"
		else
			printf 'text %s\n' "$item"
		fi
	done | sha256sum | cut -c1-16
}

# live_pid FILE DIR: the PID in FILE when that process is alive and its
# command line names DIR (a recycled PID belongs to someone else: never touch it)
live_pid() {
	local file=$1 dir=$2 pid
	[[ -f $file ]] || return 1
	pid=$(<"$file")
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	[[ -r /proc/$pid/cmdline ]] || return 1
	tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$dir" || return 1
	echo "$pid"
}

# start_supervisor DIR: power the guest on (supervise runs detached, in its
# own session, so it outlives the caller); returns once it recorded its PID
start_supervisor() {
	local dir=$1 here i
	here=$(cd "${BASH_SOURCE[0]%/*}" && pwd)
	rm -f "$dir/supervisor.pid"
	# 3>&-: bats waits for whoever holds its fd 3; the guest must not
	setsid "$here/supervise" "$dir" </dev/null >>"$dir/supervisor.log" 2>&1 3>&- &
	# a loaded machine can take seconds to start bash (seen: more than 10 s)
	for ((i = 0; i < 600; i++)); do
		live_pid "$dir/supervisor.pid" "$dir" >/dev/null && return 0
		sleep 0.1
	done
	die "the supervisor did not start within 60s; see $dir/supervisor.log"
}

# console_tail DIR: the last lines of the guest's serial console, for messages
console_tail() {
	echo "--- last lines of $1/console.log ---"
	tail -n 15 "$1/console.log" 2>/dev/null | tr -d '\r'
	echo "---"
}
