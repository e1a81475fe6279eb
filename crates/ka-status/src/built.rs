//! The newest build of a host: build jobs are recorded as
//! `KA_ROOT/jobs/<job-id>.json` (`ka.job-result`), the job id being
//! `<host>-<UTC time, e.g. 20260101T120000Z>-<8 hex of the lock b2sum>`, and
//! their packages land in `KA_ROOT/output/<job-id>/`.

use ka_core::error::{Error, Result, contract};
use ka_core::paths::Layout;
use ka_schema::{Built, JobResult};
use std::fs;

/// The time part of a job id of `host`, when `file` (`<id>.json`) is one.
fn job_time<'a>(file: &'a str, host: &str) -> Option<&'a str> {
    let rest = file
        .strip_suffix(".json")?
        .strip_prefix(host)?
        .strip_prefix('-')?;
    let (time, hash) = rest.split_once('-')?;
    let time_ok = time.len() == 16
        && time.as_bytes()[8] == b'T'
        && time.ends_with('Z')
        && time[..8]
            .bytes()
            .chain(time[9..15].bytes())
            .all(|b| b.is_ascii_digit());
    let hash_ok = hash.len() == 8 && hash.bytes().all(|b| b.is_ascii_hexdigit());
    (time_ok && hash_ok).then_some(time)
}

/// `20260101T120000Z` as RFC 3339.
fn rfc3339_of(t: &str) -> String {
    format!(
        "{}-{}-{}T{}:{}:{}Z",
        &t[0..4],
        &t[4..6],
        &t[6..8],
        &t[9..11],
        &t[11..13],
        &t[13..15]
    )
}

/// The newest successful build job of `host`, if any. Jobs are tried newest
/// first; a failed one is passed over, a corrupt one is an error naming it.
pub fn newest(layout: &Layout, host: &str, pkgbase: Option<&str>) -> Result<Option<Built>> {
    let dir = layout.jobs();
    let entries = match fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(Error::io(&dir, e)),
    };
    let mut jobs: Vec<(String, String)> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(&dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(time) = job_time(&name, host) {
            jobs.push((time.to_string(), name));
        }
    }
    jobs.sort();
    for (time, name) in jobs.into_iter().rev() {
        let path = dir.join(&name);
        let job: JobResult = ka_core::stream::read_file(&path).map_err(|e| match e {
            Error::Io { .. } => e,
            e => contract(format!(
                "build job record is corrupt: {e}; repair or remove {}",
                path.display()
            )),
        })?;
        if !job.ok() {
            continue;
        }
        let out = layout.output(&job.id);
        let mut files = Vec::new();
        if let Ok(entries) = fs::read_dir(&out) {
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|t| t.is_file()) {
                    files.push(entry.path());
                }
            }
        }
        files.sort();
        let package_version = files.iter().find_map(|f| {
            let name = f.file_name()?.to_str()?;
            package_version(name, pkgbase)
        });
        return Ok(Some(Built {
            job: job.id,
            at: rfc3339_of(&time),
            package_version,
            files,
        }));
    }
    Ok(None)
}

/// The version in a package file name: pacman's
/// `<pkgbase>-<pkgver>-<pkgrel>-<arch>.pkg.tar.<ext>` (`<pkgver>-<pkgrel>`),
/// or the kernel image of `make bindeb-pkg`,
/// `linux-image-<release>_<version>_<arch>.deb`.
pub fn package_version(file: &str, pkgbase: Option<&str>) -> Option<String> {
    if let Some(stem) = file.strip_suffix(".deb") {
        let parts: Vec<&str> = stem.split('_').collect();
        return match parts.as_slice() {
            [name, version, _arch]
                if name.starts_with("linux-image-") && !name.ends_with("-dbg") =>
            {
                Some(version.to_string())
            }
            _ => None,
        };
    }
    let (stem, _) = file.split_once(".pkg.tar")?;
    let rest = stem.strip_prefix(pkgbase?)?.strip_prefix('-')?;
    let mut parts = rest.rsplitn(3, '-');
    let (_arch, rel, ver) = (parts.next()?, parts.next()?, parts.next()?);
    // pkgver has no '-': a split-package name (<pkgbase>-headers) leaves one.
    (!ver.contains('-') && !ver.is_empty() && !rel.is_empty()).then(|| format!("{ver}-{rel}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_ids_of_a_host_and_not_of_a_longer_name() {
        assert_eq!(
            job_time("fresnel-20260101T120000Z-0123abcd.json", "fresnel"),
            Some("20260101T120000Z")
        );
        assert_eq!(
            job_time("fresnel-x-20260101T120000Z-0123abcd.json", "fresnel"),
            None
        );
        assert_eq!(
            job_time("fresnel-20260101T120000Z-0123abcd.json", "fres"),
            None
        );
    }

    #[test]
    fn versions_from_package_names() {
        let v = |f| package_version(f, Some("linux-fresnel"));
        assert_eq!(
            v("linux-fresnel-6.1.158-2-aarch64.pkg.tar.zst").as_deref(),
            Some("6.1.158-2")
        );
        assert_eq!(
            v("linux-fresnel-headers-6.1.158-2-aarch64.pkg.tar.gz"),
            None
        );
        assert_eq!(v("other-6.1-1-x86_64.pkg.tar.gz"), None);
        assert_eq!(
            v("linux-image-6.1.158-ohm_6.1.158-1_amd64.deb").as_deref(),
            Some("6.1.158-1")
        );
        assert_eq!(v("linux-image-6.1.158-ohm-dbg_6.1.158-1_amd64.deb"), None);
    }
}
