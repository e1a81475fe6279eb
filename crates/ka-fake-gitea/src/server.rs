//! One connection at a time: read each request, record it, play an injected
//! fault if one matches, otherwise let the repository answer; and after every
//! answer write the repository dump for tests in other processes.

use crate::http::{Request, read_request, respond};
use crate::repo::handle;
use crate::{FaultKind, State};
use serde_json::{Value, json};
use std::io::BufReader;
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// How long a stalled answer holds the connection before giving up.
const STALL: Duration = Duration::from_secs(5);

pub(crate) fn serve_connection(
    conn: TcpStream,
    state: &Mutex<State>,
    stop: &AtomicBool,
    api: &Value,
) {
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

/// The state, also after a thread panicked holding it: a test should see the
/// fake's state rather than a poisoned lock.
pub(crate) fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|e| e.into_inner())
}

/// Write the dump that `FakeGitea::dump_to` asked for, if any; written to a
/// temporary file and renamed so a reader never sees half of it.
pub(crate) fn write_dump(s: &State) {
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

/// Record the request, and use up one time of the first fault it matches.
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
