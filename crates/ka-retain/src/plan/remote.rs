//! The build hosts' job trees and source caches, listed over SSH: what is
//! old enough to go, and what is held (the newest tree, a kept job's, a
//! running build's).

use super::*;

impl Scan<'_> {
    /// The trees and source cache of every build host (listed over SSH).
    pub(super) fn build_hosts(&mut self) {
        let Some(remotes) = self.remotes else {
            return;
        };
        for (path, e) in &remotes.unreadable {
            let msg = format!("{e}; its build host (if it is one) was not pruned");
            self.problem(PruneClass::BuildTree, path, contract(msg));
        }
        for host in &remotes.hosts {
            match remotes.list(host) {
                Ok(Ok(listing)) => self.build_host(host, listing),
                Ok(Err(why)) => {
                    let msg = format!(
                        "{}: {why}; skipped: nothing there was pruned (the next run tries again)",
                        host.name
                    );
                    self.problem(PruneClass::BuildTree, &host.shown(""), usage(msg));
                }
                Err(e) => self.problem(PruneClass::BuildTree, &host.shown(""), e),
            }
        }
    }

    /// One build host's listing: its odd names and leftovers, its job trees,
    /// its source cache.
    fn build_host(&mut self, host: &BuildHost, l: crate::build_hosts::Listing) {
        self.odd_and_leftovers(host, &l.odd, l.leftovers);
        self.build_trees(host, l.trees);
        self.source_cache(host, l.cache);
    }

    /// Names the listing refused (a problem each, left alone) and the trees
    /// an interrupted prune had begun to remove (removed).
    fn odd_and_leftovers(&mut self, host: &BuildHost, odd: &[String], leftovers: Vec<String>) {
        for dir in odd {
            let msg = format!(
                "{}: a name with characters outside [A-Za-z0-9._-] in {dir}/; left alone (remove it by hand)",
                host.name
            );
            self.problem(PruneClass::BuildTree, &host.shown(dir), contract(msg));
        }
        for name in leftovers {
            self.step(
                PruneVerb::Remove,
                PruneClass::Leftover,
                host.shown(&format!("source/{name}")),
                None,
                "a tree an interrupted prune had begun to remove".into(),
                Op::RemoveRemote {
                    host: host.clone(),
                    what: "leftover",
                    name,
                    target: None,
                },
            );
        }
    }

    /// The job trees (`source/<id>`, with their mtimes) older than the
    /// policy: removed unless the newest, held by a job, or building.
    fn build_trees(&mut self, host: &BuildHost, listed: Vec<(String, i64)>) {
        // a tree's time: its job's finish, else the start in its id, else
        // the folder's mtime
        let trees: Vec<(String, i64)> = listed
            .into_iter()
            .map(|(id, mtime)| {
                let t = self
                    .jobs
                    .get(&id)
                    .map(|j| j.finished)
                    .or_else(|| {
                        self.archives
                            .get(&id)
                            .and_then(|a| parse_time(&a.finished_at).ok())
                    })
                    .or_else(|| ka_core::names::job_id_time(&id))
                    .unwrap_or(mtime);
                (id, t)
            })
            .collect();
        let newest = trees
            .iter()
            .max_by(|a, b| (a.1, &a.0).cmp(&(b.1, &b.0)))
            .map(|t| t.0.clone());
        for (id, t) in trees {
            let age = self.now - t;
            if age <= self.policy.build_trees {
                continue;
            }
            let path = host.shown(&format!("source/{id}"));
            if newest.as_deref() == Some(id.as_str()) {
                let why = format!("the newest tree on {}", host.name);
                self.held(PruneClass::BuildTree, path, Some(age), why);
                continue;
            }
            if let Some(why) = self.holds.get(&id).cloned() {
                self.held(PruneClass::BuildTree, path, Some(age), why);
                continue;
            }
            let target = target_of(&id).map(str::to_string);
            if let Some(why) = target
                .as_deref()
                .and_then(|t| build_running(self.layout, t))
            {
                self.held(PruneClass::BuildTree, path, Some(age), why);
                continue;
            }
            let why = format!(
                "job finished {} ago; build trees are kept {}",
                human_age(age),
                human_age(self.policy.build_trees)
            );
            self.step(
                PruneVerb::Remove,
                PruneClass::BuildTree,
                path,
                Some(age),
                why,
                Op::RemoveRemote {
                    host: host.clone(),
                    what: "tree",
                    name: id,
                    target,
                },
            );
        }
    }

    /// The source cache entries (name, ctime, link count) older than the
    /// policy: removed unless a job tree still links them.
    fn source_cache(&mut self, host: &BuildHost, cache: Vec<(String, i64, u64)>) {
        for (name, ctime, links) in cache {
            let age = self.now - ctime;
            if age <= self.policy.source_cache {
                continue;
            }
            let path = host.shown(&format!("cache/sources/{name}"));
            if links > 1 {
                let why = "a job tree still links it (removing it would free nothing)".into();
                self.held(PruneClass::SourceCache, path, Some(age), why);
                continue;
            }
            let why = format!(
                "last used {} ago; source cache entries are kept {}",
                human_age(age),
                human_age(self.policy.source_cache)
            );
            self.step(
                PruneVerb::Remove,
                PruneClass::SourceCache,
                path,
                Some(age),
                why,
                Op::RemoveRemote {
                    host: host.clone(),
                    what: "cache",
                    name,
                    target: None,
                },
            );
        }
    }
}

/// Why a build of `target` is running now (its build lock is held), if it is.
fn build_running(layout: &Layout, target: &str) -> Option<String> {
    let lock = layout.locks().join(format!("build-{target}.lock"));
    if !lock.exists() {
        return None;
    }
    match ka_core::hostlock::HostLock::acquire(&lock, &format!("ka-prune build trees of {target}"))
    {
        Ok(_) => None,
        Err(e) => Some(format!("a build of {target} is running: {e}")),
    }
}
