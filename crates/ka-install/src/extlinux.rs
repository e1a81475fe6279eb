//! The managed extlinux entry, as text in, text out (no I/O, so every case is
//! a unit test). The block has the same shape and markers as the Arch
//! package's `ka-extlinux-<pkgbase>` script writes:
//!
//! ```text
//! # >>> <label> (managed) >>>
//! LABEL <label>
//!     MENU LABEL <label> (<release>)
//!     LINUX <kernel>
//!     INITRD <initrd>          (when there is one)
//!     FDT <fdt>                (install.fdt: the board's one device tree)
//!     FDTDIR <fdtdir>          (else, when there is one)
//!     APPEND <append>          (the DEFAULT entry's, before the switch)
//! # <<< <label> (managed) <<<
//! ```
//!
//! Only the block and the `DEFAULT` line are ever changed; every other line
//! stays byte for byte.

/// What the managed entry boots.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub label: String,
    pub release: String,
    pub kernel: String,
    pub initrd: Option<String>,
    pub fdtdir: Option<String>,
    /// The one device tree U-Boot loads; when set, no FDTDIR is written.
    pub fdt: Option<String>,
}

fn begin(label: &str) -> String {
    format!("# >>> {label} (managed) >>>")
}
fn end(label: &str) -> String {
    format!("# <<< {label} (managed) <<<")
}

fn keyword(line: &str) -> (String, &str) {
    let t = line.trim_start();
    let (k, rest) = t.split_once(char::is_whitespace).unwrap_or((t, ""));
    (k.to_ascii_uppercase(), rest.trim())
}

/// Where the managed block sits: (first line, last line), or None.
fn find_block(lines: &[&str], label: &str) -> Result<Option<(usize, usize)>, String> {
    let (b, e) = (begin(label), end(label));
    let firsts: Vec<usize> = (0..lines.len()).filter(|&i| lines[i] == b).collect();
    let lasts: Vec<usize> = (0..lines.len()).filter(|&i| lines[i] == e).collect();
    match (firsts.as_slice(), lasts.as_slice()) {
        ([], []) => Ok(None),
        ([f], [l]) if f < l => Ok(Some((*f, *l))),
        _ => Err(format!(
            "the markers of the {label} block are broken or doubled; fix extlinux.conf by hand"
        )),
    }
}

/// The APPEND of the DEFAULT entry (outside the block), else of the first
/// entry that has one.
fn append_of_default(lines: &[&str], skip: Option<(usize, usize)>) -> Option<String> {
    let mut default = None;
    let mut label = None;
    let mut first = None;
    let mut of_default = None;
    for (i, line) in lines.iter().enumerate() {
        if skip.is_some_and(|(f, l)| i >= f && i <= l) {
            continue;
        }
        let (k, v) = keyword(line);
        match k.as_str() {
            "DEFAULT" => default = Some(v.to_string()),
            "LABEL" => label = Some(v.to_string()),
            "APPEND" if label.is_some() => {
                first.get_or_insert_with(|| v.to_string());
                if label.is_some() && label == default {
                    of_default.get_or_insert_with(|| v.to_string());
                }
            }
            _ => {}
        }
    }
    // DEFAULT may come after the entries
    if of_default.is_none()
        && let Some(d) = &default
    {
        let mut label = None;
        for (i, line) in lines.iter().enumerate() {
            if skip.is_some_and(|(f, l)| i >= f && i <= l) {
                continue;
            }
            let (k, v) = keyword(line);
            match k.as_str() {
                "LABEL" => label = Some(v.to_string()),
                "APPEND" if label.as_deref() == Some(d.as_str()) => {
                    return Some(v.to_string());
                }
                _ => {}
            }
        }
    }
    of_default.or(first)
}

/// The block's lines for `entry`, taking APPEND from `conf`.
pub fn block_lines(conf: &str, entry: &Entry) -> Result<Vec<String>, String> {
    let lines: Vec<&str> = conf.lines().collect();
    let at = find_block(&lines, &entry.label)?;
    let append = append_of_default(&lines, at);
    let mut b = vec![
        begin(&entry.label),
        format!("LABEL {}", entry.label),
        format!("\tMENU LABEL {} ({})", entry.label, entry.release),
        format!("\tLINUX {}", entry.kernel),
    ];
    if let Some(i) = &entry.initrd {
        b.push(format!("\tINITRD {i}"));
    }
    if let Some(f) = &entry.fdt {
        b.push(format!("\tFDT {f}"));
    } else if let Some(f) = &entry.fdtdir {
        b.push(format!("\tFDTDIR {f}"));
    }
    if let Some(a) = append {
        b.push(format!("\tAPPEND {a}"));
    }
    b.push(end(&entry.label));
    Ok(b)
}

/// `conf` with the managed block for `entry` written (added at the end, or
/// replaced in place) when `entry` is given, and `DEFAULT <label>` (replacing
/// the first DEFAULT line, or added as the first line). Running it again
/// gives the same text.
pub fn update(conf: &str, label: &str, entry: Option<&Entry>) -> Result<String, String> {
    let lines: Vec<&str> = conf.lines().collect();
    let at = find_block(&lines, label)?;
    let mut out: Vec<String> = Vec::new();
    match (entry, at) {
        (Some(e), Some((f, l))) => {
            out.extend(lines[..f].iter().map(|s| s.to_string()));
            out.extend(block_lines(conf, e)?);
            out.extend(lines[l + 1..].iter().map(|s| s.to_string()));
        }
        (Some(e), None) => {
            out.extend(lines.iter().map(|s| s.to_string()));
            out.extend(block_lines(conf, e)?);
        }
        (None, Some(_)) => out.extend(lines.iter().map(|s| s.to_string())),
        (None, None) => {
            return Err(format!(
                "extlinux.conf has no managed {label} block: the package's hook did not write it"
            ));
        }
    }
    let default_line = format!("DEFAULT {label}");
    match out.iter().position(|l| keyword(l).0 == "DEFAULT") {
        Some(i) => {
            // keep the file's own spelling when it already says so
            if keyword(&out[i]).1 != label {
                out[i] = default_line;
            }
        }
        None => out.insert(0, default_line),
    }
    let mut text = out.join("\n");
    text.push('\n');
    Ok(text)
}

/// The files the entry `label` of `conf` names: (keyword, path).
pub fn named_files(conf: &str, label: &str) -> Result<Vec<(String, String)>, String> {
    let lines: Vec<&str> = conf.lines().collect();
    let Some((f, l)) = find_block(&lines, label)? else {
        return Err(format!("extlinux.conf has no managed {label} block"));
    };
    let mut files = Vec::new();
    for line in &lines[f..=l] {
        let (k, v) = keyword(line);
        match k.as_str() {
            "LINUX" | "KERNEL" | "FDTDIR" | "FDT" => files.push((k, v.to_string())),
            "INITRD" => {
                for p in v.split(',') {
                    files.push((k.clone(), p.trim().to_string()));
                }
            }
            _ => {}
        }
    }
    if !files.iter().any(|(k, _)| k == "LINUX" || k == "KERNEL") {
        return Err(format!("the managed {label} block names no kernel"));
    }
    Ok(files)
}

/// Where a path of extlinux.conf is on the running host: extlinux reads paths
/// relative to the /boot partition's root, so `/vmlinuz` on a separate /boot
/// partition is `/boot/vmlinuz`.
pub fn on_host(path: &str) -> String {
    if path.starts_with("/boot/") {
        path.to_string()
    } else {
        format!("/boot/{}", path.trim_start_matches('/'))
    }
}

/// The `/boot/` prefix the other entries use for their kernels ("" when they
/// name them relative to a separate /boot partition).
pub fn boot_prefix(conf: &str) -> &'static str {
    let kernels: Vec<String> = conf
        .lines()
        .map(keyword)
        .filter(|(k, _)| k == "LINUX" || k == "KERNEL")
        .map(|(_, v)| v.to_string())
        .collect();
    if kernels.is_empty() || kernels.iter().any(|k| k.starts_with("/boot/")) {
        "/boot"
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const IMAGE: &str = "default image\ntimeout 1\nlabel image\n\tmenu label Debian\n\tlinux /boot/vmlinuz-6.1.0\n\tappend root=/dev/vda1 rw console=ttyS0,115200\n";

    fn entry() -> Entry {
        Entry {
            label: "linux-qemu".into(),
            release: "6.1.158-qemu".into(),
            kernel: "/boot/vmlinuz-6.1.158-qemu".into(),
            initrd: None,
            fdtdir: None,
            fdt: None,
        }
    }

    #[test]
    fn fdt_names_the_one_device_tree_and_stays_idempotent() {
        let mut e = entry();
        e.fdtdir = Some("/boot/dtbs-6.1.158-qemu".into());
        let dirs = update(IMAGE, "linux-qemu", Some(&e)).unwrap();
        assert!(
            dirs.contains("\tFDTDIR /boot/dtbs-6.1.158-qemu\n"),
            "{dirs}"
        );
        e.fdt = Some("/boot/dtbs-6.1.158-qemu/rockchip/rk3399-pinebook-pro.dtb".into());
        let once = update(&dirs, "linux-qemu", Some(&e)).unwrap();
        assert!(once.contains(
            "\tLINUX /boot/vmlinuz-6.1.158-qemu\n\tFDT /boot/dtbs-6.1.158-qemu/rockchip/rk3399-pinebook-pro.dtb\n\tAPPEND root=/dev/vda1"
        ), "{once}");
        assert!(!once.contains("FDTDIR"), "FDT replaces FDTDIR: {once}");
        assert_eq!(once.matches("(managed) >>>").count(), 1);
        assert_eq!(update(&once, "linux-qemu", Some(&e)).unwrap(), once);
        assert_eq!(update(&once, "linux-qemu", None).unwrap(), once);
        let files = named_files(&once, "linux-qemu").unwrap();
        assert_eq!(
            files,
            vec![
                ("LINUX".into(), "/boot/vmlinuz-6.1.158-qemu".into()),
                (
                    "FDT".into(),
                    "/boot/dtbs-6.1.158-qemu/rockchip/rk3399-pinebook-pro.dtb".into()
                )
            ]
        );
        // on a separate /boot partition the path is relative to its root
        assert_eq!(
            on_host("/dtbs-x/rockchip/a.dtb"),
            "/boot/dtbs-x/rockchip/a.dtb"
        );
    }

    #[test]
    fn adds_the_block_switches_default_and_is_idempotent() {
        let once = update(IMAGE, "linux-qemu", Some(&entry())).unwrap();
        assert!(once.starts_with("DEFAULT linux-qemu\ntimeout 1\nlabel image\n"));
        assert!(once.contains(
            "# >>> linux-qemu (managed) >>>\nLABEL linux-qemu\n\tMENU LABEL linux-qemu (6.1.158-qemu)\n\tLINUX /boot/vmlinuz-6.1.158-qemu\n\tAPPEND root=/dev/vda1 rw console=ttyS0,115200\n# <<< linux-qemu (managed) <<<\n"
        ), "{once}");
        // the old entry stays as it was
        assert!(once.contains("label image\n\tmenu label Debian\n\tlinux /boot/vmlinuz-6.1.0\n"));
        assert_eq!(update(&once, "linux-qemu", Some(&entry())).unwrap(), once);
    }

    #[test]
    fn replaces_the_block_in_place_and_keeps_the_append_of_the_old_default() {
        let once = update(IMAGE, "linux-qemu", Some(&entry())).unwrap();
        let mut e = entry();
        e.release = "6.1.159-qemu".into();
        e.kernel = "/boot/vmlinuz-6.1.159-qemu".into();
        e.initrd = Some("/boot/initrd.img-6.1.159-qemu".into());
        let twice = update(&once, "linux-qemu", Some(&e)).unwrap();
        assert_eq!(twice.matches("(managed) >>>").count(), 1);
        assert!(twice.contains("\tINITRD /boot/initrd.img-6.1.159-qemu\n\tAPPEND root=/dev/vda1"));
        assert!(!twice.contains("6.1.158"));
        let files = named_files(&twice, "linux-qemu").unwrap();
        assert_eq!(
            files,
            vec![
                ("LINUX".into(), "/boot/vmlinuz-6.1.159-qemu".into()),
                ("INITRD".into(), "/boot/initrd.img-6.1.159-qemu".into())
            ]
        );
    }

    #[test]
    fn a_hook_written_block_only_gets_default() {
        let hooked = format!(
            "{IMAGE}# >>> linux-x (managed) >>>\nLABEL linux-x\n\tLINUX /boot/Image-x\n\tFDTDIR /boot/dtbs-x\n# <<< linux-x (managed) <<<\n"
        );
        let out = update(&hooked, "linux-x", None).unwrap();
        assert_eq!(out, hooked.replacen("default image", "DEFAULT linux-x", 1));
        assert!(
            update(IMAGE, "linux-x", None)
                .unwrap_err()
                .contains("no managed linux-x block")
        );
    }

    #[test]
    fn broken_markers_are_refused() {
        let broken = format!("{IMAGE}# >>> linux-qemu (managed) >>>\nLABEL linux-qemu\n");
        assert!(
            update(&broken, "linux-qemu", Some(&entry()))
                .unwrap_err()
                .contains("broken")
        );
    }

    #[test]
    fn paths_and_prefixes() {
        assert_eq!(on_host("/vmlinuz-x"), "/boot/vmlinuz-x");
        assert_eq!(on_host("/boot/vmlinuz-x"), "/boot/vmlinuz-x");
        assert_eq!(boot_prefix(IMAGE), "/boot");
        assert_eq!(boot_prefix("label a\n linux /vmlinuz\n"), "");
    }
}
