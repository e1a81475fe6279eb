//! Choosing the build host: each candidate in routing order, passed over when
//! the gate blocks builds routed to it, its wake command fails, it cannot be
//! reached, or its pre-flight finds something missing.

use super::Builder;
use crate::preflight::{self, Toolchain};
use crate::route::{Candidate, candidates};
use ka_block::gate::{Request, blocking};
use ka_core::error::{Error, Result};
use ka_run_remote::remote::Remote;
use ka_schema::{BlockKind, BlockRef, HostManifest, JobResult, Span, Subject, Transport, Verb};

/// Why a candidate was passed over; reported in the result message.
fn skip(notes: &mut Vec<String>, host: &str, why: impl Into<String>) {
    notes.push(format!("{host}: {}", why.into()));
}

impl<R: Remote> Builder<'_, R> {
    /// The first candidate that can take the build, with the toolchain it
    /// builds with; `None` when every one was passed over. `notes` say why
    /// each was; `filed` gets the blocks in the way and those filed.
    pub(super) fn choose(
        &mut self,
        target: &HostManifest,
        notes: &mut Vec<String>,
        filed: &mut Vec<BlockRef>,
    ) -> Result<Option<(Candidate, Toolchain)>> {
        let open = self.store.open_blocks()?;
        for c in candidates(self.repo, target)? {
            let req = Request {
                host: &target.host,
                build_host: Some(&c.name),
                patches: &[],
            };
            let in_the_way = blocking(&open, Verb::Build, &req);
            if !in_the_way.is_empty() {
                let ids: Vec<&str> = in_the_way.iter().map(|b| b.id.as_str()).collect();
                skip(notes, &c.name, format!("blocked by {}", ids.join(", ")));
                filed.extend(in_the_way.iter().map(|b| b.to_ref()));
                continue;
            }
            if !self.wake(&c, notes)? {
                continue;
            }
            if let Some(toolchain) = self.preflight(&c, target, notes, filed)? {
                return Ok(Some((c, toolchain)));
            }
        }
        Ok(None)
    }

    /// Run the candidate's wake command (here, not on the candidate), when
    /// it has one; `false`, noted, when the command failed.
    fn wake(&mut self, c: &Candidate, notes: &mut Vec<String>) -> Result<bool> {
        let Some(wake) = &c.spec.wake else {
            return Ok(true);
        };
        let mut job = self.job(
            c,
            wake.clone(),
            None,
            (&Span::minutes(5), &Span::minutes(5)),
            "wake.log",
        );
        job.transport = Transport::Local;
        let r = self.remote.run(&job)?;
        if !r.ok() {
            skip(
                notes,
                &c.name,
                format!("wake command failed (log {})", r.log.display()),
            );
            return Ok(false);
        }
        Ok(true)
    }

    /// Pre-flight the candidate (free space, toolchain, tools): the toolchain
    /// it builds with when it passes, its bootstrap and host-key blocks
    /// lifted; `None`, noted and maybe filed, when it does not.
    fn preflight(
        &mut self,
        c: &Candidate,
        target: &HostManifest,
        notes: &mut Vec<String>,
        filed: &mut Vec<BlockRef>,
    ) -> Result<Option<Toolchain>> {
        let argv = preflight::argv(
            &c.spec.root,
            target.arch,
            target.distro,
            c.spec.min_free_gib,
        );
        let job = self.job(
            c,
            argv,
            None,
            (&Span::minutes(2), &Span::minutes(1)),
            "preflight.log",
        );
        let r = self.remote.run(&job)?;
        if let Some(err) = &r.transport_error {
            self.unreachable(c, &r, err, notes, filed)?;
            return Ok(None);
        }
        let output = std::fs::read_to_string(&r.log).map_err(|e| Error::io(&r.log, e))?;
        let findings = preflight::parse(&output);
        if !findings.passed() {
            let b = self.file(
                notes,
                BlockKind::BootstrapMissing,
                Subject::BuildHost {
                    host: c.name.clone(),
                },
                &format!(
                    "{} is missing {} thing(s) for a build",
                    c.name,
                    findings.missing.len()
                ),
                &findings.missing.join("\n"),
            )?;
            filed.extend(b);
            skip(
                notes,
                &c.name,
                format!("pre-flight: {}", findings.missing.join("; ")),
            );
            return Ok(None);
        }
        self.lift(
            &[BlockKind::BootstrapMissing],
            Subject::BuildHost {
                host: c.name.clone(),
            },
            "pre-flight passes",
        )?;
        self.lift(
            &[BlockKind::HostChanged],
            Subject::Host {
                host: c.name.clone(),
            },
            "pre-flight passes",
        )?;
        // the script always prints its machine; without it, build natively
        Ok(Some(findings.machine().map_or(Toolchain::Native, |m| {
            Toolchain::for_target(m, target.arch)
        })))
    }

    /// The pre-flight could not reach the candidate: a changed host key
    /// files `[ka:host-changed]` (to verify by hand); anything else is only
    /// noted, as the host may be back for the next build.
    fn unreachable(
        &self,
        c: &Candidate,
        r: &JobResult,
        err: &str,
        notes: &mut Vec<String>,
        filed: &mut Vec<BlockRef>,
    ) -> Result<()> {
        if ka_run_remote::is_host_key_refusal(r) {
            let b = self.file(
                notes,
                BlockKind::HostChanged,
                Subject::Host {
                    host: c.name.clone(),
                },
                &format!("{} host key changed", c.name),
                &format!(
                    "{err}\nverify the new key, then update {}",
                    self.credentials.known_hosts.display()
                ),
            )?;
            filed.extend(b);
            skip(notes, &c.name, err);
        } else {
            skip(notes, &c.name, format!("unreachable: {err}"));
        }
        Ok(())
    }
}
