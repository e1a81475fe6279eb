//! The templates, embedded at build time from the repository's `templates/`.

pub const PKGBUILD: &str = include_str!("../../../templates/arch/PKGBUILD.j2");
pub const PRESET: &str = include_str!("../../../templates/arch/preset.j2");
pub const INITRAMFS_HOOK: &str = include_str!("../../../templates/arch/initramfs.hook.j2");
pub const INITRAMFS_REMOVE_HOOK: &str =
    include_str!("../../../templates/arch/initramfs-remove.hook.j2");
pub const EXTLINUX_HOOK: &str = include_str!("../../../templates/arch/extlinux.hook.j2");
pub const EXTLINUX_REMOVE_HOOK: &str =
    include_str!("../../../templates/arch/extlinux-remove.hook.j2");
pub const EXTLINUX_SCRIPT: &str = include_str!("../../../templates/arch/ka-extlinux.sh.j2");
pub const DEBIAN_BUILD: &str = include_str!("../../../templates/debian/build.sh.j2");
