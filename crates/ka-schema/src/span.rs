//! [`Span`]: a duration as the owner writes it, parsed once, where the
//! document is read.

use ka_core::duration::parse_duration;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// A duration written the way manifests write it (`90s`, `5m`, `4h`, `7d`,
/// `1h30m`; see `ka_core::duration`). It is parsed when its document is
/// read, so a bad one is refused there with the file, line and column, and
/// every user holds a [`Duration`] rather than re-parsing text. It writes
/// back as it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    text: String,
    value: Duration,
}

impl Span {
    /// `n` seconds, written `<n>s`.
    pub fn seconds(n: u64) -> Span {
        Span::unit(n, "s", 1)
    }
    /// `n` minutes, written `<n>m`.
    pub fn minutes(n: u64) -> Span {
        Span::unit(n, "m", 60)
    }
    /// `n` hours, written `<n>h`.
    pub fn hours(n: u64) -> Span {
        Span::unit(n, "h", 3600)
    }
    /// `n` days, written `<n>d`.
    pub fn days(n: u64) -> Span {
        Span::unit(n, "d", 86400)
    }
    fn unit(n: u64, unit: &str, secs: u64) -> Span {
        Span {
            text: format!("{n}{unit}"),
            value: Duration::from_secs(n.saturating_mul(secs)),
        }
    }
    pub fn get(&self) -> Duration {
        self.value
    }
    pub fn as_secs(&self) -> u64 {
        self.value.as_secs()
    }
    pub fn is_zero(&self) -> bool {
        self.value.is_zero()
    }
    /// A span that must be longer than zero (a timeout, a heartbeat): the
    /// value parser of such command-line options.
    pub fn positive(text: &str) -> Result<Span, ka_core::Error> {
        let span: Span = text.parse()?;
        if span.is_zero() {
            return Err(ka_core::error::usage(format!(
                "{} must be longer than zero",
                ka_core::error::quoted(text)
            )));
        }
        Ok(span)
    }
    /// As written (`1h30m`), for messages that quote the manifest.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl FromStr for Span {
    type Err = ka_core::Error;
    fn from_str(text: &str) -> Result<Span, ka_core::Error> {
        Ok(Span {
            value: parse_duration(text)?,
            text: text.to_string(),
        })
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        // Parsed inside the visit of the string, so that the YAML reader
        // places the error at the value (line and column), not at the
        // mapping that holds it.
        struct Text;
        impl serde::de::Visitor<'_> for Text {
            type Value = Span;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as 90s, 5m, 4h or 1h30m")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<Span, E> {
                text.parse().map_err(E::custom)
            }
        }
        d.deserialize_str(Text)
    }
}

/// In a schema a span is the string it is written as.
#[cfg(feature = "schema")]
impl schemars::JsonSchema for Span {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Span".into()
    }
    fn json_schema(g: &mut schemars::SchemaGenerator) -> schemars::Schema {
        String::json_schema(g)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_once_and_writes_back_as_written() {
        let s: Span = serde_json::from_str("\"1h30m\"").unwrap();
        assert_eq!(s.as_secs(), 5400);
        assert_eq!(serde_json::to_string(&s).unwrap(), "\"1h30m\"");
        assert_eq!(Span::hours(4), "4h".parse().unwrap());
        assert!(Span::hours(0).is_zero());
    }

    #[test]
    fn a_bad_span_names_its_place_in_the_yaml() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct T {
            wait: Span,
        }
        let e = crate::parse_yaml::<T>("\nwait: soon\n", "x.yaml").unwrap_err();
        let e = e.to_string();
        assert!(e.starts_with("x.yaml:2:7: wait: "), "{e}");
        assert!(
            e.contains("duration \"soon\": write a number with a unit"),
            "{e}"
        );
    }
}
