//! Short helper commands on a [`Connection`]: [`Connection::exec_capture`]
//! for quoted command lines and [`Connection::exec_argv`] for an argv whose
//! two output streams are collected apart under a time limit.

use super::wait::{acked, drain, quickack};
use super::{Captured, Connection};
use std::io::Read;
use std::time::{Duration, Instant};

impl Connection {
    /// Run `command` (already quoted) and read its output to the end, in
    /// blocking mode with the session timeout: for short helpers.
    pub fn exec_capture(&self, command: &str) -> std::result::Result<(i32, Vec<u8>), String> {
        self.session.set_blocking(true);
        let mut ch = self.session.channel_session().map_err(|e| e.to_string())?;
        ch.exec(command).map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        ch.read_to_end(&mut out).map_err(|e| e.to_string())?;
        ch.stderr()
            .read_to_end(&mut out)
            .map_err(|e| e.to_string())?;
        ch.wait_close().map_err(|e| e.to_string())?;
        let code = ch.exit_status().map_err(|e| e.to_string())?;
        Ok((code, out))
    }

    /// Run `argv` (each word quoted for the remote POSIX shell, so data never
    /// becomes shell syntax) and collect stdout and stderr apart, read
    /// interleaved so neither can fill up and stall the other. At most
    /// `max_output` bytes of each stream are kept (the rest is read and
    /// dropped, `truncated` says so). A command still running after
    /// `timeout` has its channel closed and is an `Err` saying so; for short,
    /// read-only helpers such as `ka-probe`'s reads.
    pub fn exec_argv(
        &self,
        argv: &[String],
        timeout: Duration,
        max_output: usize,
    ) -> std::result::Result<Captured, String> {
        if argv.is_empty() {
            return Err("empty argv".into());
        }
        let command = format!(
            "exec {}",
            argv.iter()
                .map(|a| crate::quote::sh_quote(a))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let started = Instant::now();
        let (sess, socket, io) = (&self.session, &self.socket, self.io_timeout);
        let mut ch =
            acked(sess, socket, io, || sess.channel_session()).map_err(|e| e.to_string())?;
        acked(sess, socket, io, || ch.exec(&command)).map_err(|e| e.to_string())?;
        acked(sess, socket, io, || ch.send_eof()).map_err(|e| e.to_string())?;
        self.session.set_blocking(false);
        let mut cap = Captured::default();
        let result = self.read_apart(&mut ch, &mut cap, &argv[0], started, timeout, max_output);
        self.session.set_blocking(true);
        if let Err(e) = result {
            let _ = ch.close();
            return Err(e);
        }
        ch.wait_close().map_err(|e| e.to_string())?;
        let sig = ch.exit_signal().ok().and_then(|s| s.exit_signal);
        if let Some(s) = sig.filter(|s| !s.is_empty()) {
            cap.signal = Some(s.trim_start_matches("SIG").to_string());
        } else {
            cap.exit_code = Some(ch.exit_status().map_err(|e| e.to_string())?);
        }
        Ok(cap)
    }

    /// The read loop of [`Connection::exec_argv`] on the non-blocking
    /// session: both streams of `ch` into `cap` until they end, or an `Err`
    /// once the connection fails or `timeout` since `started` has passed.
    fn read_apart(
        &self,
        ch: &mut ssh2::Channel,
        cap: &mut Captured,
        program: &str,
        started: Instant,
        timeout: Duration,
        max_output: usize,
    ) -> std::result::Result<(), String> {
        let mut buf = vec![0u8; 64 * 1024];
        let keep = |to: &mut Vec<u8>, truncated: &mut bool, d: &[u8]| {
            let room = max_output.saturating_sub(to.len());
            to.extend_from_slice(&d[..d.len().min(room)]);
            *truncated |= d.len() > room;
        };
        loop {
            let step = (|| -> std::io::Result<(bool, bool)> {
                let (eof_out, got_out) = drain(ch, &mut buf, |d| {
                    keep(&mut cap.stdout, &mut cap.truncated, d)
                })?;
                let (eof_err, got_err) = drain(&mut ch.stderr(), &mut buf, |d| {
                    keep(&mut cap.stderr, &mut cap.truncated, d)
                })?;
                Ok((eof_out && eof_err && ch.eof(), got_out || got_err))
            })();
            match step {
                Err(e) => break Err(format!("{}: connection lost: {e}", self.target.label())),
                Ok((true, _)) => break Ok(()),
                Ok((false, got)) => {
                    if started.elapsed() >= timeout {
                        break Err(format!(
                            "{}: {} did not finish within {}s",
                            self.target.label(),
                            program,
                            timeout.as_secs_f64()
                        ));
                    }
                    if !got {
                        quickack(&self.socket);
                        self.poll(Duration::from_millis(50).min(timeout));
                    }
                }
            }
        }
    }
}
