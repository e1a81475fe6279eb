#!/usr/bin/env bash
# apply-loop.sh TOOL TREE LIST: apply the patches named in LIST (absolute paths,
# one per line, in order) to the checked-out tree TREE, one after the other,
# as a person would: TOOL is `git` (git apply) or `patch` (GNU patch -p1).
# Both run without fuzz, as ka-check does by default. Stops at the first
# patch that does not apply (exit 1).
set -euo pipefail

tool=${1:?usage: apply-loop.sh git|patch TREE LIST}
tree=${2:?usage: apply-loop.sh git|patch TREE LIST}
list=${3:?usage: apply-loop.sh git|patch TREE LIST}
list=$(readlink -f -- "$list")
cd -- "$tree"
while IFS= read -r p; do
	case $tool in
	git) git apply -- "$p" ;;
	patch) patch -p1 -s -F0 -N --no-backup-if-mismatch -i "$p" >/dev/null ;;
	*)
		echo "apply-loop: unknown tool $tool (git or patch)" >&2
		exit 2
		;;
	esac
done <"$list"
