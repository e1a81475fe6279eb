//! The gate: "may verb V act on host H, with build host B, with patches P?"
//! Each block halts exactly the row of the table below and nothing else; there
//! is no propagation across hosts, build hosts or patches.
//!
//! | block | halts |
//! | --- | --- |
//! | patch-fail | promote, when P contains the patch |
//! | campaign-conflict | promote, when P contains every conflicting patch |
//! | host-drifted | install to H |
//! | build-fail | build, when routed to build host B |
//! | bootstrap-missing | build, when routed to build host B |
//! | host-changed | build, when routed to that host (B) |
//! | signing-fail | build and sign, everywhere |
//! | regression | install to H |

use ka_core::docs::{Block, BlockKind, BlockState, Subject, Verb};

/// What a verb is about to do.
#[derive(Debug, Clone, Default)]
pub struct Request<'a> {
    pub host: &'a str,
    pub build_host: Option<&'a str>,
    pub patches: &'a [String],
}

/// Does `block` halt `verb` acting on `req`?
pub fn halts(block: &Block, verb: Verb, req: &Request) -> bool {
    if block.state != BlockState::Open {
        return false;
    }
    let has = |p: &str| req.patches.iter().any(|q| q == p);
    match (block.block, &block.subject) {
        (BlockKind::PatchFail, Subject::Patch { patch }) => verb == Verb::Promote && has(patch),
        (BlockKind::CampaignConflict, Subject::Patches { patches }) => {
            verb == Verb::Promote && patches.iter().all(|p| has(p))
        }
        (BlockKind::HostDrifted | BlockKind::Regression, Subject::Host { host }) => {
            verb == Verb::Install && host == req.host
        }
        (BlockKind::BuildFail | BlockKind::BootstrapMissing, Subject::BuildHost { host }) => {
            verb == Verb::Build && req.build_host == Some(host.as_str())
        }
        (BlockKind::HostChanged, Subject::Host { host }) => {
            verb == Verb::Build && req.build_host == Some(host.as_str())
        }
        (BlockKind::SigningFail, Subject::Global) => matches!(verb, Verb::Build | Verb::Sign),
        // A block whose subject does not fit its kind is refused when filed;
        // should one exist anyway it halts nothing rather than everything.
        _ => false,
    }
}

/// The open blocks in the way of `verb` on `req`.
pub fn blocking<'b>(blocks: &'b [Block], verb: Verb, req: &Request) -> Vec<&'b Block> {
    blocks.iter().filter(|b| halts(b, verb, req)).collect()
}

/// The subject shape each kind takes.
pub fn subject_fits(kind: BlockKind, subject: &Subject) -> bool {
    matches!(
        (kind, subject),
        (BlockKind::PatchFail, Subject::Patch { .. })
            | (BlockKind::CampaignConflict, Subject::Patches { .. })
            | (
                BlockKind::HostDrifted | BlockKind::Regression | BlockKind::HostChanged,
                Subject::Host { .. }
            )
            | (
                BlockKind::BuildFail | BlockKind::BootstrapMissing,
                Subject::BuildHost { .. }
            )
            | (BlockKind::SigningFail, Subject::Global)
    )
}
