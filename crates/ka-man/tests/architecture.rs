//! The dependency rule of ARCHITECTURE.md, checked: each crate's
//! `[dependencies]` on kernel-agent crates must be among those its row of the
//! table ("may use") names, and the table and `crates/` must name the same
//! crates. The table is the one source; this test only reads it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// What may be used, by crate: `None` for `*` (anything).
type Rule = BTreeMap<String, Option<BTreeSet<String>>>;

/// The table between the architecture markers of ARCHITECTURE.md.
fn rule(text: &str) -> Rule {
    let start = "<!-- architecture: dependency rule";
    let begin = text
        .find(start)
        .expect("ARCHITECTURE.md has the dependency rule's start marker");
    let end = text[begin..]
        .find("<!-- /architecture -->")
        .expect("ARCHITECTURE.md has the dependency rule's end marker")
        + begin;
    let mut rule = Rule::new();
    for line in text[begin..end].lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // | crate | role | may use |  →  ["", crate, role, may use, ""]
        if cells.len() != 5 || !cells[1].starts_with("ka-") {
            continue;
        }
        let may = match cells[3] {
            "*" => None,
            "—" => Some(BTreeSet::new()),
            list => Some(list.split(',').map(|s| s.trim().to_string()).collect()),
        };
        assert!(
            rule.insert(cells[1].to_string(), may).is_none(),
            "ARCHITECTURE.md names {} twice",
            cells[1]
        );
    }
    rule
}

/// The kernel-agent crates a Cargo.toml's `[dependencies]` names.
fn dependencies(manifest: &str) -> BTreeSet<String> {
    let mut deps = BTreeSet::new();
    let mut inside = false;
    for line in manifest.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            inside = line == "[dependencies]";
        } else if inside && line.starts_with("ka-") {
            let name = line
                .split(['.', '=', ' '])
                .next()
                .expect("a dependency line has a name");
            deps.insert(name.to_string());
        }
    }
    deps
}

fn crates() -> BTreeMap<String, BTreeSet<String>> {
    let mut all = BTreeMap::new();
    for entry in std::fs::read_dir(repo().join("crates")).unwrap() {
        let dir = entry.unwrap().path();
        let manifest = dir.join("Cargo.toml");
        if manifest.is_file() {
            let name = dir.file_name().unwrap().to_string_lossy().into_owned();
            all.insert(
                name,
                dependencies(&std::fs::read_to_string(manifest).unwrap()),
            );
        }
    }
    all
}

/// The violations of `rule` by `crates`, one line each.
fn violations(rule: &Rule, crates: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut bad = Vec::new();
    for (name, deps) in crates {
        match rule.get(name) {
            None => bad.push(format!(
                "{name} has no row in ARCHITECTURE.md's crate table: add it with what it may use"
            )),
            Some(None) => {}
            Some(Some(may)) => {
                for d in deps.difference(may) {
                    bad.push(format!(
                        "{name} depends on {d}, which its row in ARCHITECTURE.md does not allow"
                    ));
                }
            }
        }
    }
    for name in rule.keys().filter(|n| !crates.contains_key(*n)) {
        bad.push(format!(
            "ARCHITECTURE.md has a row for {name}, which is not a crate under crates/"
        ));
    }
    bad
}

#[test]
fn every_crate_uses_only_what_architecture_md_allows() {
    let text = std::fs::read_to_string(repo().join("ARCHITECTURE.md")).unwrap();
    let bad = violations(&rule(&text), &crates());
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

#[test]
fn the_check_fails_on_an_edge_the_table_does_not_allow() {
    let text = "<!-- architecture: dependency rule -->\n\
| crate | role | may use |\n| --- | --- | --- |\n\
| ka-core | core | — |\n| ka-install | install | ka-core, ka-block |\n\
| ka-man | pages | * |\n<!-- /architecture -->\n";
    let crates: BTreeMap<String, BTreeSet<String>> = [
        ("ka-core", vec![]),
        ("ka-install", vec!["ka-core", "ka-sign"]),
        ("ka-man", vec!["ka-install", "ka-sign"]),
        ("ka-sign", vec!["ka-core"]),
    ]
    .into_iter()
    .map(|(n, d)| (n.to_string(), d.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(
        violations(&rule(text), &crates),
        [
            "ka-install depends on ka-sign, which its row in ARCHITECTURE.md does not allow",
            "ka-sign has no row in ARCHITECTURE.md's crate table: add it with what it may use",
        ]
    );
    assert_eq!(
        dependencies(
            "[dependencies]\nka-core.workspace = true\nka-block = { path = \"x\" }\nserde = \"1\"\n[dev-dependencies]\nka-sign.workspace = true\n"
        ),
        ["ka-block", "ka-core"].map(String::from).into()
    );
}
