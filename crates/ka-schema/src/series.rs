//! `patches/<scope>/<series>/series.yaml` ([`SeriesMeta`]): one series of
//! patches, and how its campaign ended.

use crate::load_yaml;
use ka_core::error::{Error, Result, contract, quoted};
use ka_core::names::{check_name, check_scope};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// `patches/<scope>/<series>/series.yaml`: one series of patches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct SeriesMeta {
    /// The scope tag; must equal the folder the series lives in.
    pub scope: String,
    /// The work stream the series came from.
    pub campaign: String,
    /// Where it came from, e.g. `fresnel-fourier#3` or a URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Series (`<scope>/<series>`) that must be applied before this one.
    #[serde(default)]
    pub after: Vec<String>,
    /// Checks of this series' effect on a running host (`man 5 ka-probe`).
    #[serde(default)]
    pub probes: Vec<String>,
    /// Set by `ka-close` (or `ka-abandon --keep-as-archive`): the campaign is
    /// over. A closed series still resolves; closing records, it does not remove.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub closed: Option<Closure>,
}

/// How and when a campaign ended (`closed:` in series.yaml).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct Closure {
    pub status: CloseStatus,
    /// RFC 3339 UTC time of the closing.
    pub at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Why a campaign was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum CloseStatus {
    /// It did what it set out to do; the series stay in the fleet.
    Success,
    /// Its patches were merged upstream (drop them at the next baseline bump).
    Upstreamed,
    /// Replaced by another campaign.
    Superseded,
    /// Given up (`ka-abandon --keep-as-archive`; the series live under `archive/`).
    Abandoned,
}

impl CloseStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            CloseStatus::Success => "success",
            CloseStatus::Upstreamed => "upstreamed",
            CloseStatus::Superseded => "superseded",
            CloseStatus::Abandoned => "abandoned",
        }
    }
}

/// A series reference `<scope>/<series>`: a valid scope plus a series name.
pub fn check_series_ref(r: &str) -> Result<()> {
    match r.rsplit_once('/') {
        Some((scope, series)) => {
            check_scope(scope)?;
            check_name("series", series)
        }
        None => Err(contract(format!(
            "invalid series reference {}: write <scope>/<series>, e.g. board/pinebook-pro/opp",
            quoted(r)
        ))),
    }
}

impl SeriesMeta {
    pub fn load(path: &Path, shown_as: &str) -> Result<SeriesMeta> {
        let m: SeriesMeta = load_yaml(path, shown_as)?;
        let at = |e: Error| contract(format!("{shown_as}: {e}"));
        check_scope(&m.scope).map_err(at)?;
        check_name("campaign", &m.campaign).map_err(at)?;
        for a in &m.after {
            check_series_ref(a).map_err(at)?;
        }
        Ok(m)
    }
}
