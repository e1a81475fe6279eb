//! The job folder on the build host: the render folder staged into it
//! through the host's source cache, its big sources kept in the cache after
//! a build, and its packages fetched back.

use super::{Builder, Site};
use crate::source_cache;
use ka_core::error::Result;
use ka_run_remote::Transfer;
use ka_run_remote::remote::Remote;
use ka_schema::{Artifact, Span};
use std::path::PathBuf;

impl<R: Remote> Builder<'_, R> {
    /// Copy the render folder to the job folder, the big sources the cache
    /// holds linked in first rather than sent; returns what the upload did
    /// and the sources worth caching.
    pub(super) fn stage<'r>(&mut self, site: &Site<'r>) -> Result<(Transfer, Vec<&'r Artifact>)> {
        let c = &site.host;
        let big = source_cache::cacheable(&site.render.files);
        if !big.is_empty() {
            let argv = source_cache::link_argv(&c.spec.root, &site.remote_dir, &big);
            let job = self.job(
                c,
                argv,
                None,
                (&Span::minutes(30), &Span::minutes(10)),
                "source-cache-link.log",
            );
            // The cache only saves an upload: whatever it did, the upload below
            // sends what is not in place.
            self.remote.run(&job)?;
        }
        let reuse: Vec<&str> = big.iter().map(|a| a.file.as_str()).collect();
        let sent = self.remote.upload(
            &self.transport(c),
            &site.render.dir,
            &site.remote_dir,
            &reuse,
        )?;
        Ok((sent, big))
    }

    /// After a successful build, which checked every source's b2sum again:
    /// keep the job's big sources in the cache for the next build.
    pub(super) fn keep_sources(&mut self, site: &Site, big: &[&Artifact]) -> Result<()> {
        if big.is_empty() {
            return Ok(());
        }
        let c = &site.host;
        let argv = source_cache::keep_argv(&c.spec.root, &site.remote_dir, big);
        let job = self.job(
            c,
            argv,
            None,
            (&Span::minutes(30), &Span::minutes(10)),
            "source-cache-keep.log",
        );
        self.remote.run(&job)?;
        Ok(())
    }

    /// Fetch the job folder's `out/` (the packages) to KA_ROOT/output/<job-id>/.
    pub(super) fn fetch(&mut self, site: &Site) -> Result<Vec<PathBuf>> {
        let out = self.layout.output(&self.job_id);
        self.remote.download(
            &self.transport(&site.host),
            &format!("{}/out", site.remote_dir),
            &out,
        )
    }
}
