//! `--check-reproducible`: a second, clean build of the same job folder in
//! another tree, compared file by file with the first.

use super::{Builder, Built, Site};
use crate::tree::{self, Decision};
use ka_core::error::Result;
use ka_run_remote::remote::Remote;
use ka_schema::{Span, Status, TreeMode};

impl<R: Remote> Builder<'_, R> {
    /// Build again, clean, in the check tree and compare its image and
    /// modules with `first`'s; says how in `message` and returns the
    /// build's status: failed when the check build failed or differs.
    pub(super) fn reproducibility_check(
        &mut self,
        site: &Site,
        first: Built,
        message: &mut String,
    ) -> Result<Status> {
        let check_dir = tree::check_dir(&site.host.spec.root, &site.render.host, site.target.arch);
        let clean = Decision {
            mode: TreeMode::Clean,
            reason: "the reproducibility check's second build".into(),
        };
        let (r2, _, second) = self.build_in_tree(site, &check_dir, clean, true)?;
        let second = match second {
            Ok(second) => second,
            Err(how) => {
                message.push_str(&format!(
                    "; the reproducibility check's second build failed: {how} (log {})",
                    r2.log.display()
                ));
                return Ok(Status::Failed);
            }
        };
        match tree::first_difference(&first.sums, &second.sums) {
            None => {
                message.push_str(&format!(
                    "; reproducible: a clean build in {check_dir} gave the same image and {} module(s)",
                    first.sums.len() - 1
                ));
                self.remove_check_tree(site, check_dir)?;
                Ok(Status::Done)
            }
            Some(path) => {
                message.push_str(&format!(
                    "; NOT reproducible: {path} differs from a clean build of the same lock in {check_dir} (the first file that differs; logs {})",
                    self.log_dir(&site.host.name).display()
                ));
                Ok(Status::Failed)
            }
        }
    }

    /// The same bytes: the second tree has nothing to show, and holds a
    /// kernel's worth of disk (one that differs is kept to look into).
    fn remove_check_tree(&mut self, site: &Site, check_dir: String) -> Result<()> {
        let argv = vec!["rm".into(), "-rf".into(), "--".into(), check_dir];
        let job = self.job(
            &site.host,
            argv,
            None,
            (&Span::minutes(30), &Span::minutes(10)),
            "tree-remove-check.log",
        );
        self.remote.run(&job)?;
        Ok(())
    }
}
