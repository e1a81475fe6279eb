//! Tristate values and the symbol values of a `.config`.

use std::collections::HashMap;

/// n < m < y, as kconfig orders them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Tri {
    N,
    M,
    Y,
}

impl Tri {
    pub fn parse(s: &str) -> Option<Tri> {
        match s {
            "y" => Some(Tri::Y),
            "m" => Some(Tri::M),
            "n" => Some(Tri::N),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Tri::Y => "y",
            Tri::M => "m",
            Tri::N => "n",
        }
    }
}

/// kconfig's `!`: y ↔ n, m stays m.
impl std::ops::Not for Tri {
    type Output = Tri;
    fn not(self) -> Tri {
        match self {
            Tri::Y => Tri::N,
            Tri::M => Tri::M,
            Tri::N => Tri::Y,
        }
    }
}

/// Symbol values (names without `CONFIG_`) as a `.config` holds them; a
/// string keeps its quotes off. A symbol absent or "is not set" is `n`.
#[derive(Debug, Clone, Default)]
pub struct Values {
    map: HashMap<String, String>,
}

impl Values {
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Values {
        Values {
            map: pairs.into_iter().collect(),
        }
    }

    /// Read a `.config` (as conf writes it: one `CONFIG_X=value` per line,
    /// and `# CONFIG_X is not set` for a visible bool or tristate that is n).
    pub fn from_config(text: &str) -> Values {
        let mut map = HashMap::new();
        for line in text.lines() {
            if let Some(name) = line
                .strip_prefix("# CONFIG_")
                .and_then(|rest| rest.strip_suffix(" is not set"))
            {
                map.insert(name.to_string(), "n".to_string());
                continue;
            }
            if let Some((name, value)) = line
                .strip_prefix("CONFIG_")
                .and_then(|rest| rest.split_once('='))
            {
                map.insert(name.to_string(), unquote(value));
            }
        }
        Values { map }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.map.get(name).map(String::as_str)
    }

    /// The value as a tristate: constants are themselves, anything not set is n.
    pub fn tri(&self, name: &str) -> Tri {
        if let Some(t) = Tri::parse(name) {
            return t;
        }
        self.get(name).and_then(Tri::parse).unwrap_or(Tri::N)
    }

    /// The text value (comparisons use it): a constant is itself.
    pub fn text(&self, name: &str) -> String {
        if Tri::parse(name).is_some() || crate::expr::parse_number(name).is_some() {
            return name.to_string();
        }
        self.get(name).unwrap_or("n").to_string()
    }
}

/// `"a\"b"` → `a"b`; anything unquoted stays as it is.
pub fn unquote(value: &str) -> String {
    match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => {
            let mut out = String::new();
            let mut chars = inner.chars();
            while let Some(c) = chars.next() {
                if c == '\\' {
                    if let Some(d) = chars.next() {
                        out.push(d);
                    }
                } else {
                    out.push(c);
                }
            }
            out
        }
        None => value.to_string(),
    }
}
