//! ka-sign with the sign host reached over SSH (a loopback sshd, the login
//! user kbuild owning the key and the repository), and a transfer that
//! arrives damaged.

use ka_testkit::sshd;

mod common;

use common::*;
use ka_core::paths::Layout;
use ka_run_remote::Transfer;
use ka_run_remote::remote::{Credentials, Remote, SshRemote};
use ka_schema::HostManifest;
use ka_schema::{Job, JobResult, Status, Transport};
use predicates::prelude::*;
use std::fs;
use std::path::{Path, PathBuf};

#[test]
fn sign_host_over_ssh_publishes_what_pacman_verifies() {
    let p = packages();
    let c = Case::new();
    let server = sshd::Sshd::start();
    // the sign host's key and folders belong to its login user
    let remote = &server.remote;
    let (gnupg, fpr) = GpgHome::with_key(remote.join("gnupg"));
    gnupg.chown(&server.user);
    c.sign_host(&format!(
        "ssh: {{ address: 127.0.0.1, port: {}, user: {} }}\nsign:\n  key: {fpr}\n  gnupghome: {}\n  staging: {}/staging\n  pacman: {{ name: ka, root: {}/arch }}\n",
        server.port,
        server.user,
        gnupg.dir.display(),
        remote.display(),
        remote.display()
    ));
    fs::copy(&server.known_hosts, c.repo.join("fleet/known_hosts")).unwrap();
    c.job("tiny", "tiny-a", &[&p.arch_v1], "2026-05-18T10:00:00Z", 0);

    let out = c
        .cmd("ka-sign")
        .env("KA_SSH_IDENTITY", &server.identity)
        .arg("tiny")
        .assert()
        .success()
        .get_output()
        .stdout
        .clone();
    let doc = publish_doc(&out);
    assert_eq!(doc.status, Status::Done, "{}", doc.message);
    assert_eq!(doc.sign_host, "signer");
    let live = remote.join("arch/x86_64");
    let name = p.arch_v1.file_name().unwrap().to_str().unwrap();
    assert!(
        doc.published
            .contains(&format!("{}/{name}.sig", live.display()))
    );
    // written by the login user on the sign host
    let meta = fs::metadata(live.join("ka.db.tar.gz")).unwrap();
    use std::os::unix::fs::MetadataExt;
    let uid = std::process::Command::new("id")
        .args(["-u", &server.user])
        .output()
        .unwrap();
    assert_eq!(
        meta.uid().to_string(),
        String::from_utf8_lossy(&uid.stdout).trim()
    );

    let pm = Pacman::new(
        c.tmp.path().join("pacman"),
        &gnupg,
        &fpr,
        &format!("file://{}/arch/$arch", remote.display()),
    );
    assert!(pm.cmd(&["-Sy"]).status.success());
    let install = pm.cmd(&["-S", "linux-tiny"]);
    assert!(install.status.success(), "{}", text(&install));

    // a changed host key: refused, nothing signed, no signing block
    server.rekey();
    fs::copy(&server.known_hosts, c.repo.join("fleet/known_hosts")).unwrap();
    c.job("tiny", "tiny-b", &[&p.arch_v2], "2026-05-18T11:00:00Z", 0);
    c.cmd("ka-sign")
        .env("KA_SSH_IDENTITY", &server.identity)
        .arg("tiny")
        .assert()
        .code(1)
        .stderr(predicates::str::contains("host key of kbuild@signer"))
        .stderr(predicates::str::contains("changed"))
        // filed for the sign host, not signing-fail
        .stdout(predicates::str::contains("\"block\":\"host-changed\""))
        .stdout(predicates::str::contains("signing-fail").not());
    assert!(!live.join(p.arch_v2.file_name().unwrap()).exists());
}

/// The real transport, with one byte of the first package flipped once it
/// has arrived: what a bad disk or a broken copy would do.
struct Damaging(SshRemote);

impl Remote for Damaging {
    fn run(&mut self, job: &Job) -> ka_core::Result<JobResult> {
        self.0.run(job)
    }
    fn upload(
        &mut self,
        to: &Transport,
        local: &Path,
        remote: &str,
        reuse: &[&str],
    ) -> ka_core::Result<Transfer> {
        let t = self.0.upload(to, local, remote, reuse)?;
        let package = fs::read_dir(remote)
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().contains(".pkg.tar"))
            .expect("an uploaded package");
        flip_byte(&package);
        Ok(t)
    }
    fn download(
        &mut self,
        from: &Transport,
        remote: &str,
        local: &Path,
    ) -> ka_core::Result<Vec<PathBuf>> {
        self.0.download(from, remote, local)
    }
}

#[test]
fn a_package_damaged_in_transfer_is_not_signed_and_is_no_signing_failure() {
    let p = packages();
    let c = Case::new();
    c.job("tiny", "tiny-a", &[&p.arch_v1], "2026-05-18T10:00:00Z", 0);
    let layout = Layout::new(c.root.clone());
    let store = ka_block::store::Store::open(&layout).unwrap();
    let notices = ka_notice::NoticeStore::open(&layout).unwrap();
    let sign_host = ka_schema::fleet::sign_host(&c.repo).unwrap();
    let target = HostManifest::load(&c.repo.join("fleet/tiny.yaml"), "fleet/tiny.yaml").unwrap();
    let job = ka_sign::named_job(&layout, "tiny", "tiny-a").unwrap();
    let mut publisher = ka_sign::publish::Publisher {
        remote: Damaging(SshRemote),
        layout: &layout,
        store: &store,
        notices: &notices,
        credentials: Credentials {
            known_hosts: c.repo.join("fleet/known_hosts"),
            identity: c.root.join("ssh/id_ed25519"),
        },
        sign_host: &sign_host,
        dry_run: false,
    };
    let doc = publisher.publish(&target, &job).unwrap();
    assert_eq!(doc.status, Status::Failed);
    assert!(
        doc.message.contains("the upload arrived damaged"),
        "{}",
        doc.message
    );
    assert!(doc.blocks.is_empty(), "{:?}", doc.blocks);
    assert!(store.open_blocks().unwrap().is_empty());
    assert!(notices.all().unwrap().is_empty());
    assert!(!c.arch_repo().exists(), "nothing published");
    assert!(
        !c.srv.join("staging/tiny-a").exists(),
        "the upload is cleaned up"
    );
    let log = fs::read_to_string(&doc.files[0]).unwrap();
    assert!(log.contains("FAILED"), "b2sum names the file: {log}");
    assert!(!log.contains("gpg"), "nothing was signed: {log}");
}
