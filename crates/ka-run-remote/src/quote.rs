//! Turning a job into text for a remote POSIX shell, without ever building a
//! command from unquoted data: every argument, value, folder and tag goes
//! through [`sh_quote`]; the only bare words are env var names checked by
//! [`check_env_name`] and fixed text written here.

use ka_core::error::{Result, contract};
use ka_schema::Job;

/// The environment variable that tags every process of a job (inherited by all
/// descendants, also across `setsid`), so the whole tree can be found and killed.
pub const JOB_TAG: &str = "KA_JOB";

/// Quote one word for a POSIX shell: wrapped in single quotes, each `'`
/// written as `'\''`. The result is always one word, whatever the input.
pub fn sh_quote(word: &str) -> String {
    let mut out = String::with_capacity(word.len() + 2);
    out.push('\'');
    for c in word.chars() {
        if c == '\'' {
            out.push_str("'\\''");
        } else {
            out.push(c);
        }
    }
    out.push('\'');
    out
}

/// An environment variable name: `[A-Za-z_][A-Za-z0-9_]*`.
pub fn check_env_name(name: &str) -> Result<()> {
    let b = name.as_bytes();
    let ok = !b.is_empty()
        && (b[0].is_ascii_alphabetic() || b[0] == b'_')
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_');
    if !ok {
        return Err(contract(format!(
            "env: invalid variable name {name:?}: use letters, digits and '_', not starting with a digit"
        )));
    }
    if name == JOB_TAG {
        return Err(contract(format!(
            "env: {JOB_TAG} is reserved: ka-run-remote sets it to the job id to find the job's processes"
        )));
    }
    Ok(())
}

/// The `KA_JOB=<id>` entry every process of the job carries.
pub fn tag_entry(job_id: &str) -> String {
    format!("{JOB_TAG}={job_id}")
}

/// The command line sent to the remote shell for `job`:
/// `export KA_JOB='id' NAME='value'…; cd -- 'cwd' && exec 'argv0' 'arg1'…`.
/// `exec` makes the command the session's process, so its exit status or
/// signal is what the SSH channel reports.
pub fn remote_command(job: &Job) -> Result<String> {
    if job.argv.is_empty() {
        return Err(contract("argv is empty: name the command to run"));
    }
    let mut s = format!("export {JOB_TAG}={}", sh_quote(&job.id));
    for (k, v) in &job.env {
        check_env_name(k)?;
        s.push(' ');
        s.push_str(k);
        s.push('=');
        s.push_str(&sh_quote(v));
    }
    s.push_str("; ");
    if let Some(cwd) = &job.cwd {
        s.push_str("cd -- ");
        s.push_str(&sh_quote(cwd));
        s.push_str(" && ");
    }
    s.push_str("exec");
    for a in &job.argv {
        s.push(' ');
        s.push_str(&sh_quote(a));
    }
    Ok(s)
}

/// A POSIX sh script that kills every process of the calling user that carries
/// exactly `KA_JOB=<job_id>` in its environment: TERM, up to `grace_s` seconds
/// for them to go, then KILL, rescanning until none remain (a process may fork
/// between a scan and a kill). It only reads `/proc/<pid>/environ`, so it needs
/// nothing installed on the build host beyond sh, tr, grep, kill and sleep.
/// Exit 0 when none remain, 1 (naming the survivors on stderr) after `rounds`
/// KILL rounds.
pub fn kill_script(job_id: &str, grace_s: u64, rounds: u32) -> String {
    let tag = sh_quote(&tag_entry(job_id));
    format!(
        r#"t={tag}
scan() {{
  found=
  for p in /proc/[0-9]*; do
    pid=${{p#/proc/}}
    [ "$pid" = "$$" ] && continue
    [ -r "$p/environ" ] || continue
    if {{ tr '\000' '\n' < "$p/environ"; }} 2>/dev/null | grep -qxF -e "$t"; then
      found="$found $pid"
    fi
  done
}}
scan
[ -z "$found" ] && exit 0
echo "TERM:$found" >&2
kill -TERM $found 2>/dev/null
i=0
while [ "$i" -lt {grace_s} ]; do
  sleep 1
  scan
  [ -z "$found" ] && exit 0
  i=$((i + 1))
done
n=0
while [ "$n" -lt {rounds} ]; do
  echo "KILL:$found" >&2
  kill -KILL $found 2>/dev/null
  sleep 1
  scan
  [ -z "$found" ] && exit 0
  n=$((n + 1))
done
echo "still running after KILL:$found" >&2
exit 1
"#
    )
}

/// [`kill_script`] wrapped to run through the remote login shell as one
/// `sh -c` word.
pub fn kill_command(job_id: &str, grace_s: u64, rounds: u32) -> String {
    format!(
        "exec sh -c {}",
        sh_quote(&kill_script(job_id, grace_s, rounds))
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use ka_schema::{JobKind, Transport, V1};
    use std::process::Command;

    fn sh_echo(words: &[&str]) -> Vec<String> {
        // The quoted words as a real sh parses them.
        let line: Vec<String> = words.iter().map(|w| sh_quote(w)).collect();
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("printf '%s\\0' {}", line.join(" ")))
            .output()
            .unwrap();
        assert!(out.status.success());
        let mut v: Vec<String> = String::from_utf8(out.stdout)
            .unwrap()
            .split('\0')
            .map(String::from)
            .collect();
        v.pop();
        v
    }

    #[test]
    fn quoting_round_trips_through_sh() {
        let nasty = [
            "plain",
            "",
            "with space",
            "it's",
            "''",
            "'\\''",
            "$(touch /tmp/ka-pwned)",
            "`id`",
            "a;b",
            "a && b | c > d < e",
            "$HOME ${PATH} $1 $@ $*",
            "\"double\"",
            "back\\slash",
            "new\nline",
            "tab\there",
            "*?[a]~",
            "-n",
            "ünïcødé",
            "!event",
        ];
        assert_eq!(sh_echo(&nasty), nasty);
    }

    #[test]
    fn quote_shape() {
        assert_eq!(sh_quote("a"), "'a'");
        assert_eq!(sh_quote("it's"), "'it'\\''s'");
        assert_eq!(sh_quote(""), "''");
    }

    #[test]
    fn env_names() {
        for ok in ["A", "_x", "CCACHE_DIR", "a1_"] {
            check_env_name(ok).unwrap();
        }
        for bad in [
            "", "1A", "A-B", "A B", "A=B", "$(x)", "A;B", "KA_JOB", "Ä", "a.b",
        ] {
            assert!(check_env_name(bad).is_err(), "{bad:?}");
        }
    }

    fn job(argv: &[&str], env: &[(&str, &str)], cwd: Option<&str>) -> Job {
        Job {
            kind: JobKind::Kind,
            version: V1,
            id: "j-1".into(),
            transport: Transport::Local,
            argv: argv.iter().map(|s| s.to_string()).collect(),
            cwd: cwd.map(String::from),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            wall_clock: "1m".parse().unwrap(),
            stall: "1m".parse().unwrap(),
            log: "/dev/null".into(),
        }
    }

    #[test]
    fn remote_command_runs_verbatim_in_sh() {
        let dir = tempfile::tempdir().unwrap();
        let cwd = dir.path().join("it's a dir");
        std::fs::create_dir(&cwd).unwrap();
        let j = job(
            &[
                "sh",
                "-c",
                "printf '%s|' \"$KA_JOB\" \"$V\" \"$(pwd)\" \"$@\"",
                "zero",
                "a b",
                "$(echo no)",
                "x;y",
            ],
            &[("V", "v 'q' $(no)")],
            Some(cwd.to_str().unwrap()),
        );
        let cmd = remote_command(&j).unwrap();
        let out = Command::new("sh").arg("-c").arg(&cmd).output().unwrap();
        assert!(out.status.success(), "{cmd}");
        assert_eq!(
            String::from_utf8(out.stdout).unwrap(),
            format!("j-1|v 'q' $(no)|{}|a b|$(echo no)|x;y|", cwd.display())
        );
    }

    #[test]
    fn remote_command_refuses_bad_input() {
        assert!(remote_command(&job(&[], &[], None)).is_err());
        assert!(remote_command(&job(&["true"], &[("A B", "x")], None)).is_err());
        assert!(remote_command(&job(&["true"], &[("KA_JOB", "x")], None)).is_err());
    }

    #[test]
    fn kill_script_kills_tagged_tree_only() {
        // A tagged tree with a TERM-ignoring parent and a setsid grandchild,
        // and an untagged sibling that must survive.
        let id = format!("kill-script-{}", std::process::id());
        let mut tagged = Command::new("sh")
            .args(["-c", "trap '' TERM; setsid sleep 1000 & sleep 1000"])
            .env(JOB_TAG, &id)
            .spawn()
            .unwrap();
        let mut other = Command::new("sleep")
            .arg("1000")
            .env(JOB_TAG, format!("{id}-other"))
            .spawn()
            .unwrap();
        std::thread::sleep(std::time::Duration::from_millis(300));
        assert!(crate::local::tagged_pids(&id).len() >= 3);
        let out = Command::new("sh")
            .arg("-c")
            .arg(kill_script(&id, 1, 5))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        tagged.wait().unwrap();
        assert!(crate::local::tagged_pids(&id).is_empty());
        assert!(other.try_wait().unwrap().is_none(), "untagged survived");
        other.kill().unwrap();
        other.wait().unwrap();
    }
}
