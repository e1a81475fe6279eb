//! kernel-agent's documents, and nothing else (in the manner of cargo's
//! `cargo-util-schemas`): the JSON documents stages pass on stdin/stdout and
//! keep under `KA_ROOT`, and the YAML formats of the fleet repository and of
//! an installation.
//!
//! Each JSON document is an object with `kind` and `version: 1`; inputs are
//! parsed with `deny_unknown_fields`, so a stage fed the wrong document, a
//! newer version or a misspelt field stops with exit 3. The doc comment on
//! each type is its specification; `schemas/` holds the JSON Schemas
//! generated from them (feature `schema`, `make schemas`) and
//! `man 5 ka-formats` describes them.
//!
//! One module per family; every type is also at the crate root
//! (`ka_schema::Plan`). [`fleet`] is the one reader of the fleet repository.

use serde::{Deserialize, Serialize};

/// A document's `kind`: a one-value enum that (de)serializes as its string,
/// so a document of another kind is refused on read.
macro_rules! doc_kind {
    ($(#[$m:meta])* $name:ident = $lit:literal) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
        #[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
        pub enum $name {
            #[default]
            #[serde(rename = $lit)]
            Kind,
        }
    };
}

pub mod build;
pub mod config;
pub mod fleet;
pub mod host;
pub mod manifest;
pub mod package;
pub mod pipeline;
pub mod publish;
pub mod records;
pub mod retain;
pub mod roles;
pub mod series;
pub mod span;
pub mod tree;
pub mod yaml;

pub use build::*;
pub use config::*;
pub use host::*;
pub use manifest::*;
pub use package::PackageFile;
pub use pipeline::*;
pub use publish::*;
pub use records::*;
pub use retain::*;
pub use roles::*;
pub use series::*;
pub use span::Span;
pub use tree::*;
pub use yaml::*;

doc_kind!(PlanKind = "ka.plan");
doc_kind!(CheckKind = "ka.check");
doc_kind!(LockKind = "ka.lock");
doc_kind!(ResultKind = "ka.result");
doc_kind!(BlockDocKind = "ka.block");
doc_kind!(GateKind = "ka.gate");
doc_kind!(JobKind = "ka.job");
doc_kind!(JobResultKind = "ka.job-result");
doc_kind!(RenderKind = "ka.render");
doc_kind!(ProbeReportKind = "ka.probe-report");
doc_kind!(BurnInKind = "ka.burn-in");
doc_kind!(RebaseReportKind = "ka.rebase-report");
doc_kind!(KeepKind = "ka.keep");
doc_kind!(BackupKind = "ka.backup");
doc_kind!(ArchiveIndexKind = "ka.archive");
doc_kind!(PrunePauseKind = "ka.prune-pause");
doc_kind!(PruneReportKind = "ka.prune-report");
doc_kind!(TreeChangeKind = "ka.tree-change");
doc_kind!(JournalKind = "ka.tree-journal");

/// The contract version. Only `1` exists; anything else is refused.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct V1;

impl Serialize for V1 {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u32(1)
    }
}

impl<'de> Deserialize<'de> for V1 {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = u64::deserialize(d)?;
        if v == 1 {
            Ok(V1)
        } else {
            Err(serde::de::Error::custom(format!(
                "unsupported version {v}: this kernel-agent speaks version 1"
            )))
        }
    }
}

#[cfg(feature = "schema")]
impl schemars::JsonSchema for V1 {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Version".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "integer", "const": 1 })
    }
}
