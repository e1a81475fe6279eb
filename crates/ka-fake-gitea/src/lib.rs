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

use serde_json::{Value, json};
use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// The API description, compiled in so the server needs no files.
pub const API_DESCRIPTION: &str =
    include_str!("../../../tests/fixtures/gitea/gitea-issues-api.json");

/// How long a stalled answer holds the connection before giving up.
const STALL: Duration = Duration::from_secs(5);

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

// ---------------------------------------------------------------- HTTP/1.1

struct Request {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

fn serve_connection(conn: TcpStream, state: &Mutex<State>, stop: &AtomicBool, api: &Value) {
    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
    let mut reader = BufReader::new(match conn.try_clone() {
        Ok(c) => c,
        Err(_) => return,
    });
    let mut writer = conn;
    // Keep-alive: one request after another until the client closes.
    while !stop.load(Ordering::SeqCst) {
        let req = match read_request(&mut reader) {
            Ok(Some(r)) => r,
            Ok(None) => return,
            Err(msg) => {
                lock(state)
                    .violations
                    .push(format!("malformed HTTP: {msg}"));
                let _ = respond(&mut writer, 400, &json!({ "message": msg }));
                return;
            }
        };
        let fault = take_fault(state, &req);
        match fault {
            Some(FaultKind::Stall) => {
                let until = std::time::Instant::now() + STALL;
                while std::time::Instant::now() < until && !stop.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(20));
                }
                return;
            }
            Some(FaultKind::Close) => return,
            Some(FaultKind::Status(code, msg)) => {
                let _ = respond(&mut writer, code, &json!({ "message": msg, "url": "" }));
                continue;
            }
            None => {}
        }
        let (status, body) = handle(state, api, &req);
        write_dump(&lock(state));
        if respond(&mut writer, status, &body).is_err() {
            return;
        }
    }
}

fn lock(state: &Mutex<State>) -> std::sync::MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

fn write_dump(s: &State) {
    let Some(path) = &s.dump else { return };
    let issues: Vec<Value> = s
        .issues
        .iter()
        .map(|i| {
            json!({
                "number": i.number,
                "title": i.title,
                "state": i.state,
                "labels": i.labels.iter().filter_map(|id| s.labels.iter().find(|l| l.id == *id)).map(|l| l.name.clone()).collect::<Vec<_>>(),
                "comments": s.comments.iter().filter(|c| c.issue == i.number).map(|c| c.body.clone()).collect::<Vec<_>>(),
            })
        })
        .collect();
    let doc = json!({ "issues": issues, "violations": s.violations });
    let tmp = path.with_extension("tmp");
    if std::fs::write(&tmp, serde_json::to_vec_pretty(&doc).expect("json")).is_ok() {
        let _ = std::fs::rename(&tmp, path);
    }
}

fn take_fault(state: &Mutex<State>, req: &Request) -> Option<FaultKind> {
    let mut s = lock(state);
    let q = if req.query.is_empty() {
        String::new()
    } else {
        format!(
            "?{}",
            req.query
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&")
        )
    };
    s.requests.push(format!("{} {}{q}", req.method, req.path));
    let pos = s.faults.iter().position(|f| {
        f.method.as_deref().is_none_or(|m| m == req.method)
            && f.path_suffix
                .as_deref()
                .is_none_or(|p| req.path.ends_with(p))
    })?;
    let f = &mut s.faults[pos];
    let kind = f.kind.clone();
    f.remaining -= 1;
    if f.remaining == 0 {
        s.faults.remove(pos);
    }
    Some(kind)
}

fn read_request(r: &mut impl BufRead) -> Result<Option<Request>, String> {
    let mut line = String::new();
    match r.read_line(&mut line) {
        Ok(0) => return Ok(None),
        Ok(_) => {}
        Err(_) => return Ok(None),
    }
    let line = line.trim_end();
    let mut parts = line.split(' ');
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err(format!("bad request line {line:?}"));
    };
    if version != "HTTP/1.1" && version != "HTTP/1.0" {
        return Err(format!("bad HTTP version {version:?}"));
    }
    let mut headers = Vec::new();
    loop {
        let mut h = String::new();
        r.read_line(&mut h).map_err(|e| e.to_string())?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').ok_or(format!("bad header {h:?}"))?;
        headers.push((k.trim().to_string(), v.trim().to_string()));
    }
    let get = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.clone())
    };
    if get("transfer-encoding").is_some() {
        return Err("chunked request bodies are not expected; send Content-Length".into());
    }
    let len: usize = match get("content-length") {
        Some(v) => v.parse().map_err(|_| format!("bad Content-Length {v:?}"))?,
        None => 0,
    };
    let mut body = vec![0; len];
    r.read_exact(&mut body)
        .map_err(|e| format!("short body: {e}"))?;
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, q),
        None => (target, ""),
    };
    let mut qs = Vec::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        qs.push((percent_decode(k)?, percent_decode(v)?));
    }
    Ok(Some(Request {
        method: method.to_string(),
        path: percent_decode(path)?,
        query: qs,
        headers,
        body,
    }))
}

fn percent_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                let hex = std::str::from_utf8(&b[i + 1..i + 3]).map_err(|e| e.to_string())?;
                out.push(u8::from_str_radix(hex, 16).map_err(|_| format!("bad escape in {s:?}"))?);
                i += 3;
            }
            b'%' => return Err(format!("bad escape in {s:?}")),
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_err(|e| e.to_string())
}

fn respond(w: &mut impl Write, status: u16, body: &Value) -> std::io::Result<()> {
    let bytes = if body.is_null() {
        Vec::new()
    } else {
        serde_json::to_vec(body).expect("json")
    };
    let head = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json;charset=utf-8\r\nContent-Length: {}\r\n\r\n",
        reason(status),
        bytes.len()
    );
    w.write_all(head.as_bytes())?;
    w.write_all(&bytes)?;
    w.flush()
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        422 => "Unprocessable Entity",
        500 => "Internal Server Error",
        _ => "Status",
    }
}

// ---------------------------------------------------------------- the API description

/// The operation a request addresses, with its path parameters; or why none.
/// Path parameters by name, e.g. `("index", "3")`.
type PathParams = Vec<(String, String)>;

fn route<'a>(api: &'a Value, req: &Request) -> Result<(&'a Value, PathParams), String> {
    let base = api["basePath"].as_str().unwrap_or("");
    let Some(rest) = req.path.strip_prefix(base) else {
        return Err(format!("{} is outside the API's basePath {base}", req.path));
    };
    let segs: Vec<&str> = rest.split('/').collect();
    for (template, item) in api["paths"].as_object().expect("paths") {
        let tsegs: Vec<&str> = template.split('/').collect();
        if tsegs.len() != segs.len() {
            continue;
        }
        let mut params = Vec::new();
        let matched = tsegs.iter().zip(&segs).all(|(t, s)| {
            if t.starts_with('{') && t.ends_with('}') {
                params.push((t[1..t.len() - 1].to_string(), s.to_string()));
                !s.is_empty()
            } else {
                t == s
            }
        });
        if !matched {
            continue;
        }
        return match item.get(req.method.to_ascii_lowercase()) {
            Some(op) => Ok((op, params)),
            None => Err(format!("{} is not a method of {template}", req.method)),
        };
    }
    Err(format!("no path of the API matches {}", req.path))
}

fn resolve<'a>(api: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let mut cur = api;
            for part in r.trim_start_matches("#/").split('/') {
                cur = &cur[part];
            }
            resolve(api, cur)
        }
        None => v,
    }
}

/// Check a parameter value given as text (path or query).
fn check_text_param(p: &Value, value: &str) -> Result<(), String> {
    let name = p["name"].as_str().unwrap_or("?");
    match p["type"].as_str() {
        Some("integer") => {
            value
                .parse::<i64>()
                .map_err(|_| format!("parameter {name}={value:?} is not an integer"))?;
        }
        Some("boolean") if value != "true" && value != "false" => {
            return Err(format!("parameter {name}={value:?} is not a boolean"));
        }
        _ => {}
    }
    if let Some(e) = p["enum"].as_array()
        && !e.iter().any(|x| x.as_str() == Some(value))
    {
        return Err(format!("parameter {name}={value:?} is not one of {e:?}"));
    }
    if p["format"].as_str() == Some("date-time") && !looks_like_date_time(value) {
        return Err(format!(
            "parameter {name}={value:?} is not an RFC 3339 date-time"
        ));
    }
    Ok(())
}

fn looks_like_date_time(v: &str) -> bool {
    v.len() >= 20 && v.as_bytes()[4] == b'-' && v.as_bytes()[10] == b'T'
}

/// Check a JSON value against a schema: types, required fields, and no
/// fields the schema does not name.
fn check_schema(api: &Value, schema: &Value, v: &Value, at: &str, out: &mut Vec<String>) {
    let schema = resolve(api, schema);
    match schema["type"].as_str() {
        Some("object") | None if schema.get("properties").is_some() => {
            let Some(obj) = v.as_object() else {
                out.push(format!("{at}: expected an object, got {v}"));
                return;
            };
            let props = schema["properties"].as_object().expect("properties");
            for r in schema["required"].as_array().into_iter().flatten() {
                let r = r.as_str().unwrap_or("");
                if !obj.contains_key(r) {
                    out.push(format!("{at}: required field {r:?} is missing"));
                }
            }
            for (k, fv) in obj {
                match props.get(k) {
                    Some(ps) => check_schema(api, ps, fv, &format!("{at}.{k}"), out),
                    None => out.push(format!("{at}: field {k:?} is not in the API description")),
                }
            }
        }
        Some("object") if !v.is_object() => {
            out.push(format!("{at}: expected an object, got {v}"));
        }
        Some("array") => match v.as_array() {
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    check_schema(api, &schema["items"], item, &format!("{at}[{i}]"), out);
                }
            }
            None => out.push(format!("{at}: expected an array, got {v}")),
        },
        Some("string") => match v.as_str() {
            Some(s)
                if schema["format"].as_str() == Some("date-time") && !looks_like_date_time(s) =>
            {
                out.push(format!("{at}: {s:?} is not an RFC 3339 date-time"))
            }
            Some(_) => {}
            None => out.push(format!("{at}: expected a string, got {v}")),
        },
        Some("integer") if !(v.is_i64() || v.is_u64()) => {
            out.push(format!("{at}: expected an integer, got {v}"));
        }
        Some("boolean") if !v.is_boolean() => {
            out.push(format!("{at}: expected a boolean, got {v}"));
        }
        Some("object" | "integer" | "boolean") => {}
        Some(other) => out.push(format!(
            "{at}: schema type {other} is not handled by the fake"
        )),
        None => {}
    }
}

/// Every way the request breaks the description.
fn check_request(
    api: &Value,
    op: &Value,
    path_params: &[(String, String)],
    req: &Request,
) -> Vec<String> {
    let mut out = Vec::new();
    let params = op["parameters"].as_array().cloned().unwrap_or_default();
    let security_query: Vec<&str> = api["securityDefinitions"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, d)| d["in"] == "query")
        .filter_map(|(_, d)| d["name"].as_str())
        .collect();
    for (name, value) in path_params {
        match params
            .iter()
            .find(|p| p["in"] == "path" && p["name"] == name.as_str())
        {
            Some(p) => {
                if let Err(e) = check_text_param(p, value) {
                    out.push(e);
                }
            }
            None => out.push(format!("path parameter {name} is not described")),
        }
    }
    for (name, value) in &req.query {
        if security_query.contains(&name.as_str()) {
            continue;
        }
        match params
            .iter()
            .find(|p| p["in"] == "query" && p["name"] == name.as_str())
        {
            Some(p) => {
                if let Err(e) = check_text_param(p, value) {
                    out.push(e);
                }
            }
            None => out.push(format!(
                "query parameter {name:?} is not described for this operation"
            )),
        }
    }
    for p in params
        .iter()
        .filter(|p| p["in"] == "query" && p["required"] == true)
    {
        let n = p["name"].as_str().unwrap_or("");
        if !req.query.iter().any(|(k, _)| k == n) {
            out.push(format!("required query parameter {n} is missing"));
        }
    }
    let body_param = params.iter().find(|p| p["in"] == "body");
    match (body_param, req.body.is_empty()) {
        (None, false) => out.push("this operation takes no body".into()),
        (Some(p), true) => {
            let schema = resolve(api, &p["schema"]);
            if p["required"] == true || schema["required"].as_array().is_some_and(|r| !r.is_empty())
            {
                out.push("the body is missing".into());
            }
        }
        (Some(p), false) => {
            let ct = req.header("content-type").unwrap_or("");
            let consumes: Vec<&str> = api["consumes"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if !consumes.iter().any(|c| ct.starts_with(c)) {
                out.push(format!("Content-Type {ct:?} is not one of {consumes:?}"));
            }
            match serde_json::from_slice::<Value>(&req.body) {
                Ok(v) => check_schema(api, &p["schema"], &v, "body", &mut out),
                Err(e) => out.push(format!("the body is not JSON: {e}")),
            }
        }
        (None, true) => {}
    }
    out
}

// ---------------------------------------------------------------- the repository

fn handle(state: &Mutex<State>, api: &Value, req: &Request) -> (u16, Value) {
    let (op, path_params) = match route(api, req) {
        Ok(r) => r,
        Err(e) => {
            lock(state)
                .violations
                .push(format!("{} {}: {e}", req.method, req.path));
            return (400, json!({ "message": e }));
        }
    };
    let problems = check_request(api, op, &path_params, req);
    if !problems.is_empty() {
        let msg = problems.join("; ");
        lock(state)
            .violations
            .push(format!("{} {}: {msg}", req.method, req.path));
        return (400, json!({ "message": msg }));
    }
    let mut s = lock(state);
    // Authentication: `Authorization: token <t>` (or the token query parameters).
    let given = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("token "))
        .map(str::to_string)
        .or_else(|| {
            req.query
                .iter()
                .find(|(k, _)| k == "token" || k == "access_token")
                .map(|(_, v)| v.clone())
        });
    if given.as_deref() != Some(s.token.as_str()) {
        return (401, json!({ "message": "token is required", "url": "" }));
    }
    let param = |n: &str| {
        path_params
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.clone())
    };
    if param("owner").as_deref() != Some(s.owner.as_str())
        || param("repo").as_deref() != Some(s.repo.as_str())
    {
        return (404, Value::Null);
    }
    let index: Option<u64> = param("index").and_then(|v| v.parse().ok());
    let body: Value = serde_json::from_slice(&req.body).unwrap_or(Value::Null);
    let query = |n: &str| {
        req.query
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| v.as_str())
    };
    let op_id = op["operationId"].as_str().unwrap_or("");
    let (status, answer) = match op_id {
        "issueListIssues" => {
            let state_filter = query("state").unwrap_or("open");
            let wanted: Vec<u64> = query("labels")
                .map(|l| {
                    l.split(',')
                        .filter_map(|n| s.labels.iter().find(|x| x.name == n).map(|x| x.id))
                        .collect()
                })
                .unwrap_or_default();
            let q = query("q").unwrap_or("");
            let mut list: Vec<&Issue> = s
                .issues
                .iter()
                .filter(|i| state_filter == "all" || i.state == state_filter)
                .filter(|i| wanted.is_empty() || i.labels.iter().any(|l| wanted.contains(l)))
                .filter(|i| q.is_empty() || i.title.contains(q) || i.body.contains(q))
                .collect();
            list.sort_by_key(|i| std::cmp::Reverse(i.number));
            let page = page_of(&list, query("page"), query("limit"));
            (
                200,
                Value::Array(page.into_iter().map(|i| issue_json(&s, i)).collect()),
            )
        }
        "issueCreateIssue" => {
            let labels: Vec<u64> = body["labels"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_u64)
                .collect();
            if let Some(bad) = labels
                .iter()
                .find(|l| !s.labels.iter().any(|x| x.id == **l))
            {
                (
                    422,
                    json!({ "message": format!("label {bad} does not exist"), "url": "" }),
                )
            } else if body["title"].as_str().unwrap_or("").is_empty() {
                (422, json!({ "message": "[Title]: Required", "url": "" }))
            } else {
                let number = s.issues.iter().map(|i| i.number).max().unwrap_or(0) + 1;
                let closed = body["closed"].as_bool().unwrap_or(false);
                let issue = Issue {
                    number,
                    title: body["title"].as_str().unwrap_or("").to_string(),
                    body: body["body"].as_str().unwrap_or("").to_string(),
                    state: if closed { "closed" } else { "open" }.into(),
                    labels,
                    closed_at: closed.then(|| NOW.to_string()),
                };
                s.issues.push(issue.clone());
                (201, issue_json(&s, &issue))
            }
        }
        "issueGetIssue" | "issueEditIssue" => {
            let Some(pos) = s.issues.iter().position(|i| Some(i.number) == index) else {
                return (404, Value::Null);
            };
            if op_id == "issueEditIssue" {
                if let Some(st) = body["state"].as_str() {
                    if st != "open" && st != "closed" {
                        return (
                            422,
                            json!({ "message": format!("invalid state {st:?}"), "url": "" }),
                        );
                    }
                    s.issues[pos].state = st.into();
                    s.issues[pos].closed_at = (st == "closed").then(|| NOW.to_string());
                }
                if let Some(t) = body["title"].as_str() {
                    s.issues[pos].title = t.into();
                }
                if let Some(b) = body["body"].as_str() {
                    s.issues[pos].body = b.into();
                }
                (201, issue_json(&s, &s.issues[pos]))
            } else {
                (200, issue_json(&s, &s.issues[pos]))
            }
        }
        "issueGetComments" | "issueCreateComment" => {
            if !s.issues.iter().any(|i| Some(i.number) == index) {
                return (404, Value::Null);
            }
            let n = index.expect("index");
            if op_id == "issueCreateComment" {
                let id = s.next_id;
                s.next_id += 1;
                let c = Comment {
                    id,
                    issue: n,
                    body: body["body"].as_str().unwrap_or("").to_string(),
                };
                s.comments.push(c.clone());
                (201, comment_json(&s, &c))
            } else {
                let list: Vec<Value> = s
                    .comments
                    .iter()
                    .filter(|c| c.issue == n)
                    .map(|c| comment_json(&s, c))
                    .collect();
                (200, Value::Array(list))
            }
        }
        "issueListLabels" => {
            let all: Vec<&Label> = s.labels.iter().collect();
            let page = page_of(&all, query("page"), query("limit"));
            (
                200,
                Value::Array(page.into_iter().map(|l| label_json(&s, l)).collect()),
            )
        }
        "issueCreateLabel" => {
            let name = body["name"].as_str().unwrap_or("").to_string();
            let color = body["color"]
                .as_str()
                .unwrap_or("")
                .trim_start_matches('#')
                .to_string();
            if name.is_empty() || color.len() != 6 || !color.bytes().all(|b| b.is_ascii_hexdigit())
            {
                (
                    422,
                    json!({ "message": "[Name]: Required or [Color]: invalid color", "url": "" }),
                )
            } else if s.labels.iter().any(|l| l.name == name) {
                (
                    422,
                    json!({ "message": format!("label {name:?} already exists"), "url": "" }),
                )
            } else {
                let id = s.next_id;
                s.next_id += 1;
                let l = Label {
                    id,
                    name,
                    color,
                    description: body["description"].as_str().unwrap_or("").to_string(),
                };
                s.labels.push(l.clone());
                (201, label_json(&s, &l))
            }
        }
        "issueGetLabels" | "issueReplaceLabels" | "issueAddLabel" => {
            let Some(pos) = s.issues.iter().position(|i| Some(i.number) == index) else {
                return (404, Value::Null);
            };
            let ids: Vec<u64> = body["labels"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_u64)
                .collect();
            match op_id {
                "issueReplaceLabels" => s.issues[pos].labels = ids,
                "issueAddLabel" => {
                    for id in ids {
                        if !s.issues[pos].labels.contains(&id) {
                            s.issues[pos].labels.push(id);
                        }
                    }
                }
                _ => {}
            }
            let labels: Vec<Value> = s.issues[pos]
                .labels
                .iter()
                .filter_map(|id| s.labels.iter().find(|l| l.id == *id))
                .map(|l| label_json(&s, l))
                .collect();
            (200, Value::Array(labels))
        }
        other => (
            500,
            json!({ "message": format!("the fake does not implement {other}") }),
        ),
    };
    // The fake's own answers must match the description too.
    if let Some(resp) = op["responses"].get(status.to_string()) {
        let resp = resolve(api, resp);
        if let Some(schema) = resp.get("schema") {
            let mut problems = Vec::new();
            check_schema(api, schema, &answer, "response", &mut problems);
            if !problems.is_empty() {
                s.violations.push(format!(
                    "the fake's answer to {op_id} breaks the description: {}",
                    problems.join("; ")
                ));
            }
        }
    }
    (status, answer)
}

fn page_of<'a, T>(list: &[&'a T], page: Option<&str>, limit: Option<&str>) -> Vec<&'a T> {
    let page: usize = page.and_then(|p| p.parse().ok()).unwrap_or(1).max(1);
    let limit: usize = limit
        .and_then(|p| p.parse().ok())
        .unwrap_or(30)
        .clamp(1, 50);
    list.iter()
        .skip((page - 1) * limit)
        .take(limit)
        .copied()
        .collect()
}

fn repo_url(s: &State) -> String {
    format!("http://fake/api/v1/repos/{}/{}", s.owner, s.repo)
}

fn user_json() -> Value {
    json!({ "id": 1, "login": "owner", "full_name": "", "email": "owner@example.org", "avatar_url": "", "created": NOW })
}

fn label_json(s: &State, l: &Label) -> Value {
    json!({
        "id": l.id,
        "name": l.name,
        "color": l.color,
        "description": l.description,
        "url": format!("{}/labels/{}", repo_url(s), l.id),
    })
}

fn issue_json(s: &State, i: &Issue) -> Value {
    let mut v = json!({
        "id": i.number + 1000,
        "number": i.number,
        "title": i.title,
        "body": i.body,
        "state": i.state,
        "labels": i.labels.iter().filter_map(|id| s.labels.iter().find(|l| l.id == *id)).map(|l| label_json(s, l)).collect::<Vec<_>>(),
        "user": user_json(),
        "assignees": [],
        "comments": s.comments.iter().filter(|c| c.issue == i.number).count(),
        "created_at": NOW,
        "updated_at": NOW,
        "html_url": format!("http://fake/{}/{}/issues/{}", s.owner, s.repo, i.number),
        "url": format!("{}/issues/{}", repo_url(s), i.number),
        "is_locked": false,
        "repository": { "id": 1, "name": s.repo, "owner": s.owner, "full_name": format!("{}/{}", s.owner, s.repo) },
    });
    if let Some(c) = &i.closed_at {
        v["closed_at"] = json!(c);
    }
    v
}

fn comment_json(s: &State, c: &Comment) -> Value {
    json!({
        "id": c.id,
        "body": c.body,
        "user": user_json(),
        "created_at": NOW,
        "updated_at": NOW,
        "html_url": format!("http://fake/{}/{}/issues/{}#issuecomment-{}", s.owner, s.repo, c.issue, c.id),
        "issue_url": format!("{}/issues/{}", repo_url(s), c.issue),
        "pull_request_url": "",
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

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
