//! Test support: a fake Gitea on 127.0.0.1 that checks every request against
//! the subset of Gitea's own API description kept in
//! `tests/fixtures/gitea/gitea-issues-api.json` (swagger 2.0): path template,
//! method, path and query parameters (names, types, enums), and the JSON body
//! (required fields, field types, no unknown fields). A request that breaks
//! the description gets a 400 and is recorded as a violation; tests assert
//! there are none. Valid requests are answered as the description says
//! (status codes, response shapes — the fake checks its own answers too), with
//! issues, labels and comments kept in memory.
//!
//! Faults on demand: an answer with any status (401, 404, 422, 500, ...), a
//! stalled answer (the client's timeout fires), or a connection closed without
//! an answer. Owner actions in the web UI (closing an issue) are methods.
//!
//! Modules, from the wire inwards: `http` reads requests and writes answers,
//! `server` runs each connection (faults, the dump), `api` routes and checks
//! requests against the description, `repo` answers them per operation and
//! `render` shapes the JSON it answers with.

mod api;
mod http;
mod render;
mod repo;
mod server;

use serde_json::Value;
use server::{serve_connection, write_dump};
use std::collections::VecDeque;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

/// The API description, compiled in so the server needs no files.
pub const API_DESCRIPTION: &str =
    include_str!("../../../tests/fixtures/gitea/gitea-issues-api.json");

#[derive(Debug, Clone, PartialEq)]
pub enum FaultKind {
    /// Answer with this status and `{"message": ...}`.
    Status(u16, String),
    /// Read the request, never answer (until the client gives up).
    Stall,
    /// Close the connection without an answer.
    Close,
}

#[derive(Debug, Clone)]
struct Fault {
    kind: FaultKind,
    /// Only requests with this method (e.g. `POST`), any when None.
    method: Option<String>,
    /// Only requests whose path ends with this, any when None.
    path_suffix: Option<String>,
    remaining: usize,
}

#[derive(Debug, Clone)]
pub struct Issue {
    pub number: u64,
    pub title: String,
    pub body: String,
    pub state: String,
    pub labels: Vec<u64>,
    pub closed_at: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Label {
    pub id: u64,
    pub name: String,
    pub color: String,
    pub description: String,
}

#[derive(Debug, Clone)]
pub struct Comment {
    pub id: u64,
    pub issue: u64,
    pub body: String,
}

#[derive(Debug, Default)]
pub struct State {
    pub owner: String,
    pub repo: String,
    pub token: String,
    pub issues: Vec<Issue>,
    pub labels: Vec<Label>,
    pub comments: Vec<Comment>,
    /// Requests that broke the API description.
    pub violations: Vec<String>,
    /// Every request seen: `METHOD /path?query`.
    pub requests: Vec<String>,
    faults: VecDeque<Fault>,
    next_id: u64,
    /// Written after every answered request (for tests in other processes).
    dump: Option<std::path::PathBuf>,
}

pub struct FakeGitea {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// The one time the fake knows (created, updated, closed): answers are the
/// same on every run.
const NOW: &str = "2026-01-01T00:00:00Z";

impl FakeGitea {
    /// Serve `owner/repo` on a free loopback port; requests must carry `token`.
    pub fn start(owner: &str, repo: &str, token: &str) -> FakeGitea {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1");
        let addr = listener.local_addr().expect("local addr");
        let state = Arc::new(Mutex::new(State {
            owner: owner.into(),
            repo: repo.into(),
            token: token.into(),
            next_id: 1,
            ..State::default()
        }));
        let stop = Arc::new(AtomicBool::new(false));
        let api: Arc<Value> =
            Arc::new(serde_json::from_str(API_DESCRIPTION).expect("the API description parses"));
        let (st, sp) = (state.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for conn in listener.incoming() {
                if sp.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (st, sp, api) = (st.clone(), sp.clone(), api.clone());
                std::thread::spawn(move || serve_connection(conn, &st, &sp, &api));
            }
        });
        FakeGitea {
            addr,
            state,
            stop,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:<port>`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Inject a fault for the next `times` matching requests.
    pub fn fault(
        &self,
        kind: FaultKind,
        method: Option<&str>,
        path_suffix: Option<&str>,
        times: usize,
    ) {
        self.state().faults.push_back(Fault {
            kind,
            method: method.map(str::to_string),
            path_suffix: path_suffix.map(str::to_string),
            remaining: times,
        });
    }

    pub fn clear_faults(&self) {
        self.state().faults.clear();
    }

    pub fn issues(&self) -> Vec<Issue> {
        self.state().issues.clone()
    }

    pub fn comments_on(&self, number: u64) -> Vec<String> {
        self.state()
            .comments
            .iter()
            .filter(|c| c.issue == number)
            .map(|c| c.body.clone())
            .collect()
    }

    pub fn label_names(&self, issue: &Issue) -> Vec<String> {
        let s = self.state();
        issue
            .labels
            .iter()
            .filter_map(|id| {
                s.labels
                    .iter()
                    .find(|l| l.id == *id)
                    .map(|l| l.name.clone())
            })
            .collect()
    }

    /// The owner changes an issue's state in the web UI.
    pub fn set_state(&self, number: u64, state: &str) {
        let mut s = self.state();
        let i = s
            .issues
            .iter_mut()
            .find(|i| i.number == number)
            .expect("issue exists");
        i.state = state.into();
        i.closed_at = (state == "closed").then(|| NOW.to_string());
    }

    /// After every answered request, write the repository as JSON to `path`:
    /// `{"issues": [{number, title, state, labels: [names], comments: [bodies]}], "violations": [...]}`.
    pub fn dump_to(&self, path: &std::path::Path) {
        let mut s = self.state();
        s.dump = Some(path.to_path_buf());
        write_dump(&s);
    }

    pub fn violations(&self) -> Vec<String> {
        self.state().violations.clone()
    }

    pub fn requests(&self) -> Vec<String> {
        self.state().requests.clone()
    }
}

impl Drop for FakeGitea {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(self.addr); // wake the accept loop
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn raw(port: u16, text: &str) -> String {
        let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        c.write_all(text.as_bytes()).unwrap();
        c.shutdown(std::net::Shutdown::Write).unwrap();
        let mut out = String::new();
        let _ = c.read_to_string(&mut out);
        out
    }

    #[test]
    fn a_request_the_description_does_not_allow_is_a_400_and_a_violation() {
        let f = FakeGitea::start("o", "r", "t");
        let body = r#"{"title":"x","labels":["ka"]}"#;
        let out = raw(
            f.port(),
            &format!(
                "POST /api/v1/repos/o/r/issues HTTP/1.1\r\nAuthorization: token t\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ),
        );
        assert!(out.starts_with("HTTP/1.1 400"), "{out}");
        let v = f.violations();
        assert!(
            v[0].contains("body.labels[0]: expected an integer"),
            "{v:?}"
        );
    }

    #[test]
    fn unknown_paths_fields_and_query_parameters_are_violations() {
        let f = FakeGitea::start("o", "r", "t");
        for (req, want) in [
            (
                "GET /api/v1/repos/o/r/pulls HTTP/1.1\r\n\r\n",
                "no path of the API matches",
            ),
            (
                "DELETE /api/v1/repos/o/r/issues/1 HTTP/1.1\r\n\r\n",
                "DELETE is not a method",
            ),
            (
                "GET /api/v1/repos/o/r/issues?state=gone HTTP/1.1\r\n\r\n",
                "is not one of",
            ),
            (
                "GET /api/v1/repos/o/r/issues?colour=red HTTP/1.1\r\n\r\n",
                "\"colour\" is not described",
            ),
            (
                "GET /api/v1/repos/o/r/issues/one HTTP/1.1\r\n\r\n",
                "is not an integer",
            ),
            (
                "POST /api/v1/repos/o/r/labels HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 14\r\n\r\n{\"name\":\"ka\"}\n",
                "required field \"color\"",
            ),
        ] {
            let out = raw(f.port(), req);
            assert!(out.starts_with("HTTP/1.1 400"), "{req}: {out}");
            let v = f.violations();
            assert!(v.last().unwrap().contains(want), "{req}: {v:?}");
        }
    }

    #[test]
    fn a_valid_request_without_the_token_is_401() {
        let f = FakeGitea::start("o", "r", "t");
        let out = raw(
            f.port(),
            "GET /api/v1/repos/o/r/issues HTTP/1.1\r\nAuthorization: token nope\r\n\r\n",
        );
        assert!(out.starts_with("HTTP/1.1 401"), "{out}");
        assert!(f.violations().is_empty());
        let out = raw(
            f.port(),
            "GET /api/v1/repos/o/other/issues HTTP/1.1\r\nAuthorization: token t\r\n\r\n",
        );
        assert!(out.starts_with("HTTP/1.1 404"), "{out}");
    }
}
