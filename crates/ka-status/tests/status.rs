//! ka-status over a temp fleet repository and KA_ROOT: local files only.

use assert_cmd::Command;
use ka_testkit::env::Env;
use predicates::prelude::*;
use predicates::str::contains;
use std::fs;
use std::path::PathBuf;
use tempfile::TempDir;

const NOW: &str = "2026-03-02T08:00:00Z";
const LOCK: &str = r#"{"kind":"ka.lock","version":1,"host":"fresnel","manifest":"fleet/fresnel.yaml","manifest_b2sum":"00","baseline":{"spec":{"tarball":"/x.tar.xz"},"commit":"c0"},"patches":[],"cumulative":{"file":"cumulative.patch","size":0,"b2sum":"00"}}
"#;

/// The kit's KA_ROOT and HOME at `NOW`, and a fleet repository (`KA_REPO`)
/// of three hosts.
struct FleetEnv {
    env: Env,
    repo: TempDir,
}

impl FleetEnv {
    fn new() -> FleetEnv {
        let e = FleetEnv {
            env: Env::new().now(NOW),
            repo: tempfile::tempdir().unwrap(),
        };
        for (host, distro, arch) in [
            ("fresnel", "arch", "aarch64"),
            ("ohm", "debian", "x86_64"),
            ("boltzmann", "arch", "aarch64"),
        ] {
            let kernel = if host == "boltzmann" {
                String::new()
            } else {
                format!(
                    "kernel:\n  pkgbase: linux-{host}\n  suffix: {host}\n  baseline: {{ tarball: /x.tar.xz }}\n"
                )
            };
            e.write(
                &format!("repo:fleet/{host}.yaml"),
                &format!("host: {host}\nrole: dev\narch: {arch}\ndistro: {distro}\n{kernel}"),
            );
        }
        e
    }
    fn path(&self, rel: &str) -> PathBuf {
        match rel.strip_prefix("repo:") {
            Some(r) => self.repo.path().join(r),
            None => self.env.root().join(rel),
        }
    }
    fn write(&self, rel: &str, text: &str) {
        let p = self.path(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
    }
    fn cmd(&self) -> Command {
        let mut c = self.env.cmd("ka-status");
        c.env("KA_REPO", self.repo.path());
        c
    }
    fn stdout(&self, args: &[&str]) -> String {
        let out = self
            .cmd()
            .args(args)
            .assert()
            .success()
            .get_output()
            .stdout
            .clone();
        String::from_utf8(out).unwrap()
    }
    fn json(&self) -> Vec<serde_json::Value> {
        let out = self.stdout(&["--json"]);
        out.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// A full picture for fresnel: installed, built, published, a drift
    /// block, a verify report; and a build job for ohm that failed.
    fn populate(&self) {
        self.write(
            "hosts/fresnel/installed.json",
            r#"{"kind":"ka.installed","version":1,"host":"fresnel","package":"linux-fresnel","package_version":"6.1.158-1","installed_at":"2026-02-28T08:00:00Z","boot_id":"0b7e"}"#,
        );
        let job = |id: &str, code: i32| {
            format!(
                r#"{{"kind":"ka.job-result","version":1,"id":"{id}","host":"boltzmann","argv":["makepkg"],"exit_code":{code},"duration_ms":1,"stalled":false,"capped":false,"log":"/x/build.log"}}"#
            )
        };
        let old = "fresnel-20260301T070000Z-0123abcd";
        let new = "fresnel-20260301T090000Z-4567abcd";
        let broken = "fresnel-20260301T100000Z-89abcdef";
        self.write(&format!("jobs/{old}.json"), &job(old, 0));
        self.write(&format!("jobs/{new}.json"), &job(new, 0));
        self.write(&format!("jobs/{broken}.json"), &job(broken, 2));
        self.write(
            &format!("output/{old}/linux-fresnel-6.1.158-1-aarch64.pkg.tar.gz"),
            "p",
        );
        self.write(
            &format!("output/{new}/linux-fresnel-6.1.158-2-aarch64.pkg.tar.gz"),
            "p",
        );
        self.write(
            &format!("output/{new}/linux-fresnel-headers-6.1.158-2-aarch64.pkg.tar.gz"),
            "p",
        );
        let ohm = "ohm-20260301T090000Z-4567abcd";
        self.write(&format!("jobs/{ohm}.json"), &job(ohm, 0));
        self.write(
            &format!("output/{ohm}/linux-image-6.1.158-ohm_6.1.158-3_amd64.deb"),
            "p",
        );
        self.write(
            "hosts/fresnel/verify/last.json",
            r#"{"kind":"ka.probe-report","version":1,"host":"fresnel","at":"2026-03-02T05:00:00Z","passed":false,"bars":[{"bar":1,"probe":"heartbeat","passed":true,"expected":"up","actual":"up"},{"bar":3,"probe":"dt model","passed":false,"expected":"Pine64 Pinebook Pro","actual":"?"}]}"#,
        );
        self.write("hosts/fresnel/promoted/manifest.lock", LOCK);
        // promoted at 2026-03-01T20:00:00Z, 12 h before NOW
        fs::File::open(self.path("hosts/fresnel/promoted"))
            .unwrap()
            .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_772_395_200))
            .unwrap();
        // Files written as the notice store writes them, at fixed times.
        for (version, at, open) in [
            ("6.1.158-1", "2026-02-27T08:00:00Z", false),
            ("6.1.158-2", "2026-03-01T10:00:00Z", true),
        ] {
            let subject = ka_schema::NoticeSubject::Package {
                host: "fresnel".into(),
                package: "linux-fresnel".into(),
                version: version.into(),
            };
            let id = ka_notice::notice_id(ka_schema::NoticeKind::Installable, &subject);
            let n = ka_schema::Notice {
                kind: Default::default(),
                version: ka_schema::V1,
                id: id.clone(),
                notice: ka_schema::NoticeKind::Installable,
                subject,
                title: format!("[ka:installable] linux-fresnel {version} for fresnel"),
                detail: String::new(),
                state: if open {
                    ka_schema::NoticeState::Open
                } else {
                    ka_schema::NoticeState::Closed
                },
                opened_at: at.into(),
                updated_at: at.into(),
                filings: 1,
                closed_at: None,
                close_reason: None,
            };
            self.write(
                &format!("notices/{id}.json"),
                &serde_json::to_string(&n).unwrap(),
            );
        }
        let block = |kind: ka_schema::BlockKind, subject: ka_schema::Subject| {
            let id = ka_block::store::block_id(kind, &subject);
            let b = ka_schema::Block {
                kind: Default::default(),
                version: ka_schema::V1,
                id: id.clone(),
                block: kind,
                subject,
                title: format!("[ka:{}] t", kind.as_str()),
                detail: String::new(),
                state: ka_schema::BlockState::Open,
                opened_at: NOW.into(),
                updated_at: NOW.into(),
                filings: 1,
                lifted_at: None,
                lift_reason: None,
            };
            self.write(
                &format!("blocks/{id}.json"),
                &serde_json::to_string(&b).unwrap(),
            );
            id
        };
        block(
            ka_schema::BlockKind::HostDrifted,
            ka_schema::Subject::Host {
                host: "fresnel".into(),
            },
        );
        block(
            ka_schema::BlockKind::BuildFail,
            ka_schema::Subject::BuildHost {
                host: "boltzmann".into(),
            },
        );
        block(
            ka_schema::BlockKind::PatchFail,
            ka_schema::Subject::Patch {
                patch: "patches/x/0001-x.patch".into(),
            },
        );
    }
}

#[test]
fn a_fresh_fleet_shows_every_host_with_dashes() {
    let e = FleetEnv::new();
    let out = e.stdout(&[]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    assert!(lines[0].starts_with("HOST"));
    assert!(lines[0].contains("INSTALLED") && lines[0].contains("VERIFY"));
    for (line, host) in lines[1..].iter().zip(["boltzmann", "fresnel", "ohm"]) {
        assert!(line.starts_with(host), "{line}");
        assert!(line.contains('—') && line.contains(" no "), "{line}");
    }
}

#[test]
fn every_source_lands_in_its_column() {
    let e = FleetEnv::new();
    e.populate();
    let out = e.stdout(&[]);
    let fresnel = out.lines().find(|l| l.starts_with("fresnel")).unwrap();
    let cols: Vec<&str> = fresnel
        .split("  ")
        .filter(|c| !c.is_empty())
        .map(str::trim)
        .collect();
    let promotion = &ka_core::hash::b2sum(LOCK.as_bytes())[..8];
    assert!(out.lines().next().unwrap().contains("PROMOTED"), "{out}");
    assert_eq!(cols[1], "6.1.158-1", "installed: {fresnel}");
    assert_eq!(
        cols[2],
        format!("{promotion} 12h ago"),
        "promoted: {fresnel}"
    );
    assert_eq!(cols[3], "6.1.158-2", "newest successful build: {fresnel}");
    assert_eq!(cols[4], "6.1.158-2", "published: {fresnel}");
    assert_eq!(cols[5], "6.1.158-2", "installable: {fresnel}");
    assert_eq!(cols[6], "DRIFTED");
    assert!(cols[7].starts_with("host-drifted-"), "{fresnel}");
    assert_eq!(cols[8], "FAIL 3h ago");
    let ohm = out.lines().find(|l| l.starts_with("ohm")).unwrap();
    assert!(ohm.contains("6.1.158-3"), "{ohm}");
    let boltzmann = out.lines().find(|l| l.starts_with("boltzmann")).unwrap();
    assert!(
        boltzmann.contains("build-fail-"),
        "a build host's blocks: {boltzmann}"
    );
    assert!(out.contains("patch blocks"), "{out}");
}

#[test]
fn json_is_one_host_status_document_per_host() {
    let e = FleetEnv::new();
    e.populate();
    let docs = e.json();
    assert_eq!(docs.len(), 3);
    let f = docs.iter().find(|d| d["host"] == "fresnel").unwrap();
    assert_eq!(f["kind"], "ka.host-status");
    assert_eq!(f["installed"]["package_version"], "6.1.158-1");
    assert_eq!(f["installed"]["boot_id"], "0b7e");
    assert_eq!(f["built"]["job"], "fresnel-20260301T090000Z-4567abcd");
    assert_eq!(f["built"]["at"], "2026-03-01T09:00:00Z");
    assert_eq!(f["built"]["files"].as_array().unwrap().len(), 2);
    assert_eq!(f["published"]["package_version"], "6.1.158-2");
    assert_eq!(f["installable"].as_array().unwrap().len(), 1);
    assert_eq!(f["drifted"], true);
    assert_eq!(f["verify"]["passed"], false);
    assert_eq!(f["verify"]["failed_bars"], serde_json::json!([3]));
    assert_eq!(f["promoted"], ka_core::hash::b2sum(LOCK.as_bytes()));
    assert_eq!(f["promoted_at"], "2026-03-01T20:00:00Z");
    assert!(f.get("errors").is_none());
    let b = docs.iter().find(|d| d["host"] == "boltzmann").unwrap();
    assert!(b.get("installed").is_none());
    assert!(b.get("promoted").is_none() && b.get("promoted_at").is_none());
    assert_eq!(b["drifted"], false);
}

#[test]
fn one_host_in_detail() {
    let e = FleetEnv::new();
    e.populate();
    e.cmd()
        .arg("fresnel")
        .assert()
        .success()
        .stdout(contains("host:        fresnel"))
        .stdout(contains(format!(
            "promoted:    {} (12h ago, 2026-03-01T20:00:00Z, 0 patches on baseline /x.tar.xz, manifest.lock b2sum {})",
            &ka_core::hash::b2sum(LOCK.as_bytes())[..8],
            &ka_core::hash::b2sum(LOCK.as_bytes())[..16]
        )))
        .stdout(contains("installed:   linux-fresnel 6.1.158-1 (2d ago"))
        .stdout(contains(
            "built:       6.1.158-2 (job fresnel-20260301T090000Z-4567abcd",
        ))
        .stdout(contains(
            "installable: linux-fresnel 6.1.158-2 (installable-",
        ))
        .stdout(contains("ka-install fresnel"))
        .stdout(contains("block:       host-drifted-"))
        .stdout(contains(
            "verify:      FAIL 3h ago (2026-03-02T05:00:00Z), failed bars 3",
        ))
        .stdout(contains("ohm").not());
    e.cmd()
        .arg("nosuch")
        .assert()
        .code(2)
        .stderr(contains("no host nosuch"));
}

#[test]
fn a_corrupt_file_is_named_and_the_other_hosts_still_show() {
    let e = FleetEnv::new();
    e.populate();
    let installed = e.path("hosts/fresnel/installed.json");
    let text = fs::read_to_string(&installed).unwrap();
    fs::write(&installed, &text[..text.len() / 2]).unwrap();
    let out = e
        .cmd()
        .assert()
        .code(3)
        .stderr(contains("corrupt"))
        .stderr(contains(installed.display().to_string()))
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    assert_eq!(
        out.lines()
            .filter(|l| !l.starts_with("patch blocks"))
            .count(),
        4,
        "{out}"
    );
    let fresnel = out.lines().find(|l| l.starts_with("fresnel")).unwrap();
    let cols: Vec<&str> = fresnel
        .split("  ")
        .filter(|c| !c.is_empty())
        .map(str::trim)
        .collect();
    assert_eq!(cols[1], "?", "{fresnel}");
    assert_eq!(cols[3], "6.1.158-2", "other fields still shown: {fresnel}");
    assert!(
        out.lines()
            .any(|l| l.starts_with("ohm") && l.contains("6.1.158-3"))
    );
    // --json carries the error in the host's document
    let out = e
        .cmd()
        .arg("--json")
        .assert()
        .code(3)
        .get_output()
        .stdout
        .clone();
    let docs: Vec<serde_json::Value> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let f = docs.iter().find(|d| d["host"] == "fresnel").unwrap();
    assert!(f["errors"][0].as_str().unwrap().contains("installed.json"));
    assert_eq!(docs.len(), 3);
}

#[test]
fn a_corrupt_block_record_marks_every_host_and_fails() {
    let e = FleetEnv::new();
    e.populate();
    let dir = e.path("blocks");
    let rec = fs::read_dir(&dir).unwrap().next().unwrap().unwrap().path();
    fs::write(&rec, "{\"kind\":\"ka.block\",").unwrap();
    let out = e
        .cmd()
        .assert()
        .code(3)
        .stderr(contains(rec.display().to_string()))
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    for line in out.lines().skip(1).filter(|l| !l.starts_with("patch")) {
        assert!(line.contains(" ? "), "{line}");
    }
    // an unknown block kind is a corrupt record too
    fs::write(
        &rec,
        fs::read_to_string(
            dir.join(
                fs::read_dir(&dir)
                    .unwrap()
                    .nth(1)
                    .unwrap()
                    .unwrap()
                    .file_name(),
            ),
        )
        .unwrap()
        .replace("\"block\":\"", "\"block\":\"on-fire-"),
    )
    .unwrap();
    e.cmd().assert().code(3).stderr(contains("on-fire-"));
}

#[test]
fn a_record_of_another_host_is_refused() {
    let e = FleetEnv::new();
    e.write(
        "hosts/ohm/verify/last.json",
        r#"{"kind":"ka.probe-report","version":1,"host":"fresnel","at":"2026-03-02T05:00:00Z","passed":true,"bars":[]}"#,
    );
    e.cmd()
        .assert()
        .code(3)
        .stderr(contains("records host \"fresnel\""));
}

#[test]
fn a_corrupt_job_record_is_named() {
    let e = FleetEnv::new();
    e.write("jobs/ohm-20260301T090000Z-4567abcd.json", "{");
    e.cmd()
        .assert()
        .code(3)
        .stderr(contains("jobs/ohm-20260301T090000Z-4567abcd.json"));
}

#[test]
fn a_broken_manifest_is_named_and_the_host_still_listed() {
    let e = FleetEnv::new();
    e.write("repo:fleet/ohm.yaml", "host: ohm\nrole: dev\nflavour: x\n");
    let out = e
        .cmd()
        .assert()
        .code(3)
        .stderr(contains("fleet/ohm.yaml"))
        .get_output()
        .stdout
        .clone();
    assert_eq!(String::from_utf8(out).unwrap().lines().count(), 4);
}

#[test]
fn live_is_refused_until_ka_probe_exists() {
    let e = FleetEnv::new();
    e.cmd()
        .arg("--live")
        .assert()
        .code(2)
        .stderr(contains("ka-probe"));
}

#[test]
fn a_promoted_lock_of_another_host_is_refused_and_marks_the_column() {
    let e = FleetEnv::new();
    e.write("hosts/ohm/promoted/manifest.lock", LOCK);
    let out = e
        .cmd()
        .assert()
        .code(3)
        .stderr(contains("records host \"fresnel\""))
        .get_output()
        .stdout
        .clone();
    let out = String::from_utf8(out).unwrap();
    let ohm = out.lines().find(|l| l.starts_with("ohm")).unwrap();
    let cols: Vec<&str> = ohm
        .split("  ")
        .filter(|c| !c.is_empty())
        .map(str::trim)
        .collect();
    assert_eq!(cols[2], "?", "{ohm}");
}

#[test]
fn a_fleet_without_hosts_prints_nothing_when_piped() {
    let e = FleetEnv::new();
    for host in ["fresnel", "ohm", "boltzmann"] {
        fs::remove_file(e.path(&format!("repo:fleet/{host}.yaml"))).unwrap();
    }
    // stdout is a pipe here; on a terminal it says "no hosts: <repo>/fleet has
    // no <host>.yaml" (tests/wrappers/output.bats)
    assert_eq!(e.stdout(&[]), "");
    assert_eq!(e.stdout(&["--json"]), "");
}
