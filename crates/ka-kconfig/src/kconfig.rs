//! A reader of the Kconfig language, enough to say why a value did not stick:
//! each symbol's type, where it is defined, its dependencies (its own
//! `depends on` and those of the `if`, `menu` and `choice` around it), its
//! prompts and their conditions, its ranges, its choice, and who selects it.
//!
//! The kernel's own `conf` decides the final values (`crate::conf`); this
//! reader only explains them, so it is lenient: an attribute it does not know
//! is skipped, never an error. It does not expand macros beyond the variables
//! a `source` path needs (`$(SRCARCH)`); a macro in an expression stays an
//! opaque atom (a toolchain test).

use crate::expr::{Expr, SyntaxError};
use std::collections::HashMap;
use std::path::Path;

mod reader;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Bool,
    Tristate,
    String,
    Hex,
    Int,
}

impl Type {
    fn parse(word: &str) -> Option<Type> {
        match word {
            "bool" | "def_bool" => Some(Type::Bool),
            "tristate" | "def_tristate" => Some(Type::Tristate),
            "string" | "def_string" => Some(Type::String),
            "hex" | "def_hex" => Some(Type::Hex),
            "int" | "def_int" => Some(Type::Int),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Type::Bool => "bool",
            Type::Tristate => "tristate",
            Type::String => "string",
            Type::Hex => "hex",
            Type::Int => "int",
        }
    }
}

/// One `config` (or `menuconfig`) entry of a symbol; a symbol may have several.
#[derive(Debug, Clone, Default)]
pub struct Def {
    /// `arch/arm64/Kconfig:123`, relative to the tree.
    pub at: String,
    /// Every condition the entry sits under: enclosing `if`s, `menu` and
    /// `choice` dependencies, then its own `depends on`, in that order.
    pub deps: Vec<Expr>,
    /// Its prompts, each with its `if` condition.
    pub prompts: Vec<Option<Expr>>,
    pub defaults: Vec<(Expr, Option<Expr>)>,
    pub ranges: Vec<(Expr, Expr, Option<Expr>)>,
    /// The choice it belongs to (an index into [`Kconfig::choices`]).
    pub choice: Option<usize>,
}

impl Def {
    /// All of `deps` as one conjunction (`y` when there are none); a
    /// condition written twice (`if CW1200` around `depends on CW1200`) once.
    pub fn dep_expr(&self) -> Expr {
        let mut unique: Vec<&Expr> = Vec::new();
        for d in &self.deps {
            if !unique.contains(&d) {
                unique.push(d);
            }
        }
        let mut it = unique.into_iter().cloned();
        match it.next() {
            None => Expr::Sym("y".into()),
            Some(first) => it.fold(first, Expr::and),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct Symbol {
    pub ty: Option<Type>,
    pub defs: Vec<Def>,
    /// `(selecting symbol, its condition)`, from every `select NAME [if …]`.
    pub selected_by: Vec<(String, Option<Expr>)>,
    pub implied_by: Vec<(String, Option<Expr>)>,
}

impl Symbol {
    pub fn has_prompt(&self) -> bool {
        self.defs.iter().any(|d| !d.prompts.is_empty())
    }

    /// A value derived from the toolchain or the environment (a default or
    /// `def_*` that expands a macro): not the owner's to set.
    pub fn from_toolchain(&self) -> bool {
        self.defs.iter().any(|d| {
            d.defaults
                .iter()
                .any(|(e, _)| matches!(e, Expr::Macro(_)) || e.to_string().contains("$("))
        })
    }
}

#[derive(Debug, Clone, Default)]
pub struct Choice {
    pub at: String,
    pub members: Vec<String>,
}

/// The symbols of one architecture's Kconfig tree.
#[derive(Debug, Default)]
pub struct Kconfig {
    pub symbols: HashMap<String, Symbol>,
    pub choices: Vec<Choice>,
    /// Files read, for messages.
    pub files: usize,
}

/// Why the Kconfig tree does not read: where (`file` or `file:line`), and
/// what. The tree is the baseline's: an error here breaks its contract.
#[derive(Debug, thiserror::Error)]
#[error("{at}: {problem}")]
pub struct KconfigError {
    pub at: String,
    pub problem: Problem,
}

#[derive(Debug, thiserror::Error)]
pub enum Problem {
    #[error("sources nest more than 64 deep")]
    TooDeep,
    #[error("{0}")]
    Io(std::io::Error),
    #[error(transparent)]
    Syntax(#[from] SyntaxError),
}

impl KconfigError {
    fn new(at: impl Into<String>, problem: Problem) -> KconfigError {
        KconfigError {
            at: at.into(),
            problem,
        }
    }
    fn syntax(at: impl Into<String>, e: SyntaxError) -> KconfigError {
        KconfigError::new(at, Problem::Syntax(e))
    }
}

impl ka_core::error::Coded for KconfigError {
    fn code(&self) -> ka_core::ExitCode {
        ka_core::ExitCode::Contract
    }
}

impl Kconfig {
    /// Read `<tree>/Kconfig` and everything it sources, with `vars` (at
    /// least `SRCARCH` and `ARCH`) expanded in `source` paths.
    pub fn read(tree: &Path, vars: &HashMap<String, String>) -> Result<Kconfig, KconfigError> {
        reader::read(tree, vars)
    }

    pub fn get(&self, name: &str) -> Option<&Symbol> {
        self.symbols.get(name)
    }

    /// The defined symbol closest in spelling to `name`, for "did you mean".
    pub fn nearest(&self, name: &str) -> Option<&str> {
        let mut best: Option<(usize, &str)> = None;
        for s in self.symbols.keys() {
            if s.len().abs_diff(name.len()) > 2 {
                continue;
            }
            let d = distance(s, name);
            if d <= 2 && best.is_none_or(|(bd, bs)| d < bd || (d == bd && s.as_str() < bs)) {
                best = Some((d, s));
            }
        }
        best.map(|(_, s)| s)
    }
}

/// Levenshtein distance, for "did you mean".
pub fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}
