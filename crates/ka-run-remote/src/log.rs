//! The job log: stdout and stderr interleaved as they arrive, whole lines at a
//! time (a line of one stream is never cut by a line of the other), appended
//! to the job's log file, byte for byte (see [`Log::data`] for the one
//! exception); and the progress line on a terminal.

use ka_core::error::{Error, Result};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// A partial line longer than this is written without waiting for its newline.
const MAX_PARTIAL: usize = 64 * 1024;
/// A partial line older than this is written (a prompt, a progress dot).
const PARTIAL_AGE: Duration = Duration::from_millis(500);
/// How often the progress line is redrawn at most.
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    Stdout = 0,
    Stderr = 1,
}

pub struct Log<'p> {
    path: PathBuf,
    file: File,
    partial: [Vec<u8>; 2],
    partial_since: [Option<Instant>; 2],
    /// The stream whose text was last written without its newline (a cut line).
    open: Option<usize>,
    /// Total bytes received from the command.
    pub bytes: u64,
    last_line: String,
    start: Instant,
    progress: Option<&'p mut dyn std::io::Write>,
    last_draw: Option<Instant>,
}

impl<'p> Log<'p> {
    /// Open (create, with parents) the log for appending.
    pub fn open(
        path: &Path,
        start: Instant,
        progress: Option<&'p mut dyn std::io::Write>,
    ) -> Result<Log<'p>> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        }
        let file = OpenOptions::new()
            .append(true)
            .create(true)
            .open(path)
            .map_err(|e| Error::io(path, e))?;
        Ok(Log {
            path: path.to_path_buf(),
            file,
            partial: [Vec::new(), Vec::new()],
            partial_since: [None, None],
            open: None,
            bytes: 0,
            last_line: String::new(),
            start,
            progress,
            last_draw: None,
        })
    }

    /// Output from one stream: complete lines go to the file now, the rest
    /// waits for its newline (at most 64 KiB or 0.5 s, then it is written as is).
    pub fn data(&mut self, stream: Stream, data: &[u8]) -> Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        self.bytes += data.len() as u64;
        let i = stream as usize;
        let (whole, rest) = match data.iter().rposition(|b| *b == b'\n') {
            Some(nl) => data.split_at(nl + 1),
            None => (&data[..0], data),
        };
        if !whole.is_empty() {
            let mut pending = std::mem::take(&mut self.partial[i]);
            self.partial_since[i] = None;
            pending.extend_from_slice(whole);
            self.write_from(i, &pending)?;
            self.note_last_line(&pending);
        }
        if !rest.is_empty() {
            self.partial[i].extend_from_slice(rest);
            self.partial_since[i].get_or_insert_with(Instant::now);
            if self.partial[i].len() >= MAX_PARTIAL {
                self.flush_stream(i)?;
            }
        }
        Ok(())
    }

    /// Write partial lines that have waited too long; redraw the progress line.
    pub fn tick(&mut self) -> Result<()> {
        for i in 0..2 {
            if self.partial_since[i].is_some_and(|t| t.elapsed() >= PARTIAL_AGE) {
                self.flush_stream(i)?;
            }
        }
        self.draw(false);
        Ok(())
    }

    /// A note from ka-run-remote itself (a kill, a lost connection), on a line of its own.
    pub fn note(&mut self, text: &str) -> Result<()> {
        self.flush_all()?;
        if self.open.take().is_some() {
            self.write(b"\n")?;
        }
        let line = format!("[ka-run-remote] {text}\n");
        self.write(line.as_bytes())?;
        self.note_last_line(line.as_bytes());
        self.draw(true);
        Ok(())
    }

    /// Write what is left, sync, and end the progress line (left on screen).
    pub fn finish(&mut self) -> Result<()> {
        self.flush_all()?;
        self.file
            .sync_data()
            .map_err(|e| Error::io(&self.path, e))?;
        if self.progress.is_some() {
            // leave the final elapsed time and last line on the terminal
            self.draw(true);
            if let Some(p) = self.progress.as_mut() {
                let _ = p.write_all(b"\n");
                let _ = p.flush();
            }
        }
        Ok(())
    }

    fn flush_all(&mut self) -> Result<()> {
        self.flush_stream(0)?;
        self.flush_stream(1)
    }

    fn flush_stream(&mut self, i: usize) -> Result<()> {
        if self.partial[i].is_empty() {
            return Ok(());
        }
        let pending = std::mem::take(&mut self.partial[i]);
        self.partial_since[i] = None;
        self.write_from(i, &pending)?;
        self.note_last_line(&pending);
        Ok(())
    }

    /// Write bytes of stream `i`. The log is byte-exact except in one case: a
    /// line of the other stream that was cut (written without its newline)
    /// is ended with a newline before this stream's text, so the two never
    /// glue together on one line.
    fn write_from(&mut self, i: usize, bytes: &[u8]) -> Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        if self.open.is_some_and(|j| j != i) {
            self.write(b"\n")?;
        }
        self.write(bytes)?;
        self.open = if bytes.ends_with(b"\n") {
            None
        } else {
            Some(i)
        };
        Ok(())
    }

    fn write(&mut self, bytes: &[u8]) -> Result<()> {
        self.file
            .write_all(bytes)
            .map_err(|e| Error::io(&self.path, e))
    }

    fn note_last_line(&mut self, bytes: &[u8]) {
        if self.progress.is_none() {
            return;
        }
        let trimmed = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        let start = trimmed
            .iter()
            .rposition(|b| *b == b'\n')
            .map_or(0, |p| p + 1);
        let line = String::from_utf8_lossy(&trimmed[start..]);
        self.last_line = line.chars().filter(|c| !c.is_control()).take(200).collect();
        self.draw(false);
    }

    fn draw(&mut self, force: bool) {
        let Some(p) = self.progress.as_mut() else {
            return;
        };
        if !force && self.last_draw.is_some_and(|t| t.elapsed() < PROGRESS_EVERY) {
            return;
        }
        self.last_draw = Some(Instant::now());
        let s = self.start.elapsed().as_secs();
        let head = format!("[{:>2}:{:02}:{:02}] ", s / 3600, s / 60 % 60, s % 60);
        let width = terminal_width().saturating_sub(head.len() + 1);
        let line: String = self.last_line.chars().take(width).collect();
        let _ = write!(p, "\r\x1b[K{head}{line}");
        let _ = p.flush();
    }
}

fn terminal_width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|w| *w >= 20)
        .unwrap_or(80)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_of_two_streams_do_not_mix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a/b/job.log");
        let mut log = Log::open(&path, Instant::now(), None).unwrap();
        log.data(Stream::Stdout, b"out one\nout tw").unwrap();
        log.data(Stream::Stderr, b"err one\n").unwrap();
        log.data(Stream::Stdout, b"o\n").unwrap();
        log.data(Stream::Stderr, b"tail without newline").unwrap();
        log.note("killed").unwrap();
        log.finish().unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "out one\nerr one\nout two\ntail without newline\n[ka-run-remote] killed\n"
        );
        // append-only: a second run adds to it
        let mut log = Log::open(&path, Instant::now(), None).unwrap();
        log.data(Stream::Stdout, b"again\n").unwrap();
        log.finish().unwrap();
        assert!(
            std::fs::read_to_string(&path)
                .unwrap()
                .ends_with("killed\nagain\n")
        );
    }

    #[test]
    fn one_stream_is_byte_exact_even_without_newlines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("l");
        let mut log = Log::open(&path, Instant::now(), None).unwrap();
        let chunk = vec![b'x'; 50_000];
        for _ in 0..10 {
            log.data(Stream::Stdout, &chunk).unwrap();
        }
        log.data(Stream::Stdout, b"end").unwrap();
        log.finish().unwrap();
        let got = std::fs::read(&path).unwrap();
        assert_eq!(got.len(), 500_003);
        assert!(got.ends_with(b"xend"));
        assert!(!got.contains(&b'\n'));
    }

    #[test]
    fn progress_shows_elapsed_and_last_line() {
        let dir = tempfile::tempdir().unwrap();
        let mut term: Vec<u8> = Vec::new();
        {
            let mut log =
                Log::open(&dir.path().join("l"), Instant::now(), Some(&mut term)).unwrap();
            log.data(Stream::Stdout, b"first\nsecond line\n").unwrap();
            log.finish().unwrap();
        }
        let shown = String::from_utf8(term).unwrap();
        assert!(shown.contains("[ 0:00:00] second line"), "{shown:?}");
    }
}
