//! Bar 2: the package `installed.json` records is the version installed on
//! the host, and, where the host lets us read it, its image has the
//! published b2sum.

use super::report::check_result;
use super::{Check, Reads, describe_failure, first_line};
use crate::lang::Read;
use crate::plan::HostPlan;
use ka_schema::{Distro, Installed, ProbeReport};

/// Check bar 2 of `plan`'s host against `i`, adding its results (or a note
/// on what could not be compared) to the report.
pub(super) fn check(plan: &HostPlan, i: &Installed, reads: &mut Reads, report: &mut ProbeReport) {
    let res = package(plan.distro, &i.package, &i.package_version, reads);
    report.bars.push(check_result(
        2,
        &format!("package {}", i.package),
        &i.package_version,
        res,
        Some(format!("hosts/{}/installed.json", plan.host)),
    ));
    // "installed" means these bytes: the image on the host is the one
    // the build recorded, where the host lets us read it
    if let (Some(path), Some(sum)) = (&i.image, &i.image_b2sum) {
        match reads.get(&Read::Cmd(vec!["b2sum".into(), "--".into(), path.clone()])) {
            Ok(c) if c.exit_code == Some(0) => {
                let out = String::from_utf8_lossy(&c.stdout);
                let seen = out.split_whitespace().next().unwrap_or("").to_string();
                report.bars.push(check_result(
                    2,
                    &format!("image {path} b2sum"),
                    sum,
                    Check::Value {
                        passed: seen == *sum,
                        actual: seen,
                    },
                    Some(format!("hosts/{}/installed.json", plan.host)),
                ));
            }
            r => report.notes.push(format!(
                "bar 2: the image {path} was not compared with the published b2sum: {}",
                describe_failure(&r)
            )),
        }
    }
}

/// The installed version of `package` by the distribution's package
/// manager, against the `want`ed one.
fn package(distro: Distro, package: &str, want: &str, reads: &mut Reads) -> Check {
    let argv = match distro {
        Distro::Arch => Read::Cmd(vec!["pacman".into(), "-Q".into(), package.to_string()]),
        Distro::Debian => Read::Cmd(vec![
            "dpkg-query".into(),
            "-W".into(),
            "-f=${Version}".into(),
            package.to_string(),
        ]),
    };
    match &reads.get(&argv) {
        Ok(c) if c.exit_code == Some(0) => {
            let out = String::from_utf8_lossy(&c.stdout).trim().to_string();
            let version = match distro {
                // pacman -Q prints "name version"
                Distro::Arch => out.split_whitespace().nth(1).unwrap_or("").to_string(),
                Distro::Debian => out,
            };
            Check::Value {
                passed: version == want,
                actual: if version.is_empty() {
                    "(not installed)".into()
                } else {
                    version
                },
            }
        }
        Ok(c) if c.exit_code == Some(1) => Check::Value {
            passed: false,
            actual: format!("not installed ({})", first_line(&c.stderr)),
        },
        r => Check::Unreadable(describe_failure(r)),
    }
}
