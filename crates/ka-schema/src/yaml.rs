//! YAML in, with errors that read `file:line:col: what`.

use ka_core::error::{Error, Result, contract};
use std::path::Path;

/// Parse a YAML file into `T`; errors read `file:line:col: what`.
pub fn load_yaml<T: serde::de::DeserializeOwned>(path: &Path, shown_as: &str) -> Result<T> {
    let text = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let text = std::str::from_utf8(&text)
        .map_err(|e| contract(format!("{shown_as}: not UTF-8 text ({e})")))?;
    parse_yaml(text, shown_as)
}

/// Parse YAML text into `T`; errors read `file:line:col: what`, and quote at
/// most [`ka_core::error::QUOTE_MAX`] characters of the input.
pub fn parse_yaml<T: serde::de::DeserializeOwned>(text: &str, shown_as: &str) -> Result<T> {
    serde_yaml::from_str(text).map_err(|e| {
        let full = e.to_string();
        let msg = ka_core::error::clip_quoted(&full);
        // yaml_serde appends " at line L column C"; we lead with it instead.
        let msg = msg.split(" at line ").next().unwrap_or(&msg);
        match e.location() {
            Some(loc) => contract(format!("{shown_as}:{}:{}: {msg}", loc.line(), loc.column())),
            None => contract(format!("{shown_as}: {msg}")),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{HostManifest, SeriesMeta};

    #[test]
    fn unknown_key_names_line_and_column() {
        let err = parse_yaml::<SeriesMeta>(
            "scope: board/x\ncampaign: c\n  \nflavour: 1\n",
            "patches/board/x/s/series.yaml",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("patches/board/x/s/series.yaml:4:1: unknown field `flavour`"),
            "{err}"
        );
    }

    #[test]
    fn a_huge_input_is_not_quoted_whole() {
        // a manifest that is one 3 MB scalar, and one with a 3 MB scope
        let blob = "x".repeat(3_000_000);
        let err = parse_yaml::<HostManifest>(&blob, "fleet/big.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.len() < 400, "{}", err.len());
        assert!(err.starts_with("fleet/big.yaml:1:1: invalid type: string \"xxx"));
        assert!(err.contains("…\" (2999800 bytes more), expected"), "{err}");
        let text = format!(
            "host: big\nrole: dev\narch: aarch64\ndistro: arch\nscopes: [\"{}\"]\n",
            "y".repeat(3_000_000)
        );
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.yaml");
        std::fs::write(&path, text).unwrap();
        let err = HostManifest::load(&path, "fleet/big.yaml")
            .unwrap_err()
            .to_string();
        assert!(err.len() < 400, "{}", err.len());
        assert!(
            err.starts_with("fleet/big.yaml: invalid scope \"yyy"),
            "{err}"
        );
    }
}
