//! The build host's source cache: big sources (the baseline tarball, 1.3 GB
//! for a kernel) are kept by content under `<root>/cache/sources/<b2sum>`, so a
//! build on a baseline the host has seen uploads only the small files.
//!
//! - before the upload, `link` hard-links each cached source into the job's
//!   folder after `b2sum --check` of the cached copy (a corrupt entry is
//!   removed, never used); the upload then leaves those files in place;
//! - after a successful build (which verified every source's b2sum again),
//!   `keep` hard-links the job's big sources into the cache.
//!
//! The scripts are constant text; file names and digests come in as
//! arguments, and only validated names and hex digests are passed.

use ka_schema::Artifact;

/// Sources at least this big are cached.
pub const MIN_BYTES: u64 = 16 << 20;

const LINK: &str = r#"cache=$1 dir=$2; shift 2
mkdir -p "$cache" "$dir" || exit 1
while [ $# -ge 2 ]; do
  f=$1 sum=$2; shift 2
  [ -f "$cache/$sum" ] || continue
  if printf '%s  %s\n' "$sum" "$cache/$sum" | b2sum --check --status; then
    ln -f "$cache/$sum" "$dir/$f" && echo "from the source cache: $f"
  else
    rm -f "$cache/$sum"; echo "removed a corrupt source cache entry: $f ($sum)"
  fi
done
exit 0"#;

const KEEP: &str = r#"cache=$1 dir=$2; shift 2
mkdir -p "$cache" || exit 0
while [ $# -ge 2 ]; do
  f=$1 sum=$2; shift 2
  [ -e "$cache/$sum" ] && continue
  ln -f "$dir/$f" "$cache/.$sum.$$" 2>/dev/null && mv -f "$cache/.$sum.$$" "$cache/$sum" \
    && echo "kept in the source cache: $f"
done
exit 0"#;

/// The sources of a render worth caching: big, with a sane name and digest.
pub fn cacheable(files: &[Artifact]) -> Vec<&Artifact> {
    files
        .iter()
        .filter(|a| {
            a.size >= MIN_BYTES
                && ka_core::names::check_file_name("source", &a.file).is_ok()
                && a.b2sum.len() == 128
                && a.b2sum.bytes().all(|b| b.is_ascii_hexdigit())
        })
        .collect()
}

pub fn dir(root: &str) -> String {
    format!("{}/cache/sources", root.trim_end_matches('/'))
}

/// Link cached sources into `job_dir` (created).
pub fn link_argv(root: &str, job_dir: &str, files: &[&Artifact]) -> Vec<String> {
    argv(LINK, root, job_dir, files)
}

/// Keep a built job's big sources in the cache.
pub fn keep_argv(root: &str, job_dir: &str, files: &[&Artifact]) -> Vec<String> {
    argv(KEEP, root, job_dir, files)
}

fn argv(script: &str, root: &str, job_dir: &str, files: &[&Artifact]) -> Vec<String> {
    let mut argv: Vec<String> = vec![
        "sh".into(),
        "-c".into(),
        script.into(),
        "ka-source-cache".into(),
        dir(root),
        job_dir.into(),
    ];
    for a in files {
        argv.push(a.file.clone());
        argv.push(a.b2sum.clone());
    }
    argv
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::process::Command;

    fn artifact(file: &str, bytes: &[u8]) -> Artifact {
        Artifact {
            file: file.into(),
            size: bytes.len() as u64,
            b2sum: ka_core::hash::b2sum(bytes),
        }
    }

    fn sh(argv: &[String]) -> String {
        let out = Command::new(&argv[0]).args(&argv[1..]).output().unwrap();
        assert!(out.status.success(), "{out:?}");
        String::from_utf8(out.stdout).unwrap()
    }

    #[test]
    fn only_big_well_named_sources_are_cached() {
        let big = Artifact {
            size: MIN_BYTES,
            ..artifact("linux.tar", b"x")
        };
        let small = artifact("config", b"x");
        let odd = Artifact {
            file: "../escape".into(),
            ..big.clone()
        };
        let bad_sum = Artifact {
            b2sum: "../../x".into(),
            ..big.clone()
        };
        let files = [big.clone(), small, odd, bad_sum];
        assert_eq!(cacheable(&files), vec![&big]);
    }

    #[test]
    fn keep_then_link_shares_one_inode_and_a_corrupt_entry_is_dropped() {
        use std::os::unix::fs::MetadataExt;
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_str().unwrap();
        let built = tmp.path().join("source/job-1");
        fs::create_dir_all(&built).unwrap();
        let bytes = b"a baseline with spaces and $(no) expansion\n";
        let a = artifact("linux.tar", bytes);
        fs::write(built.join("linux.tar"), bytes).unwrap();

        // nothing cached yet: link links nothing
        let next = tmp.path().join("source/job-2");
        let next_s = next.to_str().unwrap();
        assert_eq!(sh(&link_argv(root, next_s, &[&a])), "");
        assert!(!next.join("linux.tar").exists());

        assert_eq!(
            sh(&keep_argv(root, built.to_str().unwrap(), &[&a])),
            "kept in the source cache: linux.tar\n"
        );
        let cached = tmp.path().join("cache/sources").join(&a.b2sum);
        // keeping again changes nothing
        assert_eq!(sh(&keep_argv(root, built.to_str().unwrap(), &[&a])), "");

        assert_eq!(
            sh(&link_argv(root, next_s, &[&a])),
            "from the source cache: linux.tar\n"
        );
        let ino = |p: &std::path::Path| fs::metadata(p).unwrap().ino();
        assert_eq!(ino(&next.join("linux.tar")), ino(&cached));

        // a cache entry that lost its content is removed, not linked
        let third = tmp.path().join("source/job-3");
        fs::write(&cached, b"corrupt").unwrap();
        assert!(sh(&link_argv(root, third.to_str().unwrap(), &[&a])).contains("removed a corrupt"));
        assert!(!cached.exists());
        assert!(!third.join("linux.tar").exists());
    }
}
