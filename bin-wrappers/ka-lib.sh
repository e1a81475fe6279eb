# ka-lib.sh: the one setup file every ka-<verb> wrapper sources.
# Wrappers stay thin: parse arguments, maybe ask for confirmation, chain stages.
# Any decision on data belongs in a stage binary.
# shellcheck shell=bash

KA_PROG=${0##*/}

die() {
	printf '%s: error: %s\n' "$KA_PROG" "$*" >&2
	exit 2
}

# worst STATUS...: return the worst of a pipeline's exit statuses, as in
#   stage-a | stage-b | stage-c; worst "${PIPESTATUS[@]}"
# Stages are filters that run at the same time; each writes all its documents
# or none, and a stage whose input is empty has nothing to do. So the
# pipeline's worst status is the verb's answer: 0 ok, 1 some host refused or
# blocked (the others went on), 2 usage or I/O error, 3 bad input.
worst() {
	local s w=0
	for s in "$@"; do
		if ((s > w)); then
			w=$s
		fi
	done
	return "$w"
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

# refuse_empty_env: a variable kernel-agent reads that is set but empty
# (KA_ROOT= ka-build, KA_ROOT=$UNSET ka-build) is a mistake, never a request
# for its default. Said once, naming the variable, before any stage runs
# (each stage would say it again, in the same words: ka_core::paths::env_var).
# Call it once the arguments are parsed (--root and --repo set KA_ROOT and
# KA_REPO).
refuse_empty_env() {
	local v default names
	for v in KA_ROOT KA_REPO KA_SSH_IDENTITY KA_CONFIG KA_NOW KA_SITE; do
		[[ -v $v && -z ${!v} ]] || continue
		case $v in
		KA_ROOT) default="default /srv/kernel-agent" names="a folder" ;;
		KA_REPO) default="default: the current directory" names="the fleet repository" ;;
		KA_SSH_IDENTITY) default="default KA_ROOT/ssh/id_ed25519" names="the fleet's SSH private key" ;;
		KA_CONFIG) default="default KA_ROOT/config.yaml" names="a config file" ;;
		KA_NOW) default="default: the clock" names="a time, seconds since the epoch or YYYY-MM-DDTHH:MM:SSZ" ;;
		KA_SITE) default="no site is written" names="the fleet site's folder (ka-site(1))" ;;
		esac
		die "$v is set but empty; unset it ($default) or set it to $names"
	done
}

# audit_verb VERB [ka-audit record options] -- ARG...: record this run in the
# audit log (ka-audit(1)) when the wrapper exits, with its real exit status,
# whether it succeeds, fails or dies. Call it once the arguments are parsed
# (so --root is in effect; --help and usage errors are not audited), e.g.
#   audit_verb promote ${dry_run:+--dry-run} --target "$host" -- "${orig_args[@]}"
# A failed audit is said on stderr and never hides the verb's own status: a
# verb that succeeded but could not be audited exits 2.
audit_verb() {
	_ka_root=${KA_ROOT:-/srv/kernel-agent} # ka-core's paths::DEFAULT_ROOT
	_ka_root_was_there=0
	[[ ! -d $_ka_root ]] || _ka_root_was_there=1
	_ka_audit_args=(--verb "$1")
	shift
	_ka_audit_args+=("$@")
	trap _ka_audit_at_exit EXIT
}

# site_at_exit: with KA_SITE set, render the fleet's site (ka-site(1)) again
# when the wrapper exits, whatever the verb's result: a failed build is news
# too. Call it after audit_verb, for real runs (a dry run changes no state to
# show). A site that cannot be written is said on stderr and never changes
# the verb's status: the site is a view of the state, not part of the work.
site_at_exit() {
	_ka_site=${KA_SITE:-}
}

_ka_audit_at_exit() {
	local status=$?
	trap - EXIT
	if [[ -n ${_ka_site:-} ]] && ! ka-site --out "$_ka_site" >/dev/null; then
		printf '%s: warning: the site %s was not refreshed (see above and ka-site(1)); the verb itself exited %s\n' "$KA_PROG" "$_ka_site" "$status" >&2
	fi
	if ! ka-audit record --exit-code "$status" "${_ka_audit_args[@]}"; then
		printf '%s: error: auditing failed (see above); the verb itself exited %s\n' "$KA_PROG" "$status" >&2
		((status != 0)) || status=2
	fi
	# the first real run creates the state folder: say so (a dry run never does)
	if ((!_ka_root_was_there)) && [[ -d $_ka_root ]]; then
		printf '%s: created the state folder %s (KA_ROOT)\n' "$KA_PROG" "$_ka_root" >&2
	fi
	exit "$status"
}
