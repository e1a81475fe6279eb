//! ka-sign with real parts: a throwaway GnuPG key, packages made by makepkg
//! and dpkg-deb, repo-add and apt-ftparchive on a local sign host, and pacman
//! and apt-get clients that verify what was published.

mod common;

use common::*;
use ka_core::hostlock::HostLock;
use ka_schema::{BlockKind, BlockState, Status, Subject, Verb};
use predicates::str::contains;
use std::fs;
use std::path::Path;

fn live_target(link: &Path) -> String {
    fs::read_link(link)
        .unwrap_or_else(|e| panic!("{} is not a symlink: {e}", link.display()))
        .display()
        .to_string()
}

fn open_blocks(c: &Case) -> Vec<ka_schema::Block> {
    let layout = ka_core::paths::Layout::new(c.root.clone());
    ka_block::store::Store::local(&layout)
        .open_blocks()
        .unwrap()
}

fn notices(c: &Case) -> Vec<ka_schema::Notice> {
    let layout = ka_core::paths::Layout::new(c.root.clone());
    ka_notice::NoticeStore::local(&layout).all().unwrap()
}

#[test]
fn arch_package_is_signed_published_and_installed_by_pacman() {
    let p = packages();
    let c = Case::new();
    c.job("tiny", "tiny-a", &[&p.arch_v1], "2026-05-18T10:00:00Z", 0);
    let out = c.sign(&["tiny"]).success().get_output().stdout.clone();
    let doc = publish_doc(&out);
    assert_eq!(doc.status, Status::Done, "{}", doc.message);
    assert_eq!((doc.host.as_str(), doc.job.as_str()), ("tiny", "tiny-a"));
    assert_eq!(doc.key, c.fpr);
    let live = c.arch_repo();
    let name = p.arch_v1.file_name().unwrap().to_str().unwrap();
    for f in [
        name.to_string(),
        format!("{name}.sig"),
        "ka.db".into(),
        "ka.db.tar.gz".into(),
        "ka.db.tar.gz.sig".into(),
        "ka.files.tar.gz.sig".into(),
    ] {
        let path = format!("{}/{f}", live.display());
        assert!(
            doc.published.contains(&path),
            "{path} in {:?}",
            doc.published
        );
        assert!(Path::new(&path).exists(), "{path}");
    }
    let pkg = &doc.packages[0];
    assert_eq!(
        (pkg.package.as_str(), pkg.version.as_str(), pkg.kernel),
        ("linux-tiny", "6.1-1", true)
    );
    assert_eq!(
        pkg.b2sum,
        ka_core::hash::b2sum(&fs::read(&p.arch_v1).unwrap())
    );
    // the live path is a symlink to the generation the doc names
    let gen_name = doc.repo.generation.clone().unwrap();
    assert_eq!(
        live_target(&live),
        format!(".x86_64.generations/{gen_name}")
    );
    // records, notice, nothing left behind
    for f in &doc.files {
        assert!(f.exists(), "{}", f.display());
    }
    let record: ka_schema::Publish =
        ka_core::stream::read_file(&c.root.join("hosts/tiny/published.json")).unwrap();
    assert_eq!(record, doc);
    let n = notices(&c);
    assert_eq!(n.len(), 1);
    assert_eq!(n[0].id, doc.notices[0]);
    assert!(
        n[0].title.contains("linux-tiny 6.1-1 for tiny"),
        "{}",
        n[0].title
    );
    assert!(!c.root.join("publish/tiny-a.upload").exists());
    assert!(!c.srv.join("staging/tiny-a").exists());
    assert!(open_blocks(&c).is_empty());

    // pacman, trusting only our key, syncs the signed db and installs the signed package
    let pm = Pacman::new(
        c.tmp.path().join("pacman"),
        &c.gnupg,
        &c.fpr,
        &format!("file://{}/arch/$arch", c.srv.display()),
    );
    let sync = pm.cmd(&["-Sy"]);
    assert!(sync.status.success(), "{}", text(&sync));
    let install = pm.cmd(&["-S", "linux-tiny"]);
    assert!(install.status.success(), "{}", text(&install));
    assert_eq!(
        fs::read_to_string(pm.dir.join("root/boot/tiny")).unwrap(),
        "tiny 6.1-1\n"
    );

    // publishing the same job again changes nothing
    let again = publish_doc(
        &c.sign(&["tiny", "--job", "tiny-a"])
            .success()
            .get_output()
            .stdout,
    );
    assert_eq!(again.status, Status::Unchanged, "{}", again.message);
    assert!(again.published.is_empty());
    assert_eq!(
        live_target(&live),
        format!(".x86_64.generations/{gen_name}")
    );
}

#[test]
fn pacman_refuses_a_tampered_package_and_a_tampered_db() {
    let p = packages();
    let c = Case::new();
    c.job("tiny", "tiny-a", &[&p.arch_v1], "2026-05-18T10:00:00Z", 0);
    c.sign(&["tiny"]).success();
    let pm = Pacman::new(
        c.tmp.path().join("pacman"),
        &c.gnupg,
        &c.fpr,
        &format!("file://{}/arch/$arch", c.srv.display()),
    );
    let live = c.arch_repo();
    let pkg = live.join(p.arch_v1.file_name().unwrap());
    let good = fs::read(&pkg).unwrap();

    flip_byte(&pkg);
    assert!(pm.cmd(&["-Sy"]).status.success());
    let install = pm.cmd(&["-S", "linux-tiny"]);
    assert!(!install.status.success(), "{}", text(&install));
    assert!(
        text(&install).contains("PGP signature"),
        "{}",
        text(&install)
    );
    assert!(!pm.dir.join("root/boot/tiny").exists());
    fs::write(&pkg, &good).unwrap();
    pm.clear_cache();

    let db = live.join("ka.db.tar.gz");
    flip_byte(&db);
    let sync = pm.cmd(&["-Syy"]);
    assert!(!sync.status.success(), "{}", text(&sync));
    assert!(text(&sync).contains("invalid"), "{}", text(&sync));
}

#[test]
fn debian_package_lands_in_a_signed_apt_repo_and_tampering_is_refused() {
    let p = packages();
    let c = Case::new();
    c.job("tinydeb", "tinydeb-a", &[&p.deb], "2026-05-18T10:00:00Z", 0);
    let doc = publish_doc(&c.sign(&["tinydeb"]).success().get_output().stdout);
    assert_eq!(doc.status, Status::Done, "{}", doc.message);
    let repo = c.apt_repo();
    for f in [
        "pool/main/linux-image-tiny_6.1-1_amd64.deb",
        "pool/main/linux-image-tiny_6.1-1_amd64.deb.sig",
        "dists/ka/main/binary-amd64/Packages",
        "dists/ka/main/binary-amd64/Packages.gz",
        "dists/ka/Release",
        "dists/ka/InRelease",
        "dists/ka/Release.gpg",
    ] {
        let path = format!("{}/{f}", repo.display());
        assert!(
            doc.published.contains(&path),
            "{path} in {:?}",
            doc.published
        );
        assert!(Path::new(&path).exists(), "{path}");
    }
    assert_eq!(doc.packages[0].package, "linux-image-tiny");
    assert!(doc.packages[0].kernel);
    assert_eq!(
        notices(&c)[0].title,
        "[ka:installable] linux-image-tiny 6.1-1 for tinydeb"
    );

    let apt = Apt::new(c.tmp.path().join("apt"), &c.gnupg, &c.fpr, &repo);
    let update = apt.update();
    assert!(update.status.success(), "{}", text(&update));
    assert!(!text(&update).contains("W: "), "{}", text(&update));
    let show = apt.show("linux-image-tiny");
    assert!(
        String::from_utf8_lossy(&show.stdout).contains("Version: 6.1-1"),
        "{}",
        text(&show)
    );

    // a Packages file that is not the one InRelease names
    let packages_gz = repo.join("dists/ka/main/binary-amd64/Packages.gz");
    let good = fs::read(&packages_gz).unwrap();
    flip_byte(&packages_gz);
    let update = apt.update();
    assert!(!update.status.success(), "{}", text(&update));
    assert!(
        text(&update).contains("Hash Sum mismatch"),
        "{}",
        text(&update)
    );
    fs::write(&packages_gz, &good).unwrap();

    // an InRelease changed after signing
    let inrelease = repo.join("dists/ka/InRelease");
    let signed = fs::read_to_string(&inrelease).unwrap();
    fs::write(&inrelease, signed.replace("Suite: ka", "Suite: kb")).unwrap();
    let update = apt.update();
    assert!(!update.status.success(), "{}", text(&update));
    assert!(text(&update).contains("BADSIG"), "{}", text(&update));
}

#[test]
fn a_newer_version_gets_a_new_generation_supersedes_the_notice_and_old_generations_go() {
    let p = packages();
    let c = Case::new();
    c.job("tiny", "tiny-a", &[&p.arch_v1], "2026-05-18T10:00:00Z", 0);
    c.job("tiny", "tiny-b", &[&p.arch_v2], "2026-05-18T11:00:00Z", 0);
    // a newer job that failed is never the default
    c.job("tiny", "tiny-c", &[&p.arch_v2], "2026-05-18T12:00:00Z", 2);
    let first = publish_doc(
        &c.sign(&["tiny", "--job", "tiny-a"])
            .success()
            .get_output()
            .stdout,
    );
    let second = publish_doc(&c.sign(&["tiny"]).success().get_output().stdout);
    assert_eq!(second.job, "tiny-b");
    assert_eq!(second.packages[0].version, "6.1-2");
    let g1 = first.repo.generation.unwrap();
    let g2 = second.repo.generation.unwrap();
    assert_ne!(g1, g2);
    let live = c.arch_repo();
    // repo-add --remove dropped 6.1-1 from the new generation; the old one keeps it
    assert!(!live.join(p.arch_v1.file_name().unwrap()).exists());
    let gens = c.srv.join("arch/.x86_64.generations");
    assert!(gens.join(&g1).join(p.arch_v1.file_name().unwrap()).exists());
    // [ka:installable] for 6.1-2 is open, the one for 6.1-1 closed as superseded
    let n = notices(&c);
    let open: Vec<_> = n
        .iter()
        .filter(|n| n.state == ka_schema::NoticeState::Open)
        .collect();
    assert_eq!(open.len(), 1);
    assert!(open[0].title.contains("6.1-2"), "{}", open[0].title);

    // keep: 2 — a third generation (a downgrade to 6.1-1 again) removes the first
    c.job("tiny", "tiny-d", &[&p.arch_v1], "2026-05-18T13:00:00Z", 0);
    let third = publish_doc(&c.sign(&["tiny"]).success().get_output().stdout);
    assert_eq!(third.status, Status::Done, "{}", third.message);
    let g3 = third.repo.generation.unwrap();
    let mut left: Vec<String> = fs::read_dir(&gens)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    left.sort();
    assert_eq!(left, vec![g2, g3.clone()]);
    assert_eq!(live_target(&live), format!(".x86_64.generations/{g3}"));
}

#[test]
fn signing_failure_files_signing_fail_keeps_the_repo_and_the_gate_holds_until_check() {
    let p = packages();
    let c = Case::new();
    c.job("tiny", "tiny-a", &[&p.arch_v1], "2026-05-18T10:00:00Z", 0);
    c.job("tiny", "tiny-b", &[&p.arch_v2], "2026-05-18T11:00:00Z", 0);
    c.sign(&["tiny", "--job", "tiny-a"]).success();
    let live = c.arch_repo();
    let before = live_target(&live);
    let db_before = fs::read(live.join("ka.db.tar.gz")).unwrap();

    // a GNUPGHOME without the key
    let empty = GpgHome::empty(c.tmp.path().join("gnupg-empty"));
    let good = c.local_sign();
    c.sign_host(&good.replace(
        &c.gnupg.dir.display().to_string(),
        &empty.dir.display().to_string(),
    ));
    let out = c
        .sign(&["tiny", "--job", "tiny-b"])
        .code(1)
        .get_output()
        .stdout
        .clone();
    let doc = publish_doc(&out);
    assert_eq!(doc.status, Status::Failed);
    assert!(doc.message.contains("no secret key"), "{}", doc.message);
    assert_eq!(doc.blocks.len(), 1);
    assert_eq!(doc.blocks[0].block, BlockKind::SigningFail);
    assert!(doc.published.is_empty() && doc.notices.is_empty());
    assert_eq!(live_target(&live), before, "the live repository moved");
    assert_eq!(fs::read(live.join("ka.db.tar.gz")).unwrap(), db_before);
    let blocks = open_blocks(&c);
    assert_eq!(blocks.len(), 1);
    assert!(
        blocks[0].title.starts_with("[ka:signing-fail]"),
        "{}",
        blocks[0].title
    );
    assert!(
        c.root.join("publish/tiny-b.json").exists(),
        "the failed attempt is recorded"
    );

    // with the key back, the gate still refuses until a check proves signing works
    c.sign_host(&good);
    let blocked = publish_doc(
        &c.sign(&["tiny", "--job", "tiny-b"])
            .code(1)
            .get_output()
            .stdout,
    );
    assert_eq!(blocked.status, Status::Blocked);
    assert!(
        blocked.message.contains("ka-publish --check"),
        "{}",
        blocked.message
    );
    assert!(
        !c.srv.join("staging/tiny-b").exists(),
        "nothing was uploaded"
    );
    // the gate halts signing (and builds) everywhere, installs nowhere
    let open = open_blocks(&c);
    let req = ka_block::gate::Request {
        host: "tiny",
        build_host: None,
        patches: &[],
    };
    assert_eq!(ka_block::gate::blocking(&open, Verb::Sign, &req).len(), 1);
    assert!(ka_block::gate::blocking(&open, Verb::Install, &req).is_empty());

    // a check with the wrong key home fails and refreshes the block
    c.sign_host(&good.replace(
        &c.gnupg.dir.display().to_string(),
        &empty.dir.display().to_string(),
    ));
    c.sign(&["--check"])
        .code(1)
        .stdout(contains("signing does not work"));
    assert_eq!(open_blocks(&c).len(), 1);
    c.sign_host(&good);
    c.sign(&["--check"])
        .success()
        .stdout(contains("lifted signing-fail-"));
    assert!(open_blocks(&c).is_empty());
    let layout = ka_core::paths::Layout::new(c.root.clone());
    let all = ka_block::store::Store::local(&layout).all().unwrap();
    assert_eq!(all[0].state, BlockState::Lifted);

    let doc = publish_doc(
        &c.sign(&["tiny", "--job", "tiny-b"])
            .success()
            .get_output()
            .stdout,
    );
    assert_eq!(doc.status, Status::Done, "{}", doc.message);
}

#[test]
fn a_file_name_published_before_with_other_bytes_is_refused() {
    let p = packages();
    let c = Case::new();
    c.job("tiny", "tiny-a", &[&p.arch_v1], "2026-05-18T10:00:00Z", 0);
    c.sign(&["tiny"]).success();
    let live = c.arch_repo();
    let before = live_target(&live);
    // a rebuild of the same version: same name, other bytes
    let rebuilt = c.tmp.path().join(p.arch_v1.file_name().unwrap());
    let mut bytes = fs::read(&p.arch_v1).unwrap();
    bytes.push(0);
    fs::write(&rebuilt, bytes).unwrap();
    c.job("tiny", "tiny-b", &[&rebuilt], "2026-05-18T11:00:00Z", 0);
    let doc = publish_doc(&c.sign(&["tiny"]).code(1).get_output().stdout);
    assert_eq!(doc.status, Status::Failed);
    assert!(
        doc.message.contains("already published with other content"),
        "{}",
        doc.message
    );
    assert!(doc.blocks.is_empty(), "not a signing failure");
    assert!(open_blocks(&c).is_empty());
    assert_eq!(live_target(&live), before);
}

#[test]
fn dry_run_says_what_would_happen_and_changes_nothing() {
    let p = packages();
    let c = Case::new();
    c.job("tiny", "tiny-a", &[&p.arch_v1], "2026-05-18T10:00:00Z", 0);
    let doc = publish_doc(&c.sign(&["tiny", "--dry-run"]).success().get_output().stdout);
    assert_eq!(doc.status, Status::DryRun);
    assert!(
        doc.message.contains("would copy 1 package(s)"),
        "{}",
        doc.message
    );
    assert!(doc.files.is_empty() && doc.published.is_empty());
    assert_eq!(fs::read_dir(&c.srv).unwrap().count(), 0);
    assert!(!c.root.join("publish").exists());
    assert!(!c.root.join("notices").exists() || notices(&c).is_empty());
}

#[test]
fn concurrent_publishes_are_refused() {
    let p = packages();
    let c = Case::new();
    c.job("tiny", "tiny-a", &[&p.arch_v1], "2026-05-18T10:00:00Z", 0);
    // here: another ka-sign holds KA_ROOT/locks/publish.lock
    {
        let _held =
            HostLock::acquire(&c.root.join("locks/publish.lock"), "ka-sign tiny (job x)").unwrap();
        c.sign(&["tiny"])
            .code(1)
            .stderr(contains("locked by"))
            .stderr(contains("ka-sign tiny (job x)"));
    }
    assert!(!c.srv.join("staging").exists());
    // on the sign host: another publisher holds the repository's lock
    fs::create_dir_all(c.srv.join("arch")).unwrap();
    let lock = fs::File::create(c.srv.join("arch/.x86_64.lock")).unwrap();
    lock.try_lock().unwrap();
    let doc = publish_doc(&c.sign(&["tiny"]).code(1).get_output().stdout);
    assert_eq!(doc.status, Status::Failed);
    assert!(doc.message.contains("busy"), "{}", doc.message);
    assert!(doc.blocks.is_empty());
    assert!(!c.arch_repo().exists());
    lock.unlock().unwrap();
    c.sign(&["tiny"]).success();
}

#[test]
fn bad_inputs_are_refused_and_write_nothing() {
    let p = packages();
    let c = Case::new();
    let nothing_written = |c: &Case| {
        assert!(!c.root.join("publish").exists(), "publish records written");
        assert!(!c.root.join("notices").exists(), "notices written");
        assert_eq!(
            fs::read_dir(&c.srv).unwrap().count(),
            0,
            "sign host touched"
        );
    };
    // no job at all
    c.sign(&["tiny"])
        .code(1)
        .stderr(contains("no successful build job"));
    c.sign(&["tiny", "--job", "tiny-x"])
        .code(2)
        .stderr(contains("no job tiny-x"));
    // a failed job
    c.job("tiny", "tiny-f", &[&p.arch_v1], "2026-05-18T10:00:00Z", 2);
    c.sign(&["tiny", "--job", "tiny-f"])
        .code(1)
        .stderr(contains("did not succeed (exited 2)"));
    // another host's job
    c.job("tinydeb", "tinydeb-a", &[&p.deb], "2026-05-18T10:00:00Z", 0);
    c.sign(&["tiny", "--job", "tinydeb-a"])
        .code(2)
        .stderr(contains("built the packages of tinydeb, not of tiny"));
    // output pruned away
    c.job("tiny", "tiny-p", &[], "2026-05-18T10:00:00Z", 0);
    fs::remove_dir_all(c.root.join("output/tiny-p")).unwrap();
    c.sign(&["tiny", "--job", "tiny-p"])
        .code(2)
        .stderr(contains("ka-restore-archive tiny-p"));
    // no packages in the output
    c.job("tiny", "tiny-e", &[], "2026-05-18T10:00:00Z", 0);
    fs::write(c.root.join("output/tiny-e/build.log"), "x").unwrap();
    c.sign(&["tiny", "--job", "tiny-e"])
        .code(2)
        .stderr(contains("left no packages"));
    // packages, but not the host's kernel
    let other = c.tmp.path().join("linux-other-6.1-1-x86_64.pkg.tar.gz");
    fs::copy(&p.arch_v1, &other).unwrap();
    c.job("tiny", "tiny-k", &[&other], "2026-05-18T10:00:00Z", 0);
    c.sign(&["tiny", "--job", "tiny-k"])
        .code(2)
        .stderr(contains("kernel package linux-tiny"));
    // built for another architecture
    let arm = c.tmp.path().join("linux-tiny-6.1-1-aarch64.pkg.tar.gz");
    fs::copy(&p.arch_v1, &arm).unwrap();
    c.job("tiny", "tiny-arm", &[&arm], "2026-05-18T10:00:00Z", 0);
    c.sign(&["tiny", "--job", "tiny-arm"])
        .code(3)
        .stderr(contains("built for aarch64"));
    // a bad job id
    c.sign(&["tiny", "--job", "../x"]).code(3);
    nothing_written(&c);

    // the sign host's config
    c.job("tiny", "tiny-a", &[&p.arch_v1], "2026-05-18T10:00:00Z", 0);
    let good = c.local_sign();
    for (bad, code, says) in [
        (good.replace(&c.fpr, "ABCDEF"), 3, "full fingerprint"),
        (
            good.replace(
                &format!("gnupghome: {}", c.gnupg.dir.display()),
                "gnupghome: /home/someone/.gnupg",
            ),
            3,
            "under a home folder",
        ),
        (good.replace("keep: 2", "keep: 1"), 3, "keep at least 2"),
        (good.replace("  local: true\n", ""), 3, "needs ssh:"),
        (
            format!("{good}  colour: blue\n"),
            3,
            "unknown field `colour`",
        ),
        (
            good.replace(
                "  pacman: { name: ka, root: ",
                "  pacman: { name: ka, root: rel",
            )
            .replace(&format!("rel{}", c.srv.display()), "relative"),
            3,
            "absolute path",
        ),
    ] {
        c.sign_host(&bad);
        c.sign(&["tiny"]).code(code).stderr(contains(says));
    }
    // the gnupghome of a local sign host inside $HOME
    c.sign_host(&good.replace(
        &format!("gnupghome: {}", c.gnupg.dir.display()),
        &format!("gnupghome: {}/gnupg", c.home.display()),
    ));
    c.sign(&["tiny"]).code(3).stderr(contains("inside $HOME"));
    // no sign host, two sign hosts
    fs::remove_file(c.repo.join("fleet/signer.yaml")).unwrap();
    c.sign(&["tiny"])
        .code(2)
        .stderr(contains("no host of the fleet has sign:"));
    c.sign_host(&good);
    fs::write(
        c.repo.join("fleet/signer2.yaml"),
        format!("host: signer2\nrole: infra\narch: x86_64\ndistro: debian\n{good}"),
    )
    .unwrap();
    c.sign(&["tiny"])
        .code(3)
        .stderr(contains("more than one sign host"));
    fs::remove_file(c.repo.join("fleet/signer2.yaml")).unwrap();
    // a sign host without a repository for the host's distro
    c.sign_host(&good.replace(
        &format!("  pacman: {{ name: ka, root: {}/arch }}\n", c.srv.display()),
        "",
    ));
    c.sign(&["tiny"])
        .code(2)
        .stderr(contains("has no sign.pacman repository"));
    nothing_written(&c);
    // usage
    c.sign(&[]).code(2);
    c.sign(&["tiny", "--check"]).code(2);
}

#[test]
fn the_sign_script_is_clean_posix_sh() {
    let out = std::process::Command::new("shellcheck")
        .args(["-s", "sh", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child
                .stdin
                .take()
                .unwrap()
                .write_all(ka_sign::SCRIPT.as_bytes())?;
            child.wait_with_output()
        })
        .expect("shellcheck (scripts/debian-deps installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

#[test]
fn unknown_and_infra_hosts_and_the_gate_come_before_no_build_job() {
    let c = Case::new();
    c.sign(&["tinyy"]).code(2).stderr(format!(
        "ka-sign: error: no host 'tinyy' in the fleet ({}/); hosts: signer, tiny, tinydeb\n",
        c.repo.join("fleet").display()
    ));
    // the sign host itself is infra without opt_in: never a target
    c.sign(&["signer"]).code(1).stderr(contains(
        "fleet/signer.yaml: signer is an infra host; kernel-agent never targets infra hosts unless the manifest says opt_in: true",
    ));
    // no build job, but signing is halted: the block is the answer
    let store = ka_block::store::Store::local(&ka_core::paths::Layout::new(c.root.clone()));
    let b = store
        .file(
            BlockKind::SigningFail,
            Subject::Global,
            "key gone",
            "by a test",
        )
        .unwrap();
    let out = c.sign(&["tiny"]).code(1);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(
        err.starts_with(&format!("ka-sign: error: signing is halted by {}; ", b.id)),
        "{err}"
    );
    assert!(!err.contains("ka-build tiny"), "{err}");
    assert!(!c.root.join("publish").exists());
}
