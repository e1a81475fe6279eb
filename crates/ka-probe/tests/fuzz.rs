//! Property tests of the probe language (man 5 ka-probe): any line parses or
//! is refused with a reason, never panics (sizes bounded); the word quoting
//! and numbers round-trip. `make fuzz` runs many more cases.

use ka_probe::lang::{self, Number, Probe, Test};
use proptest::prelude::*;

const WORDS: &[&str] = &[
    "sysfs",
    "procfs",
    "dt",
    "dmesg",
    "module",
    "file",
    "cmd",
    "must-match",
    "must-not-match",
    "loaded",
    "not-loaded",
    "exists",
    "missing",
    "exit",
    "output",
    "==",
    "!=",
    "~",
    "!~",
    "<",
    "<=",
    ">",
    ">=",
    "contains",
    "/sys/class/net/eth0/carrier",
    "/proc/sys/kernel/ostype",
    "model",
    "/proc/device-tree/model",
    "/sys/../etc/passwd",
    "/proc/self/mem",
    "/",
    "//",
    "1",
    "-1",
    "1.5",
    "1e400",
    "nan",
    "170141183460469231731687303715884105728",
    "\"a b\"",
    "'a b'",
    "\"",
    "'",
    "\\",
    "(",
    "[",
    "*",
    "a{99999}",
    "(?i)x",
    "r8169",
    "a-b",
];

/// A probe-shaped line: up to 8 words from [`WORDS`] and arbitrary ones.
fn probe_line() -> impl Strategy<Value = String> {
    let word = prop_oneof![
        6 => prop::sample::select(WORDS).prop_map(str::to_string),
        1 => "\\PC{0,10}",
    ];
    prop::collection::vec(word, 0..8).prop_map(|w| w.join(" "))
}

/// Everything a parsed probe offers, on an arbitrary value read back.
fn use_probe(probe: &Probe, value: &[u8]) {
    let _ = lang::check_allowed(probe, true, "fleet/x.yaml");
    let _ = lang::check_allowed(probe, false, "fleet/x.yaml");
    // The remote command always starts with a program name.
    assert!(!probe.read().argv().is_empty() || matches!(probe, Probe::Cmd { .. }));
    let _ = probe.expected();
    if let Probe::Value { test, .. } = probe {
        let (text, words) = lang::text_value(value);
        let _ = test.check(&text, &words);
        let (text, words) = lang::dt_value(value);
        let _ = test.check(&text, &words);
        let _: &Test = test;
    }
    if let Probe::Dmesg { pattern, .. } = probe {
        let _ = pattern.text.len();
    }
}

/// A word written so that [`lang::words`] reads it back as it is.
fn quoted(word: &str) -> String {
    format!("\"{}\"", word.replace('\\', "\\\\").replace('"', "\\\""))
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn fuzz_any_line_parses_or_says_why(line in "\\PC{0,200}", value in prop::collection::vec(any::<u8>(), 0..64)) {
        match lang::parse(&line) {
            Ok(probe) => use_probe(&probe, &value),
            Err(why) => prop_assert!(!why.to_string().is_empty()),
        }
    }

    #[test]
    fn fuzz_probe_shaped_lines_parse_or_say_why(line in probe_line(), value in prop::collection::vec(any::<u8>(), 0..64)) {
        match lang::parse(&line) {
            Ok(probe) => use_probe(&probe, &value),
            Err(why) => prop_assert!(!why.to_string().is_empty()),
        }
    }

    #[test]
    fn fuzz_quoted_words_read_back(words in prop::collection::vec("\\PC{0,12}", 0..6)) {
        let line = words.iter().map(|w| quoted(w)).collect::<Vec<_>>().join(" ");
        prop_assert_eq!(lang::words(&line).unwrap(), words);
    }

    #[test]
    fn fuzz_numbers_read_back_as_written(int in any::<i128>(), float in any::<f64>()) {
        let n = Number::Int(int);
        prop_assert_eq!(Number::parse(&n.to_string()), Some(n));
        if float.is_finite() {
            let shown = Number::Float(float).to_string();
            let back = Number::parse(&shown).expect("a finite number reads back");
            // The same value (`-0` reads back as the integer 0).
            let value = |s: &str| s.parse::<f64>().unwrap();
            prop_assert_eq!(value(&back.to_string()), value(&shown));
        }
    }
}
