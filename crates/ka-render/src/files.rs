//! The folder's files rendered in memory: the template context, its check
//! that only plain tokens reach a shell script, the template environment,
//! and the files of each distro (`arch`, `debian`).

use crate::input::Input;
use crate::{CONFIG, CUMULATIVE, KernelVersion, LOCK, TARBALL, Target, templates};
use ka_core::error::{Result, contract, usage};
use ka_core::hash::b2sum;
use ka_schema::Distro;
use serde::Serialize;

/// One rendered file: name in the folder, bytes (or already on disk), mode.
pub(crate) struct OutFile {
    pub(crate) name: String,
    pub(crate) bytes: Vec<u8>,
    pub(crate) exec: bool,
}

#[derive(Serialize)]
struct Source {
    file: String,
    b2sum: String,
}

#[derive(Serialize)]
struct Vars<'a> {
    #[serde(flatten)]
    target: &'a Target,
    lock_id: String,
    commit: String,
    pkgver: String,
    debver: String,
    pkgrel: u32,
    /// The baseline commit's time: the build's fixed clock (reproducible builds).
    epoch: u64,
    sources: Vec<Source>,
}

/// Refuse a context value that is not a plain token: only validated names,
/// digests and versions may reach a shell script.
fn check_context(value: &serde_json::Value, at: &str) -> Result<()> {
    match value {
        serde_json::Value::String(s) => {
            if s.bytes().all(|b| {
                b.is_ascii_alphanumeric()
                    || matches!(b, b'.' | b'_' | b'+' | b'~' | b'/' | b'=' | b'-')
            }) {
                Ok(())
            } else {
                Err(contract(format!(
                    "refusing to render {at} = {s:?}: only letters, digits and ._+~/=- may reach the package scripts"
                )))
            }
        }
        serde_json::Value::Array(a) => a
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| check_context(v, &format!("{at}[{i}]"))),
        serde_json::Value::Object(o) => o
            .iter()
            .try_for_each(|(k, v)| check_context(v, &format!("{at}.{k}"))),
        _ => Ok(()),
    }
}

fn environment() -> minijinja::Environment<'static> {
    let mut env = minijinja::Environment::new();
    env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
    env.set_keep_trailing_newline(true);
    env.set_trim_blocks(true);
    env.set_lstrip_blocks(true);
    env
}

fn render_template(name: &str, source: &str, ctx: &serde_json::Value) -> Result<Vec<u8>> {
    let env = environment();
    env.render_str(source, ctx)
        .map(String::into_bytes)
        .map_err(|e| usage(format!("template {name}: {e:#}")))
}

/// Render the folder's files (all but linux.tar, which is given by its digest).
pub(crate) fn render_files(
    target: &Target,
    input: &Input,
    config: &[u8],
    tarball_b2sum: &str,
    version: &KernelVersion,
    pkgrel: u32,
    epoch: u64,
) -> Result<Vec<OutFile>> {
    let mut files = vec![
        OutFile {
            name: CUMULATIVE.into(),
            bytes: input.cumulative.clone(),
            exec: false,
        },
        OutFile {
            name: CONFIG.into(),
            bytes: config.to_vec(),
            exec: false,
        },
        OutFile {
            name: LOCK.into(),
            bytes: input.lock_bytes.clone(),
            exec: false,
        },
    ];
    let mut ctx = Vars {
        target,
        lock_id: input.id(),
        commit: input.lock.baseline.commit.clone(),
        pkgver: version.pkgver(),
        debver: version.debver(),
        pkgrel,
        epoch,
        sources: Vec::new(),
    };
    match target.distro {
        Distro::Arch => arch_files(&mut files, &mut ctx, tarball_b2sum)?,
        Distro::Debian => debian_files(&mut files, &ctx, tarball_b2sum)?,
    }
    Ok(files)
}

/// The context as the templates see it, checked ([`check_context`]).
fn value(ctx: &Vars) -> Result<serde_json::Value> {
    let v = serde_json::to_value(ctx).expect("contexts serialize");
    check_context(&v, "context")?;
    Ok(v)
}

/// `distro: arch`: the mkinitcpio and extlinux files the target asks for,
/// then the PKGBUILD, whose `source=()` lists every file with its b2sum.
fn arch_files(files: &mut Vec<OutFile>, ctx: &mut Vars, tarball_b2sum: &str) -> Result<()> {
    let target = ctx.target;
    let p = &target.pkgbase;
    let mut extra: Vec<(String, &str, bool)> = Vec::new();
    if target.mkinitcpio {
        extra.push((format!("{p}.preset"), templates::PRESET, false));
        extra.push((format!("90-{p}.hook"), templates::INITRAMFS_HOOK, false));
        extra.push((
            format!("60-{p}-initramfs-remove.hook"),
            templates::INITRAMFS_REMOVE_HOOK,
            false,
        ));
    }
    if target.extlinux {
        extra.push((format!("ka-extlinux-{p}"), templates::EXTLINUX_SCRIPT, true));
        extra.push((
            format!("91-{p}-extlinux.hook"),
            templates::EXTLINUX_HOOK,
            false,
        ));
        extra.push((
            format!("60-{p}-extlinux-remove.hook"),
            templates::EXTLINUX_REMOVE_HOOK,
            false,
        ));
    }
    let v = value(ctx)?;
    for (name, tpl, exec) in extra {
        let bytes = render_template(&name, tpl, &v)?;
        files.push(OutFile { name, bytes, exec });
    }
    ctx.sources.push(Source {
        file: TARBALL.into(),
        b2sum: tarball_b2sum.into(),
    });
    for f in files.iter() {
        ctx.sources.push(Source {
            file: f.name.clone(),
            b2sum: b2sum(&f.bytes),
        });
    }
    let bytes = render_template("PKGBUILD", templates::PKGBUILD, &value(ctx)?)?;
    files.push(OutFile {
        name: "PKGBUILD".into(),
        bytes,
        exec: false,
    });
    Ok(())
}

/// `distro: debian`: the `b2sums` of the sources and `build.sh`.
fn debian_files(files: &mut Vec<OutFile>, ctx: &Vars, tarball_b2sum: &str) -> Result<()> {
    let mut sums = format!("{tarball_b2sum}  {TARBALL}\n");
    for f in files.iter() {
        sums.push_str(&format!("{}  {}\n", b2sum(&f.bytes), f.name));
    }
    let bytes = render_template("build.sh", templates::DEBIAN_BUILD, &value(ctx)?)?;
    files.push(OutFile {
        name: "b2sums".into(),
        bytes: sums.into_bytes(),
        exec: false,
    });
    files.push(OutFile {
        name: "build.sh".into(),
        bytes,
        exec: true,
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn context_refuses_shell_metacharacters() {
        let ok = serde_json::json!({"a": "linux-x_1.2+3", "b": ["x/y=z"], "n": 1});
        check_context(&ok, "ctx").unwrap();
        for bad in ["a b", "a;b", "$(x)", "a'b", "a\nb", "`x`", "a\"b"] {
            let v = serde_json::json!({ "k": bad });
            assert!(check_context(&v, "ctx").is_err(), "{bad:?}");
        }
    }
}
