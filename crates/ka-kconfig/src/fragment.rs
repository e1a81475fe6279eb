//! Config fragments: the base config of a host and the `fragment.config`
//! files of the scopes and series it resolves, merged with
//! `merge_config.sh`'s rule (a later value of an option wins, and the
//! override is reported), except that two campaigns asking for different
//! values of one option is a conflict.

use ka_core::error::{Error, Result, contract};
use ka_schema::ConfigOrigin;
use std::collections::BTreeMap;

/// One line that sets an option.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// Without `CONFIG_`.
    pub name: String,
    /// As written after `=` (`y`, `m`, `"text"`, `0x10`), or `n` for
    /// `# CONFIG_X is not set`.
    pub value: String,
    pub line: u32,
}

/// Parse a config file or fragment. Blank lines and `#` comments are
/// skipped; every other line is `CONFIG_X=value` or `# CONFIG_X is not set`.
/// `shown` names the file in errors (`file:line: what is wrong; what to do`).
pub fn parse(shown: &str, text: &str) -> Result<Vec<Setting>> {
    let mut out: Vec<Setting> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = (n + 1) as u32;
        let l = raw.trim();
        if l.is_empty() {
            continue;
        }
        let bad = |why: &str| -> Error {
            contract(format!(
                "{shown}:{line}: {why}: {}; write CONFIG_<NAME>=<value> or # CONFIG_<NAME> is not set",
                ka_core::error::quoted(raw)
            ))
        };
        let (name, value) = if let Some(c) = l.strip_prefix('#') {
            let c = c.trim();
            match c
                .strip_prefix("CONFIG_")
                .and_then(|r| r.strip_suffix(" is not set"))
            {
                Some(name) => (name, "n"),
                None if c.starts_with("CONFIG_") => return Err(bad("not a setting")),
                None => continue,
            }
        } else {
            let Some(rest) = l.strip_prefix("CONFIG_") else {
                return Err(bad("not a setting"));
            };
            let Some((name, value)) = rest.split_once('=') else {
                return Err(bad("no value"));
            };
            (name, value)
        };
        if name.is_empty() || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(bad("not an option name"));
        }
        if value.is_empty() {
            return Err(bad("no value"));
        }
        if value.starts_with('"') && (value.len() < 2 || !value.ends_with('"')) {
            return Err(bad("a string value is not closed"));
        }
        if let Some(prev) = out.iter().find(|s| s.name == name) {
            return Err(contract(format!(
                "{shown}:{line}: CONFIG_{name} is set again (first at line {}); keep one",
                prev.line
            )));
        }
        out.push(Setting {
            name: name.to_string(),
            value: value.to_string(),
            line,
        });
    }
    Ok(out)
}

/// A requested value and where it was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub value: String,
    pub origin: ConfigOrigin,
}

/// The merge of every input, in order.
#[derive(Debug, Default)]
pub struct Merged {
    pub requests: BTreeMap<String, Request>,
    /// `(option, earlier, later)`: a later input changed an earlier value.
    pub overrides: Vec<(String, Request, Request)>,
    /// `(option, first, second)`: two campaigns want different values.
    pub conflicts: Vec<(String, Request, Request)>,
}

impl Merged {
    pub fn add(&mut self, origin: &ConfigOrigin, settings: Vec<Setting>) {
        for s in settings {
            let new = Request {
                value: s.value,
                origin: ConfigOrigin {
                    line: s.line,
                    ..origin.clone()
                },
            };
            match self.requests.get(&s.name) {
                Some(old) if old.value != new.value => {
                    let both_campaigns =
                        old.origin.campaign.is_some() && new.origin.campaign.is_some();
                    if both_campaigns && old.origin.campaign != new.origin.campaign {
                        self.conflicts
                            .push((s.name.clone(), old.clone(), new.clone()));
                    } else {
                        self.overrides
                            .push((s.name.clone(), old.clone(), new.clone()));
                    }
                }
                _ => {}
            }
            self.requests.insert(s.name, new);
        }
    }

    /// The merged config conf reads: one line per option, in name order.
    pub fn to_config(&self) -> String {
        let mut out = String::new();
        for (name, r) in &self.requests {
            if r.value == "n" {
                out.push_str(&format!("# CONFIG_{name} is not set\n"));
            } else {
                out.push_str(&format!("CONFIG_{name}={}\n", r.value));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn origin(file: &str, campaign: Option<&str>) -> ConfigOrigin {
        ConfigOrigin {
            file: file.into(),
            line: 0,
            series: campaign.map(|c| format!("driver/{c}/s")),
            campaign: campaign.map(str::to_string),
        }
    }

    #[test]
    fn settings_and_comments() {
        let s = parse(
            "f",
            "# a comment\n\nCONFIG_A=y\n# CONFIG_B is not set\nCONFIG_S=\"x y\"\n",
        )
        .unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(
            (s[1].name.as_str(), s[1].value.as_str(), s[1].line),
            ("B", "n", 4)
        );
    }

    #[test]
    fn bad_lines_name_file_and_line() {
        for (text, why) in [
            ("CONFIG_A=y\nA=y\n", "f:2: not a setting"),
            ("CONFIG_A\n", "f:1: no value"),
            ("CONFIG_A=\n", "f:1: no value"),
            ("# CONFIG_A is off\n", "f:1: not a setting"),
            ("CONFIG_A-B=y\n", "f:1: not an option name"),
            ("CONFIG_S=\"x\n", "f:1: a string value is not closed"),
            (
                "CONFIG_A=y\nCONFIG_A=m\n",
                "f:2: CONFIG_A is set again (first at line 1)",
            ),
        ] {
            let e = parse("f", text).unwrap_err().to_string();
            assert!(e.starts_with(why), "{text:?}: {e}");
        }
    }

    #[test]
    fn later_wins_and_campaigns_conflict() {
        let mut m = Merged::default();
        m.add(
            &origin("base", None),
            parse("base", "CONFIG_A=y\nCONFIG_B=y\n").unwrap(),
        );
        m.add(
            &origin("one", Some("one")),
            parse("one", "CONFIG_A=m\nCONFIG_C=y\n").unwrap(),
        );
        m.add(
            &origin("two", Some("two")),
            parse("two", "# CONFIG_C is not set\n").unwrap(),
        );
        assert_eq!(m.requests["A"].value, "m");
        assert_eq!(m.overrides.len(), 1);
        assert_eq!(m.conflicts.len(), 1);
        assert_eq!(m.conflicts[0].0, "C");
        assert_eq!(
            m.to_config(),
            "CONFIG_A=m\nCONFIG_B=y\n# CONFIG_C is not set\n"
        );
    }
}
