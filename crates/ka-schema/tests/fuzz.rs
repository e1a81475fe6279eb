//! Property tests of everything kernel-agent reads from outside: the manifest,
//! series and config YAML loaders and the stage JSON readers. Generated
//! input (arbitrary, or a real document mutated) loads or is refused as a
//! contract error — never a panic (sizes bounded); what loads survives a
//! round trip (render, read back, equal). `make fuzz` runs many more cases.

use ka_core::ExitCode;
use ka_core::error::clip_quoted;
use ka_core::stream::{read_docs, write_doc};
use ka_schema::{
    AuditEntry, Block, Check, JobResult, Lock, Notice, Plan, Render, TreeChange, VerbResult,
};
use ka_schema::{HostManifest, RuntimeConfig, SeriesMeta, parse_yaml};
use proptest::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fmt::Debug;
use std::path::Path;

const MANIFEST: &str = include_str!("../../../fleet/fresnel.yaml");
const SERIES: &str = "scope: board/pinebook-pro\ncampaign: fresnel-fourier\norigin: \"mbox\"\nafter: [soc/rockchip/rk3399/clk]\nprobes:\n  - dt model == \"Pine64 Pinebook Pro\"\nclosed: { status: success, at: 2024-01-04T10:00:00Z, note: done }\n";
const CONFIG: &str = "issues:\n  backend: gitea\n  gitea: { url: https://gitea.example.invalid, owner: o, repo: r, token_env: KA_TOKEN }\n";
const PLAN: &str = r#"{"kind":"ka.plan","version":1,"host":"h","repo":"/r","manifest":"fleet/h.yaml","manifest_b2sum":"0","baseline":{"spec":{"git":"https://example.invalid/linux.git","ref":"v6.1"},"git_dir":"/g","commit":"abc"},"patches":[{"path":"patches/board/x/0001-a.patch","scope":"board","series":"board/x","campaign":"x","size":10,"selected_by":"scope"}]}"#;

/// Tokens that YAML and JSON documents are made of.
const TOKENS: &[&str] = &[
    "\n",
    " ",
    "  ",
    ":",
    ": ",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ",",
    "\"",
    "'",
    "#",
    "&a",
    "*a",
    "!!str",
    "<<: *a",
    "~",
    "null",
    "true",
    "0x1F",
    "1e999",
    "-1",
    "18446744073709551616",
    "host",
    "kind",
    "version",
    "patches",
    "baseline",
    "tarball",
    "git",
    "ref",
    "scopes",
    "include",
    "exclude",
    "after",
    "probes",
    "\\u0000",
    "\\ud800",
    "é",
    "\t",
    "---",
    "...",
    "%YAML 1.2",
    "|",
    ">",
];

/// `doc` with up to 6 edits: a range deleted, a token inserted, at char
/// boundaries.
fn mutated(doc: &'static str) -> impl Strategy<Value = String> {
    let edit = (
        any::<bool>(),
        any::<prop::sample::Index>(),
        0usize..40,
        prop::sample::select(TOKENS),
    );
    prop::collection::vec(edit, 0..6).prop_map(move |edits| {
        let mut text = doc.to_string();
        for (delete, at, len, token) in edits {
            let bounds: Vec<usize> = text
                .char_indices()
                .map(|(i, _)| i)
                .chain([text.len()])
                .collect();
            let start = bounds[at.index(bounds.len())];
            if delete {
                let end = bounds
                    .iter()
                    .copied()
                    .find(|&b| b >= start + len)
                    .unwrap_or(text.len());
                text.replace_range(start..end, "");
            } else {
                text.insert_str(start, token);
            }
        }
        text
    })
}

/// Load `text` as the file `name` the way the verbs do: a contract error
/// (exit 3) naming the file, or a value that renders and reads back equal.
fn yaml_holds<T>(
    text: &str,
    name: &str,
    load: impl Fn(&Path) -> ka_core::Result<T>,
) -> Result<(), TestCaseError>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    match load(&path) {
        Ok(value) => {
            let rendered = serde_yaml::to_string(&value).unwrap();
            let back: T = parse_yaml(&rendered, name)
                .map_err(|e| TestCaseError::fail(format!("{e}\n{rendered}")))?;
            prop_assert_eq!(back, value);
        }
        Err(e) => {
            prop_assert_eq!(e.exit_code(), ExitCode::Contract, "{}", e);
            prop_assert!(e.to_string().starts_with(name), "{}", e);
        }
    }
    Ok(())
}

/// Read `bytes` as a stream of `T` documents: a contract error naming the
/// input, or documents that write and read back equal.
fn docs_hold<T>(bytes: &[u8]) -> Result<(), TestCaseError>
where
    T: Serialize + DeserializeOwned + PartialEq + Debug,
{
    match read_docs::<T>(bytes, "stdin") {
        Ok(docs) => {
            let mut out = Vec::new();
            for d in &docs {
                write_doc(&mut out, d).unwrap();
            }
            let back: Vec<T> = read_docs(out.as_slice(), "again")
                .map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(back, docs);
        }
        Err(e) => {
            prop_assert_eq!(e.exit_code(), ExitCode::Contract, "{}", e);
            prop_assert!(e.to_string().starts_with("stdin: "), "{}", e);
        }
    }
    Ok(())
}

/// Every stage document type the verbs read.
fn every_doc_type_holds(bytes: &[u8]) -> Result<(), TestCaseError> {
    docs_hold::<Plan>(bytes)?;
    docs_hold::<Check>(bytes)?;
    docs_hold::<Lock>(bytes)?;
    docs_hold::<Render>(bytes)?;
    docs_hold::<JobResult>(bytes)?;
    docs_hold::<VerbResult>(bytes)?;
    docs_hold::<Block>(bytes)?;
    docs_hold::<Notice>(bytes)?;
    docs_hold::<TreeChange>(bytes)?;
    docs_hold::<AuditEntry>(bytes)
}

fn manifest(path: &Path) -> ka_core::Result<HostManifest> {
    HostManifest::load(path, "fleet/fresnel.yaml")
}

fn series(path: &Path) -> ka_core::Result<SeriesMeta> {
    SeriesMeta::load(path, "series.yaml")
}

fn config(path: &Path) -> ka_core::Result<RuntimeConfig> {
    ka_schema::load_yaml(path, "config.yaml")
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn fuzz_manifests(text in prop_oneof![mutated(MANIFEST), "\\PC{0,300}"]) {
        yaml_holds(&text, "fleet/fresnel.yaml", manifest)?;
    }

    #[test]
    fn fuzz_series_yaml(text in prop_oneof![mutated(SERIES), "\\PC{0,300}"]) {
        yaml_holds(&text, "series.yaml", series)?;
    }

    #[test]
    fn fuzz_config_yaml(text in prop_oneof![mutated(CONFIG), "\\PC{0,300}"]) {
        yaml_holds(&text, "config.yaml", config)?;
    }

    #[test]
    fn fuzz_stage_documents_from_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..1024)) {
        every_doc_type_holds(&bytes)?;
    }

    #[test]
    fn fuzz_stage_documents_from_a_mutated_plan(text in mutated(PLAN)) {
        every_doc_type_holds(text.as_bytes())?;
    }

    #[test]
    fn fuzz_error_quotes_are_clipped_on_char_boundaries(msg in "\\PC{0,600}") {
        let clipped = clip_quoted(&msg);
        prop_assert!(clipped.len() <= msg.len() + 64, "{}", clipped);
    }
}
