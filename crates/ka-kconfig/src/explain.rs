//! Why a requested value is not the final one: the requested values are
//! type-checked against their symbols, compared with the final `.config`, and
//! each difference is explained from the Kconfig tree, evaluated against the
//! final values (the values conf ended with are the ones that decided).

use crate::expr::{Expr, parse_number};
use crate::fragment::Request;
use crate::kconfig::{Kconfig, Symbol, Type};
use crate::values::{Tri, Values, unquote};
use ka_core::error::{Error, contract};
use ka_schema::ConfigDrop;
use std::collections::BTreeMap;

/// Refuse a value its symbol cannot take (exit 3, naming file:line).
pub fn check_types(k: &Kconfig, requests: &BTreeMap<String, Request>) -> Result<(), Error> {
    for (name, r) in requests {
        let Some(ty) = k.get(name).and_then(|s| s.ty) else {
            continue;
        };
        let v = r.value.as_str();
        let fits = match ty {
            Type::Bool => matches!(v, "y" | "n"),
            Type::Tristate => matches!(v, "y" | "m" | "n"),
            Type::Int => v == "n" || v.parse::<i64>().is_ok(),
            Type::Hex => {
                let digits = v
                    .strip_prefix("0x")
                    .or_else(|| v.strip_prefix("0X"))
                    .unwrap_or(v);
                v == "n" || (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_hexdigit()))
            }
            Type::String => true,
        };
        if !fits {
            let takes = match ty {
                Type::Bool => "y or n",
                Type::Tristate => "y, m or n",
                Type::Int => "a decimal number",
                Type::Hex => "a hexadecimal number (0x…)",
                Type::String => "a quoted string",
            };
            return Err(contract(format!(
                "{}: CONFIG_{name} is a {} (defined at {}): {v} is not a value it takes; use {takes}",
                r.origin,
                ty.as_str(),
                k.get(name)
                    .map_or("?", |s| s.defs.first().map_or("?", |d| d.at.as_str()))
            )));
        }
    }
    Ok(())
}

/// Does the final value equal the request?
fn sticks(sym: Option<&Symbol>, requested: &str, actual: Option<&str>) -> bool {
    let ty = sym.and_then(|s| s.ty);
    match ty {
        Some(Type::Bool | Type::Tristate) | None if Tri::parse(requested).is_some() => {
            Tri::parse(requested) == Some(actual.and_then(Tri::parse).unwrap_or(Tri::N))
        }
        _ if requested == "n" => actual.is_none(),
        Some(Type::Hex) => {
            // kconfig takes hex with or without 0x: 10 and 0x10 are one value.
            // Compared as digits, not as a machine integer: 64-bit values
            // such as ILLEGAL_POINTER_VALUE=0xdead000000000000 overflow i64.
            let hex = |s: &str| {
                let d = s
                    .strip_prefix("0x")
                    .or_else(|| s.strip_prefix("0X"))
                    .unwrap_or(s);
                let d = d.trim_start_matches('0').to_ascii_lowercase();
                (d.bytes().all(|b| b.is_ascii_hexdigit())).then_some(d)
            };
            actual.is_some_and(|a| hex(requested).is_some() && hex(requested) == hex(a))
        }
        Some(Type::Int) => actual.is_some_and(|a| {
            parse_number(requested).is_some() && parse_number(requested) == parse_number(a)
        }),
        _ => actual.is_some_and(|a| unquote(requested) == a),
    }
}

/// Every request whose value differs in `fin`, explained. `halts(origin)`
/// says whether a drop of that origin halts the promote.
pub fn drops(
    k: &Kconfig,
    fin: &Values,
    requests: &BTreeMap<String, Request>,
    halts: impl Fn(&Request) -> bool,
) -> Vec<ConfigDrop> {
    let mut out = Vec::new();
    for (name, r) in requests {
        let sym = k.get(name);
        let actual = fin.get(name);
        if sticks(sym, &r.value, actual) {
            continue;
        }
        let halting = halts(r);
        // Values derived from the toolchain (CC_VERSION_TEXT, GCC_VERSION,
        // CC_HAS_…) follow the compiler, not the owner: a base config written
        // by another compiler carries them, and they are not requests.
        if !halting && sym.is_some_and(|s| !s.has_prompt() && s.from_toolchain()) {
            continue;
        }
        let why = explain(k, fin, name, &r.value, actual);
        out.push(ConfigDrop {
            option: format!("CONFIG_{name}"),
            requested: r.value.clone(),
            actual: actual.map_or("n".into(), |a| shown_value(sym, a)),
            at: r.origin.clone(),
            reason: why.reason,
            condition: why.condition,
            blocking: why.blocking,
            halts: halting,
        });
    }
    out
}

fn shown_value(sym: Option<&Symbol>, v: &str) -> String {
    match sym.and_then(|s| s.ty) {
        Some(Type::String) => format!("{v:?}"),
        _ => v.to_string(),
    }
}

#[derive(Debug, Default, PartialEq)]
pub struct Why {
    pub reason: String,
    pub condition: Option<String>,
    pub blocking: Vec<String>,
}

/// Why `name`'s final value is not the requested one: the first reason that
/// holds, in the order conf itself would meet them.
fn explain(k: &Kconfig, fin: &Values, name: &str, requested: &str, actual: Option<&str>) -> Why {
    let Some(sym) = k.get(name).filter(|s| !s.defs.is_empty()) else {
        return unknown(k, name);
    };
    let want = Tri::parse(requested);
    let have = actual.and_then(Tri::parse).unwrap_or(Tri::N);
    let lower = match want {
        Some(w) => have < w,
        None => true,
    };
    let found = if lower {
        unmet_dependencies(fin, sym, want)
            .or_else(|| another_choice(k, fin, sym, name))
            .or_else(|| no_prompt(sym))
            .or_else(|| hidden_prompt(fin, sym))
            .or_else(|| no_modules(fin, want))
            .or_else(|| out_of_range(fin, sym, requested))
    } else {
        forced_up(fin, sym, want, have)
    };
    found.unwrap_or_else(|| Why {
        reason: format!(
            "the baseline's kconfig set it to {} (defined at {}); no dependency, prompt, choice or select found explains it",
            actual.unwrap_or("n"),
            sym.defs[0].at
        ),
        ..Why::default()
    })
}

fn unknown(k: &Kconfig, name: &str) -> Why {
    let hint = k
        .nearest(name)
        .map(|n| format!("; did you mean CONFIG_{n}?"))
        .unwrap_or_default();
    Why {
        reason: format!(
            "unknown symbol: no Kconfig of this baseline and architecture defines {name} (a typo, or gone from this baseline){hint}"
        ),
        ..Why::default()
    }
}

/// 1. Its dependencies are not met (or met only as m, which caps a tristate).
fn unmet_dependencies(fin: &Values, sym: &Symbol, want: Option<Tri>) -> Option<Why> {
    let deps = any_of(sym.defs.iter().map(|d| d.dep_expr()));
    let dep_value = deps.eval(fin);
    let need = want.unwrap_or(Tri::Y).max(Tri::M);
    if dep_value >= need && !(want == Some(Tri::Y) && dep_value < Tri::Y && is_tristate(sym)) {
        return None;
    }
    let mut blocking = Vec::new();
    deps.blame_low(want.unwrap_or(Tri::Y), fin, &mut blocking);
    let reason = if dep_value == Tri::M && want == Some(Tri::Y) {
        "its dependencies are met only as a module (m), which caps it at m".into()
    } else {
        "its dependencies are not met".into()
    };
    Some(Why {
        reason,
        condition: Some(format!("depends on {}", deps.with_values(fin))),
        blocking,
    })
}

/// 2. A choice chose another member.
fn another_choice(k: &Kconfig, fin: &Values, sym: &Symbol, name: &str) -> Option<Why> {
    let c = sym.defs.iter().find_map(|d| d.choice)?;
    let other = k.choices[c]
        .members
        .iter()
        .find(|m| m.as_str() != name && fin.tri(m) == Tri::Y)?;
    Some(Why {
        reason: format!(
            "it is one choice of {} and CONFIG_{other} is chosen; set CONFIG_{other} off or choose {name} where the choice is set",
            k.choices[c].at
        ),
        blocking: vec![format!("{other}=y")],
        ..Why::default()
    })
}

/// 3. No prompt the owner can answer: only a default or a select sets it.
fn no_prompt(sym: &Symbol) -> Option<Why> {
    if sym.has_prompt() {
        return None;
    }
    let by: Vec<String> = sym.selected_by.iter().map(|(s, _)| s.clone()).collect();
    let reason = if by.is_empty() {
        "it has no prompt, so a config cannot set it; only its default decides".to_string()
    } else {
        format!(
            "it has no prompt, so a config cannot set it; it is on only when selected, by {}",
            by.iter().take(8).cloned().collect::<Vec<_>>().join(", ")
                + if by.len() > 8 { ", …" } else { "" }
        )
    };
    Some(Why {
        reason,
        ..Why::default()
    })
}

/// 3b. A prompt, hidden by its condition.
fn hidden_prompt(fin: &Values, sym: &Symbol) -> Option<Why> {
    let prompt = any_of(sym.defs.iter().flat_map(|d| {
        d.prompts.iter().map(move |p| match (d.deps.is_empty(), p) {
            (true, Some(c)) => c.clone(),
            (false, Some(c)) => Expr::and(d.dep_expr(), c.clone()),
            (_, None) => d.dep_expr(),
        })
    }));
    if prompt.eval(fin) >= Tri::M {
        return None;
    }
    let mut blocking = Vec::new();
    prompt.blame_low(Tri::M, fin, &mut blocking);
    Some(Why {
        reason: "its prompt is hidden, so a config cannot set it".into(),
        condition: Some(format!("prompt if {}", prompt.with_values(fin))),
        blocking,
    })
}

/// 4. m of a tristate without modules.
fn no_modules(fin: &Values, want: Option<Tri>) -> Option<Why> {
    (want == Some(Tri::M) && fin.tri("MODULES") == Tri::N).then(|| Why {
        reason: "m needs loadable modules, and MODULES is not set".into(),
        blocking: vec!["MODULES=n".into()],
        ..Why::default()
    })
}

/// 5. A number outside the range that applies.
fn out_of_range(fin: &Values, sym: &Symbol, requested: &str) -> Option<Why> {
    if !matches!(sym.ty, Some(Type::Int | Type::Hex)) {
        return None;
    }
    sym.defs.iter().find_map(|d| {
        let (lo, hi, _) = d
            .ranges
            .iter()
            .find(|(_, _, cond)| cond.as_ref().is_none_or(|c| c.eval(fin) != Tri::N))?;
        Some(Why {
            reason: format!(
                "{requested} is outside its range {} {} ({}), so conf used its default",
                lo.with_values(fin),
                hi.with_values(fin),
                d.at
            ),
            ..Why::default()
        })
    })
}

/// The final value is higher than asked: a select forces it up, or m
/// became y without modules, or there is no prompt to lower it.
fn forced_up(fin: &Values, sym: &Symbol, want: Option<Tri>, have: Tri) -> Option<Why> {
    let mut forcing = Vec::new();
    for (by, cond) in &sym.selected_by {
        let on = fin
            .tri(by)
            .min(cond.as_ref().map_or(Tri::Y, |c| c.eval(fin)));
        if on > want.unwrap_or(Tri::N) {
            forcing.push(format!("{by}={}", fin.tri(by).as_str()));
        }
    }
    if !forcing.is_empty() {
        return Some(Why {
            reason: format!(
                "it is selected by {}, which {} it to {}",
                forcing.join(", "),
                if forcing.len() == 1 {
                    "forces"
                } else {
                    "force"
                },
                have.as_str()
            ),
            blocking: forcing,
            ..Why::default()
        });
    }
    if want == Some(Tri::M) && have == Tri::Y && fin.tri("MODULES") == Tri::N {
        return Some(Why {
            reason: "without loadable modules (MODULES is not set) m becomes y".into(),
            blocking: vec!["MODULES=n".into()],
            ..Why::default()
        });
    }
    (!sym.has_prompt()).then(|| Why {
        reason: "it has no prompt, so a config cannot set it; its default decides".into(),
        ..Why::default()
    })
}

fn is_tristate(sym: &Symbol) -> bool {
    sym.ty == Some(Type::Tristate)
}

fn any_of(exprs: impl Iterator<Item = Expr>) -> Expr {
    let mut it = exprs;
    match it.next() {
        None => Expr::Sym("n".into()),
        Some(first) => it.fold(first, |a, b| Expr::Or(Box::new(a), Box::new(b))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ka_schema::ConfigOrigin;
    use std::collections::HashMap;

    fn tree() -> Kconfig {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("Kconfig"),
            "config MODULES\n\tbool \"modules\"\n\
             config MMC\n\ttristate \"mmc\"\n\
             config NET\n\tbool \"net\"\n\
             config WIFI\n\ttristate \"wifi\"\n\tdepends on NET && MMC\n\
             config CRC\n\ttristate\n\
             config USER\n\tbool \"user\"\n\tselect CRC\n\
             config HIDDEN\n\tbool \"hidden\" if EXPERT\n\
             config HZ\n\tint \"hz\"\n\trange 100 1000\n\
             choice\n\tprompt \"pick\"\nconfig A\n\tbool \"a\"\nconfig B\n\tbool \"b\"\nendchoice\n",
        )
        .unwrap();
        Kconfig::read(dir.path(), &HashMap::new()).unwrap()
    }

    fn requests(pairs: &[(&str, &str)]) -> BTreeMap<String, Request> {
        pairs
            .iter()
            .enumerate()
            .map(|(i, (n, v))| {
                let origin = ConfigOrigin {
                    file: "patches/driver/x/s/fragment.config".into(),
                    line: i as u32 + 1,
                    series: Some("driver/x/s".into()),
                    campaign: Some("c".into()),
                };
                (
                    n.to_string(),
                    Request {
                        value: v.to_string(),
                        origin,
                    },
                )
            })
            .collect()
    }

    fn one(final_config: &str, name: &str, value: &str) -> ConfigDrop {
        let fin = Values::from_config(final_config);
        let mut d = drops(&tree(), &fin, &requests(&[(name, value)]), |_| true);
        assert_eq!(d.len(), 1, "{name}={value} should not stick");
        d.remove(0)
    }

    #[test]
    fn unmet_dependencies_name_the_symbols() {
        let d = one("CONFIG_MODULES=y\nCONFIG_NET=y\n", "WIFI", "m");
        assert_eq!(d.reason, "its dependencies are not met");
        assert_eq!(
            d.condition.as_deref(),
            Some("depends on NET [=y] && MMC [=n]")
        );
        assert_eq!(d.blocking, ["MMC=n"]);
        assert_eq!((d.option.as_str(), d.actual.as_str()), ("CONFIG_WIFI", "n"));
    }

    #[test]
    fn a_module_dependency_caps_at_m() {
        let d = one(
            "CONFIG_MODULES=y\nCONFIG_NET=y\nCONFIG_MMC=m\nCONFIG_WIFI=m\n",
            "WIFI",
            "y",
        );
        assert!(d.reason.contains("caps it at m"), "{}", d.reason);
        assert_eq!(d.blocking, ["MMC=m"]);
    }

    #[test]
    fn unknown_symbols_suggest_a_spelling() {
        let d = one("", "WIFII", "y");
        assert!(d.reason.starts_with("unknown symbol"));
        assert!(
            d.reason.ends_with("did you mean CONFIG_WIFI?"),
            "{}",
            d.reason
        );
    }

    #[test]
    fn no_prompt_names_the_selectors() {
        let d = one("CONFIG_MODULES=y\n", "CRC", "m");
        assert!(d.reason.contains("selected, by USER"), "{}", d.reason);
    }

    #[test]
    fn selected_symbols_cannot_be_turned_off() {
        let d = one("CONFIG_USER=y\nCONFIG_CRC=y\n", "CRC", "n");
        assert_eq!(d.reason, "it is selected by USER=y, which forces it to y");
    }

    #[test]
    fn hidden_prompts_choices_ranges_modules() {
        let d = one("", "HIDDEN", "y");
        assert_eq!(d.condition.as_deref(), Some("prompt if EXPERT [=n]"));
        assert_eq!(d.blocking, ["EXPERT=n"]);
        let d = one("CONFIG_A=y\n", "B", "y");
        assert!(d.reason.contains("CONFIG_A is chosen"), "{}", d.reason);
        let d = one("CONFIG_HZ=250\n", "HZ", "5000");
        assert!(
            d.reason.contains("outside its range 100 1000"),
            "{}",
            d.reason
        );
        let d = one("CONFIG_MMC=y\n", "MMC", "m");
        assert_eq!(d.blocking, ["MODULES=n"]);
    }

    #[test]
    fn hex_values_compare_with_or_without_0x() {
        assert!(sticks(None, "y", Some("y")));
        let mut k = tree();
        k.symbols.entry("BASE".into()).or_default().ty = Some(Type::Hex);
        let base = k.get("BASE");
        assert!(sticks(base, "10", Some("0x10")));
        assert!(sticks(base, "0x1f", Some("0x1F")));
        assert!(!sticks(base, "10", Some("0x11")));
        assert!(sticks(
            base,
            "0xdead000000000000",
            Some("0xDEAD000000000000")
        ));
        assert!(!sticks(
            base,
            "0xdead000000000000",
            Some("0xdead000000000001")
        ));
    }

    #[test]
    fn values_that_stick_are_not_reported() {
        let fin = Values::from_config("CONFIG_NET=y\nCONFIG_HZ=250\n");
        let r = requests(&[("NET", "y"), ("HZ", "250"), ("MMC", "n")]);
        assert!(drops(&tree(), &fin, &r, |_| true).is_empty());
    }

    #[test]
    fn wrong_types_are_refused_with_the_place() {
        let e = check_types(&tree(), &requests(&[("NET", "m")])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "patches/driver/x/s/fragment.config:1: CONFIG_NET is a bool (defined at Kconfig:5): m is not a value it takes; use y or n"
        );
        assert!(check_types(&tree(), &requests(&[("HZ", "fast")])).is_err());
        assert!(check_types(&tree(), &requests(&[("HZ", "250"), ("WIFI", "m")])).is_ok());
    }
}
