//! The JSON the fake answers with: issues, labels and comments as Gitea
//! renders them (the fields the API description requires, with fixed
//! timestamps and a fixed owner so answers are the same on every run).

use crate::{Comment, Issue, Label, NOW, State};
use serde_json::{Value, json};

fn repo_url(s: &State) -> String {
    format!("http://fake/api/v1/repos/{}/{}", s.owner, s.repo)
}

fn user_json() -> Value {
    json!({ "id": 1, "login": "owner", "full_name": "", "email": "owner@example.org", "avatar_url": "", "created": NOW })
}

pub(crate) fn label_json(s: &State, l: &Label) -> Value {
    json!({
        "id": l.id,
        "name": l.name,
        "color": l.color,
        "description": l.description,
        "url": format!("{}/labels/{}", repo_url(s), l.id),
    })
}

pub(crate) fn issue_json(s: &State, i: &Issue) -> Value {
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

pub(crate) fn comment_json(s: &State, c: &Comment) -> Value {
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
