# ka-sign: run on the sign host as the publishing user (POSIX sh + GNU
# coreutils, util-linux flock, gpg; repo-add and bsdtar for pacman repos,
# apt-ftparchive and gzip for apt repos).
#
#   sh -c SCRIPT ka-sign publish pacman GNUPGHOME KEY STAGING LIVE NAME ARCH KEEP STAMP
#   sh -c SCRIPT ka-sign publish apt    GNUPGHOME KEY STAGING LIVE SUITE ARCH KEEP STAMP COMPONENT ORIGIN
#   sh -c SCRIPT ka-sign check          GNUPGHOME KEY STAGING
#
# STAGING holds the uploaded packages and B2SUMS (b2sum's output for them);
# only the files B2SUMS names are published. LIVE is the repository path
# readers use: a symlink to the current generation under
# <dirname LIVE>/.<basename LIVE>.generations/. A publish builds the next
# generation beside it (hard links of the current one plus the new packages,
# new indices), signs it, and only then swaps the symlink by rename(2): a
# failure anywhere before the swap leaves the previous repository as it was.
#
# Lines for the caller start with "ka-publish: ": "wrote <path relative to
# LIVE>", "generation <name>", "unchanged", "error <what>".
# Exit status: 0 done, 10 the upload does not match B2SUMS, 11 signing failed
# (missing tool or key, gpg, repo-add, apt-ftparchive), 12 the repository
# cannot take the packages, 13 another publish holds the repository lock.
set -u
umask 022

say() { printf 'ka-publish: %s\n' "$*"; }
fail() {
	code=$1
	shift
	say "error $*"
	exit "$code"
}
have() { command -v "$1" >/dev/null 2>&1; }

action=$1
shift
case $action in
publish)
	mode=$1 gnupghome=$2 key=$3 staging=$4 live=$5 name=$6 arch=$7 keep=$8 stamp=$9
	shift 9
	component=${1:-} origin=${2:-}
	;;
check)
	mode=check gnupghome=$1 key=$2 staging=$3
	;;
*) fail 12 "unknown action $action" ;;
esac

if [ "$mode" != check ]; then
	# Whatever happens, the upload goes, and so does an unfinished generation.
	next=""
	# shellcheck disable=SC2317 # run by the trap
	cleanup() {
		cd / || return
		rm -rf "$staging"
		[ -z "$next" ] || rm -rf "$next"
	}
	trap cleanup EXIT
fi

tools="gpg b2sum flock"
case $mode in
pacman) tools="$tools repo-add bsdtar" ;;
apt) tools="$tools apt-ftparchive gzip" ;;
esac
for t in $tools; do
	have "$t" || fail 11 "$t is not installed on $(uname -n); the sign host needs it"
done

[ -d "$gnupghome" ] || fail 11 "GNUPGHOME $gnupghome does not exist"
export GNUPGHOME="$gnupghome"
gpg --batch --list-secret-keys --with-colons "$key" >/dev/null 2>&1 ||
	fail 11 "no secret key $key in $gnupghome (gpg --list-secret-keys finds none)"

# sign FILE OUT [gpg options]: sign FILE into OUT (never written through: the
# old OUT may be a hard link shared with an older generation) and verify it.
sign() {
	file=$1 out=$2
	shift 2
	rm -f "$out"
	gpg --batch --yes --pinentry-mode error --local-user "$key" "$@" --output "$out" "$file" ||
		fail 11 "gpg could not sign $file with $key (expired, revoked or passphrase-protected? see above)"
	case $1 in
	--clearsign) gpg --batch --verify "$out" 2>&1 || fail 11 "the signature in $out does not verify" ;;
	*) gpg --batch --verify "$out" "$file" 2>&1 || fail 11 "the signature $out does not verify" ;;
	esac
}

if [ "$mode" = check ]; then
	mkdir -p "$staging" || fail 12 "cannot create $staging"
	probe="$staging/.ka-sign-check.$$"
	trap 'rm -f "$probe" "$probe.sig"' EXIT
	date >"$probe" || fail 12 "cannot write $probe"
	sign "$probe" "$probe.sig" --detach-sign --no-armor >/dev/null
	say "signing works: $key in $gnupghome"
	exit 0
fi

# ---------------------------------------------------------------- the upload
cd "$staging" 2>/dev/null || fail 10 "the upload folder $staging is missing"
[ -s B2SUMS ] || fail 10 "$staging/B2SUMS is missing or empty"
b2sum --quiet --strict --check B2SUMS || fail 10 "the packages in $staging do not match the b2sums computed before the upload"
files=$(cut -d' ' -f3- B2SUMS)

# ---------------------------------------------------------------- the lock
parent=$(dirname "$live")
base=$(basename "$live")
gens="$parent/.$base.generations"
{ mkdir -p "$parent" 2>/dev/null && [ -w "$parent" ]; } ||
	fail 12 "$parent is not a folder $(id -un) can write; the sign host's owner provisions it"
exec 9>>"$parent/.$base.lock" || fail 12 "cannot open the lock $parent/.$base.lock"
flock -n 9 || fail 13 "another publish holds the lock $parent/.$base.lock"

if [ -e "$live" ] && [ ! -L "$live" ]; then
	fail 12 "$live is a folder, not a symlink: publishing swaps a symlink to keep readers consistent; move it once: mkdir -p $gens && mv $live $gens/0-initial && ln -s .$base.generations/0-initial $live"
fi
current=""
if [ -L "$live" ]; then
	current=$(readlink -f "$live")
	[ -d "$current" ] || fail 12 "$live points at nothing"
fi

case $mode in
pacman) dest_dir="" ;;
apt) dest_dir="pool/$component/" ;;
esac

# A file name published before must hold the same bytes: readers (and their
# caches) may hold the old ones. Same bytes everywhere: nothing to do.
new=0
for f in $files; do
	want=$(awk -v f="$f" '$2 == f { print $1 }' B2SUMS)
	if [ -n "$current" ] && [ -e "$current/$dest_dir$f" ]; then
		have_sum=$(b2sum "$current/$dest_dir$f" | cut -d' ' -f1)
		[ "$have_sum" = "$want" ] ||
			fail 12 "$dest_dir$f is already published with other content; publish a new version (pkgrel) rather than replace one readers may have cached"
	else
		new=$((new + 1))
	fi
done
if [ "$new" = 0 ]; then
	say "generation $(basename "$current")"
	say unchanged
	exit 0
fi

# ---------------------------------------------------------------- sign
for f in $files; do
	sign "$f" "$f.sig" --detach-sign --no-armor
done

# ---------------------------------------------------------------- the next generation
mkdir -p "$gens" || fail 12 "cannot create $gens"
# <6-digit sequence>-<UTC stamp>: ordered by name even when several
# generations are made within one second (or under a pinned clock).
# shellcheck disable=SC2012
last=$(ls -1 "$gens" | sed -n 's/^\([0-9][0-9][0-9][0-9][0-9][0-9]\)-.*/\1/p' | sort | tail -n 1)
last=${last#"${last%%[!0]*}"} # no leading zeros: $((...)) would read octal
seq=$(printf '%06d' "$((${last:-0} + 1))")
next="$gens/$seq-$stamp"
mkdir "$next" || fail 12 "cannot create a generation in $gens"
chmod 755 "$next"
# Hard links are safe: nothing below writes into an existing file (repo-add
# renames its new databases into place; everything else is removed first).
if [ -n "$current" ]; then
	cp -al "$current/." "$next/" || fail 12 "cannot link $current into $next"
fi
mkdir -p "$next/$dest_dir" || fail 12 "cannot create $next/$dest_dir"
for f in $files; do
	rm -f "$next/$dest_dir$f" "$next/$dest_dir$f.sig"
	{ mv "$f" "$next/$dest_dir$f" && mv "$f.sig" "$next/$dest_dir$f.sig"; } ||
		fail 12 "cannot move $f into $next"
done
cd "$next" || fail 12 "cannot enter $next"

written=""
for f in $files; do
	written="$written $dest_dir$f $dest_dir$f.sig"
done

case $mode in
pacman)
	db="$name.db.tar.gz"
	set --
	for f in $files; do set -- "$@" "$f"; done
	# -v checks the current database's signature first, -s signs the new
	# ones, -R drops the files of versions the new packages replace.
	repo-add --sign --verify --remove --key "$key" "$db" "$@" || fail 11 "repo-add failed (see above)"
	# repo-add only warns when it cannot sign: check the signatures ourselves.
	for d in "$name.db.tar.gz" "$name.files.tar.gz"; do
		[ -f "$d.sig" ] || fail 11 "repo-add wrote $d without a signature"
		gpg --batch --verify "$d.sig" "$d" 2>&1 || fail 11 "the signature of $d does not verify"
	done
	rm -f ./*.old ./*.old.sig
	written="$written $name.db $name.db.sig $name.db.tar.gz $name.db.tar.gz.sig $name.files $name.files.sig $name.files.tar.gz $name.files.tar.gz.sig"
	;;
apt)
	dists="dists/$name"
	arches=$arch
	for f in pool/"$component"/*.deb; do
		a=${f##*_}
		a=${a%.deb}
		case " $arches all " in *" $a "*) ;; *) arches="$arches $a" ;; esac
	done
	rm -rf "$dists"
	for a in $arches; do
		bin="$dists/$component/binary-$a"
		mkdir -p "$bin" || fail 12 "cannot create $bin"
		apt-ftparchive --arch "$a" packages "pool/$component" >"$bin/Packages" ||
			fail 11 "apt-ftparchive packages failed (see above)"
		gzip -9n <"$bin/Packages" >"$bin/Packages.gz" || fail 12 "gzip failed"
		written="$written $bin/Packages $bin/Packages.gz"
	done
	# The Release file is made outside dists/ so it does not index itself.
	apt-ftparchive \
		-o "APT::FTPArchive::Release::Origin=$origin" \
		-o "APT::FTPArchive::Release::Label=$origin" \
		-o "APT::FTPArchive::Release::Suite=$name" \
		-o "APT::FTPArchive::Release::Codename=$name" \
		-o "APT::FTPArchive::Release::Architectures=$arches" \
		-o "APT::FTPArchive::Release::Components=$component" \
		release "$dists" >.Release.new || fail 11 "apt-ftparchive release failed (see above)"
	mv .Release.new "$dists/Release" || fail 12 "cannot write $dists/Release"
	sign "$dists/Release" "$dists/InRelease" --clearsign
	sign "$dists/Release" "$dists/Release.gpg" --detach-sign --armor
	written="$written $dists/Release $dists/InRelease $dists/Release.gpg"
	;;
esac
sync -f . 2>/dev/null || sync

# ---------------------------------------------------------------- the swap
link="$parent/.$base.new.$$"
rm -f "$link"
ln -s ".$base.generations/$(basename "$next")" "$link" || fail 12 "cannot create $link"
mv -T "$link" "$live" || {
	rm -f "$link"
	fail 12 "cannot swap $live to the new generation"
}
swapped=$next
next=""
say "generation $(basename "$swapped")"
for w in $written; do say "wrote $w"; done

# Older generations beyond KEEP go; never the live one.
# Generation names are <sequence>-<UTC stamp>: no blanks, sorted by age.
# shellcheck disable=SC2012
ls -1 "$gens" | sort -r | tail -n +"$((keep + 1))" | while read -r g; do
	[ "$gens/$g" = "$swapped" ] || rm -rf "${gens:?}/$g"
done
exit 0
