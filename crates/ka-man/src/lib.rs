//! `ka-man DIR`: write `man1/<stage>.1` for every stage binary, rendered by
//! clap_mangen from the same clap definition that parses its arguments, so the
//! pages cannot disagree with `--help`. The verbs (bash) and the formats
//! (section 5) are written by hand in `man/`.

use anyhow::Context;
use std::path::{Path, PathBuf};

/// Every stage binary's clap definition.
pub fn commands() -> Vec<clap::Command> {
    vec![
        ka_resolve::command(),
        ka_baseline::command(),
        ka_check::command(),
        ka_kconfig::command(),
        ka_concat::command(),
        ka_block::cli::block_command(),
        ka_block::cli::gate_command(),
        ka_show::command(),
        ka_render::command(),
        ka_run_remote::command(),
        ka_build::command(),
        ka_build::job::command(),
        ka_rebase::command(),
        ka_tree::import::command(),
        ka_tree::close::command(),
        ka_tree::abandon::command(),
        ka_tree::migrate::command(),
        ka_tree::recover_command(),
        ka_notice::cli::command(),
        ka_audit::command(),
        ka_remind::cli::remind_command(),
        ka_remind::cli::snooze_command(),
        ka_status::command(),
        ka_site::command(),
        ka_gitea::command(),
        ka_sign::command(),
        ka_install::command(),
        ka_probe::probe_command(),
        ka_probe::verify_command(),
    ]
    .into_iter()
    .chain(ka_retain::cli::commands())
    .collect()
}

/// Render one page.
pub fn render(cmd: clap::Command) -> anyhow::Result<(String, Vec<u8>)> {
    let name = cmd.get_name().to_string();
    let mut buf = Vec::new();
    clap_mangen::Man::new(cmd)
        .section("1")
        .manual("kernel-agent")
        .source(format!("kernel-agent {}", env!("CARGO_PKG_VERSION")))
        .render(&mut buf)
        .with_context(|| format!("render {name}"))?;
    Ok((format!("{name}.1"), buf))
}

pub fn write_all(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for cmd in commands() {
        let (file, bytes) = render(cmd)?;
        let path = dir.join("man1").join(file);
        ka_core::atomic::write(&path, &bytes)?;
        written.push(path);
    }
    Ok(written)
}

pub fn run() -> anyhow::Result<ka_core::ExitCode> {
    let dir = std::env::args_os()
        .nth(1)
        .map(PathBuf::from)
        .ok_or_else(|| ka_core::error::usage("usage: ka-man DIR (writes DIR/man1/*.1)"))?;
    for p in write_all(&dir)? {
        println!("{}", p.display());
    }
    Ok(ka_core::ExitCode::Ok)
}
