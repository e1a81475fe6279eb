//! The lexical path checks of the probe language: which roots each source
//! may read, and the few files under them that no probe may touch.

use super::{ProbeSyntaxError, Source};

const DT_ROOTS: &[&str] = &["/proc/device-tree", "/sys/firmware/devicetree/base"];
pub(super) const FILE_ROOTS: &[&str] = &[
    "/sys",
    "/proc",
    "/dev",
    "/boot",
    "/lib/modules",
    "/usr/lib/modules",
    "/lib/firmware",
    "/usr/lib/firmware",
];

/// The absolute path a value probe reads, checked for its source.
pub(super) fn value_path(source: Source, path: &str) -> Result<String, ProbeSyntaxError> {
    match source {
        Source::Sysfs => check_path(path, &["/sys"], "sysfs").map(|_| path.to_string()),
        Source::Procfs => check_path(path, &["/proc"], "procfs").map(|_| path.to_string()),
        Source::Dt => {
            let abs = if path.starts_with('/') {
                path.to_string()
            } else {
                format!("/proc/device-tree/{path}")
            };
            check_path(&abs, DT_ROOTS, "dt")?;
            Ok(abs)
        }
    }
}

/// A path is absolute, plain (no empty, `.` or `..` component, no control
/// characters), strictly under one of `roots`, and not one of the refused files.
pub fn check_path(path: &str, roots: &[&str], what: &str) -> Result<(), ProbeSyntaxError> {
    use ProbeSyntaxError::{ControlCharacters, NotAbsolute, NotPlain, OutsideRoots, Refused};
    let what = what.to_string();
    let roots_owned = || roots.iter().map(|r| r.to_string()).collect::<Vec<_>>();
    if !path.starts_with('/') {
        return Err(NotAbsolute {
            what,
            path: path.into(),
            roots: roots_owned(),
        });
    }
    if path.chars().any(|c| c.is_control()) {
        return Err(ControlCharacters {
            what,
            path: path.into(),
        });
    }
    let parts: Vec<&str> = path[1..].split('/').collect();
    if parts
        .iter()
        .any(|p| p.is_empty() || *p == "." || *p == "..")
    {
        return Err(NotPlain {
            what,
            path: path.into(),
            roots: roots_owned(),
        });
    }
    let under = roots.iter().any(|r| {
        path.strip_prefix(r)
            .is_some_and(|rest| rest.starts_with('/') && rest.len() > 1)
    });
    if !under {
        return Err(OutsideRoots {
            what,
            path: path.into(),
            roots: roots_owned(),
        });
    }
    refused(path).map_or(Ok(()), |why| {
        Err(Refused {
            what,
            path: path.into(),
            why,
        })
    })
}

/// Files under the allowed roots that a probe still must not touch.
fn refused(path: &str) -> Option<&'static str> {
    let parts: Vec<&str> = path[1..].split('/').collect();
    if parts[0] == "proc" && parts.len() > 1 {
        let p1 = parts[1];
        if p1 == "self" || p1 == "thread-self" || p1.bytes().all(|b| b.is_ascii_digit()) {
            return Some(
                "per-process files are not kernel state, and their root, cwd and fd links lead out of /proc",
            );
        }
        if p1 == "kmsg" {
            return Some("reading /proc/kmsg consumes the kernel log: use `dmesg must-match ...`");
        }
        if p1 == "kcore" {
            return Some("/proc/kcore is the kernel's memory");
        }
    }
    let last = parts.last().copied().unwrap_or_default();
    if last.starts_with("trace_pipe") {
        return Some("reading a trace pipe consumes the trace and blocks");
    }
    None
}

#[cfg(test)]
mod tests {
    use crate::lang::{Probe, parse};

    #[test]
    fn paths_are_checked() {
        assert!(parse("sysfs /sys/class/net/eth0/operstate == up").is_ok());
        for bad in [
            "sysfs /sys/../etc/shadow == x",
            "sysfs /etc/shadow == x",
            "sysfs /sys == x",
            "sysfs /sys//class == x",
            "sysfs /proc/cmdline == x",
            "procfs /proc/self/root/etc/shadow == x",
            "procfs /proc/1/environ == x",
            "procfs /proc/kmsg == x",
            "sysfs /sys/kernel/tracing/trace_pipe == x",
            "dt ../../etc/passwd == x",
            "file exists /etc/passwd",
            "file exists relative/path",
        ] {
            assert!(parse(bad).is_err(), "{bad} parsed");
        }
        match parse("dt compatible contains rockchip,rk3399").unwrap() {
            Probe::Value { path, .. } => assert_eq!(path, "/proc/device-tree/compatible"),
            p => panic!("{p:?}"),
        }
    }
}
