//! The table of ka-gate(1), row by row: each block halts its row, and nothing outside it.

use ka_block::gate::{Request, blocking, halted_before, halts, refusal, subject_fits};
use ka_schema::{Block, BlockKind, BlockState, Subject, V1, Verb};

fn block(kind: BlockKind, subject: Subject) -> Block {
    Block {
        kind: Default::default(),
        version: V1,
        id: format!("{}-test", kind.as_str()),
        block: kind,
        subject,
        title: String::new(),
        detail: String::new(),
        state: BlockState::Open,
        opened_at: String::new(),
        updated_at: String::new(),
        filings: 1,
        lifted_at: None,
        lift_reason: None,
    }
}

const VERBS: [Verb; 5] = [
    Verb::Promote,
    Verb::Build,
    Verb::Sign,
    Verb::Install,
    Verb::Verify,
];

/// For one block, the set of (verb, request) pairs it halts among a grid of
/// requests: the subject's own host/build host/patches and unrelated ones.
fn halted(b: &Block) -> Vec<(Verb, &'static str, Option<&'static str>, Vec<String>)> {
    let patch_sets: Vec<Vec<String>> = vec![
        vec![],
        vec!["patches/a/x/0001.patch".into()],
        vec![
            "patches/a/x/0001.patch".into(),
            "patches/b/y/0001.patch".into(),
        ],
        vec!["patches/c/z/0001.patch".into()],
    ];
    let mut out = Vec::new();
    for verb in VERBS {
        for host in ["fresnel", "ohm"] {
            for build_host in [None, Some("boltzmann"), Some("fermi")] {
                for p in &patch_sets {
                    let req = Request {
                        host,
                        build_host,
                        patches: p,
                    };
                    if halts(b, verb, &req) {
                        out.push((verb, host, build_host, p.clone()));
                    }
                }
            }
        }
    }
    out
}

#[test]
fn patch_fail_halts_only_promotes_carrying_that_patch() {
    let b = block(
        BlockKind::PatchFail,
        Subject::Patch {
            patch: "patches/a/x/0001.patch".into(),
        },
    );
    let h = halted(&b);
    assert!(!h.is_empty());
    for (verb, _, _, patches) in &h {
        assert_eq!(*verb, Verb::Promote);
        assert!(patches.contains(&"patches/a/x/0001.patch".to_string()));
    }
    // every host that carries it is halted: the block is about the patch
    assert!(h.iter().any(|x| x.1 == "fresnel") && h.iter().any(|x| x.1 == "ohm"));
}

#[test]
fn campaign_conflict_halts_only_promotes_carrying_both_patches() {
    let b = block(
        BlockKind::CampaignConflict,
        Subject::Patches {
            patches: vec![
                "patches/a/x/0001.patch".into(),
                "patches/b/y/0001.patch".into(),
            ],
        },
    );
    for (verb, _, _, patches) in halted(&b) {
        assert_eq!(verb, Verb::Promote);
        assert_eq!(patches.len(), 2, "one side alone does not conflict");
    }
}

fn only(b: &Block, verb: Verb, host: Option<&str>, build_host: Option<&str>) {
    let h = halted(b);
    assert!(!h.is_empty(), "{:?} halts nothing", b.block);
    for (v, hh, bh, _) in h {
        assert_eq!(v, verb, "{:?} halted {v:?}", b.block);
        if let Some(host) = host {
            assert_eq!(hh, host, "{:?} crossed to host {hh}", b.block);
        }
        if let Some(build_host) = build_host {
            assert_eq!(bh, Some(build_host), "{:?} crossed to {bh:?}", b.block);
        }
    }
}

#[test]
fn host_drifted_halts_installs_to_that_host_only() {
    let b = block(
        BlockKind::HostDrifted,
        Subject::Host {
            host: "fresnel".into(),
        },
    );
    only(&b, Verb::Install, Some("fresnel"), None);
}

#[test]
fn regression_halts_installs_to_that_host_only() {
    let b = block(BlockKind::Regression, Subject::Host { host: "ohm".into() });
    only(&b, Verb::Install, Some("ohm"), None);
}

#[test]
fn build_fail_halts_builds_routed_to_that_build_host_only() {
    let b = block(
        BlockKind::BuildFail,
        Subject::BuildHost {
            host: "boltzmann".into(),
        },
    );
    only(&b, Verb::Build, None, Some("boltzmann"));
}

#[test]
fn bootstrap_missing_halts_builds_routed_to_that_build_host_only() {
    let b = block(
        BlockKind::BootstrapMissing,
        Subject::BuildHost {
            host: "fermi".into(),
        },
    );
    only(&b, Verb::Build, None, Some("fermi"));
}

#[test]
fn host_changed_halts_builds_routed_to_that_host_only() {
    let b = block(
        BlockKind::HostChanged,
        Subject::Host {
            host: "boltzmann".into(),
        },
    );
    only(&b, Verb::Build, None, Some("boltzmann"));
}

#[test]
fn signing_fail_is_global_for_build_and_sign_and_nothing_else() {
    let b = block(BlockKind::SigningFail, Subject::Global);
    let h = halted(&b);
    assert!(h.iter().any(|x| x.0 == Verb::Build));
    assert!(h.iter().any(|x| x.0 == Verb::Sign));
    assert!(h.iter().all(|x| matches!(x.0, Verb::Build | Verb::Sign)));
    // global: every host and build host
    assert!(h.iter().any(|x| x.1 == "ohm" && x.2 == Some("fermi")));
}

#[test]
fn config_drop_halts_only_the_promote_of_its_host() {
    let b = block(
        BlockKind::ConfigDrop,
        Subject::Config {
            host: "ohm".into(),
            option: "CONFIG_CW1200".into(),
        },
    );
    let h = halted(&b);
    assert!(!h.is_empty());
    for (verb, host, _, _) in &h {
        assert_eq!((*verb, *host), (Verb::Promote, "ohm"));
    }
}

#[test]
fn lifted_blocks_halt_nothing() {
    for kind in BlockKind::ALL {
        let subject = match kind {
            BlockKind::PatchFail => Subject::Patch {
                patch: "patches/a/x/0001.patch".into(),
            },
            BlockKind::CampaignConflict => Subject::Patches {
                patches: vec![
                    "patches/a/x/0001.patch".into(),
                    "patches/b/y/0001.patch".into(),
                ],
            },
            BlockKind::BuildFail | BlockKind::BootstrapMissing => Subject::BuildHost {
                host: "boltzmann".into(),
            },
            BlockKind::SigningFail => Subject::Global,
            BlockKind::HostChanged => Subject::Host {
                host: "boltzmann".into(),
            },
            BlockKind::ConfigDrop => Subject::Config {
                host: "fresnel".into(),
                option: "CONFIG_WIFI".into(),
            },
            _ => Subject::Host {
                host: "fresnel".into(),
            },
        };
        assert!(subject_fits(kind, &subject));
        let mut b = block(kind, subject);
        assert!(!halted(&b).is_empty(), "{kind:?} open halts its row");
        b.state = BlockState::Lifted;
        assert!(halted(&b).is_empty(), "{kind:?} lifted halts nothing");
    }
}

#[test]
fn blocks_on_other_subjects_do_not_propagate() {
    // A fleet full of blocks on ohm / fermi / another patch lets a fresnel
    // promote and a fresnel install via boltzmann through.
    let blocks = vec![
        block(
            BlockKind::PatchFail,
            Subject::Patch {
                patch: "patches/c/z/0001.patch".into(),
            },
        ),
        block(BlockKind::HostDrifted, Subject::Host { host: "ohm".into() }),
        block(BlockKind::Regression, Subject::Host { host: "ohm".into() }),
        block(
            BlockKind::BuildFail,
            Subject::BuildHost {
                host: "fermi".into(),
            },
        ),
        block(
            BlockKind::BootstrapMissing,
            Subject::BuildHost {
                host: "fermi".into(),
            },
        ),
        block(
            BlockKind::HostChanged,
            Subject::Host {
                host: "fermi".into(),
            },
        ),
    ];
    let patches = vec!["patches/a/x/0001.patch".to_string()];
    for verb in VERBS {
        let req = Request {
            host: "fresnel",
            build_host: Some("boltzmann"),
            patches: &patches,
        };
        assert!(
            blocking(&blocks, verb, &req).is_empty(),
            "{verb:?} was halted"
        );
    }
}

#[test]
fn before_its_input_exists_a_verb_is_halted_by_what_halts_it_whatever_comes() {
    let signing = block(BlockKind::SigningFail, Subject::Global);
    let boltzmann = block(
        BlockKind::BuildFail,
        Subject::BuildHost {
            host: "boltzmann".into(),
        },
    );
    let drift = block(
        BlockKind::HostDrifted,
        Subject::Host {
            host: "fresnel".into(),
        },
    );
    let open = vec![boltzmann.clone(), drift.clone()];
    // a build with a fallback that is free is not halted
    assert!(halted_before(&open, Verb::Build, "fresnel", &["boltzmann", "fermi"]).is_empty());
    // every build host blocked: the build is
    let ids: Vec<&str> = halted_before(&open, Verb::Build, "fresnel", &["boltzmann"])
        .iter()
        .map(|b| b.id.as_str())
        .collect();
    assert_eq!(ids, ["build-fail-test"]);
    // no build host known: only what halts every build
    assert!(halted_before(&open, Verb::Build, "fresnel", &[]).is_empty());
    let with_signing = vec![boltzmann, signing, drift];
    assert_eq!(
        halted_before(&with_signing, Verb::Build, "fresnel", &[]).len(),
        1
    );
    // both build hosts blocked, boltzmann twice: each block once
    assert_eq!(
        halted_before(
            &with_signing,
            Verb::Build,
            "fresnel",
            &["boltzmann", "fermi"]
        )
        .len(),
        2
    );
    // installs and signing: the verb's own row
    let held = halted_before(&with_signing, Verb::Install, "fresnel", &[]);
    assert_eq!(
        refusal(&held, "installs to fresnel"),
        "refused by the gate: host-drifted-test [ka:host-drifted] holds installs to fresnel"
    );
    assert!(halted_before(&with_signing, Verb::Install, "ohm", &[]).is_empty());
    assert_eq!(
        halted_before(&with_signing, Verb::Sign, "ohm", &[]).len(),
        1
    );
}
