//! What to check on one host, gathered from local files before any SSH:
//! the manifest (`ssh:`, `distro`, `verify:`), `installed.json` (bar 2),
//! the manifest's dt/sysfs values (bar 3) and the probes of every series in
//! the promoted manifest.lock (bar 4). Every probe is parsed here, so a bad
//! line stops the host before it is contacted, with `file:line`.

use crate::lang::{self, Probe, Source};
use ka_core::error::{Error, Result, contract, usage};
use ka_core::names::check_name;
use ka_core::paths::Layout;
use ka_run_remote::remote::Credentials;
use ka_schema::{Distro, HostManifest, SeriesMeta, VerifySpec, load_yaml};
use ka_schema::{Installed, Lock, ProbeReport, Span, Transport};
use std::path::Path;

/// One probe of bar 3 or 4, with where it is written.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub bar: u8,
    /// The probe as written (bar 4) or as the manifest's entry reads in the
    /// probe language (bar 3).
    pub text: String,
    /// `file:line`.
    pub source: String,
    pub probe: Probe,
}

/// Everything needed to probe one host.
#[derive(Debug, Clone)]
pub struct HostPlan {
    pub host: String,
    pub transport: Transport,
    /// How long SSH may take to answer (bar 1).
    /// `verify.heartbeat`, or `--heartbeat`.
    pub heartbeat: Span,
    pub distro: Distro,
    /// Bar 2: the package and the version `installed.json` records.
    pub installed: Option<Installed>,
    pub probes: Vec<Compiled>,
    /// What will not be checked, and why.
    pub notes: Vec<String>,
    /// The previous report (`verify/last.json`), for last pass / first fail.
    pub previous: Option<ProbeReport>,
    /// `verify.burn_in` of the manifest.
    pub burn_in: Span,
}

/// Read and check everything about `host`. `heartbeat` overrides the
/// manifest's `verify.heartbeat`.
pub fn plan(
    repo: &Path,
    layout: &Layout,
    host: &str,
    heartbeat: Option<&Span>,
) -> Result<HostPlan> {
    let (manifest_path, shown) = ka_schema::fleet::manifest_path(repo, host)?;
    let manifest = HostManifest::load(&manifest_path, &shown)?;
    let manifest_text = std::fs::read_to_string(&manifest_path).unwrap_or_default();
    let ssh = manifest.ssh.as_ref().ok_or_else(|| {
        usage(format!(
            "{shown}: no ssh: section, so the host cannot be reached: add ssh: {{ address: ..., user: ... }}"
        ))
    })?;
    let verify = manifest
        .verify
        .clone()
        .unwrap_or_else(|| ka_schema::parse_yaml("{}", "default verify").expect("defaults parse"));
    let heartbeat = heartbeat.unwrap_or(&verify.heartbeat).clone();
    if heartbeat.is_zero() {
        return Err(contract(format!(
            "{}: verify.heartbeat {:?} must be longer than zero",
            at_key(&shown, &manifest_text, "heartbeat"),
            heartbeat.as_str()
        )));
    }
    let transport = Credentials::of_fleet(repo, layout)?.transport(host, ssh, &ssh.user);

    let mut notes = Vec::new();
    let mut errors = Vec::new();
    let installed = installed_record(layout, host, &mut notes)?;
    let mut probes = value_probes(&verify, &shown, &manifest_text, &mut errors);
    let series = SeriesContext {
        repo,
        host,
        allow_cmd_probes: verify.allow_cmd_probes,
        shown: &shown,
    };
    probes.extend(lock_probes(&series, layout, &mut notes, &mut errors)?);
    if !errors.is_empty() {
        return Err(contract(errors.join("\n")));
    }

    let previous = read_optional::<ProbeReport>(&layout.last_verify(host))?;
    Ok(HostPlan {
        host: host.to_string(),
        transport,
        heartbeat,
        distro: manifest.distro,
        installed,
        probes,
        notes,
        previous,
        burn_in: verify.burn_in,
    })
}

/// Bar 2: the `installed.json` of `host`, checked to name this host and a
/// valid package; None (and a note saying bar 2 is not checked) when it does
/// not exist yet.
fn installed_record(
    layout: &Layout,
    host: &str,
    notes: &mut Vec<String>,
) -> Result<Option<Installed>> {
    let installed_path = layout.installed(host);
    let installed = read_optional::<Installed>(&installed_path)?;
    match &installed {
        Some(i) if i.host != host => {
            return Err(contract(format!(
                "{}: records host {:?}, not {host}",
                installed_path.display(),
                i.host
            )));
        }
        Some(i) => check_name("package", &i.package)
            .map_err(|e| contract(format!("{}: {e}", installed_path.display())))?,
        None => notes.push(format!(
            "bar 2 not checked: {} does not exist (nothing installed by ka-install yet)",
            installed_path.display()
        )),
    }
    Ok(installed)
}

/// Bar 3: the manifest's device-tree and sysfs values, each written as a
/// probe and parsed; an entry that does not parse goes to `errors` with its
/// `file:line`.
fn value_probes(
    verify: &VerifySpec,
    shown: &str,
    manifest_text: &str,
    errors: &mut Vec<String>,
) -> Vec<Compiled> {
    let entries = verify
        .dt
        .iter()
        .map(|e| (Source::Dt, "dt", e))
        .chain(verify.sysfs.iter().map(|e| {
            let src = if e.0.starts_with("/proc/") {
                Source::Procfs
            } else {
                Source::Sysfs
            };
            (src, "sysfs", e)
        }));
    let mut probes = Vec::new();
    for (src, key, (path, value)) in entries {
        let text = format!("{} {} == {}", src.word(), quote(path), quote(value));
        let source = at_key(shown, manifest_text, path);
        match lang::parse(&text) {
            Ok(probe) => probes.push(Compiled {
                bar: 3,
                text,
                source,
                probe,
            }),
            Err(e) => errors.push(format!("{source}: verify.{key}: {e}")),
        }
    }
    probes
}

/// What reading the series of one host's promoted lock needs to know.
struct SeriesContext<'a> {
    repo: &'a Path,
    host: &'a str,
    /// `verify.allow_cmd_probes` of the host's manifest.
    allow_cmd_probes: bool,
    /// The manifest as error messages name it.
    shown: &'a str,
}

/// Bar 4: the probes of every series in the promoted lock, in lock order;
/// none (and a note saying bar 4 is not checked) when the host has no
/// promoted lock. A bad series reference stops the host at once; a missing
/// or bad series.yaml or probe goes to `errors`.
fn lock_probes(
    cx: &SeriesContext,
    layout: &Layout,
    notes: &mut Vec<String>,
    errors: &mut Vec<String>,
) -> Result<Vec<Compiled>> {
    let lock_path = layout.promoted(cx.host).join("manifest.lock");
    let Some(lock) = read_optional::<Lock>(&lock_path)? else {
        notes.push(format!(
            "bar 4 not checked: {} does not exist (the host has no promoted lock)",
            lock_path.display()
        ));
        return Ok(Vec::new());
    };
    let mut series: Vec<&str> = Vec::new();
    for p in &lock.patches {
        if !series.contains(&p.series.as_str()) {
            series.push(&p.series);
        }
    }
    let mut probes = Vec::new();
    for s in series {
        ka_schema::check_series_ref(s)
            .map_err(|e| contract(format!("{}: {e}", lock_path.display())))?;
        probes.extend(series_probes(cx, s, errors));
    }
    Ok(probes)
}

/// The probes of series `s` (its `patches/<s>/series.yaml`), each parsed and
/// checked against `verify.allow_cmd_probes`; what is missing or does not
/// parse goes to `errors` with its `file:line`.
fn series_probes(cx: &SeriesContext, s: &str, errors: &mut Vec<String>) -> Vec<Compiled> {
    let rel = format!("patches/{s}/series.yaml");
    let path = cx.repo.join(&rel);
    if !path.exists() {
        errors.push(format!(
            "{rel}: missing, but the promoted lock of {} lists series {s}: promote again or restore it",
            cx.host
        ));
        return Vec::new();
    }
    let meta: SeriesMeta = match load_yaml(&path, &rel) {
        Ok(m) => m,
        Err(e) => {
            errors.push(e.to_string());
            return Vec::new();
        }
    };
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    let lines = item_lines(&text, "probes");
    let mut probes = Vec::new();
    for (i, line) in meta.probes.iter().enumerate() {
        let source = match lines.get(i) {
            Some(n) => format!("{rel}:{n}"),
            None => format!("{rel}: probes[{i}]"),
        };
        let parsed = lang::parse(line)
            .and_then(|p| lang::check_allowed(&p, cx.allow_cmd_probes, cx.shown).map(|_| p));
        match parsed {
            Ok(probe) => probes.push(Compiled {
                bar: 4,
                text: line.clone(),
                source,
                probe,
            }),
            Err(e) => errors.push(format!("{source}: {e}")),
        }
    }
    probes
}

/// Read a JSON document that may not exist yet; a corrupt one is an error
/// naming its file.
pub fn read_optional<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    match std::fs::metadata(path) {
        Ok(_) => ka_core::stream::read_file(path).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Quote a word for the probe language when it needs it.
fn quote(w: &str) -> String {
    if !w.is_empty()
        && !w
            .chars()
            .any(|c| c.is_whitespace() || c == '"' || c == '\'')
    {
        w.to_string()
    } else {
        format!("\"{}\"", w.replace('\\', "\\\\").replace('"', "\\\""))
    }
}

/// `file:line` of the first line mentioning `key` (the file alone when none does).
fn at_key(shown: &str, text: &str, key: &str) -> String {
    match text.lines().position(|l| l.contains(key)) {
        Some(i) => format!("{shown}:{}", i + 1),
        None => shown.to_string(),
    }
}

/// The 1-based line numbers of the items of the top-level block list `key:`.
/// (A flow list `key: [a, b]` gives none: the caller names the index instead.)
pub fn item_lines(text: &str, key: &str) -> Vec<usize> {
    let mut out = Vec::new();
    let mut inside = false;
    let head = format!("{key}:");
    for (i, line) in text.lines().enumerate() {
        let top = !line.starts_with([' ', '\t']);
        let trimmed = line.trim_start();
        if top && !line.trim().is_empty() && !line.starts_with('#') && !line.starts_with('-') {
            inside = line.trim_end() == head;
            continue;
        }
        if inside && (trimmed.starts_with("- ") || trimmed == "-") {
            out.push(i + 1);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lang::Test;

    #[test]
    fn probe_lines_are_found() {
        let text = "scope: x\nprobes:\n  - 'sysfs /sys/a == 1'\n  # note\n  - dmesg must-match x\nafter: []\n";
        assert_eq!(item_lines(text, "probes"), [3, 5]);
        let text = "probes:\n- a\n- b\nscope: x\n";
        assert_eq!(item_lines(text, "probes"), [2, 3]);
    }

    #[test]
    fn quoting() {
        assert_eq!(quote("Pine64 Pinebook Pro"), "\"Pine64 Pinebook Pro\"");
        assert_eq!(quote("2184000"), "2184000");
        assert!(matches!(
            lang::parse(&format!("dt model == {}", quote("a \"b\""))).unwrap(),
            Probe::Value { test: Test::Eq(v), .. } if v == "a \"b\""
        ));
    }
}
