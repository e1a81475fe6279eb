//! The fleet's hosts: one `fleet/<host>.yaml` each. Every verb that takes a
//! host name finds its manifest here, so an unknown host is named the same
//! way everywhere, with the hosts the fleet has, before anything else is said
//! about it.

use crate::{HostManifest, Role};
use ka_core::error::{Error, Result, contract, negative, usage};
use ka_core::names::check_name;
use std::path::{Path, PathBuf};

/// Every host of the fleet repository `repo`: the `fleet/*.yaml` files
/// (not dot-files), in name order.
pub fn hosts(repo: &Path) -> Result<Vec<String>> {
    let dir = repo.join("fleet");
    let mut hosts = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
        let entry = entry.map_err(|e| Error::io(&dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(host) = name.strip_suffix(".yaml")
            && !host.is_empty()
            && !host.starts_with('.')
            && entry.path().is_file()
        {
            hosts.push(host.to_string());
        }
    }
    hosts.sort();
    Ok(hosts)
}

/// The error for a host name the fleet does not have (usage, exit 2):
/// `no host 'fresnell' in the fleet (/srv/fleet/fleet/); hosts: fermi, fresnel`.
pub fn unknown_host(repo: &Path, host: &str) -> Error {
    let dir = repo.join("fleet");
    let known = match hosts(repo) {
        Ok(h) if h.is_empty() => "none yet (add fleet/<host>.yaml)".to_string(),
        Ok(h) => h.join(", "),
        Err(e) => format!("unreadable ({e})"),
    };
    usage(format!(
        "no host '{}' in the fleet ({}/); hosts: {known}",
        ka_core::error::clip(host),
        dir.display()
    ))
}

/// The manifest file of `host` and its repository-relative name
/// (`fleet/<host>.yaml`). An invalid name is refused as such (exit 3), a
/// name without a manifest by [`unknown_host`] (exit 2).
pub fn manifest_path(repo: &Path, host: &str) -> Result<(PathBuf, String)> {
    check_name("host", host)?;
    let shown = format!("fleet/{host}.yaml");
    let path = repo.join(&shown);
    if !path.is_file() {
        return Err(unknown_host(repo, host));
    }
    Ok((path, shown))
}

/// Load the manifest of the fleet host `host`; see [`manifest_path`].
pub fn manifest(repo: &Path, host: &str) -> Result<(HostManifest, String)> {
    let (path, shown) = manifest_path(repo, host)?;
    let m = HostManifest::load(&path, &shown)?;
    Ok((m, shown))
}

/// Refuse (exit 1) an infra host whose manifest does not say `opt_in: true`:
/// kernel-agent never targets it, whatever else is missing.
pub fn refuse_infra(m: &HostManifest, shown: &str) -> Result<()> {
    if m.role == Role::Infra && !m.opt_in {
        return Err(negative(format!(
            "{shown}: {} is an infra host; kernel-agent never targets infra hosts unless the manifest says opt_in: true",
            m.host
        )));
    }
    Ok(())
}

/// The manifest of `host` as the target of a verb (promote, build, publish,
/// install, verify): a fleet host ([`manifest`]) that kernel-agent may target
/// ([`refuse_infra`]). These refusals come before any "run the previous verb
/// first".
pub fn target(repo: &Path, host: &str) -> Result<(HostManifest, String)> {
    let (m, shown) = manifest(repo, host)?;
    refuse_infra(&m, &shown)?;
    Ok((m, shown))
}

/// The fleet's sign host: the one manifest with `sign:`.
pub fn sign_host(repo: &Path) -> Result<HostManifest> {
    let mut found = Vec::new();
    for host in hosts(repo)? {
        let (m, _) = manifest(repo, &host)?;
        if m.sign.is_some() {
            found.push(m);
        }
    }
    match found.len() {
        1 => Ok(found.pop().expect("one")),
        0 => Err(usage(
            "no host of the fleet has sign:; add sign: { key, gnupghome, pacman: {...} or apt: {...} } to the sign host's fleet/<host>.yaml (see ka-formats(5))",
        )),
        _ => Err(contract(format!(
            "more than one sign host ({}): one key signs the fleet's packages; keep sign: in one manifest",
            found
                .iter()
                .map(|m| format!("fleet/{}.yaml", m.host))
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// The fleet's known_hosts: every host key kernel-agent accepts, kept in the
/// repository so that a changed key is a reviewed change.
pub fn known_hosts(repo: &Path) -> PathBuf {
    repo.join("fleet/known_hosts")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fleet(names: &[&str]) -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir(t.path().join("fleet")).unwrap();
        for n in names {
            std::fs::write(t.path().join("fleet").join(n), "").unwrap();
        }
        t
    }

    #[test]
    fn an_unknown_host_is_named_with_the_fleet() {
        let t = fleet(&["ohm.yaml", "fresnel.yaml", ".hidden.yaml", "notes.txt"]);
        let e = manifest_path(t.path(), "fresnell").unwrap_err();
        assert_eq!(e.exit_code(), ka_core::ExitCode::Usage);
        assert_eq!(
            e.to_string(),
            format!(
                "no host 'fresnell' in the fleet ({}/fleet/); hosts: fresnel, ohm",
                t.path().display()
            )
        );
        let (path, shown) = manifest_path(t.path(), "ohm").unwrap();
        assert_eq!(shown, "fleet/ohm.yaml");
        assert!(path.is_file());
        // a name that cannot be a host stays a contract error
        let e = manifest_path(t.path(), "../ohm").unwrap_err();
        assert_eq!(e.exit_code(), ka_core::ExitCode::Contract);
        let empty = fleet(&[]);
        assert!(
            unknown_host(empty.path(), "x")
                .to_string()
                .ends_with("hosts: none yet (add fleet/<host>.yaml)")
        );
    }
}
