# shellcheck shell=bash
# lib.bash: what the end-to-end test files share (sourced, never run). Each
# function works in $T, the test file's temp folder, and the fleet repository
# $KA_REPO.

# e2e_ccache REMOTE: the loopback build host's ccache (REMOTE/ccache) is the
# machine's test ccache (tests/qemu/lib.sh, test_ccache), the one
# tests/qemu/build-kernel fills when it builds the test boards' kernels.
# ka-build's ccache settings (CCACHE_BASEDIR, CCACHE_NOHASHDIR) make objects
# independent of the job folder, so the board's kernel and the same config
# built by ka-build compile once per machine, and a re-run of make e2e
# builds warm.
e2e_ccache() {
	local root
	# shellcheck source=tests/qemu/lib.sh
	root=$(. "$REPO/tests/qemu/lib.sh" && cache_root)
	ln -s "$root/ccache" "$1/ccache"
}

# e2e_build_host NAME [PORT] [MIN_FREE_GIB] [ARCHES]: a build host manifest
# on the test sshd (user kbuild, its root the sshd's remote folder)
e2e_build_host() {
	cat >"$KA_REPO/fleet/$1.yaml" <<YAML
host: $1
role: dev
arch: x86_64
distro: debian
ssh: { address: 127.0.0.1, port: ${2:-$SSHD_PORT}, user: kbuild }
build_host: { user: kbuild, arches: [${4:-x86_64}], root: $SSHD_REMOTE, min_free_gib: ${3:-1} }
YAML
}

# e2e_signer REPOS: the fleet's sign host, local, with the key of
# e2e_sign_key; REPOS is "pacman" (its repository under $T/srv/arch) or
# "apt pacman" (and an apt repository under $T/srv/debian)
e2e_signer() {
	local apt=''
	[[ " $1 " != *" apt "* ]] || apt="  apt: { root: $T/srv/debian, suite: ka }"
	cat >"$KA_REPO/fleet/signer.yaml" <<YAML
host: signer
role: infra
arch: x86_64
distro: debian
ssh: { address: 127.0.0.1, port: $SSHD_PORT, user: kbuild }
sign:
  local: true
  key: $FPR
  gnupghome: $GNUPGHOME
  staging: $T/srv/staging
${apt:+$apt
}  pacman: { name: ka, root: $T/srv/arch }
YAML
}

# e2e_sign_key: a throwaway signing key in GNUPGHOME=$T/gnupg (exported, with
# its fingerprint as FPR); its public half is the fleet keyring
e2e_sign_key() {
	export GNUPGHOME="$T/gnupg" FPR
	mkdir -m 700 "$GNUPGHOME"
	printf '%s\n' '%no-protection' 'Key-Type: eddsa' 'Key-Curve: ed25519' 'Key-Usage: sign' \
		'Name-Real: ka e2e' 'Name-Email: e2e@kernel-agent.invalid' 'Expire-Date: 0' '%commit' >"$T/key-params"
	gpg --batch --gen-key "$T/key-params" 2>/dev/null
	FPR=$(gpg --batch --list-secret-keys --with-colons | awk -F: '$1 == "fpr" { print $10; exit }')
	gpg --batch --export "$FPR" >"$KA_REPO/fleet/keyring.gpg"
}

# e2e_any_package NAME PROVIDES [BODY]: an arch=any pacman package NAME,
# version 1-1, providing PROVIDES (space-separated), with BODY as its
# package() function's body (run with the files of $T/NAME/ in $startdir).
# Built with makepkg as kbuild, once per test file; prints the package's path.
e2e_any_package() {
	local name=$1 provides=$2 body=${3:-:} dir=$T/$1 pkg
	mkdir -p "$dir"
	pkg=$(find "$dir" -maxdepth 1 -name "$name-1-1-any.pkg.tar*" | head -n 1)
	if [[ -z $pkg ]]; then
		cat >"$dir/PKGBUILD" <<PKG
pkgname=$name
pkgver=1
pkgrel=1
pkgdesc='kernel-agent e2e: $name'
arch=(any)
provides=($provides)
package() {
$body
}
PKG
		chown -R kbuild: "$dir"
		su kbuild -s /bin/sh -c "cd '$dir' && makepkg --nodeps --noconfirm" >"$dir/makepkg.log" 2>&1 ||
			{ cat "$dir/makepkg.log" >&2; return 1; }
		pkg=$(find "$dir" -maxdepth 1 -name "$name-1-1-any.pkg.tar*" | head -n 1)
	fi
	echo "$pkg"
}

# e2e_as_arch_host GUEST_DIR: the Debian guest plays an Arch host: pacman's
# local database, a base package providing what a kernel package depends on,
# and the fleet key trusted in pacman's keyring (as `pacman-key --add;
# --lsign-key` would). Needs e2e_sign_key and an image with
# pacman-package-manager and gnupg.
e2e_as_arch_host() {
	local g=$1 base
	base=$(e2e_any_package ka-e2e-base "coreutils kmod bash")
	"$REPO/tests/qemu/guest-ssh" "$g" "mkdir -p /var/lib/pacman/local /tmp/base && cat >/tmp/base/base.pkg.tar && pacman -U --noconfirm /tmp/base/base.pkg.tar >/dev/null" <"$base"
	gpg --batch --export "$FPR" | "$REPO/tests/qemu/guest-ssh" "$g" "install -d -m 700 /etc/pacman.d/gnupg && gpg --batch --homedir /etc/pacman.d/gnupg --import 2>/dev/null && echo '$FPR:6:' | gpg --batch --homedir /etc/pacman.d/gnupg --import-ownertrust 2>/dev/null"
}
