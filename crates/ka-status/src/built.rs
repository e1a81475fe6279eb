//! The newest build of a host: build jobs are recorded as
//! `KA_ROOT/jobs/<job-id>.json` (`ka.job-result`), the job id being
//! `<host>-<UTC time, e.g. 20260101T120000Z>-<8 hex of the lock b2sum>`, and
//! their packages land in `KA_ROOT/output/<job-id>/`.

use ka_core::error::{Error, Result, contract};
use ka_core::names::JobId;
use ka_core::paths::Layout;
use ka_schema::{Built, JobResult, PackageFile};
use std::fs;

/// The build job of `host` whose record `file` (`<id>.json`) is, if it is one.
fn build_job<'a>(file: &'a str, host: &str) -> Option<JobId<'a>> {
    JobId::parse(file.strip_suffix(".json")?).filter(|j| j.host == host && j.is_build())
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
        if let Some(job) = build_job(&name, host) {
            // RFC 3339 of a fixed width sorts as the time does
            jobs.push((job.started_rfc3339(), name));
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
            let package = PackageFile::parse(f.file_name()?.to_str()?)?;
            package.is_kernel(pkgbase).then_some(package.version)
        });
        return Ok(Some(Built {
            job: job.id,
            at: time,
            package_version,
            files,
        }));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_jobs_of_a_host_and_not_of_a_longer_name() {
        let started = |f| build_job(f, "fresnel").map(|j| j.started);
        assert_eq!(
            started("fresnel-20260101T120000Z-0123abcd.json"),
            Some("20260101T120000Z")
        );
        assert_eq!(started("fresnel-x-20260101T120000Z-0123abcd.json"), None);
        assert_eq!(
            build_job("fresnel-20260101T120000Z-0123abcd.json", "fres"),
            None
        );
        assert_eq!(started("fresnel-20260101T120000Z-4242.json"), None);
    }
}
