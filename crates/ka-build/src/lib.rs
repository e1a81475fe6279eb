//! `ka-build-run`: take a rendered package folder (`ka.render`) to a build host
//! and bring the packages back.
//!
//! Routing: the manifest's `build.host`, then its `fallback` hosts, in order. A
//! host is skipped when the gate blocks builds routed to it, when it cannot be
//! reached, or when its pre-flight finds something missing (filed as
//! `[ka:bootstrap-missing]`) or its host key changed (`[ka:host-changed]`).

pub mod build;
pub mod preflight;
pub mod route;
