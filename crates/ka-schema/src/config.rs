//! The settings of one installation, as opposed to the fleet repository:
//! `KA_ROOT/config.yaml` ([`RuntimeConfig`]) and `KA_ROOT/retention.yaml`
//! ([`RetentionConfig`]).

use crate::{Span, load_yaml};
use ka_core::error::{Error, Result, contract, quoted};
use ka_core::names::check_name;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// `KA_ROOT/config.yaml` (or the file `KA_CONFIG` names): settings of this
/// installation, as opposed to the fleet repository. A missing file means every
/// default: the local issue store and nothing else.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RuntimeConfig {
    #[serde(default)]
    pub issues: IssuesConfig,
}

/// Where issue records (blocks, ...) live besides the local store.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct IssuesConfig {
    /// `local` (the default): only the store under KA_ROOT. `gitea`: the local
    /// store stays the source of truth for the gate, and every change is also
    /// queued in `KA_ROOT/gitea/outbox/` and mirrored to the Gitea repository.
    #[serde(default)]
    pub backend: IssueBackend,
    /// Required when `backend: gitea`; may stay in place while switched off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gitea: Option<GiteaConfig>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(rename_all = "lowercase")]
pub enum IssueBackend {
    #[default]
    Local,
    Gitea,
}

/// A Gitea repository that mirrors the issue records.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct GiteaConfig {
    /// The server, e.g. `https://git.example.org` (without `/api/v1`).
    pub url: String,
    /// The user or organisation owning the repository.
    pub owner: String,
    pub repo: String,
    /// An absolute file holding the API token (never under $HOME). Give this or `token_env`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<String>,
    /// The environment variable holding the API token. Give this or `token_file`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_env: Option<String>,
    /// How long one request may take, e.g. `10s`.
    #[serde(default = "default_gitea_timeout")]
    pub timeout: Span,
    /// Tries per request when the network fails or Gitea answers 5xx.
    #[serde(default = "default_gitea_attempts")]
    pub attempts: u32,
    /// Wait before the first retry; it doubles for every further one, e.g. `1s`.
    #[serde(default = "default_gitea_backoff")]
    pub backoff: Span,
}

fn default_gitea_timeout() -> Span {
    Span::seconds(10)
}
fn default_gitea_attempts() -> u32 {
    4
}
fn default_gitea_backoff() -> Span {
    Span::seconds(1)
}

/// Where the token comes from, after validation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    File(std::path::PathBuf),
    Env(String),
}

impl RuntimeConfig {
    /// The config file: `KA_CONFIG` if set, else `<root>/config.yaml`; a set
    /// but empty `KA_CONFIG` is refused, naming it.
    pub fn path(root: &Path) -> Result<std::path::PathBuf> {
        Ok(Self::explicit_path()?.unwrap_or_else(|| root.join("config.yaml")))
    }

    fn explicit_path() -> Result<Option<std::path::PathBuf>> {
        Ok(ka_core::paths::env_var(ka_core::paths::KA_CONFIG)?.map(std::path::PathBuf::from))
    }

    /// Load and check the config of the runtime root `root`. A missing
    /// `<root>/config.yaml` is the default config; a missing file that
    /// `KA_CONFIG` names explicitly is an error.
    pub fn load(root: &Path) -> Result<RuntimeConfig> {
        let path = Self::path(root)?;
        ka_core::paths::refuse_home(&path, "the config file")?;
        let explicit = Self::explicit_path()?.is_some();
        if !explicit && !path.exists() {
            return Ok(RuntimeConfig::default());
        }
        let shown = path.display().to_string();
        let c: RuntimeConfig = load_yaml(&path, &shown)?;
        c.validate(&shown)?;
        Ok(c)
    }

    fn validate(&self, shown_as: &str) -> Result<()> {
        match (&self.issues.backend, &self.issues.gitea) {
            (IssueBackend::Gitea, None) => Err(contract(format!(
                "{shown_as}: issues.backend is gitea but issues.gitea is missing; add issues.gitea: {{ url, owner, repo, token_file or token_env }}"
            ))),
            (_, Some(g)) => g.validate(shown_as),
            (IssueBackend::Local, None) => Ok(()),
        }
    }

    /// The Gitea settings when the config selects the Gitea backend.
    pub fn gitea(&self) -> Option<&GiteaConfig> {
        match self.issues.backend {
            IssueBackend::Gitea => self.issues.gitea.as_ref(),
            IssueBackend::Local => None,
        }
    }
}

impl GiteaConfig {
    fn validate(&self, shown_as: &str) -> Result<()> {
        let at = |what: &str, e: String| contract(format!("{shown_as}: issues.gitea.{what}: {e}"));
        if !(self.url.starts_with("https://") || self.url.starts_with("http://"))
            || self.url.contains(char::is_whitespace)
        {
            return Err(at(
                "url",
                format!("{} is not an http:// or https:// URL", quoted(&self.url)),
            ));
        }
        check_name("owner", &self.owner).map_err(|e| at("owner", e.to_string()))?;
        check_name("repo", &self.repo).map_err(|e| at("repo", e.to_string()))?;
        self.token_source().map_err(|e| match e {
            Error::Usage(m) => Error::Usage(format!("{shown_as}: {m}")),
            other => contract(format!("{shown_as}: {other}")),
        })?;
        if self.timeout.is_zero() {
            return Err(at("timeout", "must be longer than 0s".into()));
        }
        if self.attempts == 0 {
            return Err(at("attempts", "must be at least 1".into()));
        }
        Ok(())
    }

    /// The token's source: exactly one of `token_file` (absolute, not under
    /// $HOME) or `token_env`.
    pub fn token_source(&self) -> Result<TokenSource> {
        match (&self.token_file, &self.token_env) {
            (Some(f), None) => {
                let p = Path::new(f);
                if !p.is_absolute() {
                    return Err(contract(format!(
                        "issues.gitea.token_file {} must be an absolute path",
                        quoted(f)
                    )));
                }
                ka_core::paths::refuse_home(p, "issues.gitea.token_file")?;
                Ok(TokenSource::File(p.to_path_buf()))
            }
            (None, Some(v)) if !v.is_empty() => Ok(TokenSource::Env(v.clone())),
            _ => Err(contract(
                "issues.gitea: give exactly one of token_file (an absolute path outside $HOME) or token_env (a variable name)",
            )),
        }
    }
}

/// `KA_ROOT/retention.yaml` (optional; `ka-prune --config FILE` names another):
/// how long retention keeps each kind of thing, as durations (`7d`, `12h`).
/// A key left out takes its default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "schema", derive(schemars::JsonSchema))]
#[serde(deny_unknown_fields)]
pub struct RetentionConfig {
    /// Pre-install /boot backups (default `7d`); the newest backup of each
    /// host is kept whatever its age.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backups: Option<Span>,
    /// Job outputs (packages + job record), by the job's finish time; older
    /// ones are archived into `KA_ROOT/archive/<job-id>.tar` (default `30d`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_outputs: Option<Span>,
    /// Job archives, by the job's finish time (default `365d`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub archives: Option<Span>,
    /// Job logs, by the job's finish time (default `365d`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logs: Option<Span>,
    /// Render folders not used by a job this young, and not the host's
    /// current promotion, are removed (default `30d`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub renders: Option<Span>,
    /// Job trees on build hosts (`<root>/source/<job-id>/`), by the job's
    /// finish time (default `7d`); the newest tree of each build host, a
    /// kept job's and a running job's are kept whatever their age.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_trees: Option<Span>,
    /// Build hosts' source cache entries (`<root>/cache/sources/<b2sum>`),
    /// by their last use (default `30d`); an entry a job tree still links
    /// is kept (removing it would free nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_cache: Option<Span>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse_yaml;

    #[test]
    fn runtime_config_is_checked() {
        let check = |text: &str| {
            parse_yaml::<RuntimeConfig>(text, "config.yaml")
                .and_then(|c| c.validate("config.yaml").map(|()| c))
                .map_err(|e| e.to_string())
        };
        let ok = check(
            "issues: { backend: gitea, gitea: { url: https://g.example, owner: o, repo: r, token_env: T } }",
        )
        .unwrap();
        let g = ok.gitea().unwrap();
        assert_eq!((g.timeout.as_secs(), g.attempts), (10, 4));
        assert!(check("{}").unwrap().gitea().is_none());
        for (text, want) in [
            ("issues: { backend: gitea }", "issues.gitea is missing"),
            (
                "issues: { backend: svn }",
                "config.yaml:1:20: issues.backend: unknown variant",
            ),
            (
                "issues: { gitea: { url: ftp://g, owner: o, repo: r, token_env: T } }",
                "issues.gitea.url",
            ),
            (
                "issues: { gitea: { url: https://g, owner: o, repo: r, token_env: T, token_file: /t } }",
                "exactly one of token_file",
            ),
            (
                "issues: { gitea: { url: https://g, owner: o, repo: r, token_file: rel/t } }",
                "must be an absolute path",
            ),
            (
                "issues: { gitea: { url: https://g, owner: o, repo: r, token_env: T, timeout: 5 } }",
                "issues.gitea.timeout",
            ),
            (
                "issues: { gitea: { url: https://g, owner: o, repo: r, token_env: T, attempts: 0 } }",
                "at least 1",
            ),
        ] {
            let err = check(text).unwrap_err();
            assert!(err.contains(want), "{text}: {err}");
        }
    }
}
