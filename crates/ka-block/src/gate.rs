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
//! | config-drop | promote of H (the option's host) |

use ka_schema::{Block, BlockKind, BlockState, Subject, Verb};

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
        (BlockKind::ConfigDrop, Subject::Config { host, .. }) => {
            verb == Verb::Promote && host == req.host
        }
        // A block whose subject does not fit its kind is refused when filed;
        // should one exist anyway it halts nothing rather than everything.
        _ => false,
    }
}

/// The open blocks in the way of `verb` on `req`.
pub fn blocking<'b>(blocks: &'b [Block], verb: Verb, req: &Request) -> Vec<&'b Block> {
    blocks.iter().filter(|b| halts(b, verb, req)).collect()
}

/// The open blocks that halt `verb` on `host` before the verb's input exists
/// (no promoted lock, no build, nothing published yet): they halt it whatever
/// the earlier verbs make, so a verb says them rather than "run the previous
/// verb first". A build is halted only when every build host it may be routed
/// to (`build_hosts`, in routing order) is; with none known, by what halts
/// every build.
pub fn halted_before<'b>(
    blocks: &'b [Block],
    verb: Verb,
    host: &str,
    build_hosts: &[&str],
) -> Vec<&'b Block> {
    let req = |build_host| Request {
        host,
        build_host,
        patches: &[],
    };
    if verb != Verb::Build || build_hosts.is_empty() {
        return blocking(blocks, verb, &req(None));
    }
    let mut all: Vec<&Block> = Vec::new();
    for b in build_hosts {
        let in_way = blocking(blocks, verb, &req(Some(b)));
        if in_way.is_empty() {
            return Vec::new();
        }
        for x in in_way {
            if !all.iter().any(|y| y.id == x.id) {
                all.push(x);
            }
        }
    }
    all
}

/// The gate's refusal in words, as every verb says it:
/// `refused by the gate: <id> [ka:<kind>] holds <what>`.
pub fn refusal(in_way: &[&Block], what: &str) -> String {
    format!(
        "refused by the gate: {} hold{} {what}",
        in_way
            .iter()
            .map(|b| format!("{} [ka:{}]", b.id, b.block.as_str()))
            .collect::<Vec<_>>()
            .join(", "),
        if in_way.len() == 1 { "s" } else { "" }
    )
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
            | (BlockKind::ConfigDrop, Subject::Config { .. })
    )
}
