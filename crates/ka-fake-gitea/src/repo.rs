//! The repository: answering a request that got past the transport — refuse
//! what breaks the API description, authenticate, then one handler per
//! operation of the description (by `operationId`) reads or changes the
//! issues, labels and comments in [`State`].

use crate::api::{check_request, check_schema, resolve, route};
use crate::http::Request;
use crate::render::{comment_json, issue_json, label_json};
use crate::server::lock;
use crate::{Comment, Issue, Label, NOW, State};
use serde_json::{Value, json};
use std::sync::Mutex;

/// Status and JSON body of an answer (`null`: no body).
type Answer = (u16, Value);

/// What the handlers need of a request that passed the checks.
struct Call<'r> {
    /// The issue number of `/issues/{index}...` paths.
    index: Option<u64>,
    /// The JSON body; `null` when there is none.
    body: Value,
    query: &'r [(String, String)],
}

impl Call<'_> {
    fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Answer one request, as Gitea would.
pub(crate) fn handle(state: &Mutex<State>, api: &Value, req: &Request) -> Answer {
    let (op, path_params) = match route(api, req) {
        Ok(r) => r,
        Err(e) => return refuse(state, req, e),
    };
    let problems = check_request(api, op, &path_params, req);
    if !problems.is_empty() {
        return refuse(state, req, problems.join("; "));
    }
    let mut s = lock(state);
    if let Some(answer) = authorize(&s, req, &path_params) {
        return answer;
    }
    let call = Call {
        index: param(&path_params, "index").and_then(|v| v.parse().ok()),
        body: serde_json::from_slice(&req.body).unwrap_or(Value::Null),
        query: &req.query,
    };
    let op_id = op["operationId"].as_str().unwrap_or("");
    let (status, answer) = dispatch(&mut s, op_id, &call);
    check_answer(&mut s, api, op, op_id, status, &answer);
    (status, answer)
}

/// A request that breaks the description: a 400, and a violation the test
/// will see.
fn refuse(state: &Mutex<State>, req: &Request, why: String) -> Answer {
    lock(state)
        .violations
        .push(format!("{} {}: {why}", req.method, req.path));
    (400, json!({ "message": why }))
}

fn param<'p>(path_params: &'p [(String, String)], name: &str) -> Option<&'p str> {
    path_params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// None when the request carries the token and addresses the served
/// repository; otherwise the answer: 401 without the token (checked first),
/// 404 for another repository.
fn authorize(s: &State, req: &Request, path_params: &[(String, String)]) -> Option<Answer> {
    // `Authorization: token <t>`, or the token query parameters.
    let given = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("token "))
        .or_else(|| {
            req.query
                .iter()
                .find(|(k, _)| k == "token" || k == "access_token")
                .map(|(_, v)| v.as_str())
        });
    if given != Some(s.token.as_str()) {
        return Some((401, json!({ "message": "token is required", "url": "" })));
    }
    if param(path_params, "owner") != Some(s.owner.as_str())
        || param(path_params, "repo") != Some(s.repo.as_str())
    {
        return Some((404, Value::Null));
    }
    None
}

fn dispatch(s: &mut State, op_id: &str, call: &Call) -> Answer {
    match op_id {
        "issueListIssues" => list_issues(s, call),
        "issueCreateIssue" => create_issue(s, call),
        "issueGetIssue" => get_issue(s, call),
        "issueEditIssue" => edit_issue(s, call),
        "issueGetComments" => list_comments(s, call),
        "issueCreateComment" => create_comment(s, call),
        "issueListLabels" => list_labels(s, call),
        "issueCreateLabel" => create_label(s, call),
        "issueGetLabels" | "issueReplaceLabels" | "issueAddLabel" => issue_labels(s, op_id, call),
        other => (
            500,
            json!({ "message": format!("the fake does not implement {other}") }),
        ),
    }
}

/// The fake's own answers must match the description too: a mismatch is a
/// violation like a bad request.
fn check_answer(s: &mut State, api: &Value, op: &Value, op_id: &str, status: u16, answer: &Value) {
    let Some(resp) = op["responses"].get(status.to_string()) else {
        return;
    };
    let Some(schema) = resolve(api, resp).get("schema") else {
        return;
    };
    let mut problems = Vec::new();
    check_schema(api, schema, answer, "response", &mut problems);
    if !problems.is_empty() {
        s.violations.push(format!(
            "the fake's answer to {op_id} breaks the description: {}",
            problems.join("; ")
        ));
    }
}

// ---------------------------------------------------------------- issues

/// `GET .../issues`: filtered by state, labels (names) and `q`, newest first.
fn list_issues(s: &State, call: &Call) -> Answer {
    let state_filter = call.query("state").unwrap_or("open");
    let wanted: Vec<u64> = call
        .query("labels")
        .map(|l| {
            l.split(',')
                .filter_map(|n| s.labels.iter().find(|x| x.name == n).map(|x| x.id))
                .collect()
        })
        .unwrap_or_default();
    let q = call.query("q").unwrap_or("");
    let mut list: Vec<&Issue> = s
        .issues
        .iter()
        .filter(|i| state_filter == "all" || i.state == state_filter)
        .filter(|i| wanted.is_empty() || i.labels.iter().any(|l| wanted.contains(l)))
        .filter(|i| q.is_empty() || i.title.contains(q) || i.body.contains(q))
        .collect();
    list.sort_by_key(|i| std::cmp::Reverse(i.number));
    let page = page_of(&list, call.query("page"), call.query("limit"));
    (
        200,
        Value::Array(page.into_iter().map(|i| issue_json(s, i)).collect()),
    )
}

fn create_issue(s: &mut State, call: &Call) -> Answer {
    let body = &call.body;
    let labels = label_ids(body);
    if let Some(bad) = labels
        .iter()
        .find(|l| !s.labels.iter().any(|x| x.id == **l))
    {
        return (
            422,
            json!({ "message": format!("label {bad} does not exist"), "url": "" }),
        );
    }
    if body["title"].as_str().unwrap_or("").is_empty() {
        return (422, json!({ "message": "[Title]: Required", "url": "" }));
    }
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
    (201, issue_json(s, &issue))
}

fn get_issue(s: &State, call: &Call) -> Answer {
    match issue_pos(s, call) {
        Some(pos) => (200, issue_json(s, &s.issues[pos])),
        None => (404, Value::Null),
    }
}

/// `PATCH .../issues/{index}`: state, title and body; an unknown state is a
/// 422 that changes nothing.
fn edit_issue(s: &mut State, call: &Call) -> Answer {
    let Some(pos) = issue_pos(s, call) else {
        return (404, Value::Null);
    };
    let body = &call.body;
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
    (201, issue_json(s, &s.issues[pos]))
}

/// Where the issue of an `/issues/{index}` path is in `s.issues`.
fn issue_pos(s: &State, call: &Call) -> Option<usize> {
    s.issues.iter().position(|i| Some(i.number) == call.index)
}

// ---------------------------------------------------------------- comments

fn list_comments(s: &State, call: &Call) -> Answer {
    let Some(n) = issue_pos(s, call).map(|pos| s.issues[pos].number) else {
        return (404, Value::Null);
    };
    let list: Vec<Value> = s
        .comments
        .iter()
        .filter(|c| c.issue == n)
        .map(|c| comment_json(s, c))
        .collect();
    (200, Value::Array(list))
}

fn create_comment(s: &mut State, call: &Call) -> Answer {
    let Some(n) = issue_pos(s, call).map(|pos| s.issues[pos].number) else {
        return (404, Value::Null);
    };
    let id = s.next_id;
    s.next_id += 1;
    let c = Comment {
        id,
        issue: n,
        body: call.body["body"].as_str().unwrap_or("").to_string(),
    };
    s.comments.push(c.clone());
    (201, comment_json(s, &c))
}

// ---------------------------------------------------------------- labels

fn list_labels(s: &State, call: &Call) -> Answer {
    let all: Vec<&Label> = s.labels.iter().collect();
    let page = page_of(&all, call.query("page"), call.query("limit"));
    (
        200,
        Value::Array(page.into_iter().map(|l| label_json(s, l)).collect()),
    )
}

/// `POST .../labels`: a name not yet taken and a six-digit hex colour
/// (`#` optional, stored without it).
fn create_label(s: &mut State, call: &Call) -> Answer {
    let body = &call.body;
    let name = body["name"].as_str().unwrap_or("").to_string();
    let color = body["color"]
        .as_str()
        .unwrap_or("")
        .trim_start_matches('#')
        .to_string();
    if name.is_empty() || color.len() != 6 || !color.bytes().all(|b| b.is_ascii_hexdigit()) {
        return (
            422,
            json!({ "message": "[Name]: Required or [Color]: invalid color", "url": "" }),
        );
    }
    if s.labels.iter().any(|l| l.name == name) {
        return (
            422,
            json!({ "message": format!("label {name:?} already exists"), "url": "" }),
        );
    }
    let id = s.next_id;
    s.next_id += 1;
    let l = Label {
        id,
        name,
        color,
        description: body["description"].as_str().unwrap_or("").to_string(),
    };
    s.labels.push(l.clone());
    (201, label_json(s, &l))
}

/// An issue's labels: read (`issueGetLabels`), replaced
/// (`issueReplaceLabels`) or added to (`issueAddLabel`); each answers with
/// the labels the issue then has.
fn issue_labels(s: &mut State, op_id: &str, call: &Call) -> Answer {
    let Some(pos) = issue_pos(s, call) else {
        return (404, Value::Null);
    };
    let ids = label_ids(&call.body);
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
        .map(|l| label_json(s, l))
        .collect();
    (200, Value::Array(labels))
}

/// The label ids of a body's `labels` (Gitea takes ids, not names).
fn label_ids(body: &Value) -> Vec<u64> {
    body["labels"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_u64)
        .collect()
}

/// One page of a list, as Gitea pages: `page` from 1, `limit` 30 by default
/// and at most 50.
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
