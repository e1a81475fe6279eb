# ka-build pre-flight: run on the build host as the build user, read-only.
# Arguments: ROOT TARGET_ARCH DISTRO MIN_FREE_GIB
# Prints one line per check: "ok <check> <detail>" or "missing <check>: <what to do>".
# It changes nothing: provisioning the build host is its owner's job.
root=$1 arch=$2 distro=$3 min_gib=$4

ok() { printf 'ok %s\n' "$*"; }
missing() { printf 'missing %s\n' "$*"; }
have() { command -v "$1" >/dev/null 2>&1; }

if [ "$(id -u)" = 0 ]; then
	missing "user: logged in as root; builds run as an unprivileged user (makepkg refuses root)"
else
	ok "user $(id -un)"
fi

if [ -d "$root" ] && [ -w "$root" ]; then
	ok "root $root"
else
	missing "root: $root is not a folder the build user can write; create it (owned by $(id -un))"
fi
for sub in source ccache; do
	if [ -d "$root/$sub" ] && [ ! -w "$root/$sub" ]; then
		missing "$sub: $root/$sub is not writable by $(id -un)"
	fi
done

native=$(uname -m)
# the build host's own architecture: a fact, read here, that decides between
# a native and a cross build
ok "machine $native"
if [ "$native" = "$arch" ]; then
	cc=gcc
else
	cc=$arch-linux-gnu-gcc
fi
if have "$cc"; then
	ok "toolchain $cc ($arch on $native)"
else
	if [ "$native" = "$arch" ]; then
		missing "toolchain: gcc for $arch on this $native host; install gcc"
	else
		missing "toolchain: $cc for $arch on this $native host; install the cross compiler (Debian: gcc-$arch-linux-gnu, Arch: $arch-linux-gnu-gcc)"
	fi
fi

for tool in make bc flex bison perl patch; do
	have "$tool" || missing "tool: $tool (needed by the kernel build)"
done
case $distro in
arch)
	for tool in makepkg bsdtar fakeroot; do
		have "$tool" || missing "tool: $tool (needed to build Arch packages; bsdtar is in libarchive-tools)"
	done
	;;
debian)
	for tool in dpkg-deb dpkg-buildpackage fakeroot; do
		have "$tool" || missing "tool: $tool (needed for make bindeb-pkg)"
	done
	;;
esac
if have ccache; then
	ok "ccache"
else
	missing "tool: ccache (rebuilds reuse its cache under $root/ccache)"
fi

if [ -d "$root" ]; then
	free_kib=$(df -Pk "$root" | awk 'NR == 2 { print $4 }')
	free_gib=$((free_kib / 1048576))
	if [ "$free_gib" -ge "$min_gib" ]; then
		ok "disk ${free_gib}G free under $root"
	else
		# name the folders that fill up: old job trees and the source cache
		missing "disk: ${free_gib}G free under $root, a build needs ${min_gib}G (build_host.min_free_gib); free space: prune $root/source/ (old job trees) and $root/cache/sources/ with ka-prune (KA_REPO set), or remove old trees there by hand"
	fi
fi
