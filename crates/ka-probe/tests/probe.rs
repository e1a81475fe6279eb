//! ka-probe and ka-verify-run against a real OpenSSH sshd on loopback
//! (tests/sshd): the probes read this machine's real /sys and /proc over SSH
//! as the login user (kbuild when the tests run as root).

use ka_testkit::env::Env;
use ka_testkit::sshd;

use assert_cmd::Command;
use predicates::str::contains;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The kit's KA_ROOT and HOME at `T0`, and a fleet repository (`KA_REPO`)
/// whose hosts are reached with the sshd's identity and known_hosts.
struct FleetEnv {
    env: Env,
    repo: tempfile::TempDir,
    identity: PathBuf,
}

const T0: &str = "2026-03-01T10:00:00Z";

fn lock(host: &str, series: &[&str]) -> String {
    let patches: Vec<String> = series
        .iter()
        .map(|s| {
            let scope = s.rsplit_once('/').unwrap().0;
            format!(
                r#"{{"path":"patches/{s}/0001-x.patch","scope":"{scope}","series":"{s}","campaign":"c","size":1,"b2sum":"00"}}"#
            )
        })
        .collect();
    format!(
        r#"{{"kind":"ka.lock","version":1,"host":"{host}","manifest":"fleet/{host}.yaml","manifest_b2sum":"00","baseline":{{"spec":{{"tarball":"/x.tar.xz"}},"commit":"c0"}},"patches":[{}],"cumulative":{{"file":"cumulative.patch","size":0,"b2sum":"00"}}}}"#,
        patches.join(",")
    )
}

impl FleetEnv {
    fn new(server: &sshd::Sshd) -> FleetEnv {
        let repo = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(repo.path().join("fleet")).unwrap();
        std::fs::copy(&server.known_hosts, repo.path().join("fleet/known_hosts")).unwrap();
        FleetEnv {
            env: Env::new().now(T0),
            repo,
            identity: server.identity.clone(),
        }
    }

    fn write(&self, rel: &str, text: &str) {
        let p = match rel.strip_prefix("repo:") {
            Some(r) => self.repo.path().join(r),
            None => self.env.root().join(rel),
        };
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, text).unwrap();
    }

    /// A fleet host reached at `port`, with `verify_extra` under verify:.
    fn host(&self, host: &str, port: u16, user: &str, verify_extra: &str) {
        self.write(
            &format!("repo:fleet/{host}.yaml"),
            &format!(
                "host: {host}\nrole: dev\narch: x86_64\ndistro: debian\nssh: {{ address: 127.0.0.1, port: {port}, user: {user} }}\nverify:\n  heartbeat: 20s\n{verify_extra}"
            ),
        );
    }

    /// Promote `series` (with their probes) for `host`.
    fn series(&self, host: &str, series: &str, probes: &[&str]) {
        let scope = series.rsplit_once('/').unwrap().0;
        let mut y = format!("scope: {scope}\ncampaign: c\nprobes:\n");
        for p in probes {
            y.push_str(&format!("  - '{}'\n", p.replace('\'', "''")));
        }
        self.write(&format!("repo:patches/{series}/series.yaml"), &y);
        let path = self
            .env
            .root()
            .join(format!("hosts/{host}/promoted/manifest.lock"));
        let mut all: Vec<String> = std::fs::read_to_string(&path)
            .ok()
            .map(|t| {
                let v: Value = serde_json::from_str(&t).unwrap();
                v["patches"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| p["series"].as_str().unwrap().to_string())
                    .collect()
            })
            .unwrap_or_default();
        if !all.iter().any(|s| s == series) {
            all.push(series.to_string());
        }
        let refs: Vec<&str> = all.iter().map(String::as_str).collect();
        self.write(
            &format!("hosts/{host}/promoted/manifest.lock"),
            &lock(host, &refs),
        );
    }

    fn cmd(&self, bin: &str) -> Command {
        let mut c = self.env.cmd(bin);
        c.env("KA_REPO", self.repo.path())
            .env("KA_SSH_IDENTITY", &self.identity)
            .env_remove("KA_GITEA_TOKEN");
        c
    }

    fn blocks(&self) -> Vec<Value> {
        let dir = self.env.root().join("blocks");
        let mut out = Vec::new();
        if let Ok(d) = std::fs::read_dir(&dir) {
            for e in d.flatten() {
                let v: Value =
                    serde_json::from_str(&std::fs::read_to_string(e.path()).unwrap()).unwrap();
                out.push(v);
            }
        }
        out.sort_by_key(|b| b["block"].as_str().unwrap_or_default().to_string());
        out
    }

    fn last(&self, host: &str) -> Value {
        serde_json::from_str(
            &std::fs::read_to_string(
                self.env
                    .root()
                    .join(format!("hosts/{host}/verify/last.json")),
            )
            .unwrap(),
        )
        .unwrap()
    }
}

fn reports(out: &[u8]) -> Vec<Value> {
    String::from_utf8_lossy(out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn bar<'a>(r: &'a Value, probe: &str) -> &'a Value {
    r["bars"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["probe"] == probe)
        .unwrap_or_else(|| panic!("no result for {probe}: {r:#}"))
}

fn local(path: &str) -> String {
    std::fs::read_to_string(path).unwrap().trim().to_string()
}

#[test]
fn bars_pass_on_the_real_proc_and_sys_over_ssh() {
    let s = sshd::Sshd::start();
    let e = FleetEnv::new(&s);
    e.host(
        "ohm",
        s.port,
        &s.user,
        "  sysfs: { /proc/sys/kernel/ostype: Linux }\n",
    );
    e.series(
        "ohm",
        "subsystem/kernel/basics",
        &[
            "procfs /proc/sys/kernel/ostype == Linux",
            "procfs /proc/sys/kernel/osrelease ~ ^[0-9]+\\.[0-9]+",
            "procfs /proc/sys/kernel/pid_max > 0",
            "procfs /proc/sys/kernel/pid_max <= 4194304",
            "sysfs /sys/kernel/uevent_seqnum >= 0",
            "procfs /proc/filesystems contains proc",
            "file exists /proc/sys/kernel/random/boot_id",
            "file missing /sys/ka-probe-no-such-file",
            "file exists /dev/null",
        ],
    );
    let out = e.cmd("ka-probe").arg("ohm").assert().success();
    let r = &reports(&out.get_output().stdout)[0];
    assert_eq!(r["kind"], "ka.probe-report");
    assert_eq!(r["passed"], true, "{r:#}");
    assert_eq!(r["at"], T0);
    assert_eq!(r["boot_id"], local("/proc/sys/kernel/random/boot_id"));
    assert_eq!(r["kernel_release"], local("/proc/sys/kernel/osrelease"));
    assert_eq!(bar(r, "heartbeat")["bar"], 1);
    let b3 = bar(r, "procfs /proc/sys/kernel/ostype == Linux");
    // the same text is a bar 3 entry (manifest) and a bar 4 probe (series)
    assert!(r["bars"].as_array().unwrap().iter().any(|b| b["bar"] == 3));
    assert_eq!(b3["actual"], "Linux");
    assert_eq!(b3["last_pass"], T0);
    let b4 = r["bars"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["bar"] == 4 && b["probe"] == "procfs /proc/sys/kernel/ostype == Linux")
        .unwrap();
    assert_eq!(
        b4["source"],
        "patches/subsystem/kernel/basics/series.yaml:4"
    );
    // bar 2 has nothing to compare with yet, and says so
    assert!(
        r["notes"][0]
            .as_str()
            .unwrap()
            .contains("bar 2 not checked")
    );
    // ka-probe writes nothing
    assert!(!e.env.root().join("hosts/ohm/verify").exists());
}

#[test]
fn a_failing_probe_files_regression_and_drift_and_a_pass_lifts_neither() {
    let s = sshd::Sshd::start();
    let e = FleetEnv::new(&s);
    e.host("ohm", s.port, &s.user, "");
    e.series(
        "ohm",
        "driver/x/fix",
        &["procfs /proc/sys/kernel/ostype == Plan9"],
    );
    let out = e.cmd("ka-verify-run").arg("ohm").assert().code(1);
    let res = &reports(&out.get_output().stdout)[0];
    assert_eq!(res["kind"], "ka.result");
    assert_eq!(res["status"], "failed");
    let msg = res["message"].as_str().unwrap();
    assert!(msg.contains("expected == Plan9, actual Linux"), "{msg}");
    let last = e.last("ohm");
    assert_eq!(last["passed"], false);
    let b = bar(&last, "procfs /proc/sys/kernel/ostype == Plan9");
    assert_eq!(b["first_fail"], T0);
    assert!(b.get("last_pass").is_none());
    let hist: Vec<_> = std::fs::read_dir(e.env.root().join("hosts/ohm/verify/history"))
        .unwrap()
        .collect();
    assert_eq!(hist.len(), 1);
    let blocks = e.blocks();
    let kinds: Vec<&str> = blocks
        .iter()
        .map(|b| b["block"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["host-drifted", "regression"]);
    for b in &blocks {
        assert_eq!(b["subject"]["host"], "ohm");
        let d = b["detail"].as_str().unwrap();
        assert!(
            d.contains("bar 4 `procfs /proc/sys/kernel/ostype == Plan9`"),
            "{d}"
        );
        assert!(d.contains("expected == Plan9, actual Linux"), "{d}");
        assert!(
            d.contains("last pass never, first fail 2026-03-01T10:00:00Z"),
            "{d}"
        );
        assert!(d.contains("series.yaml:4"), "{d}");
    }
    assert!(res["blocks"].as_array().unwrap().len() == 2);

    // Fixed: the probe passes, the report says so, the blocks stay open.
    e.series(
        "ohm",
        "driver/x/fix",
        &["procfs /proc/sys/kernel/ostype == Linux"],
    );
    e.cmd("ka-verify-run")
        .arg("ohm")
        .env("KA_NOW", "2026-03-01T11:00:00Z")
        .assert()
        .success();
    assert_eq!(e.last("ohm")["passed"], true);
    assert!(e.blocks().iter().all(|b| b["state"] == "open"));
    assert_eq!(
        std::fs::read_dir(e.env.root().join("hosts/ohm/verify/history"))
            .unwrap()
            .count(),
        2
    );
}

#[test]
fn last_pass_and_first_fail_are_kept_across_runs() {
    let s = sshd::Sshd::start();
    let e = FleetEnv::new(&s);
    e.host("ohm", s.port, &s.user, "");
    e.series("ohm", "driver/x/fix", &["file missing /sys/ka-probe-flag"]);
    e.cmd("ka-verify-run").arg("ohm").assert().success();
    // the "same" probe now fails: turn it around by editing the series
    e.series(
        "ohm",
        "driver/x/fix",
        &[
            "file missing /sys/ka-probe-flag",
            "file exists /proc/ka-none",
        ],
    );
    for t in ["2026-03-01T11:00:00Z", "2026-03-01T12:00:00Z"] {
        e.cmd("ka-verify-run")
            .arg("ohm")
            .env("KA_NOW", t)
            .assert()
            .code(1);
    }
    let last = e.last("ohm");
    let ok = bar(&last, "file missing /sys/ka-probe-flag");
    assert_eq!(ok["last_pass"], "2026-03-01T12:00:00Z");
    let bad = bar(&last, "file exists /proc/ka-none");
    assert_eq!(bad["first_fail"], "2026-03-01T11:00:00Z");
    assert_eq!(bad["actual"], "missing");
}

#[test]
fn a_file_that_cannot_be_read_fails_with_the_reason_and_the_others_still_read() {
    let s = sshd::Sshd::start();
    let e = FleetEnv::new(&s);
    e.host("ohm", s.port, &s.user, "");
    e.series(
        "ohm",
        "driver/x/fix",
        &[
            "procfs /proc/sys/kernel/ostype == Linux",
            "sysfs /sys/ka-probe-no-such-file == 1",
            "procfs /proc/sys/kernel/pid_max > 0",
            "file exists /dev/null",
        ],
    );
    let out = e.cmd("ka-probe").arg("ohm").assert().code(1);
    let r = &reports(&out.get_output().stdout)[0];
    assert_eq!(r["boot_id"], local("/proc/sys/kernel/random/boot_id"));
    let missing = bar(r, "sysfs /sys/ka-probe-no-such-file == 1");
    assert_eq!(missing["passed"], false);
    assert_eq!(missing["actual"], "(not readable)");
    assert!(
        missing["error"].as_str().unwrap().contains("No such file"),
        "{missing:#}"
    );
    assert_eq!(
        bar(r, "procfs /proc/sys/kernel/ostype == Linux")["actual"],
        "Linux"
    );
    assert_eq!(
        bar(r, "procfs /proc/sys/kernel/pid_max > 0")["actual"],
        local("/proc/sys/kernel/pid_max")
    );
    assert_eq!(bar(r, "file exists /dev/null")["passed"], true);
}

#[test]
fn a_restricted_kernel_log_is_not_readable_rather_than_passing() {
    let s = sshd::Sshd::start();
    let e = FleetEnv::new(&s);
    e.host("ohm", s.port, &s.user, "");
    e.series("ohm", "driver/x/fix", &["dmesg must-not-match \"Oops: \""]);
    let out = e.cmd("ka-probe").arg("ohm").assert();
    let out = out.get_output();
    let r = &reports(&out.stdout)[0];
    let b = bar(r, "dmesg must-not-match \"Oops: \"");
    let restricted = local("/proc/sys/kernel/dmesg_restrict") == "1" && s.user != "root";
    if restricted {
        assert_eq!(b["passed"], false, "{b:#}");
        assert_eq!(b["actual"], "(not readable)");
        assert!(
            b["error"].as_str().unwrap().contains("dmesg_restrict"),
            "{b:#}"
        );
        assert_eq!(out.status.code(), Some(1));
    } else if b["passed"] == false {
        assert!(b.get("error").is_some() || b["actual"] != "(not readable)");
    }
}

#[test]
fn bar_2_compares_the_package_manager_with_installed_json() {
    let s = sshd::Sshd::start();
    let e = FleetEnv::new(&s);
    e.host("ohm", s.port, &s.user, "");
    let version = String::from_utf8(
        std::process::Command::new("dpkg-query")
            .args(["-W", "-f=${Version}", "coreutils"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let installed = |v: &str| {
        format!(
            r#"{{"kind":"ka.installed","version":1,"host":"ohm","package":"coreutils","package_version":"{v}","installed_at":"{T0}"}}"#
        )
    };
    e.write("hosts/ohm/installed.json", &installed(&version));
    let out = e.cmd("ka-probe").arg("ohm").assert().success();
    let r = &reports(&out.get_output().stdout)[0];
    let b = bar(r, "package coreutils");
    assert_eq!(
        (b["bar"].as_u64(), b["actual"].as_str()),
        (Some(2), Some(version.as_str()))
    );

    e.write("hosts/ohm/installed.json", &installed("0.0-ka1"));
    let out = e.cmd("ka-probe").arg("ohm").assert().code(1);
    let r = &reports(&out.get_output().stdout)[0];
    let b = bar(r, "package coreutils");
    assert_eq!(b["passed"], false);
    assert_eq!(b["expected"], "0.0-ka1");
    assert_eq!(b["actual"], version);

    e.write(
        "hosts/ohm/installed.json",
        &installed("1").replace("coreutils", "ka-no-such-package"),
    );
    let out = e.cmd("ka-probe").arg("ohm").assert().code(1);
    let r = &reports(&out.get_output().stdout)[0];
    let b = bar(r, "package ka-no-such-package");
    assert!(
        b["actual"].as_str().unwrap().starts_with("not installed"),
        "{b:#}"
    );
}

#[test]
fn probe_language_errors_name_file_and_line_and_nothing_is_contacted_or_written() {
    let s = sshd::Sshd::start();
    let e = FleetEnv::new(&s);
    e.host("ohm", s.port, &s.user, "");
    e.series(
        "ohm",
        "driver/x/fix",
        &[
            "procfs /proc/sys/kernel/ostype == Linux",
            "sysfs /sys/class/../../etc/shadow == x",
            "procfs /etc/passwd ~ root",
            "dmesg should-match x",
            "sysfs /sys/a < many",
        ],
    );
    e.cmd("ka-verify-run")
        .arg("ohm")
        .assert()
        .code(3)
        .stderr(contains(
            "patches/driver/x/fix/series.yaml:5: sysfs: \"/sys/class/../../etc/shadow\" has an empty, '.' or '..' component",
        ))
        .stderr(contains(
            "series.yaml:6: procfs: \"/etc/passwd\" is outside the roots a procfs probe may read",
        ))
        .stderr(contains("series.yaml:7: dmesg should-match: write must-match or must-not-match"))
        .stderr(contains("series.yaml:8: < many: \"many\" is not a number"));
    assert!(!e.env.root().join("hosts/ohm/verify").exists());
    assert!(e.blocks().is_empty());
}

#[test]
fn a_cmd_probe_needs_the_manifest_to_opt_in() {
    let s = sshd::Sshd::start();
    let e = FleetEnv::new(&s);
    e.host("ohm", s.port, &s.user, "");
    e.series("ohm", "driver/x/fix", &["cmd uname -s output == Linux"]);
    e.cmd("ka-probe")
        .arg("ohm")
        .assert()
        .code(3)
        .stderr(contains("series.yaml:4: cmd probes run a command on the host, and fleet/ohm.yaml does not allow them"));
    e.host("ohm", s.port, &s.user, "  allow_cmd_probes: true\n");
    e.series(
        "ohm",
        "driver/x/fix",
        &["cmd uname -s output == Linux", "cmd sh -c 'exit 3' exit 3"],
    );
    let out = e.cmd("ka-probe").arg("ohm").assert().success();
    let r = &reports(&out.get_output().stdout)[0];
    assert_eq!(bar(r, "cmd uname -s output == Linux")["actual"], "Linux");
}

#[test]
fn an_unreachable_host_fails_bar_1_within_its_heartbeat() {
    let s = sshd::Sshd::start();
    let e = FleetEnv::new(&s);
    // a port nobody listens on
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    e.host("gone", port, &s.user, "");
    e.series("gone", "driver/x/fix", &["file exists /dev/null"]);
    let out = e
        .cmd("ka-verify-run")
        .args(["--heartbeat", "2s", "gone"])
        .assert()
        .code(1);
    let res = &reports(&out.get_output().stdout)[0];
    assert_eq!(res["status"], "failed");
    let last = e.last("gone");
    let hb = bar(&last, "heartbeat");
    assert_eq!(hb["passed"], false);
    assert_eq!(hb["expected"], "SSH answers within 2s");
    assert!(
        hb["error"].as_str().unwrap().contains("no answer within"),
        "{hb:#}"
    );
    assert!(last["notes"].to_string().contains("bars 2–4 not checked"));
    assert_eq!(e.blocks().len(), 2);
}

#[test]
fn a_changed_host_key_fails_bar_1_at_once() {
    let s = sshd::Sshd::start();
    let e = FleetEnv::new(&s);
    e.host("ohm", s.port, &s.user, "");
    s.rekey();
    std::fs::copy(&s.known_hosts, e.repo.path().join("fleet/known_hosts")).unwrap();
    let out = e.cmd("ka-probe").arg("ohm").assert().code(1);
    let r = &reports(&out.get_output().stdout)[0];
    let hb = bar(r, "heartbeat");
    assert!(hb["error"].as_str().unwrap().contains("host key"), "{hb:#}");
}

#[test]
fn a_changed_host_key_files_host_changed_not_regression_and_a_strict_connect_lifts_it() {
    let s = sshd::Sshd::start();
    let e = FleetEnv::new(&s);
    e.host("ohm", s.port, &s.user, "");
    let known = std::fs::read_to_string(&s.known_hosts).unwrap();
    s.rekey();
    std::fs::copy(&s.known_hosts, e.repo.path().join("fleet/known_hosts")).unwrap();
    let out = e.cmd("ka-verify-run").arg("ohm").assert().code(1);
    assert_eq!(reports(&out.get_output().stdout)[0]["status"], "failed");
    assert_eq!(e.last("ohm")["host_key_refused"], true);
    let blocks = e.blocks();
    let mut kinds: Vec<&str> = blocks
        .iter()
        .map(|b| b["block"].as_str().unwrap())
        .collect();
    kinds.sort();
    assert_eq!(kinds, ["host-changed", "host-drifted"], "{blocks:#?}");
    let changed = blocks
        .iter()
        .find(|b| b["block"] == "host-changed")
        .unwrap();
    assert!(
        changed["detail"]
            .as_str()
            .unwrap()
            .contains("fleet/known_hosts"),
        "{changed:#}"
    );
    // The owner checked the key and put the right line back: the next verify
    // connects and lifts host-changed; drift stays for the owner.
    std::fs::write(e.repo.path().join("fleet/known_hosts"), known).unwrap();
    let out = e.cmd("ka-verify-run").arg("ohm").assert().success();
    let res = &reports(&out.get_output().stdout)[0];
    assert!(
        res["message"].as_str().unwrap().contains("lifted"),
        "{res:#}"
    );
    let states: Vec<(String, String)> = e
        .blocks()
        .iter()
        .map(|b| (b["block"].to_string(), b["state"].to_string()))
        .collect();
    assert!(
        states.contains(&("\"host-changed\"".into(), "\"lifted\"".into())),
        "{states:?}"
    );
    assert!(
        states.contains(&("\"host-drifted\"".into(), "\"open\"".into())),
        "{states:?}"
    );
}

#[test]
fn many_hosts_are_probed_in_one_run() {
    let s = sshd::Sshd::start();
    let s2 = sshd::Sshd::start();
    let e = FleetEnv::new(&s);
    let mut kh = std::fs::read_to_string(&s.known_hosts).unwrap();
    kh.push_str(&std::fs::read_to_string(&s2.known_hosts).unwrap());
    std::fs::write(e.repo.path().join("fleet/known_hosts"), kh).unwrap();
    // the second server accepts the first one's identity too
    std::fs::copy(
        s.identity.with_extension("pub"),
        s2.dir.join("authorized_keys"),
    )
    .unwrap();
    let hosts: Vec<String> = (0..8).map(|i| format!("h{i}")).collect();
    for (i, h) in hosts.iter().enumerate() {
        let port = if i % 2 == 0 { s.port } else { s2.port };
        e.host(h, port, &s.user, "");
        e.series(
            h,
            "driver/x/fix",
            &["procfs /proc/sys/kernel/ostype == Linux"],
        );
    }
    let out = e.cmd("ka-probe").args(&hosts).assert().success();
    let rs = reports(&out.get_output().stdout);
    let names: Vec<&str> = rs.iter().map(|r| r["host"].as_str().unwrap()).collect();
    assert_eq!(names, hosts.iter().map(String::as_str).collect::<Vec<_>>());
    assert!(rs.iter().all(|r| r["passed"] == true));
}

#[test]
fn burn_in_counts_runs_until_the_duration_and_then_passes_bar_5() {
    let s = sshd::Sshd::start();
    let e = FleetEnv::new(&s);
    e.host("ohm", s.port, &s.user, "  burn_in: 2h\n");
    e.series(
        "ohm",
        "driver/x/fix",
        &["procfs /proc/sys/kernel/ostype == Linux"],
    );
    let version = "9.9-ka";
    e.write(
        "hosts/ohm/installed.json",
        &format!(
            r#"{{"kind":"ka.installed","version":1,"host":"ohm","package":"ka-test-none","package_version":"{version}","installed_at":"{T0}"}}"#
        ),
    );
    // bar 2 would fail on this machine: point bar 2 at a real package
    let real = String::from_utf8(
        std::process::Command::new("dpkg-query")
            .args(["-W", "-f=${Version}", "coreutils"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    e.write(
        "hosts/ohm/installed.json",
        &format!(
            r#"{{"kind":"ka.installed","version":1,"host":"ohm","package":"coreutils","package_version":"{real}","installed_at":"{T0}"}}"#
        ),
    );
    let burn = |now: &str| {
        let out = e
            .cmd("ka-verify-run")
            .args(["--burn-in", "--now", now, "ohm"])
            .env("KA_NOW", now)
            .output()
            .unwrap();
        (out.status.code(), reports(&out.stdout))
    };
    let (code, r) = burn("2026-03-01T11:00:00Z");
    assert_eq!(code, Some(0), "{r:?}");
    let rec: Value = serde_json::from_str(
        &std::fs::read_to_string(e.env.root().join("hosts/ohm/verify/burn-in.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(rec["state"], "running");
    assert_eq!(rec["runs"], 1);
    assert_eq!(rec["ends_at"], "2026-03-01T12:00:00Z");
    assert!(!e.last("ohm")["bars"].to_string().contains("burn-in"));

    let (code, r) = burn("2026-03-01T12:00:00Z");
    assert_eq!(code, Some(0), "{r:?}");
    let last = e.last("ohm");
    let b5 = bar(&last, "burn-in");
    assert_eq!(b5["bar"], 5);
    assert_eq!(b5["passed"], true);
    assert!(
        b5["actual"]
            .as_str()
            .unwrap()
            .starts_with("2 runs, 0 failed")
    );

    // decided: nothing is probed any more for this install
    let history = || {
        std::fs::read_dir(e.env.root().join("hosts/ohm/verify/history"))
            .unwrap()
            .count()
    };
    let before = history();
    let (code, r) = burn("2026-03-01T13:00:00Z");
    assert_eq!(code, Some(0));
    assert_eq!(r[0]["status"], "unchanged");
    assert!(r[0]["message"].as_str().unwrap().contains("already passed"));
    assert_eq!(history(), before);

    // a new install starts a new burn-in, and a failing run fails it at once
    e.write(
        "hosts/ohm/installed.json",
        &format!(
            r#"{{"kind":"ka.installed","version":1,"host":"ohm","package":"coreutils","package_version":"{real}","installed_at":"2026-03-02T10:00:00Z"}}"#
        ),
    );
    e.series(
        "ohm",
        "driver/x/fix",
        &["procfs /proc/sys/kernel/ostype == Plan9"],
    );
    let (code, r) = burn("2026-03-02T10:30:00Z");
    assert_eq!(code, Some(1));
    assert_eq!(r[0]["status"], "failed");
    let b5 = bar(&e.last("ohm"), "burn-in").clone();
    assert_eq!(b5["passed"], false);
    assert!(b5["actual"].as_str().unwrap().contains("Plan9"), "{b5:#}");
    assert_eq!(e.blocks().len(), 2);
    let (code, r) = burn("2026-03-02T11:00:00Z");
    assert_eq!(code, Some(1));
    assert!(r[0]["message"].as_str().unwrap().contains("already failed"));
}

#[test]
fn burn_in_needs_an_install_and_is_off_at_0h() {
    let s = sshd::Sshd::start();
    let e = FleetEnv::new(&s);
    e.host("ohm", s.port, &s.user, "");
    e.cmd("ka-verify-run")
        .args(["--burn-in", "ohm"])
        .assert()
        .code(2)
        .stderr(contains("a burn-in starts at an install"));
    e.write(
        "hosts/ohm/installed.json",
        &format!(
            r#"{{"kind":"ka.installed","version":1,"host":"ohm","package":"coreutils","package_version":"1","installed_at":"{T0}"}}"#
        ),
    );
    let out = e
        .cmd("ka-verify-run")
        .args(["--burn-in", "ohm"])
        .assert()
        .success();
    let r = &reports(&out.get_output().stdout)[0];
    assert!(r["message"].as_str().unwrap().contains("burn-in is off"));
    assert!(!e.env.root().join("hosts/ohm/verify").exists());
}

#[test]
fn bad_hosts_are_named_and_the_others_still_probed() {
    let s = sshd::Sshd::start();
    let e = FleetEnv::new(&s);
    e.host("ohm", s.port, &s.user, "");
    e.write(
        "repo:fleet/nossh.yaml",
        "host: nossh\nrole: dev\narch: x86_64\ndistro: debian\n",
    );
    let out = e
        .cmd("ka-probe")
        .args(["nossh", "ohm", "nowhere"])
        .assert()
        .code(2)
        .stderr(contains("nossh: fleet/nossh.yaml: no ssh: section"))
        .stderr(contains("nowhere: no host 'nowhere' in the fleet ("));
    let rs = reports(&out.get_output().stdout);
    assert_eq!(rs.len(), 1);
    assert_eq!(rs[0]["host"], "ohm");
    e.write("hosts/ohm/verify/last.json", "{not json");
    e.cmd("ka-probe")
        .arg("ohm")
        .assert()
        .code(3)
        .stderr(contains("hosts/ohm/verify/last.json"));
}

#[test]
fn the_man_page_examples_parse() {
    // man 5 ka-probe: every line between .EX and .EE that starts with a probe
    // word is a probe; those under "Refused" must be refused with the message
    // the page shows.
    let page = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../man/man5/ka-probe.5"),
    )
    .unwrap();
    let mut section = String::new();
    let mut in_ex = false;
    let mut checked = 0;
    for line in page.lines() {
        if let Some(s) = line.strip_prefix(".SS ") {
            section = s.trim_matches('"').to_string();
        }
        match line {
            ".EX" => in_ex = true,
            ".EE" => in_ex = false,
            _ if in_ex => {
                let text = line
                    .replace("\\-", "-")
                    .replace("\\e", "\\")
                    .replace("\\(aq", "'");
                let first = text.split_whitespace().next().unwrap_or_default();
                if !["sysfs", "procfs", "dt", "dmesg", "module", "file", "cmd"].contains(&first) {
                    continue;
                }
                let parsed = ka_probe::lang::parse(&text);
                if section.starts_with("Refused") {
                    assert!(parsed.is_err(), "{text} should be refused");
                } else {
                    assert!(parsed.is_ok(), "{text}: {:?}", parsed.err());
                }
                checked += 1;
            }
            _ => {}
        }
    }
    assert!(checked >= 20, "only {checked} examples found");
}
