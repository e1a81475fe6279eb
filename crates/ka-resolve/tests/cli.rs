//! ka-resolve against small fleets built in temp folders: the order rules and
//! every refusal, each with a clear message and a non-zero exit.

use assert_cmd::Command;
use predicates::str::contains;
use std::fs;
use std::path::Path;
use tempfile::TempDir;

struct Fleet {
    dir: TempDir,
    home: TempDir,
}

const DIFF: &str = "--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n";

impl Fleet {
    fn new() -> Fleet {
        let f = Fleet {
            dir: tempfile::tempdir().unwrap(),
            home: tempfile::tempdir().unwrap(),
        };
        fs::create_dir_all(f.path().join("fleet")).unwrap();
        fs::create_dir_all(f.path().join("patches")).unwrap();
        f
    }
    fn path(&self) -> &Path {
        self.dir.path()
    }
    fn write(&self, rel: &str, text: &str) -> &Fleet {
        let p = self.path().join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, text).unwrap();
        self
    }
    fn host(&self, name: &str, extra: &str) -> &Fleet {
        self.write(
            &format!("fleet/{name}.yaml"),
            &format!(
                "host: {name}\nrole: dev\narch: aarch64\ndistro: arch\nkernel:\n  pkgbase: linux-{name}\n  suffix: {name}\n  baseline: {{ tarball: /nonexistent.tar.xz }}\n{extra}"
            ),
        )
    }
    fn series(&self, reference: &str, campaign: &str, extra: &str, patches: &[&str]) -> &Fleet {
        let scope = reference.rsplit_once('/').unwrap().0;
        self.write(
            &format!("patches/{reference}/series.yaml"),
            &format!("scope: {scope}\ncampaign: {campaign}\n{extra}"),
        );
        for (i, name) in patches.iter().enumerate() {
            self.write(
                &format!("patches/{reference}/{name}"),
                &format!("{DIFF}# {reference} {i}\n"),
            );
        }
        self
    }
    fn resolve(&self, args: &[&str]) -> assert_cmd::assert::Assert {
        Command::cargo_bin("ka-resolve")
            .unwrap()
            .arg("--repo")
            .arg(self.path())
            .args(args)
            .env("HOME", self.home.path())
            .env_remove("KA_REPO")
            .assert()
    }
    fn plan_paths(&self, host: &str) -> Vec<String> {
        let out = self.resolve(&[host]).success().get_output().stdout.clone();
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        v["patches"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["path"].as_str().unwrap().to_string())
            .collect()
    }
}

fn example() -> Fleet {
    let f = Fleet::new();
    f.series("board/pbp/opp", "fourier", "", &["0001-a.patch", "0002-b.patch"])
        .series("arch/arm64/build-fix", "misc", "", &["0001-x.patch"])
        .series("soc/rockchip/rk3399/pcie", "fourier", "", &["0001-y.diff"])
        .series("subsystem/media/vb2/fence", "vb2", "", &["0001-z.patch"])
        .host(
            "fresnel",
            "scopes: [board/pbp, arch/arm64, soc/rockchip/rk3399]\ninclude: [subsystem/media/vb2/fence]\n",
        );
    f
}

#[test]
fn order_is_scope_kind_then_series_then_includes() {
    let f = example();
    assert_eq!(
        f.plan_paths("fresnel"),
        [
            "patches/arch/arm64/build-fix/0001-x.patch",
            "patches/soc/rockchip/rk3399/pcie/0001-y.diff",
            "patches/board/pbp/opp/0001-a.patch",
            "patches/board/pbp/opp/0002-b.patch",
            "patches/subsystem/media/vb2/fence/0001-z.patch",
        ]
    );
    // deterministic: same bytes twice
    let a = f.resolve(&["fresnel"]).get_output().stdout.clone();
    let b = f.resolve(&["fresnel"]).get_output().stdout.clone();
    assert_eq!(a, b);
}

#[test]
fn after_moves_a_series_behind_its_dependency() {
    let f = example();
    f.series(
        "arch/arm64/build-fix",
        "misc",
        "after: [board/pbp/opp]\n",
        &["0001-x.patch"],
    );
    let paths = f.plan_paths("fresnel");
    let pos = |s: &str| paths.iter().position(|p| p.contains(s)).unwrap();
    assert!(pos("build-fix") > pos("0002-b"));
    assert!(pos("rk3399") < pos("opp"), "others keep their order");
}

#[test]
fn after_cycle_is_refused() {
    let f = example();
    f.series(
        "arch/arm64/build-fix",
        "misc",
        "after: [board/pbp/opp]\n",
        &["0001-x.patch"],
    );
    f.series(
        "board/pbp/opp",
        "fourier",
        "after: [arch/arm64/build-fix]\n",
        &["0001-a.patch"],
    );
    f.resolve(&["fresnel"]).code(1).stderr(contains("cycle"));
}

#[test]
fn after_naming_a_series_the_host_does_not_take_is_refused() {
    let f = example();
    f.series("subsystem/media/vb2/other", "vb2", "", &["0001-o.patch"]);
    f.series(
        "board/pbp/opp",
        "fourier",
        "after: [subsystem/media/vb2/other]\n",
        &["0001-a.patch"],
    );
    f.resolve(&["fresnel"])
        .code(1)
        .stderr(contains("does not take subsystem/media/vb2/other"));
}

#[test]
fn exclude_drops_a_series() {
    let f = example();
    f.host(
        "fresnel",
        "scopes: [board/pbp, arch/arm64]\nexclude: [arch/arm64/build-fix]\n",
    );
    assert_eq!(f.plan_paths("fresnel").len(), 2);
}

#[test]
fn infra_host_without_opt_in_is_refused_and_skipped_by_all() {
    let f = example();
    f.write(
        "fleet/hertz.yaml",
        "host: hertz\nrole: infra\narch: x86_64\ndistro: debian\nkernel:\n  pkgbase: linux-hertz\n  suffix: hertz\n  baseline: { tarball: /x.tar.xz }\nscopes: [arch/arm64]\n",
    );
    f.resolve(&["hertz"]).code(1).stderr(contains("infra host"));
    let out = f.resolve(&["--all"]).success().get_output().stdout.clone();
    let text = String::from_utf8(out).unwrap();
    assert_eq!(text.lines().count(), 1, "only fresnel: {text}");
    assert!(text.contains("\"host\":\"fresnel\""));
    // with opt-in it is a target
    f.write(
        "fleet/hertz.yaml",
        "host: hertz\nrole: infra\nopt_in: true\narch: x86_64\ndistro: debian\nkernel:\n  pkgbase: linux-hertz\n  suffix: hertz\n  baseline: { tarball: /x.tar.xz }\nscopes: [arch/arm64]\n",
    );
    f.resolve(&["hertz"]).success();
}

#[test]
fn all_goes_on_past_a_broken_host() {
    let f = example();
    f.write("fleet/ohm.yaml", "host: ohm\nrole: [\n");
    let a = f
        .resolve(&["--all"])
        .code(3)
        .stderr(contains("fleet/ohm.yaml:"));
    let text = String::from_utf8(a.get_output().stdout.clone()).unwrap();
    assert!(text.contains("\"host\":\"fresnel\""));
}

#[test]
fn malformed_yaml_names_file_line_column() {
    let f = example();
    f.write(
        "fleet/fresnel.yaml",
        "host: fresnel\nrole: dev\narch: [aarch64\n",
    );
    f.resolve(&["fresnel"])
        .code(3)
        .stderr(contains("fleet/fresnel.yaml:"));
}

#[test]
fn unknown_keys_are_errors_with_location() {
    let f = example();
    f.host("fresnel", "scopes: [board/pbp]\nscoeps: [x]\n");
    f.resolve(&["fresnel"])
        .code(3)
        .stderr(contains("fleet/fresnel.yaml:10:1: unknown field `scoeps`"));
    let f = example();
    f.write(
        "patches/board/pbp/opp/series.yaml",
        "scope: board/pbp\ncampaign: c\nprobe: []\n",
    );
    f.resolve(&["fresnel"]).code(3).stderr(contains(
        "patches/board/pbp/opp/series.yaml:3:1: unknown field `probe`",
    ));
}

#[test]
fn missing_manifest_lists_the_fleet() {
    let f = example();
    f.resolve(&["ohm"]).code(2).stderr(format!(
        "ka-resolve: error: no host 'ohm' in the fleet ({}/); hosts: fresnel\n",
        f.path().join("fleet").display()
    ));
}

#[test]
fn host_names_with_metacharacters_or_leading_dash_are_refused() {
    let f = example();
    for bad in ["a;rm", "$(id)", "a b", "../fresnel"] {
        f.resolve(&[bad])
            .code(3)
            .stderr(contains("invalid host name"));
    }
    // a leading dash is an option to clap; after `--` it is a name and refused
    f.resolve(&["--", "-rf"])
        .code(3)
        .stderr(contains("invalid host name"));
}

#[test]
fn host_field_must_match_file_name() {
    let f = example();
    f.write(
        "fleet/ohm.yaml",
        &fs::read_to_string(f.path().join("fleet/fresnel.yaml")).unwrap(),
    );
    f.resolve(&["ohm"])
        .code(3)
        .stderr(contains("does not match the file name"));
}

#[test]
fn a_patch_outside_a_series_has_no_scope_tag() {
    let f = example();
    f.write("patches/board/pbp/stray.patch", DIFF);
    f.resolve(&["fresnel"]).code(1).stderr(contains(
        "patches/board/pbp/stray.patch: a patch outside any series has no scope tag",
    ));
}

#[test]
fn a_series_without_series_yaml_has_no_scope_tag() {
    let f = example();
    f.write("patches/board/pbp/untagged/0001-u.patch", DIFF);
    f.resolve(&["fresnel"]).code(1).stderr(contains(
        "patches/board/pbp/untagged: patches without a scope tag",
    ));
}

#[test]
fn a_series_whose_tag_disagrees_with_its_folder_is_refused() {
    let f = example();
    f.write(
        "patches/board/pbp/opp/series.yaml",
        "scope: board/other\ncampaign: fourier\n",
    );
    f.resolve(&["fresnel"])
        .code(1)
        .stderr(contains("disagrees with the folder"));
}

#[test]
fn unknown_scope_include_and_exclude_are_refused() {
    let f = example();
    f.host("fresnel", "scopes: [board/nope]\n");
    f.resolve(&["fresnel"])
        .code(1)
        .stderr(contains("unknown scope board/nope"));
    f.host("fresnel", "scopes: [board/pbp]\ninclude: [driver/nope/x]\n");
    f.resolve(&["fresnel"])
        .code(1)
        .stderr(contains("include driver/nope/x: unknown series"));
    f.host(
        "fresnel",
        "scopes: [board/pbp]\nexclude: [arch/arm64/build-fix]\n",
    );
    f.resolve(&["fresnel"])
        .code(1)
        .stderr(contains("exclude arch/arm64/build-fix names no series"));
}

#[test]
fn the_same_patch_twice_is_refused() {
    let f = example();
    f.host("fresnel", "scopes: [board/pbp]\ninclude: [board/pbp/opp]\n");
    f.resolve(&["fresnel"])
        .code(1)
        .stderr(contains("the same patches twice"));
    // identical content in two series
    let f = example();
    let a = fs::read(f.path().join("patches/board/pbp/opp/0001-a.patch")).unwrap();
    fs::write(
        f.path().join("patches/arch/arm64/build-fix/0001-x.patch"),
        &a,
    )
    .unwrap();
    f.resolve(&["fresnel"])
        .code(1)
        .stderr(contains("the same patch twice"));
}

#[test]
fn paths_escaping_the_tree_are_refused() {
    let f = example();
    f.host(
        "fresnel",
        "scopes: [board/pbp]\ninclude: [board/../../etc]\n",
    );
    f.resolve(&["fresnel"]).code(3).stderr(contains("invalid"));
    f.host("fresnel", "scopes: [/etc]\n");
    f.resolve(&["fresnel"])
        .code(3)
        .stderr(contains("invalid scope"));
}

#[test]
fn symlinks_pointing_outside_the_tree_are_refused() {
    let f = example();
    let outside = tempfile::tempdir().unwrap();
    fs::write(outside.path().join("evil.patch"), DIFF).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("evil.patch"),
        f.path().join("patches/board/pbp/opp/0003-evil.patch"),
    )
    .unwrap();
    f.resolve(&["fresnel"])
        .code(1)
        .stderr(contains("symlink pointing outside the patch tree"));
    // a symlinked series folder, too
    let f = example();
    fs::create_dir_all(outside.path().join("s")).unwrap();
    fs::write(
        outside.path().join("s/series.yaml"),
        "scope: board/pbp\ncampaign: c\n",
    )
    .unwrap();
    fs::write(outside.path().join("s/0001-s.patch"), DIFF).unwrap();
    std::os::unix::fs::symlink(
        outside.path().join("s"),
        f.path().join("patches/board/pbp/linked"),
    )
    .unwrap();
    f.resolve(&["fresnel"])
        .code(1)
        .stderr(contains("symlink pointing outside"));
}

#[test]
fn not_a_fleet_repository() {
    let empty = tempfile::tempdir().unwrap();
    Command::cargo_bin("ka-resolve")
        .unwrap()
        .args(["fresnel", "--repo"])
        .arg(empty.path())
        .assert()
        .code(2)
        .stderr(contains("not a fleet repository"));
}

#[test]
fn host_without_kernel_has_nothing_to_promote() {
    let f = example();
    f.write("fleet/boltzmann.yaml", "host: boltzmann\nrole: dev\narch: aarch64\ndistro: arch\nbuild_host: { user: kbuild, arches: [aarch64] }\n");
    f.resolve(&["boltzmann"])
        .code(1)
        .stderr(contains("no kernel: section"));
}

#[test]
fn an_empty_ka_repo_is_named_not_taken_for_a_flag() {
    let f = example();
    Command::cargo_bin("ka-resolve")
        .unwrap()
        .arg("fresnel")
        .env("HOME", f.home.path())
        .env("KA_REPO", "")
        .current_dir(f.path())
        .assert()
        .code(2)
        .stderr(
            "ka-resolve: error: KA_REPO is set but empty; unset it (default: the current directory) or set it to the fleet repository\n",
        );
    // unset, it is the current directory
    Command::cargo_bin("ka-resolve")
        .unwrap()
        .arg("fresnel")
        .env("HOME", f.home.path())
        .env_remove("KA_REPO")
        .current_dir(f.path())
        .assert()
        .success();
}

#[test]
fn a_huge_malformed_manifest_is_not_quoted_whole() {
    let f = example();
    f.write("fleet/ohm.yaml", &"x".repeat(6_000_000));
    let out = f.resolve(&["ohm"]).code(3);
    let err = String::from_utf8_lossy(&out.get_output().stderr).to_string();
    assert!(err.len() < 500, "{} bytes on stderr", err.len());
    assert!(
        err.ends_with("x…\" (5999800 bytes more), expected struct HostManifest\n"),
        "{err}"
    );
    // --all names it per host, as small
    let out = f.resolve(&["--all"]).code(3);
    assert!(out.get_output().stderr.len() < 1000);
}
