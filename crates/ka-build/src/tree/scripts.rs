//! The tree's jobs on the build host: the constant scripts that read its
//! state, prepare it and commit it after a build, their argv, and the
//! readers of what they print.

use super::{Observed, image_path};
use ka_schema::{Arch, TreeMode};
use std::collections::BTreeMap;

/// Parse the state job's output (see [`STATE`]).
pub fn parse_state(output: &str) -> Observed {
    let mut o = Observed::default();
    for line in output.lines() {
        if let Some(t) = line.strip_prefix("toolchain ") {
            o.toolchain = t.trim().to_string();
        } else if let Some(m) = line.strip_prefix("state ") {
            o.marker.get_or_insert_with(Vec::new).push(m.to_string());
        } else if line == "state" {
            // an empty marker line (a marker cut short): keep it to refuse it
            o.marker.get_or_insert_with(Vec::new).push(String::new());
        } else if let Some(k) = line.strip_prefix("kept ") {
            o.kept = Some(k.trim().to_string());
        } else if line == "tree present" {
            o.present = true;
        }
    }
    o
}

/// Read-only: what the tree is. Arguments: the tree folder and the cross
/// compiler's prefix (empty: native). The toolchain is named by a hash of the
/// compiler's and linker's version lines, so a compiler upgrade is a change.
pub const STATE: &str = r#"tree=$1 prefix=$2
echo "toolchain $( { "${prefix}gcc" --version 2>&1 | head -n 1; "${prefix}ld" --version 2>&1 | head -n 1; } | b2sum | cut -c1-32)"
if [ -d "$tree/linux" ]; then echo "tree present"; fi
if [ -f "$tree/state" ]; then sed 's/^/state /' "$tree/state"; fi
if [ -f "$tree/cumulative.patch" ]; then echo "kept $(b2sum <"$tree/cumulative.patch" | cut -d' ' -f1)"; fi
exit 0"#;

pub fn state_argv(tree: &str, prefix: &str) -> Vec<String> {
    vec![
        "sh".into(),
        "-c".into(),
        STATE.into(),
        "ka-tree-state".into(),
        tree.into(),
        prefix.into(),
    ]
}

/// Move the tree to the job's sources. Arguments: the tree folder, the job
/// folder, `clean` or `incremental`, the cumulative patch's b2sum. Prints
/// `mode clean|incremental`, the files it replaced, and why it fell back to a
/// clean tree when an incremental update could not be done. Exits non-zero
/// when not even a clean tree could be made (disk full): the tree then has
/// no marker, and nothing is built from it.
pub const PREPARE: &str = r#"tree=$1 job=$2 mode=$3 sum=$4
new=$job/cumulative.patch old=$tree/cumulative.patch
if [ "$(b2sum <"$new" | cut -d' ' -f1)" != "$sum" ]; then
  echo "error: $new differs from the render's b2sum; build again"; exit 1
fi
mkdir -p "$tree" || exit 1
# First, and durably: from here until a successful build writes the marker
# again the tree is in flux, and a job that stops anywhere in between must
# leave no marker behind.
rm -f "$tree/state" "$tree/state.tmp" && sync "$tree" || exit 1

apply() { # DIR PATCH [-R]: patch(1) as the build does, quietly
  [ -s "$2" ] || return 0
  (cd "$1" && patch -Np1 -F0 -s --no-backup-if-mismatch $3 -i "$2")
}

incremental() {
  stage=$tree/stage list=$tree/stage.list
  [ -f "$old" ] || { echo "no kept patch"; return 1; }
  # renames, copies and binary patches are not followed file by file
  if grep -qE '^(rename|copy) (from|to) |^GIT binary patch' "$old" "$new"; then
    echo "a patch renames, copies or carries binary files"; return 1
  fi
  rm -rf "$stage" && mkdir -p "$stage" || return 1
  # every path either patch names (more is harmless: unchanged files stay as they are)
  awk '/^(---|\+\+\+) / { p = $2; if (p == "/dev/null") next; sub(/^[^\/]*\//, "", p); print p }' \
    "$old" "$new" | LC_ALL=C sort -u >"$list" || return 1
  while IFS= read -r p; do
    case $p in /* | ../* | */../* | *"/.." | "") echo "unsafe path in a patch: $p"; return 1 ;; esac
    if [ -e "$tree/linux/$p" ]; then
      mkdir -p "$(dirname "$stage/$p")" && cp -p "$tree/linux/$p" "$stage/$p" || return 1
    fi
  done <"$list"
  apply "$stage" "$old" -R || { echo "the tree's patch does not reverse cleanly"; return 1; }
  apply "$stage" "$new" || { echo "the new patch does not apply"; return 1; }
  while IFS= read -r p; do
    if [ -e "$stage/$p" ]; then
      cmp -s "$stage/$p" "$tree/linux/$p" && continue
      mkdir -p "$(dirname "$tree/linux/$p")" &&
        cp -p "$stage/$p" "$tree/linux/$p.ka-new" && touch "$tree/linux/$p.ka-new" &&
        mv -f "$tree/linux/$p.ka-new" "$tree/linux/$p" || return 1
      echo "changed $p"
    elif [ -e "$tree/linux/$p" ]; then
      rm -f "$tree/linux/$p" || return 1
      echo "removed $p"
    fi
  done <"$list"
  rm -rf "$stage" "$list"
}

if [ "$mode" = incremental ]; then
  if why=$(incremental 2>&1); then
    [ -z "$why" ] || printf '%s\n' "$why"
  else
    printf '%s\n' "$why"
    echo "fell back to a clean tree: the incremental update stopped (above)"
    mode=clean
  fi
fi
if [ "$mode" = clean ]; then
  rm -rf "$tree" && mkdir -p "$tree" &&
    tar -xf "$job/linux.tar" -C "$tree" &&
    apply "$tree/linux" "$new" ||
    { echo "error: could not make a clean tree in $tree (disk full?); it has no state marker, so nothing is built from it"; exit 1; }
fi
cp "$new" "$tree/cumulative.patch.tmp" && mv -f "$tree/cumulative.patch.tmp" "$tree/cumulative.patch" || exit 1
echo "mode $mode""#;

pub fn prepare_argv(tree: &str, job_dir: &str, mode: TreeMode, cumulative: &str) -> Vec<String> {
    vec![
        "sh".into(),
        "-c".into(),
        PREPARE.into(),
        "ka-tree-prepare".into(),
        tree.into(),
        job_dir.into(),
        match mode {
            TreeMode::Clean => "clean",
            TreeMode::Incremental => "incremental",
        }
        .into(),
        cumulative.into(),
    ]
}

/// The mode the prepare job ended with (`None`: it did not say).
pub fn prepared_mode(output: &str) -> Option<TreeMode> {
    output.lines().rev().find_map(|l| match l {
        "mode clean" => Some(TreeMode::Clean),
        "mode incremental" => Some(TreeMode::Incremental),
        _ => None,
    })
}

/// Why the prepare job fell back to a clean tree, when it did.
pub fn fallback_reason(output: &str) -> Option<String> {
    let lines: Vec<&str> = output.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.starts_with("fell back to a clean tree"))?;
    Some(match at.checked_sub(1).map(|i| lines[i]) {
        Some(why) if !why.starts_with("changed ") && !why.starts_with("removed ") => {
            format!("the incremental update stopped: {why}")
        }
        _ => "the incremental update stopped".to_string(),
    })
}

/// After a build: the b2sum of the image and of every `.ko`, one `file <sum>
/// <path>` line each, then the marker (its lines are the remaining
/// arguments; none: no marker, for the check build), written to a temp file,
/// synced, renamed: the last thing a job does to its tree.
pub const COMMIT: &str = r#"tree=$1 image=$2; shift 2
cd "$tree/linux" || exit 1
[ -f "$image" ] || { echo "error: the build made no $image"; exit 1; }
{ b2sum "./$image" && find . -name '*.ko' -type f -print0 | LC_ALL=C sort -z | xargs -0r b2sum; } >"$tree/sums.tmp" || exit 1
sed 's/^/file /' "$tree/sums.tmp"; rm -f "$tree/sums.tmp"
if [ $# -gt 0 ]; then
  printf '%s\n' "$@" >"$tree/state.tmp" && sync "$tree/state.tmp" &&
    mv -f "$tree/state.tmp" "$tree/state" && sync "$tree" || exit 1
  echo "state marker written"
fi"#;

pub fn commit_argv(tree: &str, arch: Arch, marker: &[String]) -> Vec<String> {
    let mut argv: Vec<String> = vec![
        "sh".into(),
        "-c".into(),
        COMMIT.into(),
        "ka-tree-commit".into(),
        tree.into(),
        image_path(arch).into(),
    ];
    argv.extend(marker.iter().cloned());
    argv
}

/// The b2sums the commit job printed: `(path, sum)` in its order (the image
/// first, then the modules sorted by path).
pub fn parse_sums(output: &str) -> Vec<(String, String)> {
    output
        .lines()
        .filter_map(|l| {
            let rest = l.strip_prefix("file ")?;
            let (sum, path) = rest.split_once("  ")?;
            Some((path.to_string(), sum.to_string()))
        })
        .collect()
}

/// The image's and the module tree's b2sums from [`parse_sums`]' list.
pub fn digests(sums: &[(String, String)], arch: Arch) -> (Option<String>, String) {
    let image = format!("./{}", image_path(arch));
    let image_sum = sums
        .iter()
        .find(|(p, _)| *p == image)
        .map(|(_, s)| s.clone());
    let listing: String = sums
        .iter()
        .filter(|(p, _)| p.ends_with(".ko"))
        .map(|(p, s)| format!("{s}  {p}\n"))
        .collect();
    (image_sum, ka_core::hash::b2sum(listing.as_bytes()))
}

/// The first file whose b2sum differs between two builds' lists (or that
/// one of them lacks), by path order with the image first; `None`: the same.
pub fn first_difference(a: &[(String, String)], b: &[(String, String)]) -> Option<String> {
    let map_b: BTreeMap<&str, &str> = b.iter().map(|(p, s)| (p.as_str(), s.as_str())).collect();
    let map_a: BTreeMap<&str, &str> = a.iter().map(|(p, s)| (p.as_str(), s.as_str())).collect();
    for (p, s) in a {
        if map_b.get(p.as_str()) != Some(&s.as_str()) {
            return Some(p.trim_start_matches("./").to_string());
        }
    }
    b.iter()
        .find(|(p, _)| !map_a.contains_key(p.as_str()))
        .map(|(p, _)| p.trim_start_matches("./").to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_give_the_image_the_modules_and_the_first_difference() {
        let out = "file aa  ./arch/x86/boot/bzImage\nfile bb  ./drivers/a.ko\nfile cc  ./fs/b.ko\nstate marker written\n";
        let sums = parse_sums(out);
        let (image, modules) = digests(&sums, Arch::X86_64);
        assert_eq!(image.as_deref(), Some("aa"));
        assert_eq!(
            modules,
            ka_core::hash::b2sum(b"bb  ./drivers/a.ko\ncc  ./fs/b.ko\n")
        );
        assert_eq!(first_difference(&sums, &sums), None);
        let mut other = sums.clone();
        other[2].1 = "dd".into();
        assert_eq!(first_difference(&sums, &other).as_deref(), Some("fs/b.ko"));
        other[0].1 = "ee".into();
        assert_eq!(
            first_difference(&sums, &other).as_deref(),
            Some("arch/x86/boot/bzImage")
        );
        let fewer = &sums[..2];
        assert_eq!(first_difference(fewer, &sums).as_deref(), Some("fs/b.ko"));
    }

    /// The prepare script for real on a tiny tree: sources in `linux.tar`,
    /// patches made with diff(1).
    mod prepare {
        use super::super::*;
        use crate::tree::MARKER_FORMAT;
        use std::fs;
        use std::os::unix::fs::MetadataExt;
        use std::path::Path;
        use std::process::Command;

        fn sh(cmd: &str, dir: &Path) -> String {
            let out = Command::new("sh")
                .arg("-c")
                .arg(cmd)
                .current_dir(dir)
                .output()
                .unwrap();
            String::from_utf8_lossy(&out.stdout).into_owned()
        }

        /// A unified diff of `file` from `from` to `to` (contents), as `a/` `b/` paths.
        fn diff(dir: &Path, file: &str, from: &str, to: &str) -> String {
            let scratch = dir.join("diff");
            let _ = fs::remove_dir_all(&scratch);
            for (side, text) in [("a", from), ("b", to)] {
                fs::create_dir_all(scratch.join(side)).unwrap();
                fs::write(scratch.join(side).join(file), text).unwrap();
            }
            sh(&format!("diff -u a/{file} b/{file}"), &scratch)
        }

        fn prepare(tree: &Path, job: &Path, mode: TreeMode, patch: &str) -> (bool, String) {
            fs::write(job.join("cumulative.patch"), patch).unwrap();
            let sum = ka_core::hash::b2sum(patch.as_bytes());
            let argv = prepare_argv(tree.to_str().unwrap(), job.to_str().unwrap(), mode, &sum);
            let out = Command::new(&argv[0]).args(&argv[1..]).output().unwrap();
            let text = String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr);
            (out.status.success(), text)
        }

        fn mtime(p: &Path) -> i64 {
            fs::metadata(p).unwrap().mtime()
        }

        /// One tree taken through a sequence of jobs, each starting from the
        /// tree the one before left, so it stays one test.
        #[test]
        fn only_files_whose_content_changes_are_replaced() {
            let tmp = tempfile::tempdir().unwrap();
            let (job, tree) = (tmp.path().join("job"), tmp.path().join("tree"));
            let src = tmp.path().join("src/linux");
            fs::create_dir_all(&src).unwrap();
            fs::create_dir_all(&job).unwrap();
            for (f, t) in [
                ("a.c", "int a;\n"),
                ("b.c", "int b;\n"),
                ("Makefile", "all:\n"),
            ] {
                fs::write(src.join(f), t).unwrap();
            }
            sh(
                &format!("tar -cf {}/linux.tar linux", job.display()),
                &tmp.path().join("src"),
            );
            let old = diff(tmp.path(), "a.c", "int a;\n", "int a = 1;\n");
            let (ok, out) = prepare(&tree, &job, TreeMode::Clean, &old);
            assert!(ok && prepared_mode(&out) == Some(TreeMode::Clean), "{out}");
            assert_eq!(
                fs::read_to_string(tree.join("linux/a.c")).unwrap(),
                "int a = 1;\n"
            );
            sh(
                "touch -d @1000000000 linux/a.c linux/b.c linux/Makefile",
                &tree,
            );
            fs::write(tree.join("state"), "ka-tree 1\n").unwrap();

            // the next lock changes b.c instead of a.c: a.c goes back to the
            // baseline, b.c is patched, the Makefile is not touched
            let new = diff(tmp.path(), "b.c", "int b;\n", "int b = 2;\n");
            let (ok, out) = prepare(&tree, &job, TreeMode::Incremental, &new);
            assert!(ok, "{out}");
            assert_eq!(prepared_mode(&out), Some(TreeMode::Incremental), "{out}");
            assert!(out.contains("changed a.c\nchanged b.c\n"), "{out}");
            assert_eq!(
                fs::read_to_string(tree.join("linux/a.c")).unwrap(),
                "int a;\n"
            );
            assert_eq!(
                fs::read_to_string(tree.join("linux/b.c")).unwrap(),
                "int b = 2;\n"
            );
            assert_eq!(mtime(&tree.join("linux/Makefile")), 1_000_000_000);
            assert!(mtime(&tree.join("linux/b.c")) > 1_000_000_000);
            // the marker went first; the kept patch is the new one
            assert!(!tree.join("state").exists());
            assert_eq!(
                fs::read_to_string(tree.join("cumulative.patch")).unwrap(),
                new
            );

            // the same patch again: nothing to replace
            sh("touch -d @1000000000 linux/a.c linux/b.c", &tree);
            let (ok, out) = prepare(&tree, &job, TreeMode::Incremental, &new);
            assert!(ok && !out.contains("changed "), "{out}");
            assert_eq!(mtime(&tree.join("linux/b.c")), 1_000_000_000);

            // a tree that is not what its kept patch says: clean, never mixed
            fs::write(tree.join("linux/b.c"), "edited by hand\n").unwrap();
            let (ok, out) = prepare(&tree, &job, TreeMode::Incremental, &old);
            assert!(ok, "{out}");
            assert_eq!(prepared_mode(&out), Some(TreeMode::Clean), "{out}");
            assert!(
                fallback_reason(&out).unwrap().contains("does not reverse"),
                "{out}"
            );
            assert_eq!(
                fs::read_to_string(tree.join("linux/b.c")).unwrap(),
                "int b;\n"
            );
            assert_eq!(
                fs::read_to_string(tree.join("linux/a.c")).unwrap(),
                "int a = 1;\n"
            );

            // a patch whose bytes are not the render's is refused before anything
            fs::write(tree.join("state"), "ka-tree 1\n").unwrap();
            let argv = prepare_argv(
                tree.to_str().unwrap(),
                job.to_str().unwrap(),
                TreeMode::Clean,
                "00",
            );
            let o = Command::new(&argv[0]).args(&argv[1..]).output().unwrap();
            assert!(!o.status.success());
            assert!(String::from_utf8_lossy(&o.stdout).contains("differs from the render's b2sum"));
            assert!(tree.join("state").exists());

            // no linux.tar to unpack (as with a full disk): a clear failure, no marker
            fs::remove_file(job.join("linux.tar")).unwrap();
            fs::remove_file(tree.join("state")).unwrap();
            let (ok, out) = prepare(&tree, &job, TreeMode::Clean, &new);
            assert!(!ok && out.contains("could not make a clean tree"), "{out}");
            assert!(!tree.join("state").exists());
        }

        #[test]
        fn the_commit_writes_the_marker_last_and_lists_the_sums() {
            let tmp = tempfile::tempdir().unwrap();
            let tree = tmp.path().join("tree");
            fs::create_dir_all(tree.join("linux/arch/x86/boot")).unwrap();
            fs::create_dir_all(tree.join("linux/drivers")).unwrap();
            fs::write(tree.join("linux/arch/x86/boot/bzImage"), "image").unwrap();
            fs::write(tree.join("linux/drivers/z.ko"), "z").unwrap();
            fs::write(tree.join("linux/drivers/a.ko"), "a").unwrap();
            let marker = vec![MARKER_FORMAT.to_string(), "host planck".to_string()];
            let argv = commit_argv(tree.to_str().unwrap(), Arch::X86_64, &marker);
            let out = Command::new(&argv[0]).args(&argv[1..]).output().unwrap();
            assert!(out.status.success());
            let sums = parse_sums(&String::from_utf8_lossy(&out.stdout));
            let paths: Vec<&str> = sums.iter().map(|(p, _)| p.as_str()).collect();
            assert_eq!(
                paths,
                [
                    "./arch/x86/boot/bzImage",
                    "./drivers/a.ko",
                    "./drivers/z.ko"
                ]
            );
            assert_eq!(sums[0].1, ka_core::hash::b2sum(b"image"));
            assert_eq!(
                fs::read_to_string(tree.join("state")).unwrap(),
                "ka-tree 1\nhost planck\n"
            );
            // no image: a failure, and no marker
            fs::remove_file(tree.join("state")).unwrap();
            fs::remove_file(tree.join("linux/arch/x86/boot/bzImage")).unwrap();
            let out = Command::new(&argv[0]).args(&argv[1..]).output().unwrap();
            assert!(!out.status.success());
            assert!(!tree.join("state").exists());
        }
    }

    #[test]
    fn the_prepare_output_names_the_mode_and_the_fallback() {
        let out = "changed arch/x86/kernel/reboot.c\nmode incremental\n";
        assert_eq!(prepared_mode(out), Some(TreeMode::Incremental));
        assert_eq!(fallback_reason(out), None);
        let out = "the new patch does not apply\nfell back to a clean tree: the incremental update stopped (above)\nmode clean\n";
        assert_eq!(prepared_mode(out), Some(TreeMode::Clean));
        assert_eq!(
            fallback_reason(out).unwrap(),
            "the incremental update stopped: the new patch does not apply"
        );
    }
}
