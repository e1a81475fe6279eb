//! `ka-site`: the fleet at a glance. Renders the local state under `KA_ROOT`
//! and the fleet repository into a static site — no server, no JavaScript,
//! no network — and swaps it into place as a new generation.

pub mod cells;
pub mod generation;
pub mod html;
pub mod pages;
pub mod state;

use clap::{CommandFactory, Parser};
use generation::{SiteFile, SitePlan};
use ka_core::args::StateArgs;
use ka_core::error::{ExitCode, usage};
use state::{FleetState, ReadOptions};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(
    name = "ka-site",
    version,
    about = "Render the fleet's state into a static site: hosts, jobs and build logs, the patch matrix",
    long_about = "Renders the local state under KA_ROOT and the fleet repository into a static \
site at DIR: plain HTML with an inline style, no JavaScript, no network, readable from file:// \
and from any static web server, on a phone too.\n\n\
index.html: a row per host: role, arch, installed / built / published versions, \
pending install, drift, open blocks (kind, age, what to run), the last verify (each bar pass or \
FAIL, when), burn-in; the fleet-wide blocks; the jobs\n\n\
hosts/<host>.html: install history, verify history (a strip of runs, the last pass and the \
first failure), the series the host takes with their verdicts and probes, its blocks in detail\n\n\
jobs/<job>.html: build host, native or cross, duration, packages with their b2sums, the \
lock's patches, each log's tail inline and the whole log beside it (jobs/<job>/<log>.txt)\n\n\
matrix.html: series × hosts: who carries what, with each verdict\n\n\
The hosts are read the way ka-status reads them. A state file that cannot be read is an error \
row naming it; the rest is still rendered, and the exit status says so. Host names and log \
lines are escaped.\n\n\
The same state gives the same bytes: ages count to --now (or KA_NOW) when given, else to the \
newest time the state records, never to the clock. A job's logs stay on the site for the \
retention table's `logs` period (KA_ROOT/retention.yaml, default 1 year; see ka-prune(1)).\n\n\
DIR is a symlink ka-site manages, like the package repository's live path: each run writes a \
new generation beside it, <parent>/.<name>.generations/<digest>/, and swaps DIR to it by one \
rename, so a reader sees the old site or the new one, never a mix. The same content is the \
same generation (nothing is written); the generation before the live one is kept for readers \
still loading it. A first run may be given a missing or empty folder.\n\n\
From cron, after ka-verify (/etc/cron.d/kernel-agent-site, every 15 minutes):\n\n\
KA_ROOT=/srv/kernel-agent\n\n\
KA_REPO=/srv/fleet\n\n\
*/15 * * * *  kernel-agent  ka-verify --json fresnel ohm >/dev/null; ka-site --out /srv/kernel-agent/site\n\n\
Or after every real run of ka-promote, ka-build, ka-publish, ka-install and ka-verify: set \
KA_SITE to DIR in their environment (a site that cannot be written is a warning there, never \
the verb's failure).\n\n\
Serving it with nginx (DIR is a symlink; nginx follows it):\n\n\
location /fleet/ { alias /srv/kernel-agent/site/; index index.html; }\n\n\
or for a look from another machine: python3 -m http.server --directory /srv/kernel-agent/site 8080\n\n\
Exit status: 0 written (or unchanged), 2 usage or I/O error (nothing changed), 3 written, but \
a state file could not be read (named on stderr and in an error row)."
)]
struct Cli {
    /// The site's folder (a symlink to its current generation).
    #[arg(long, value_name = "DIR")]
    out: PathBuf,
    /// The time ages count to (RFC 3339 UTC or seconds since the epoch);
    /// default KA_NOW, else the newest time in the state.
    #[arg(long, value_name = "TIME")]
    now: Option<String>,
    #[command(flatten)]
    state: StateArgs,
}

pub fn command() -> clap::Command {
    Cli::command()
}

/// Every page and log copy of the site.
pub fn site_plan(state: &FleetState) -> SitePlan {
    let mut plan = SitePlan::default();
    let mut add = |path: String, file: SiteFile| {
        plan.files.insert(path, file);
    };
    add(
        "index.html".into(),
        SiteFile::Page(pages::fleet_page(state)),
    );
    add(
        "matrix.html".into(),
        SiteFile::Page(pages::matrix_page(state)),
    );
    for h in state.hosts.iter().filter(|h| h.has_page()) {
        add(
            cells::host_href(&h.name),
            SiteFile::Page(pages::host_page(state, h)),
        );
    }
    for j in &state.jobs {
        add(
            cells::job_href(&j.id),
            SiteFile::Page(pages::job_page(state, j)),
        );
        for log in &j.logs {
            add(
                format!("jobs/{}/{}", j.id, pages::log_copy_name(&log.name)),
                SiteFile::Copy(log.path.clone()),
            );
        }
    }
    plan
}

pub fn run() -> anyhow::Result<ExitCode> {
    let cli = Cli::parse();
    let layout = cli.state.layout()?;
    let repo = cli.state.repo()?;
    let out = std::path::absolute(&cli.out).map_err(|e| ka_core::Error::io(&cli.out, e))?;
    ka_core::paths::refuse_home(&out, "--out")?;
    // KA_ROOT/site is fine (the cron line puts it there); deeper inside the
    // state is not: the generations would land among state files.
    if out.starts_with(&layout.root) && out.parent() != Some(layout.root.as_path()) {
        return Err(usage(format!(
            "--out {} is inside a state folder of {}; put the site at {}/site or outside KA_ROOT",
            out.display(),
            layout.root.display(),
            layout.root.display()
        ))
        .into());
    }
    let now = match &cli.now {
        Some(t) => Some(ka_core::time::parse_time(t)?),
        None => match ka_core::paths::env_var(ka_core::paths::KA_NOW)? {
            Some(_) => Some(ka_core::time::now_epoch()?),
            None => None,
        },
    };
    layout.note_if_missing("ka-site");
    let policy = ka_retain::policy::Policy::load(&layout, None)?;
    let state = state::read(&ReadOptions {
        layout: &layout,
        repo: &repo,
        now,
        logs_kept: policy.logs,
    });
    let plan = site_plan(&state);
    let done = generation::publish(&plan, &out)?;
    let mut errors: Vec<String> = state.errors.iter().map(|e| e.0.clone()).collect();
    for h in &state.hosts {
        errors.extend(h.all_errors().into_iter().map(|e| e.0));
    }
    for j in &state.jobs {
        errors.extend(j.errors.iter().map(|e| e.0.clone()));
    }
    for e in &errors {
        eprintln!("ka-site: error: {e}");
    }
    println!(
        "{} {} (generation {}: {} host(s), {} job(s){})",
        if done.changed { "wrote" } else { "unchanged:" },
        out.join("index.html").display(),
        done.generation,
        state.hosts.len(),
        state.jobs.len(),
        if errors.is_empty() {
            String::new()
        } else {
            format!(", {} unreadable state file(s)", errors.len())
        }
    );
    Ok(if errors.is_empty() {
        ExitCode::Ok
    } else {
        ExitCode::Contract
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ka_core::paths::Layout;
    use std::fs;

    /// A fleet of two hosts (one with markup in its name) and a state with
    /// a corrupt installed.json and a failed build job whose log has markup.
    fn fixture() -> (tempfile::TempDir, FleetState) {
        let tmp = tempfile::tempdir().unwrap();
        let repo = tmp.path().join("repo");
        let root = tmp.path().join("root");
        fs::create_dir_all(repo.join("fleet")).unwrap();
        fs::create_dir_all(repo.join("patches")).unwrap();
        let manifest = "role: infra\narch: x86_64\ndistro: debian\n";
        fs::write(
            repo.join("fleet/ohm.yaml"),
            format!("host: ohm\n{manifest}"),
        )
        .unwrap();
        fs::write(
            repo.join("fleet/a<b>.yaml"),
            format!("host: a<b>\n{manifest}"),
        )
        .unwrap();
        let layout = Layout::new(root.clone());
        fs::create_dir_all(layout.host_dir("ohm")).unwrap();
        fs::write(layout.installed("ohm"), "{ nope").unwrap();
        let job = "ohm-20260301T080000Z-0123abcd";
        let log = layout.logs().join("ohm").join(job).join("build.log");
        fs::create_dir_all(log.parent().unwrap()).unwrap();
        fs::write(&log, "cc wifi.c\nerror: <script>x</script>\n").unwrap();
        fs::create_dir_all(layout.jobs()).unwrap();
        fs::write(
            layout.job_record(job),
            format!(
                r#"{{"kind":"ka.job-result","version":1,"id":"{job}","host":"ohm","argv":[],"exit_code":2,"duration_ms":61000,"stalled":false,"capped":false,"log":"{}","finished_at":"2026-03-01T08:01:01Z"}}"#,
                log.display()
            ),
        )
        .unwrap();
        let state = state::read(&ReadOptions {
            layout: &layout,
            repo: &repo,
            now: None,
            logs_kept: 365 * 86_400,
        });
        (tmp, state)
    }

    #[test]
    fn the_fleet_page_shows_errors_as_rows_and_escapes_names() {
        let (tmp, state) = fixture();
        let index = pages::fleet_page(&state);
        let installed = tmp.path().join("root/hosts/ohm/installed.json");
        assert!(
            index.contains("<strong>error:</strong> installed record is corrupt: ")
                && index.contains(&installed.display().to_string()),
            "{index}"
        );
        assert!(index.contains("a&lt;b&gt;") && !index.contains("a<b>"));
        assert!(index.contains("✗ FAIL</span> (exit 2)"), "{index}");
        // ages count to the newest time in the state: the job's end
        assert!(index.contains("datetime=\"2026-03-01T08:01:01Z\""));
    }

    #[test]
    fn the_job_page_escapes_the_log_and_links_the_whole_file() {
        let (_tmp, state) = fixture();
        let job = &state.jobs[0];
        let page = pages::job_page(&state, job);
        assert!(
            page.contains("error: &lt;script&gt;x&lt;/script&gt;"),
            "{page}"
        );
        assert!(!page.contains("<script>"));
        assert!(page.contains(&format!("<a href=\"{}/build.log.txt\">", job.id)));
        assert!(page.contains("1m 1s"));
    }

    #[test]
    fn the_plan_has_a_page_per_host_with_a_name_and_the_logs_beside_jobs() {
        let (_tmp, state) = fixture();
        let plan = site_plan(&state);
        let paths: Vec<&str> = plan.files.keys().map(String::as_str).collect();
        assert_eq!(
            paths,
            [
                "hosts/ohm.html",
                "index.html",
                "jobs/ohm-20260301T080000Z-0123abcd.html",
                "jobs/ohm-20260301T080000Z-0123abcd/build.log.txt",
                "matrix.html"
            ]
        );
        // the same state renders the same bytes
        let again = site_plan(&state);
        for (path, file) in &plan.files {
            if let (SiteFile::Page(a), Some(SiteFile::Page(b))) = (file, again.files.get(path)) {
                assert_eq!(a, b, "{path}");
            }
        }
    }
}
