//! Which build hosts may build for a host, in order: `build.host`, then each of
//! `build.fallback`. Each must be a fleet host with `build_host:` for the
//! target's arch and an `ssh:` target.

use ka_core::error::{Result, negative};
use ka_schema::{BuildHostSpec, HostManifest, SshTarget};
use std::path::Path;

#[derive(Debug, Clone)]
pub struct Candidate {
    pub name: String,
    pub spec: BuildHostSpec,
    pub ssh: SshTarget,
}

/// The candidates for `target`, in routing order. A candidate that cannot build
/// for the target at all is a manifest error, not a reason to skip.
pub fn candidates(repo: &Path, target: &HostManifest) -> Result<Vec<Candidate>> {
    let rel = format!("fleet/{}.yaml", target.host);
    let Some(build) = &target.build else {
        return Err(negative(format!(
            "{rel}: no build: section; name a build host (build: {{ host: <name> }})"
        )));
    };
    let mut out = Vec::new();
    for name in std::iter::once(&build.host).chain(&build.fallback) {
        let path = repo.join("fleet").join(format!("{name}.yaml"));
        let shown = format!("fleet/{name}.yaml");
        if !path.is_file() {
            return Err(negative(format!(
                "{rel}: build host {name} has no manifest {shown}"
            )));
        }
        let m = HostManifest::load(&path, &shown)?;
        let spec = m.build_host.clone().ok_or_else(|| {
            negative(format!(
                "{shown}: {name} is not a build host (no build_host: section)"
            ))
        })?;
        if !spec.arches.contains(&target.arch) {
            return Err(negative(format!(
                "{shown}: {name} does not build for {:?} (build_host.arches)",
                target.arch
            )));
        }
        let ssh = m
            .ssh
            .clone()
            .ok_or_else(|| negative(format!("{shown}: {name} has no ssh: target")))?;
        out.push(Candidate {
            name: name.clone(),
            spec,
            ssh,
        });
    }
    Ok(out)
}
