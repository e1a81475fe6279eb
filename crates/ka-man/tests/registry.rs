//! commands.txt is the one list of kernel-agent's commands; this test holds
//! everything else to it: every Rust binary and every verb script is listed
//! (and nothing listed is missing), every stage and verb has its man page,
//! the generated pages are exactly the stages, every `ka.*` document kind has
//! its section in section 5, and a verb's `--help` and its page agree on the
//! options.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[derive(Debug)]
struct Entry {
    name: String,
    kind: String,
    from: String,
    man: String,
}

fn registry() -> Vec<Entry> {
    let text = read(&repo().join("commands.txt"));
    let mut entries = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        assert_eq!(f.len(), 4, "commands.txt:{}: name kind from man", n + 1);
        assert!(
            ["verb", "stage", "tool"].contains(&f[1]),
            "commands.txt:{}: kind is verb, stage or tool, not {}",
            n + 1,
            f[1]
        );
        entries.push(Entry {
            name: f[0].into(),
            kind: f[1].into(),
            from: f[2].into(),
            man: f[3].into(),
        });
    }
    entries
}

fn names(entries: &[Entry], kinds: &[&str]) -> BTreeSet<String> {
    entries
        .iter()
        .filter(|e| kinds.contains(&e.kind.as_str()))
        .map(|e| e.name.clone())
        .collect()
}

/// Every binary of the workspace, with its crate: `src/main.rs` is the
/// crate's own name, `src/bin/<name>.rs` is `<name>`.
fn binaries() -> BTreeSet<(String, String)> {
    let mut all = BTreeSet::new();
    for entry in std::fs::read_dir(repo().join("crates")).unwrap() {
        let dir = entry.unwrap().path();
        let krate = dir.file_name().unwrap().to_string_lossy().into_owned();
        if dir.join("src/main.rs").is_file() {
            all.insert((krate.clone(), krate.clone()));
        }
        if let Ok(bins) = std::fs::read_dir(dir.join("src/bin")) {
            for b in bins {
                let p = b.unwrap().path();
                if p.extension().is_some_and(|e| e == "rs") {
                    let name = p.file_stem().unwrap().to_string_lossy().into_owned();
                    all.insert((name, krate.clone()));
                }
            }
        }
    }
    all
}

fn verbs() -> BTreeSet<String> {
    std::fs::read_dir(repo().join("bin-wrappers"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.ends_with(".sh"))
        .collect()
}

#[test]
fn every_binary_and_verb_is_registered_where_it_lives() {
    let reg = registry();
    let mut bad = Vec::new();
    let listed: BTreeSet<(String, String)> = reg
        .iter()
        .filter(|e| e.kind != "verb")
        .map(|e| (e.name.clone(), e.from.clone()))
        .collect();
    for (name, krate) in binaries().difference(&listed) {
        bad.push(format!(
            "binary {name} (crate {krate}) is not in commands.txt as a stage or tool of {krate}"
        ));
    }
    for (name, krate) in listed.difference(&binaries()) {
        bad.push(format!(
            "commands.txt lists {name} from crate {krate}, which has no such binary"
        ));
    }
    let listed_verbs = names(&reg, &["verb"]);
    for v in verbs().symmetric_difference(&listed_verbs) {
        bad.push(format!(
            "verb {v}: bin-wrappers/ and commands.txt disagree (a verb is a script in bin-wrappers/ listed with kind verb)"
        ));
    }
    for e in reg
        .iter()
        .filter(|e| e.kind == "verb" && e.from != "bin-wrappers")
    {
        bad.push(format!(
            "commands.txt: verb {} comes from bin-wrappers",
            e.name
        ));
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn every_stage_and_verb_has_its_page_and_tools_have_none() {
    let mut bad = Vec::new();
    for e in registry() {
        let page = repo().join(format!("man/man{}/{}.{}", e.man, e.name, e.man));
        match e.kind.as_str() {
            "tool" if e.man != "-" => bad.push(format!("tool {} has no page: write - ", e.name)),
            "tool" => {}
            _ if !page.is_file() => bad.push(format!(
                "{} {} has no man page {} (stages: make man; verbs: write it)",
                e.kind,
                e.name,
                page.strip_prefix(repo()).unwrap_or(&page).display()
            )),
            _ => {}
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn the_generated_pages_are_exactly_the_stages() {
    let generated: BTreeSet<String> = ka_man::commands()
        .iter()
        .map(|c| c.get_name().to_string())
        .collect();
    let stages = names(&registry(), &["stage"]);
    assert_eq!(
        generated, stages,
        "ka_man::commands() and the stages of commands.txt differ"
    );
}

#[test]
fn every_document_kind_has_its_section_in_section_5() {
    let mut pages = String::new();
    for entry in std::fs::read_dir(repo().join("man/man5")).unwrap() {
        pages.push_str(&read(&entry.unwrap().path()));
    }
    // roff escapes the hyphens of a kind: `.B ka.job\-result`
    let pages = pages.replace("\\-", "-");
    let headed: BTreeSet<&str> = pages
        .lines()
        .filter_map(|l| l.strip_prefix(".B "))
        .map(str::trim)
        .collect();
    let mut missing = Vec::new();
    for entry in std::fs::read_dir(repo().join("schemas")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        let Some(kind) = name.strip_suffix(".schema.json") else {
            continue;
        };
        if kind.starts_with("ka.") && !headed.contains(kind) {
            missing.push(kind.to_string());
        }
    }
    missing.sort();
    assert!(
        missing.is_empty(),
        "document kinds without a `.B <kind>` entry in man/man5: {missing:?}"
    );
}

/// The long options (`--name`) in `text`.
fn options(text: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let b = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("--") {
        let start = i + at;
        let mut end = start + 2;
        while end < b.len() && (b[end].is_ascii_lowercase() || b[end] == b'-') {
            end += 1;
        }
        let before_ok = start == 0 || !b[start - 1].is_ascii_alphanumeric();
        if before_ok && end > start + 2 && b[start + 2].is_ascii_lowercase() {
            found.insert(text[start..end].trim_end_matches('-').to_string());
        }
        i = end.max(start + 2);
    }
    found
}

fn section<'a>(page: &'a str, name: &str) -> &'a str {
    let head = format!(".SH {name}\n");
    let Some(at) = page.find(&head) else {
        return "";
    };
    let rest = &page[at + head.len()..];
    &rest[..rest.find("\n.SH ").unwrap_or(rest.len())]
}

#[test]
fn a_verbs_help_and_its_page_agree_on_the_options() {
    let mut bad = Vec::new();
    for verb in names(&registry(), &["verb"]) {
        let out = Command::new("bash")
            .arg(repo().join("bin-wrappers").join(&verb))
            .arg("--help")
            .env("KA_ROOT", "/nonexistent/ka-registry-test")
            .output()
            .unwrap();
        assert!(out.status.success(), "{verb} --help exited {}", out.status);
        let usage = options(&String::from_utf8_lossy(&out.stdout));
        let page = read(&repo().join(format!("man/man1/{verb}.1"))).replace("\\-", "-");
        let in_page = options(&page);
        let synopsis = options(section(&page, "SYNOPSIS"));
        for o in usage.iter().filter(|o| *o != "--help") {
            if !in_page.contains(o) {
                bad.push(format!("{verb} --help has {o}, its man page does not"));
            }
        }
        for o in synopsis.difference(&usage) {
            bad.push(format!("{verb}'s SYNOPSIS has {o}, its --help does not"));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn options_are_read_like_a_reader_would() {
    assert_eq!(
        options("usage: ka-x [--dry-run] <host>\n  --job ID   the job\n  a--b, ---, -- end, --x-"),
        ["--dry-run", "--job", "--x"].map(String::from).into()
    );
}

/// The positions of `words` in `text`, each searched after the previous one;
/// `None` names the first word missing there (or out of order).
fn in_order<'a>(text: &str, words: &[&'a str]) -> Result<(), &'a str> {
    let mut at = 0;
    for w in words {
        match text[at..].find(w) {
            Some(i) => at += i + w.len(),
            None => return Err(w),
        }
    }
    Ok(())
}

#[test]
fn the_install_phases_are_one_list() {
    // ka_schema::Phase is the list; ka-install(1), the README and
    // ARCHITECTURE.md name each phase, in its order, and nothing else
    let phases: Vec<&str> = ka_schema::Phase::ALL.iter().map(|p| p.as_str()).collect();
    let page = read(&repo().join("man/man1/ka-install.1"));
    let items: Vec<&str> = page
        .lines()
        .filter_map(|l| l.strip_prefix(".IP "))
        .filter_map(|l| l.strip_suffix(" 12"))
        .collect();
    assert_eq!(items, phases, "ka-install(1)'s .IP phase list");
    let arch = read(&repo().join("ARCHITECTURE.md"));
    assert!(
        arch.contains(&format!("(phases: {})", phases.join(", "))),
        "ARCHITECTURE.md's ka-install row lists the phases as ka_schema::Phase::ALL"
    );
    let readme = read(&repo().join("README.md"));
    let start = readme
        .find("Phases, each with a time limit")
        .expect("README's phase chain");
    let text = readme[start..]
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let chain: Vec<String> = phases.iter().skip(1).map(|p| format!("→ {p} ")).collect();
    let words: Vec<&str> = chain.iter().map(String::as_str).collect();
    if let Err(missing) = in_order(&text, &words) {
        panic!("README's install phase chain lacks `{missing}` (or has it out of order)");
    }
    // the schema's enum is generated from the type
    let schema = read(&repo().join("schemas/ka.install.schema.json"));
    for p in &phases {
        assert!(schema.contains(&format!("\"{p}\"")), "schema lacks {p}");
    }
}
