//! The few Gitea API calls the mirror makes (`gitea-issues-api.json`), with
//! retries: network errors, timeouts and 5xx are tried again after a doubling
//! wait, up to the configured attempts; 4xx answers are final and explained.

use ka_core::error::{Error, Result, usage};
use ka_schema::{GiteaConfig, TokenSource};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// An issue as Gitea returns it (only the fields the mirror reads).
#[derive(Debug, Clone, Deserialize)]
pub struct Issue {
    pub number: u64,
    #[serde(default)]
    pub title: String,
    #[serde(default)]
    pub body: Option<String>,
    /// `open` or `closed`.
    #[serde(default)]
    pub state: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Label {
    pub id: u64,
    pub name: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Comment {
    #[serde(default)]
    pub body: String,
}

#[derive(Serialize)]
pub struct CreateIssue<'a> {
    pub title: &'a str,
    pub body: &'a str,
    pub labels: &'a [u64],
}

#[derive(Serialize, Default)]
pub struct EditIssue<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<&'a str>,
}

#[derive(Serialize)]
struct CreateComment<'a> {
    body: &'a str,
}

#[derive(Serialize)]
struct CreateLabel<'a> {
    name: &'a str,
    color: &'a str,
    description: &'a str,
}

#[derive(Deserialize)]
struct ApiError {
    #[serde(default)]
    message: Option<String>,
}

/// Page size for list calls.
const PAGE: usize = 50;

pub struct Gitea {
    agent: ureq::Agent,
    /// `<url>/api/v1/repos/<owner>/<repo>`
    api: String,
    /// `<url>/<owner>/<repo>`, for messages.
    pub shown: String,
    /// Where the token came from, for messages (never the token itself).
    token_from: String,
    auth: String,
    attempts: u32,
    backoff: Duration,
    /// How to wait between attempts (tests keep it short through `backoff`).
    sleep: fn(Duration),
}

impl Gitea {
    pub fn new(cfg: &GiteaConfig, config_path: &str) -> Result<Gitea> {
        let (token, token_from) = match cfg.token_source()? {
            TokenSource::File(p) => {
                let text = std::fs::read_to_string(&p).map_err(|e| Error::io(&p, e))?;
                (
                    text.trim().to_string(),
                    format!("the token file {}", p.display()),
                )
            }
            TokenSource::Env(var) => (
                std::env::var(&var).unwrap_or_default().trim().to_string(),
                format!("the variable ${var}"),
            ),
        };
        if token.is_empty() || token.contains(char::is_whitespace) {
            return Err(usage(format!(
                "{token_from} holds no token (or more than one word); put a Gitea access token with issue write access there ({config_path})"
            )));
        }
        let tls = ureq::tls::TlsConfig::builder()
            .provider(ureq::tls::TlsProvider::NativeTls)
            .root_certs(ureq::tls::RootCerts::PlatformVerifier)
            .build();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .tls_config(tls)
            .timeout_global(Some(cfg.timeout.get()))
            .http_status_as_error(false)
            .user_agent(format!("kernel-agent/{}", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        let base = cfg.url.trim_end_matches('/');
        Ok(Gitea {
            agent,
            api: format!("{base}/api/v1/repos/{}/{}", cfg.owner, cfg.repo),
            shown: format!("{base}/{}/{}", cfg.owner, cfg.repo),
            token_from,
            auth: format!("token {token}"),
            attempts: cfg.attempts,
            backoff: cfg.backoff.get(),
            sleep: std::thread::sleep,
        })
    }

    // ------------------------------------------------------------ calls

    pub fn labels(&self) -> Result<Vec<Label>> {
        self.list("/labels", &[])
    }

    pub fn create_label(&self, name: &str, color: &str) -> Result<Label> {
        let body = CreateLabel {
            name,
            color,
            description: "kernel-agent issue records",
        };
        self.json("POST", "/labels", &[], Some(&body))
    }

    /// Every issue (not pull request) carrying `label`, open and closed.
    pub fn issues_labelled(&self, label: &str) -> Result<Vec<Issue>> {
        self.list(
            "/issues",
            &[("state", "all"), ("type", "issues"), ("labels", label)],
        )
    }

    pub fn create_issue(&self, req: &CreateIssue) -> Result<Issue> {
        self.json("POST", "/issues", &[], Some(req))
    }

    pub fn edit_issue(&self, number: u64, req: &EditIssue) -> Result<Issue> {
        self.json("PATCH", &format!("/issues/{number}"), &[], Some(req))
    }

    pub fn comment(&self, number: u64, body: &str) -> Result<()> {
        let _: Comment = self.json(
            "POST",
            &format!("/issues/{number}/comments"),
            &[],
            Some(&CreateComment { body }),
        )?;
        Ok(())
    }

    pub fn comments(&self, number: u64) -> Result<Vec<Comment>> {
        self.json::<(), _>("GET", &format!("/issues/{number}/comments"), &[], None)
    }

    // ------------------------------------------------------------ plumbing

    fn list<T: serde::de::DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, &str)],
    ) -> Result<Vec<T>> {
        let mut all = Vec::new();
        for page in 1.. {
            let (p, l) = (page.to_string(), PAGE.to_string());
            let mut q = query.to_vec();
            q.push(("page", &p));
            q.push(("limit", &l));
            let items: Vec<T> = self.json::<(), _>("GET", path, &q, None)?;
            let n = items.len();
            all.extend(items);
            if n < PAGE {
                break;
            }
        }
        Ok(all)
    }

    fn json<B: Serialize, T: serde::de::DeserializeOwned>(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&B>,
    ) -> Result<T> {
        let body = body.map(|b| serde_json::to_vec(b).expect("requests serialize"));
        let bytes = self.call(method, path, query, body.as_deref())?;
        serde_json::from_slice(&bytes).map_err(|e| {
            usage(format!(
                "{method} {}{path}: the answer is not what Gitea's API describes ({e}); is {} a Gitea server?",
                self.shown, self.shown
            ))
        })
    }

    /// One request with retries; the body of a 2xx answer.
    fn call(
        &self,
        method: &str,
        path: &str,
        query: &[(&str, &str)],
        body: Option<&[u8]>,
    ) -> Result<Vec<u8>> {
        let mut url = format!("{}{path}", self.api);
        for (i, (k, v)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(&format!("{k}={}", percent_encode(v)));
        }
        let what = format!("{method} {path}");
        let mut last = String::new();
        for attempt in 1..=self.attempts {
            if attempt > 1 {
                (self.sleep)(self.backoff * 2u32.saturating_pow(attempt - 2));
            }
            match self.once(method, &url, body) {
                Ok((status, bytes)) if (200..300).contains(&status) => return Ok(bytes),
                Ok((status, bytes)) if status >= 500 || status == 429 => {
                    last = format!("{status} {}", message_of(&bytes));
                }
                Ok((status, bytes)) => return Err(self.refused(&what, status, &bytes)),
                Err(e) => last = e,
            }
        }
        Err(usage(format!(
            "{what} on {}: no success after {} attempt(s), last: {last}; the change stays queued, run `ka-gitea flush` when Gitea is reachable",
            self.shown, self.attempts
        )))
    }

    /// One HTTP exchange: the status and body, or a network-level error text.
    fn once(
        &self,
        method: &str,
        url: &str,
        body: Option<&[u8]>,
    ) -> std::result::Result<(u16, Vec<u8>), String> {
        let builder = ureq::http::Request::builder()
            .method(method)
            .uri(url)
            .header("Authorization", &self.auth)
            .header("Accept", "application/json");
        let resp = match body {
            Some(b) => {
                let req = builder
                    .header("Content-Type", "application/json")
                    .body(b.to_vec())
                    .map_err(|e| e.to_string())?;
                self.agent.run(req)
            }
            None => {
                let req = builder.body(()).map_err(|e| e.to_string())?;
                self.agent.run(req)
            }
        };
        let mut resp = resp.map_err(|e| match e {
            ureq::Error::Timeout(t) => format!("timed out ({t})"),
            other => other.to_string(),
        })?;
        let status = resp.status().as_u16();
        let bytes = resp
            .body_mut()
            .with_config()
            .limit(64 << 20)
            .read_to_vec()
            .map_err(|e| e.to_string())?;
        Ok((status, bytes))
    }

    /// A final (4xx) answer, explained.
    fn refused(&self, what: &str, status: u16, body: &[u8]) -> Error {
        let said = message_of(body);
        let hint = match status {
            401 => format!(
                "the token was refused; check {} (a Gitea access token of a user who may write issues)",
                self.token_from
            ),
            403 => {
                "the token's user may not do this; give it write access to the repository's issues"
                    .to_string()
            }
            404 => format!(
                "no such repository or issue; check issues.gitea url, owner and repo ({})",
                self.shown
            ),
            422 => format!("Gitea refused the request: {said}"),
            _ => format!("Gitea said: {said}"),
        };
        usage(format!(
            "{what} on {}: {status} {}: {hint}",
            self.shown,
            reason(status)
        ))
    }

    /// For tests of the retry loop: wait this way instead of sleeping.
    pub fn with_sleep(mut self, sleep: fn(Duration)) -> Gitea {
        self.sleep = sleep;
        self
    }
}

fn message_of(body: &[u8]) -> String {
    match serde_json::from_slice::<ApiError>(body) {
        Ok(ApiError { message: Some(m) }) if !m.is_empty() => m,
        _ => String::from_utf8_lossy(&body[..body.len().min(200)])
            .trim()
            .to_string(),
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        409 => "Conflict",
        412 => "Precondition Failed",
        422 => "Unprocessable Entity",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        _ => "",
    }
}

/// Percent-encode a query value (everything but the unreserved characters).
fn percent_encode(v: &str) -> String {
    let mut out = String::new();
    for b in v.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// A stable label colour derived from its name.
pub fn label_color(name: &str) -> String {
    format!("#{}", &ka_core::hash::b2sum(name.as_bytes())[..6])
}
