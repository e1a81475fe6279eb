#!/usr/bin/env bash
# check-each.sh DIR RSS: run ka-check once per DIR/*.json (each one pinned
# ka.plan document, as `ka-resolve <host> | ka-baseline` writes it), as
# checking every host separately would. The peak RSS of each run (KB) is
# appended to RSS when GNU time is at /usr/bin/time (RSS stays empty
# otherwise). Exits non-zero when a plan does not check clean.
set -euo pipefail

dir=${1:?usage: check-each.sh DIR RSS}
rss=${2:?usage: check-each.sh DIR RSS}
: >"$rss"
for plan in "$dir"/*.json; do
	if [[ -x /usr/bin/time ]]; then
		/usr/bin/time -f %M -a -o "$rss" ka-check <"$plan" >/dev/null
	else
		ka-check <"$plan" >/dev/null
	fi
done
