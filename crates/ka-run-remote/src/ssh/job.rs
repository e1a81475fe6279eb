//! A job's command over SSH: started on one channel, its stdout and stderr
//! streamed to the job's log, watched for its wall-clock cap and stall; the
//! kill of its whole remote tree on a second channel of the same session,
//! and the sweep for leftovers after a normal end.

use super::wait::{drain, is_eagain};
use super::{ConnectError, Connection, Target, connect};
use crate::log::{Log, Stream};
use crate::quote::{kill_command, remote_command};
use crate::{Limits, Options, Outcome, Reason};
use ka_core::error::{Error, Result};
use ka_schema::Job;
use std::time::{Duration, Instant};

/// Run a job over SSH. Connection failures and refusals come back as
/// `transport_error`, local setup problems as `Err`.
pub(crate) fn run(
    job: &Job,
    target: &Target,
    limits: &Limits,
    opts: &Options,
    log: &mut Log<'_>,
) -> Result<Outcome> {
    let command = remote_command(job)?;
    let conn = match connect(target, opts) {
        Ok(c) => c,
        Err(ConnectError::Setup(e)) => return Err(e),
        Err(ConnectError::HostKey(m)) => {
            log.note(&m)?;
            return Ok(Outcome {
                host_key_refused: true,
                ..Outcome::failed(m)
            });
        }
        Err(ConnectError::Transport(m)) => {
            log.note(&m)?;
            return Ok(Outcome::failed(m));
        }
    };
    let mut ch = match start(&conn.session, &command) {
        Ok(ch) => ch,
        Err(e) => {
            let m = format!("{}: could not start the command: {e}", target.label());
            log.note(&m)?;
            return Ok(Outcome::failed(m));
        }
    };
    let mut watch = Watch {
        conn: &conn,
        job,
        limits,
        log,
        out: Outcome::default(),
        buf: vec![0u8; 64 * 1024],
        last_output: Instant::now(),
        killer: None,
        kill_output: Vec::new(),
        kill_done: None,
        last_keepalive: Instant::now(),
    };
    watch.watch(&mut ch)?;
    watch.finish(&mut ch)?;
    let out = watch.out;
    let _ = conn.session.disconnect(None, "ka-run-remote: done", None);
    Ok(out)
}

/// A channel running `command`, its input closed.
fn start(sess: &ssh2::Session, command: &str) -> std::result::Result<ssh2::Channel, ssh2::Error> {
    let mut ch = sess.channel_session()?;
    ch.exec(command)?;
    ch.send_eof()?;
    Ok(ch)
}

/// A running job's state between rounds of the watch loop.
struct Watch<'a, 'p> {
    conn: &'a Connection,
    job: &'a Job,
    limits: &'a Limits,
    log: &'a mut Log<'p>,
    out: Outcome,
    buf: Vec<u8>,
    last_output: Instant,
    /// The channel killing the job's tree, once a limit was reached.
    killer: Option<ssh2::Channel>,
    kill_output: Vec<u8>,
    /// When the kill channel ended: the session must end soon after.
    kill_done: Option<Instant>,
    last_keepalive: Instant,
}

impl Watch<'_, '_> {
    /// Stream the job's output to the log on the non-blocking session until
    /// its channel ends, a limit's kill has run its course or the connection
    /// is lost. An `Err` is a local problem (the log could not be written).
    fn watch(&mut self, ch: &mut ssh2::Channel) -> Result<()> {
        let sess = &self.conn.session;
        sess.set_keepalive(false, 15);
        sess.set_blocking(false);
        loop {
            let mut io_result = self.read_job(ch)?;
            if let Err(e) = self.read_killer()? {
                io_result = Err(e);
            }
            let (done, got) = match io_result {
                Ok(v) => v,
                Err(e) => {
                    self.lost(e.to_string())?;
                    break;
                }
            };
            if got {
                self.last_output = Instant::now();
            }
            if done {
                break;
            }
            if self.killer.is_none()
                && let Some(reason) = self.limits.due(self.last_output)
                && !self.start_kill(reason)?
            {
                break;
            }
            if self.kill_overdue()? || !self.keepalive()? {
                break;
            }
            self.log.tick()?;
            if !got {
                self.conn.poll(Duration::from_millis(100));
            }
        }
        sess.set_blocking(true);
        Ok(())
    }

    /// Drain the job's stdout and stderr into the log: whether the channel
    /// is at its end and whether anything came, or the connection's failure.
    fn read_job(&mut self, ch: &mut ssh2::Channel) -> Result<std::io::Result<(bool, bool)>> {
        let mut sink_err: Option<Error> = None;
        let (buf, log) = (&mut self.buf, &mut *self.log);
        let io_result = (|| -> std::io::Result<(bool, bool)> {
            let (eof_out, got_out) = drain(ch, buf, |d| {
                if let Err(e) = log.data(Stream::Stdout, d) {
                    sink_err.get_or_insert(e);
                }
            })?;
            let (eof_err, got_err) = drain(&mut ch.stderr(), buf, |d| {
                if let Err(e) = log.data(Stream::Stderr, d) {
                    sink_err.get_or_insert(e);
                }
            })?;
            Ok((eof_out && eof_err && ch.eof(), got_out || got_err))
        })();
        match sink_err {
            Some(e) => Err(e),
            None => Ok(io_result),
        }
    }

    /// Drain the kill channel, if one runs; when it ends, note what it said.
    fn read_killer(&mut self) -> Result<std::io::Result<()>> {
        let Some(kc) = self.killer.as_mut() else {
            return Ok(Ok(()));
        };
        let (buf, kill_output) = (&mut self.buf, &mut self.kill_output);
        let r = drain(kc, buf, |d| kill_output.extend_from_slice(d))
            .and_then(|_| drain(&mut kc.stderr(), buf, |d| kill_output.extend_from_slice(d)));
        match r {
            Ok(_) if kc.eof() && self.kill_done.is_none() => {
                self.kill_done = Some(Instant::now());
                let text = String::from_utf8_lossy(&self.kill_output)
                    .trim()
                    .to_string();
                if !text.is_empty() {
                    self.log
                        .note(&format!("kill on {}: {text}", self.conn.target.host))?;
                }
                Ok(Ok(()))
            }
            Ok(_) => Ok(Ok(())),
            Err(e) => Ok(Err(e)),
        }
    }

    /// A limit was reached: note it and start killing the job's tree on a
    /// second channel. `false` when that could not start (the connection is lost).
    fn start_kill(&mut self, reason: Reason) -> Result<bool> {
        match reason {
            Reason::Stall => self.out.stalled = true,
            Reason::Cap => self.out.capped = true,
        }
        self.log.note(&self.limits.kill_note(reason))?;
        let sess = &self.conn.session;
        sess.set_blocking(true);
        let started = start(sess, &self.kill_command());
        sess.set_blocking(false);
        match started {
            Ok(kc) => {
                self.killer = Some(kc);
                Ok(true)
            }
            Err(e) => {
                self.lost(format!("could not start the kill: {e}"))?;
                Ok(false)
            }
        }
    }

    /// Whether the session outlived the kill by more than the io timeout
    /// (then said as the transport error).
    fn kill_overdue(&mut self) -> Result<bool> {
        let Some(t) = self.kill_done else {
            return Ok(false);
        };
        if t.elapsed() <= self.conn.io_timeout {
            return Ok(false);
        }
        let m = format!(
            "{}: the session did not end within {}s after the job's processes were killed",
            self.conn.target.label(),
            self.conn.io_timeout.as_secs()
        );
        self.log.note(&m)?;
        self.out.transport_error = Some(m);
        Ok(true)
    }

    /// Send a keepalive every 15 s of the job; `false` when the connection is lost.
    fn keepalive(&mut self) -> Result<bool> {
        if self.last_keepalive.elapsed() >= Duration::from_secs(15) {
            self.last_keepalive = Instant::now();
            if let Err(e) = self.conn.session.keepalive_send()
                && !is_eagain(&e)
            {
                self.lost(e.to_string())?;
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// After the watch: the command's exit status or signal, then the sweep
    /// for leftovers, unless the connection was lost.
    fn finish(&mut self, ch: &mut ssh2::Channel) -> Result<()> {
        if self.out.transport_error.is_some() {
            return Ok(());
        }
        match ch.wait_close() {
            Ok(()) => {
                let sig = ch.exit_signal().ok().and_then(|s| s.exit_signal);
                if let Some(s) = sig.filter(|s| !s.is_empty()) {
                    self.out.signal = Some(s.trim_start_matches("SIG").to_string());
                } else {
                    match ch.exit_status() {
                        Ok(c) => self.out.exit_code = Some(c),
                        Err(e) => self.lost(format!("no exit status: {e}"))?,
                    }
                }
            }
            Err(e) => self.lost(format!("waiting for the channel to close: {e}"))?,
        }
        // Anything still carrying the tag is a leftover: a job leaves nothing behind.
        if self.out.transport_error.is_none() && self.killer.is_none() {
            self.sweep_leftovers()?;
        }
        Ok(())
    }

    fn sweep_leftovers(&mut self) -> Result<()> {
        let host = &self.conn.target.host;
        match self.conn.exec_capture(&self.kill_command()) {
            Ok((code, text)) => {
                let text = String::from_utf8_lossy(&text).trim().to_string();
                if !text.is_empty() || code != 0 {
                    self.log.note(&format!(
                        "leftover processes on {host}: {text} (exit {code})"
                    ))?;
                }
            }
            Err(e) => self.log.note(&format!(
                "could not check {host} for leftover processes: {e}"
            ))?,
        }
        Ok(())
    }

    /// The script that kills every process tagged with the job's id.
    fn kill_command(&self) -> String {
        kill_command(&self.job.id, self.limits.grace.as_secs().max(1), 30)
    }

    /// The connection failed: note it, and it is the transport error.
    fn lost(&mut self, what: String) -> Result<()> {
        let m = format!("{}: connection lost: {what}", self.conn.target.label());
        self.log.note(&m)?;
        self.out.transport_error = Some(m);
        Ok(())
    }
}
