//! ka-run-remote against a real OpenSSH sshd on 127.0.0.1 (tests/sshd) and
//! the local transport: exit codes and signals, big interleaved output, stall
//! and wall-clock kills of whole trees (setsid grandchildren included), sshd
//! dying mid-job, a changed host key, verbatim argv, refused names, SFTP.
//! Time limits come only from the jobs' own limits.

use ka_testkit::sshd;

use assert_cmd::Command;
use ka_run_remote::local::tagged_pids;
use ka_schema::{Job, JobKind, JobResult, Transport, V1};
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

struct Case {
    tmp: tempfile::TempDir,
    home: PathBuf,
    root: PathBuf,
}

static SEQ: AtomicU32 = AtomicU32::new(0);

fn unique_id(name: &str) -> String {
    format!(
        "t-{name}-{}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::SeqCst)
    )
}

impl Case {
    fn new() -> Case {
        let tmp = tempfile::tempdir().unwrap();
        let home = tmp.path().join("home");
        let root = tmp.path().join("root");
        fs::create_dir_all(&home).unwrap();
        Case { tmp, home, root }
    }

    fn job(&self, name: &str, transport: Transport, argv: &[&str]) -> Job {
        let id = unique_id(name);
        Job {
            kind: JobKind::Kind,
            version: V1,
            log: self.root.join("logs").join(&id).join("job.log"),
            id,
            transport,
            argv: argv.iter().map(|s| s.to_string()).collect(),
            cwd: None,
            env: Default::default(),
            wall_clock: "10m".parse().unwrap(),
            stall: "5m".parse().unwrap(),
        }
    }

    fn cmd(&self) -> Command {
        let mut c = Command::cargo_bin("ka-run-remote").unwrap();
        c.env("HOME", &self.home)
            .env("KA_ROOT", &self.root)
            .env_remove("KA_JOB");
        c
    }

    /// Run the binary on `job`; returns (exit code, result, stderr).
    fn run(&self, job: &Job, args: &[&str]) -> (i32, Option<JobResult>, String) {
        let out = self
            .cmd()
            .args(args)
            .write_stdin(serde_json::to_string(job).unwrap())
            .output()
            .unwrap();
        let stdout = String::from_utf8(out.stdout).unwrap();
        let result = if stdout.trim().is_empty() {
            None
        } else {
            Some(serde_json::from_str(stdout.trim()).expect("one ka.job-result"))
        };
        (
            out.status.code().unwrap_or(-1),
            result,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn run_raw(&self, stdin: &str) -> (i32, String, String) {
        let out = self.cmd().write_stdin(stdin.to_string()).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

fn log_of(r: &JobResult) -> String {
    fs::read_to_string(&r.log).unwrap()
}

/// No process carrying the job's tag is left (the tests run as root and see all).
fn assert_no_tagged(id: &str) {
    let left = tagged_pids(id);
    assert!(
        left.is_empty(),
        "processes of job {id} still running: {left:?}"
    );
}

fn kill_tagged(id: &str) {
    for p in tagged_pids(id) {
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &p.to_string()])
            .status();
    }
}

// ---------------------------------------------------------------- echo and exit codes

fn echo_and_exit_codes(c: &Case, transport: Transport) {
    let job = c.job(
        "echo",
        transport.clone(),
        &["sh", "-c", "echo out; echo err >&2; echo \"tag=$KA_JOB\""],
    );
    let (code, r, err) = c.run(&job, &[]);
    let r = r.expect("result");
    assert_eq!(code, 0, "{err}");
    assert!(r.ok());
    assert_eq!(r.exit_code, Some(0));
    assert_eq!(r.signal, None);
    assert_eq!(r.id, job.id);
    assert_eq!(r.log, job.log);
    let finished = r.finished_at.as_deref().expect("finished_at");
    ka_core::time::parse_time(finished).expect("RFC 3339");
    // the two streams come through separate pipes: their relative order is
    // the order of arrival, so compare the lines as a set
    let mut lines: Vec<String> = log_of(&r).lines().map(String::from).collect();
    lines.sort();
    assert_eq!(
        lines,
        ["err".to_string(), "out".into(), format!("tag={}", job.id)],
        "log holds both streams"
    );
    assert!(
        err.is_empty(),
        "no progress when stderr is not a terminal: {err}"
    );

    let job = c.job("exit3", transport, &["sh", "-c", "echo failing; exit 3"]);
    let (code, r, _) = c.run(&job, &[]);
    let r = r.expect("a failed command still gets a result");
    assert_eq!(code, 1, "a failure never exits 0");
    assert_eq!(r.exit_code, Some(3));
    assert!(!r.ok());
    assert_eq!(log_of(&r), "failing\n");
}

#[test]
fn local_echo_and_exit_codes() {
    let c = Case::new();
    echo_and_exit_codes(&c, Transport::Local);
}

#[test]
fn ssh_echo_and_exit_codes() {
    let c = Case::new();
    let s = sshd::Sshd::start();
    echo_and_exit_codes(&c, s.transport("boltzmann"));
}

#[test]
fn local_cwd_env_and_missing_command() {
    let c = Case::new();
    let dir = c.tmp.path().join("work dir");
    fs::create_dir_all(&dir).unwrap();
    let mut job = c.job("cwd", Transport::Local, &["sh", "-c", "pwd; echo \"$A\""]);
    job.cwd = Some(dir.to_str().unwrap().into());
    job.env.insert("A".into(), "it's $(x)".into());
    let (code, r, _) = c.run(&job, &[]);
    assert_eq!(code, 0);
    assert_eq!(
        log_of(&r.unwrap()),
        format!("{}\nit's $(x)\n", dir.display())
    );

    let job = c.job(
        "nocmd",
        Transport::Local,
        &["/nonexistent/ka-no-such-command"],
    );
    let (code, r, _) = c.run(&job, &[]);
    let r = r.unwrap();
    assert_eq!(code, 1);
    assert_eq!(r.exit_code, Some(127), "as a shell reports it");
}

#[test]
fn progress_line_when_asked() {
    let c = Case::new();
    let job = c.job("progress", Transport::Local, &["echo", "hello progress"]);
    let (code, _, err) = c.run(&job, &["--progress", "always"]);
    assert_eq!(code, 0);
    assert!(err.contains("hello progress"), "{err:?}");
    assert!(err.contains("[ 0:00:0"), "elapsed shown: {err:?}");
}

// ---------------------------------------------------------------- big output

const BIG: &str = "i=0; while [ $i -lt 20 ]; do head -c 1048576 /dev/zero | tr '\\0' o; head -c 1048576 /dev/zero | tr '\\0' e >&2; i=$((i+1)); done; echo; echo done >&2";

fn big_output(c: &Case, transport: Transport) {
    let job = c.job("big", transport, &["sh", "-c", BIG]);
    let (code, r, err) = c.run(&job, &[]);
    let r = r.expect("result");
    assert_eq!(code, 0, "{err} {r:?}");
    let log = fs::read(&r.log).unwrap();
    let count = |b: u8| log.iter().filter(|x| **x == b).count();
    // 'o' also appears once in "done"
    assert_eq!(count(b'o'), (20 << 20) + 1, "all of stdout in the log");
    // 'e' also appears once in "done"
    assert_eq!(count(b'e'), (20 << 20) + 1, "all of stderr in the log");
    assert!(log.windows(5).any(|w| w == b"done\n"));
}

#[test]
fn local_big_interleaved_output() {
    let c = Case::new();
    big_output(&c, Transport::Local);
}

#[test]
fn ssh_big_interleaved_output_does_not_deadlock() {
    let c = Case::new();
    let s = sshd::Sshd::start();
    big_output(&c, s.transport("boltzmann"));
}

// ---------------------------------------------------------------- signals

fn signal_killed(c: &Case, transport: Transport) {
    let job = c.job(
        "sig",
        transport,
        &["sh", "-c", "echo before; kill -TERM $$; echo after"],
    );
    let (code, r, _) = c.run(&job, &[]);
    let r = r.unwrap();
    assert_eq!(code, 1);
    assert_eq!(r.signal.as_deref(), Some("TERM"), "{r:?}");
    assert_eq!(r.exit_code, None, "{r:?}");
    assert!(!r.ok());
    assert_eq!(log_of(&r), "before\n");
}

#[test]
fn local_signal_killed_command_fails() {
    signal_killed(&Case::new(), Transport::Local);
}

#[test]
fn ssh_signal_killed_command_reports_the_signal() {
    let c = Case::new();
    let s = sshd::Sshd::start();
    signal_killed(&c, s.transport("boltzmann"));
}

// ---------------------------------------------------------------- stall and cap

fn stall_kill(c: &Case, transport: Transport) {
    let mut job = c.job(
        "stall",
        transport,
        &["sh", "-c", "echo working; exec sleep 1000"],
    );
    job.stall = "2s".parse().unwrap();
    let (code, r, _) = c.run(&job, &["--grace", "1s"]);
    let r = r.unwrap();
    assert_eq!(code, 1);
    assert!(r.stalled, "{r:?}");
    assert!(!r.capped);
    assert_eq!(r.signal.as_deref(), Some("TERM"), "{r:?}");
    assert!(log_of(&r).contains("stalled: no output for 2s"));
    assert_no_tagged(&job.id);
}

#[test]
fn local_stall_kill() {
    stall_kill(&Case::new(), Transport::Local);
}

#[test]
fn ssh_stall_kill() {
    let c = Case::new();
    let s = sshd::Sshd::start();
    stall_kill(&c, s.transport("boltzmann"));
}

const STUBBORN: &str = "trap '' TERM; setsid sleep 1000 & while :; do echo tick; sleep 1; done";

fn cap_kills_tree(c: &Case, transport: Transport) {
    let mut job = c.job("cap", transport, &["sh", "-c", STUBBORN]);
    job.wall_clock = "3s".parse().unwrap();
    let (code, r, _) = c.run(&job, &["--grace", "1s"]);
    let r = r.unwrap();
    assert_eq!(code, 1);
    assert!(r.capped, "{r:?}");
    assert!(!r.stalled, "it kept printing: {r:?}");
    assert_eq!(r.signal.as_deref(), Some("KILL"), "TERM was ignored: {r:?}");
    let log = log_of(&r);
    assert!(log.contains("tick\n"), "{log}");
    assert!(log.contains("wall-clock cap of 3s reached"), "{log}");
    assert_no_tagged(&job.id);
}

#[test]
fn local_cap_kills_term_ignoring_tree_with_setsid_grandchild() {
    cap_kills_tree(&Case::new(), Transport::Local);
}

#[test]
fn ssh_cap_kills_term_ignoring_tree_with_setsid_grandchild() {
    let c = Case::new();
    let s = sshd::Sshd::start();
    cap_kills_tree(&c, s.transport("boltzmann"));
}

#[test]
fn ssh_leftover_background_process_is_swept() {
    let c = Case::new();
    let s = sshd::Sshd::start();
    let job = c.job(
        "leftover",
        s.transport("boltzmann"),
        &[
            "sh",
            "-c",
            "setsid sleep 1000 >/dev/null 2>&1 </dev/null & echo started",
        ],
    );
    let (code, r, _) = c.run(&job, &["--grace", "1s"]);
    let r = r.unwrap();
    assert_eq!(code, 0, "the command itself succeeded: {r:?}");
    assert!(
        log_of(&r).contains("leftover processes on boltzmann"),
        "{}",
        log_of(&r)
    );
    assert_no_tagged(&job.id);
}

// ---------------------------------------------------------------- transport faults

#[test]
fn ssh_sshd_killed_mid_job_is_a_transport_error() {
    let c = Case::new();
    let s = sshd::Sshd::start();
    let job = c.job(
        "sshd-dies",
        s.transport("boltzmann"),
        &["sh", "-c", "echo started; exec sleep 1000"],
    );
    let log = job.log.clone();
    let mut cmd = c.cmd();
    cmd.write_stdin(serde_json::to_string(&job).unwrap())
        .timeout(std::time::Duration::from_secs(600)); // a hang is a failure, not a wait
    let handle = std::thread::spawn(move || cmd.output().unwrap());
    // wait (bounded by the job's own stall) for the command to run, then kill sshd
    while !fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("started")
    {
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(
            !handle.is_finished(),
            "ka-run-remote ended before the command started"
        );
    }
    s.kill_sshd();
    let out = handle.join().unwrap();
    let r: JobResult = serde_json::from_slice(&out.stdout).expect("a result");
    assert_eq!(out.status.code(), Some(1));
    let e = r.transport_error.as_deref().expect("transport error");
    assert!(e.contains("connection lost"), "{e}");
    assert!(!ka_run_remote::is_host_key_refusal(&r));
    assert_eq!(r.exit_code, None);
    let text = fs::read_to_string(&log).unwrap();
    assert!(text.starts_with("started\n"), "log kept: {text}");
    // the orphaned command is still on the "build host": clean up by its tag
    assert!(!tagged_pids(&job.id).is_empty());
    kill_tagged(&job.id);
}

#[test]
fn ssh_changed_host_key_is_refused() {
    let c = Case::new();
    let s = sshd::Sshd::start();
    s.rekey();
    let job = c.job(
        "rekeyed",
        s.transport("boltzmann"),
        &["touch", "/tmp/ka-must-not-run"],
    );
    let (code, r, err) = c.run(&job, &[]);
    let r = r.expect("a refusal is a result");
    assert_eq!(code, 1);
    assert!(ka_run_remote::is_host_key_refusal(&r), "{r:?}");
    let e = r.transport_error.as_deref().unwrap();
    assert!(
        e.starts_with("host key of kbuild@boltzmann") || e.starts_with("host key of"),
        "{e}"
    );
    assert!(e.contains("changed"), "{e}");
    assert!(err.contains("host key"), "said on stderr too: {err}");
    assert_eq!(r.exit_code, None);
    assert!(log_of(&r).contains("Refusing to connect"));

    // no entry at all: refused too (no trust on first use)
    fs::write(&s.known_hosts, "").unwrap();
    let (code, r, _) = c.run(&job, &[]);
    let r = r.unwrap();
    assert_eq!(code, 1);
    assert!(ka_run_remote::is_host_key_refusal(&r));
    assert!(r.transport_error.unwrap().contains("unknown"));
}

#[test]
fn ssh_wrong_identity_and_unreachable_are_transport_errors() {
    let c = Case::new();
    let s = sshd::Sshd::start();
    let other = c.tmp.path().join("other_id");
    let st = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other)
        .status()
        .unwrap();
    assert!(st.success());
    let mut t = s.transport("boltzmann");
    if let Transport::Ssh { identity, .. } = &mut t {
        *identity = other;
    }
    let job = c.job("badkey", t, &["true"]);
    let (code, r, _) = c.run(&job, &[]);
    let r = r.unwrap();
    assert_eq!(code, 1);
    assert!(
        r.transport_error
            .as_deref()
            .unwrap()
            .contains("authentication"),
        "{r:?}"
    );
    assert!(!ka_run_remote::is_host_key_refusal(&r));

    let mut t = s.transport("boltzmann");
    if let Transport::Ssh { port, .. } = &mut t {
        *port = 1; // nothing listens on port 1
    }
    let job = c.job("unreachable", t, &["true"]);
    let (code, r, _) = c.run(&job, &["--connect-timeout", "5s"]);
    assert_eq!(code, 1);
    assert!(r.unwrap().transport_error.unwrap().contains("unreachable"));
}

// ---------------------------------------------------------------- argv and names

#[test]
fn ssh_argv_arrives_verbatim() {
    let c = Case::new();
    let s = sshd::Sshd::start();
    let args = [
        "with space",
        "single ' quote",
        "double \" quote",
        "$(touch /tmp/ka-pwned)",
        "`id`",
        "a; echo injected",
        "$HOME",
        "back\\slash",
        "*",
        "",
        "-n",
    ];
    let mut argv = vec!["printf", "%s\\n"];
    argv.extend(args);
    let mut job = c.job("argv", s.transport("boltzmann"), &argv);
    job.cwd = Some(s.remote.to_str().unwrap().into());
    job.env.insert("V".into(), "v'$(x)".into());
    let (code, r, err) = c.run(&job, &[]);
    assert_eq!(code, 0, "{err}");
    let expected: String = args.iter().map(|a| format!("{a}\n")).collect();
    assert_eq!(log_of(&r.unwrap()), expected);
    assert!(!Path::new("/tmp/ka-pwned").exists());

    let mut job = c.job(
        "env",
        s.transport("boltzmann"),
        &["sh", "-c", "pwd; printf '%s\\n' \"$V\""],
    );
    job.cwd = Some(s.remote.to_str().unwrap().into());
    job.env.insert("V".into(), "v'$(x) ;".into());
    let (code, r, _) = c.run(&job, &[]);
    assert_eq!(code, 0);
    assert_eq!(
        log_of(&r.unwrap()),
        format!("{}\nv'$(x) ;\n", s.remote.display())
    );
}

#[test]
fn invalid_names_and_documents_are_refused() {
    let c = Case::new();
    let ssh = |host: &str, user: &str, address: &str| Transport::Ssh {
        host: host.into(),
        address: address.into(),
        port: 2222,
        user: user.into(),
        known_hosts: "/nonexistent/known_hosts".into(),
        identity: "/nonexistent/id".into(),
    };
    for t in [
        ssh("-oProxyCommand=touch /tmp/x", "kbuild", "127.0.0.1"),
        ssh("boltzmann", "a;b", "127.0.0.1"),
        ssh("boltzmann", "-l", "127.0.0.1"),
        ssh("boltzmann", "kbuild", "-oProxyCommand=x"),
        ssh("bo ltz", "kbuild", "127.0.0.1"),
    ] {
        let job = c.job("names", t.clone(), &["true"]);
        let (code, r, err) = c.run(&job, &[]);
        assert_eq!(code, 3, "{t:?}: {err}");
        assert!(r.is_none());
        assert!(err.contains("invalid"), "{err}");
        assert!(!job.log.exists(), "nothing written");
    }
    let mut job = c.job("envname", Transport::Local, &["true"]);
    job.env.insert("A;B".into(), "x".into());
    assert_eq!(c.run(&job, &[]).0, 3);
    // a duration without its unit, and a zero one
    let mut v = serde_json::to_value(c.job("dur", Transport::Local, &["true"])).unwrap();
    v["stall"] = "5".into();
    assert_eq!(c.run_raw(&v.to_string()).0, 3);
    let mut job = c.job("dur0", Transport::Local, &["true"]);
    job.stall = "0s".parse().unwrap();
    assert_eq!(c.run(&job, &[]).0, 3);
    let job = c.job("noargv", Transport::Local, &[]);
    assert_eq!(c.run(&job, &[]).0, 3);
    // a missing identity file: the operator's to fix (exit 2)
    let job = c.job("noid", ssh("boltzmann", "kbuild", "127.0.0.1"), &["true"]);
    let (code, _, err) = c.run(&job, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("/nonexistent/id"), "{err}");
    // contract: not a job, unknown fields, truncated
    assert_eq!(c.run_raw("{\"kind\":\"ka.plan\",\"version\":1}").0, 3);
    let mut v = serde_json::to_value(c.job("x", Transport::Local, &["true"])).unwrap();
    v["surprise"] = 1.into();
    assert_eq!(c.run_raw(&v.to_string()).0, 3);
    assert_eq!(c.run_raw("{\"kind\":\"ka.job\"").0, 3);
    // a log under $HOME is refused
    let mut job = c.job("home", Transport::Local, &["true"]);
    job.log = c.home.join("job.log");
    let (code, _, err) = c.run(&job, &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("$HOME"));
}

// ---------------------------------------------------------------- library: SFTP

fn tree(root: &Path) -> Vec<(String, Vec<u8>, u32)> {
    use std::os::unix::fs::PermissionsExt;
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let mode = fs::metadata(&p).unwrap().permissions().mode() & 0o777;
            if p.is_dir() {
                out.push((rel, Vec::new(), mode));
                stack.push(p);
            } else {
                out.push((rel, fs::read(&p).unwrap(), mode));
            }
        }
    }
    out.sort();
    out
}

#[test]
fn upload_download_round_trip() {
    use std::os::unix::fs::PermissionsExt;
    let c = Case::new();
    let s = sshd::Sshd::start();
    let src = c.tmp.path().join("src");
    fs::create_dir_all(src.join("hooks/deep")).unwrap();
    fs::write(src.join("PKGBUILD"), "pkgbase=x\n").unwrap();
    fs::write(src.join("hooks/deep/bin"), (0..=255u8).collect::<Vec<_>>()).unwrap();
    fs::write(src.join("hooks/run.sh"), "#!/bin/sh\necho hi\n").unwrap();
    fs::set_permissions(src.join("hooks/run.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::write(src.join("empty"), "").unwrap();
    let t = s.transport("boltzmann");
    let remote = format!("{}/source/job-1", s.remote.display());
    let up = ka_run_remote::upload(&t, &src, &remote, &[]).unwrap();
    assert_eq!(up.files, 4);
    assert_eq!(up.bytes, 10 + 256 + 18);
    // it is there for the build user: run the uploaded script over SSH
    let mut job = c.job("hook", t.clone(), &["./hooks/run.sh"]);
    job.cwd = Some(remote.clone());
    let r = ka_run_remote::run_job(&job, None).unwrap();
    assert!(r.ok(), "{r:?}");
    assert_eq!(log_of(&r), "hi\n");

    let back = c.tmp.path().join("back");
    let down = ka_run_remote::download(&t, &remote, &back).unwrap();
    assert_eq!(down, up);
    assert_eq!(tree(&src), tree(&back));

    // refusals: relative remote folder, changed host key
    assert!(ka_run_remote::upload(&t, &src, "relative/dir", &[]).is_err());
    s.rekey();
    let e = ka_run_remote::upload(&t, &src, &remote, &[]).unwrap_err();
    assert!(e.to_string().starts_with("host key"), "{e}");
    assert!(ka_run_remote::is_host_key_error(&e));
    assert_eq!(e.exit_code(), ka_core::ExitCode::Negative);
}

/// A phase's deadline bounds a whole transfer, not each SFTP call: spent,
/// nothing is made; running out midway, the transfer stops and says so;
/// lifted, the same transfer completes. (The deadlines are the test's
/// input; nothing here waits on the clock.)
#[test]
fn a_deadline_bounds_every_sftp_transfer() {
    use std::time::{Duration, Instant};
    let c = Case::new();
    let s = sshd::Sshd::start();
    let src = c.tmp.path().join("many");
    fs::create_dir_all(&src).unwrap();
    // each file costs several SFTP round trips: far more than 20 ms in all
    for i in 0..1000 {
        fs::write(src.join(format!("f{i:04}")), format!("{i}\n")).unwrap();
    }
    let t = ka_run_remote::Target::from_transport(&s.transport("boltzmann"))
        .unwrap()
        .unwrap();
    let conn = ka_run_remote::connect(&t, &ka_run_remote::Options::default()).unwrap();
    let remote = format!("{}/deadline/job-1", s.remote.display());
    let count = || fs::read_dir(&remote).map(|d| d.count()).unwrap_or(0);

    conn.set_deadline(Some(Instant::now()));
    let e = conn.upload(&src, &remote, &[]).unwrap_err();
    assert!(e.to_string().contains("time limit ran out"), "{e}");
    assert_eq!(e.exit_code(), ka_core::ExitCode::Negative);
    assert!(!Path::new(&remote).exists());

    conn.set_deadline(Some(Instant::now() + Duration::from_millis(20)));
    let e = conn.upload(&src, &remote, &[]).unwrap_err();
    assert!(e.to_string().contains("time limit ran out"), "{e}");
    assert!(count() < 1000, "{} files arrived", count());

    // a session whose call timed out is not used again (the phase failed):
    // a new connection, without a deadline
    let conn = ka_run_remote::connect(&t, &ka_run_remote::Options::default()).unwrap();
    let up = conn.upload(&src, &remote, &[]).unwrap();
    assert_eq!(up.files, 1000);
    assert_eq!(count(), 1000);

    // one file fetched: refused once the deadline is spent, else whole
    let back = c.tmp.path().join("f0007");
    conn.set_deadline(Some(Instant::now()));
    let e = conn
        .fetch_file(&format!("{remote}/f0007"), &back)
        .unwrap_err();
    assert!(e.to_string().contains("time limit ran out"), "{e}");
    conn.set_deadline(None);
    conn.fetch_file(&format!("{remote}/f0007"), &back).unwrap();
    assert_eq!(fs::read_to_string(&back).unwrap(), "7\n");
}

#[test]
fn local_upload_download_copy() {
    let c = Case::new();
    let src = c.tmp.path().join("src");
    fs::create_dir_all(src.join("a")).unwrap();
    fs::write(src.join("a/f"), "x").unwrap();
    let dst = c.tmp.path().join("dst");
    let n = ka_run_remote::upload(&Transport::Local, &src, dst.to_str().unwrap(), &[]).unwrap();
    assert_eq!((n.files, n.bytes), (1, 1));
    assert_eq!(tree(&src), tree(&dst));
}

/// A file the destination already holds from a content cache (a hard link) is
/// left in place when named in `reuse`; any other file there is replaced by a
/// new file, so the cache's copy is never written through.
fn upload_reuses_and_never_writes_through_links(
    t: &Transport,
    remote: &Path,
    cache: &Path,
    owner: Option<&str>,
) {
    let c = Case::new();
    let src = c.tmp.path().join("src");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("linux.tar"), "the baseline\n").unwrap();
    fs::write(src.join("config"), "CONFIG_NEW=y\n").unwrap();
    fs::create_dir_all(remote).unwrap();
    fs::create_dir_all(cache).unwrap();
    for (name, bytes) in [
        ("linux.tar", "the baseline\n"),
        ("config", "CONFIG_OLD=y\n"),
    ] {
        fs::write(cache.join(name), bytes).unwrap();
        fs::hard_link(cache.join(name), remote.join(name)).unwrap();
    }
    if let Some(user) = owner {
        let st = std::process::Command::new("chown")
            .args(["-R", &format!("{user}:{user}")])
            .args([remote, cache])
            .status()
            .unwrap();
        assert!(st.success());
    }
    let up = ka_run_remote::upload(t, &src, remote.to_str().unwrap(), &["linux.tar"]).unwrap();
    assert_eq!((up.files, up.reused, up.reused_bytes), (1, 1, 13));
    assert_eq!(
        fs::read_to_string(remote.join("config")).unwrap(),
        "CONFIG_NEW=y\n"
    );
    assert_eq!(
        fs::read_to_string(cache.join("config")).unwrap(),
        "CONFIG_OLD=y\n"
    );
    // named in reuse but with another size: sent again, the cache untouched
    fs::write(src.join("linux.tar"), "another baseline\n").unwrap();
    let up = ka_run_remote::upload(t, &src, remote.to_str().unwrap(), &["linux.tar"]).unwrap();
    assert_eq!((up.files, up.reused), (2, 0));
    assert_eq!(
        fs::read_to_string(remote.join("linux.tar")).unwrap(),
        "another baseline\n"
    );
    assert_eq!(
        fs::read_to_string(cache.join("linux.tar")).unwrap(),
        "the baseline\n"
    );
}

#[test]
fn ssh_upload_reuses_cached_files() {
    let s = sshd::Sshd::start();
    let t = s.transport("boltzmann");
    let job = unique_id("reuse");
    let remote = s.remote.join("source").join(&job);
    let cache = s.remote.join("cache").join(&job);
    upload_reuses_and_never_writes_through_links(&t, &remote, &cache, Some(&s.user));
}

#[test]
fn local_upload_reuses_cached_files() {
    let c = Case::new();
    let remote = c.tmp.path().join("remote");
    let cache = c.tmp.path().join("cache");
    upload_reuses_and_never_writes_through_links(&Transport::Local, &remote, &cache, None);
}

#[test]
fn library_run_job_reports_like_the_binary() {
    let c = Case::new();
    let job = c.job("lib", Transport::Local, &["sh", "-c", "echo hi; exit 4"]);
    let mut progress = Vec::new();
    let r = ka_run_remote::run_job(&job, Some(&mut progress)).unwrap();
    assert_eq!(r.exit_code, Some(4));
    assert!(!r.ok());
    assert!(String::from_utf8(progress).unwrap().contains("hi"));
}
