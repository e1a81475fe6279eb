# ka-lib.sh: the one setup file every ka-<verb> wrapper sources.
# Wrappers stay thin: parse arguments, maybe ask for confirmation, chain stages.
# Any decision on data belongs in a stage binary.
# shellcheck shell=bash

KA_PROG=${0##*/}

die() {
	printf '%s: error: %s\n' "$KA_PROG" "$*" >&2
	exit 2
}

# The worst exit status seen from a stage (0 ok, 1 negative answer).
ka_worst=0

# stage OUT IN CMD [ARGS...]: run a stage with stdin IN and stdout OUT.
# Exit 0 and 1 carry on (1 is a negative answer for some host; the others go
# on); 2 and 3 stop the verb. A stage that wrote nothing leaves nothing to do.
stage() {
	local out=$1 in=$2 rc=0
	shift 2
	"$@" <"$in" >"$out" || rc=$?
	if ((rc >= 2)); then
		exit "$rc"
	fi
	if ((rc > ka_worst)); then
		ka_worst=$rc
	fi
	if [[ ! -s $out ]]; then
		exit "$ka_worst"
	fi
}

# ka_tmpdir: a private scratch folder, removed on exit. Sets $ka_tmp.
ka_tmpdir() {
	ka_tmp=$(mktemp -d "${TMPDIR:-/tmp}/${KA_PROG}.XXXXXX") || die "cannot create a temp folder"
	# shellcheck disable=SC2064 # expand now: the path is fixed
	trap "rm -rf -- '$ka_tmp'" EXIT
}

# confirm PROMPT: ask y/n on stdin; anything but y/yes declines.
confirm() {
	local answer=""
	printf '%s [y/N] ' "$1" >&2
	read -r answer || true
	case $answer in
	y | Y | yes | YES) return 0 ;;
	*) return 1 ;;
	esac
}

# need_value OPTION VALUE: an option that takes a value got one.
need_value() {
	[[ $# -ge 2 && -n $2 && $2 != -* ]] || die "$1 needs a value (see $KA_PROG --help)"
}
