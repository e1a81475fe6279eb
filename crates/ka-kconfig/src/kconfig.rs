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

use crate::expr::{self, Expr, SyntaxError, Token};
use std::collections::HashMap;
use std::fs;
use std::path::Path;

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

/// What the entry being read is; attributes after it belong to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Entry {
    None,
    Config,
    Choice,
    Menu,
    Comment,
}

struct Frame {
    /// `if` / `menu` / `choice`, for matching the end keyword.
    kind: &'static str,
    deps: Vec<Expr>,
    choice: Option<usize>,
}

struct Reader<'a> {
    tree: &'a Path,
    vars: &'a HashMap<String, String>,
    k: Kconfig,
    frames: Vec<Frame>,
    entry: Entry,
    /// The symbol and def index the current `config` entry fills.
    current: Option<(String, usize)>,
    depth: usize,
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
        let mut r = Reader {
            tree,
            vars,
            k: Kconfig::default(),
            frames: Vec::new(),
            entry: Entry::None,
            current: None,
            depth: 0,
        };
        r.file("Kconfig")?;
        Ok(r.k)
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

impl Reader<'_> {
    fn file(&mut self, rel: &str) -> Result<(), KconfigError> {
        self.depth += 1;
        if self.depth > 64 {
            return Err(KconfigError::new(rel, Problem::TooDeep));
        }
        let path = self.tree.join(rel);
        let text = fs::read_to_string(&path).map_err(|e| KconfigError::new(rel, Problem::Io(e)))?;
        self.k.files += 1;
        let mut lines = text.lines().enumerate().peekable();
        let mut help_indent: Option<Option<usize>> = None;
        while let Some((n, raw)) = lines.next() {
            let lineno = n + 1;
            // a help text: every line that is blank or indented at least as
            // far as its first line
            if let Some(indent) = help_indent {
                if raw.trim().is_empty() {
                    continue;
                }
                let this = indentation(raw);
                match indent {
                    None => {
                        help_indent = Some(Some(this));
                        continue;
                    }
                    Some(first) if this >= first => continue,
                    Some(_) => help_indent = None,
                }
            }
            let mut line = raw.to_string();
            while line.ends_with('\\') {
                line.pop();
                match lines.next() {
                    Some((_, next)) => line.push_str(next),
                    None => break,
                }
            }
            if is_assignment(&line) {
                continue; // a macro variable (scripts/Kconfig.include)
            }
            let at = || format!("{rel}:{lineno}");
            let toks = expr::tokenize(&line).map_err(|e| KconfigError::syntax(at(), e))?;
            let Some(Token::Word(first)) = toks.first() else {
                continue;
            };
            let word = first.as_str();
            match word {
                "help" | "---help---" => {
                    help_indent = Some(None);
                }
                "config" | "menuconfig" => {
                    let name = word_at(&toks, 1).ok_or_else(|| {
                        KconfigError::syntax(at(), SyntaxError::NoName(word.into()))
                    })?;
                    self.start_config(name, at());
                }
                "choice" => {
                    let index = self.k.choices.len();
                    self.k.choices.push(Choice {
                        at: at(),
                        members: Vec::new(),
                    });
                    self.frames.push(Frame {
                        kind: "choice",
                        deps: Vec::new(),
                        choice: Some(index),
                    });
                    self.entry = Entry::Choice;
                    self.current = None;
                }
                "endchoice" => self.end("choice", &at())?,
                "menu" => {
                    self.frames.push(Frame {
                        kind: "menu",
                        deps: Vec::new(),
                        choice: None,
                    });
                    self.entry = Entry::Menu;
                    self.current = None;
                }
                "endmenu" => self.end("menu", &at())?,
                "if" => {
                    let e = parse_rest(&toks, 1).map_err(|e| KconfigError::syntax(at(), e))?;
                    self.frames.push(Frame {
                        kind: "if",
                        deps: vec![e],
                        choice: None,
                    });
                    self.entry = Entry::None;
                    self.current = None;
                }
                "endif" => self.end("if", &at())?,
                "comment" => {
                    self.entry = Entry::Comment;
                    self.current = None;
                }
                "mainmenu" => {}
                "source" | "osource" | "rsource" | "orsource" => {
                    let Some(Token::Str(p)) = toks.get(1) else {
                        return Err(KconfigError::syntax(at(), SyntaxError::NoPath(word.into())));
                    };
                    let mut target = self.expand(p);
                    if word.starts_with('r') || word.starts_with("or") {
                        let dir = Path::new(rel).parent().unwrap_or(Path::new(""));
                        target = dir.join(&target).to_string_lossy().into_owned();
                    }
                    if word.starts_with('o') && !self.tree.join(&target).exists() {
                        continue;
                    }
                    self.file(&target)?;
                    self.entry = Entry::None;
                    self.current = None;
                }
                _ => self.attribute(word, &toks, &at())?,
            }
        }
        self.depth -= 1;
        Ok(())
    }

    fn start_config(&mut self, name: &str, at: String) {
        let choice = match self.frames.last() {
            Some(f) if f.kind == "choice" => f.choice,
            _ => None,
        };
        let deps = self.outer_deps();
        let sym = self.k.symbols.entry(name.to_string()).or_default();
        sym.defs.push(Def {
            at,
            deps,
            choice,
            ..Def::default()
        });
        if let Some(c) = choice {
            let members = &mut self.k.choices[c].members;
            if !members.iter().any(|m| m == name) {
                members.push(name.to_string());
            }
        }
        self.current = Some((name.to_string(), sym.defs.len() - 1));
        self.entry = Entry::Config;
    }

    fn outer_deps(&self) -> Vec<Expr> {
        self.frames
            .iter()
            .flat_map(|f| f.deps.iter().cloned())
            .collect()
    }

    fn end(&mut self, kind: &str, at: &str) -> Result<(), KconfigError> {
        match self.frames.pop() {
            Some(f) if f.kind == kind => {
                self.entry = Entry::None;
                self.current = None;
                Ok(())
            }
            Some(f) => Err(KconfigError::syntax(
                at,
                SyntaxError::Closes {
                    end: kind.into(),
                    open: f.kind,
                },
            )),
            None => Err(KconfigError::syntax(at, SyntaxError::Unopened(kind.into()))),
        }
    }

    fn def(&mut self) -> Option<&mut Def> {
        let (name, i) = self.current.as_ref()?;
        self.k.symbols.get_mut(name).map(|s| &mut s.defs[*i])
    }

    fn attribute(&mut self, word: &str, toks: &[Token], at: &str) -> Result<(), KconfigError> {
        let err = |e: SyntaxError| KconfigError::syntax(at, e);
        // `depends on` of a menu or choice applies to everything inside it
        if word == "depends" {
            let e = parse_rest(toks, 2).map_err(err)?;
            match self.entry {
                Entry::Config => {
                    if let Some(d) = self.def() {
                        d.deps.push(e);
                    }
                }
                Entry::Menu | Entry::Choice => {
                    if let Some(f) = self.frames.last_mut() {
                        f.deps.push(e);
                    }
                }
                _ => {}
            }
            return Ok(());
        }
        if self.entry != Entry::Config {
            return Ok(()); // a choice's or menu's prompt, type, visible if, …
        }
        let name = self
            .current
            .as_ref()
            .map(|(n, _)| n.clone())
            .unwrap_or_default();
        if let Some(ty) = Type::parse(word) {
            let sym = self.k.symbols.get_mut(&name).expect("current symbol");
            sym.ty.get_or_insert(ty);
            let is_def = word.starts_with("def_");
            let mut pos = 1;
            if is_def {
                let e = expr::parse(toks, &mut pos).map_err(err)?;
                let cond = parse_if(toks, pos).map_err(err)?;
                self.def().expect("current").defaults.push((e, cond));
            } else if let Some(Token::Str(_)) = toks.get(1) {
                let cond = parse_if(toks, 2).map_err(err)?;
                self.def().expect("current").prompts.push(cond);
            }
            return Ok(());
        }
        match word {
            "prompt" => {
                let cond = parse_if(toks, 2).map_err(err)?;
                if let Some(d) = self.def() {
                    d.prompts.push(cond);
                }
            }
            "default" => {
                let mut pos = 1;
                let e = expr::parse(toks, &mut pos).map_err(err)?;
                let cond = parse_if(toks, pos).map_err(err)?;
                if let Some(d) = self.def() {
                    d.defaults.push((e, cond));
                }
            }
            "select" | "imply" => {
                let target =
                    word_at(toks, 1).ok_or_else(|| err(SyntaxError::NoSymbol(word.into())))?;
                let cond = parse_if(toks, 2).map_err(err)?;
                let sym = self.k.symbols.entry(target.to_string()).or_default();
                let list = if word == "select" {
                    &mut sym.selected_by
                } else {
                    &mut sym.implied_by
                };
                list.push((name, cond));
            }
            "range" => {
                let mut pos = 1;
                let lo = expr::parse(toks, &mut pos).map_err(err)?;
                let hi = expr::parse(toks, &mut pos).map_err(err)?;
                let cond = parse_if(toks, pos).map_err(err)?;
                if let Some(d) = self.def() {
                    d.ranges.push((lo, hi, cond));
                }
            }
            _ => {} // modules, transitional, visible if (menus), option …
        }
        Ok(())
    }

    /// `$(NAME)` → its value in `vars` (or empty, as kconfig does for an
    /// unset environment variable).
    fn expand(&self, s: &str) -> String {
        let mut out = String::new();
        let mut rest = s;
        while let Some(i) = rest.find("$(") {
            out.push_str(&rest[..i]);
            let after = &rest[i + 2..];
            match after.find(')') {
                Some(j) => {
                    out.push_str(self.vars.get(&after[..j]).map_or("", String::as_str));
                    rest = &after[j + 1..];
                }
                None => {
                    rest = after;
                }
            }
        }
        out.push_str(rest);
        out
    }
}

/// `name := value`, `name = value`, `name += value`, `name ?= value`.
fn is_assignment(line: &str) -> bool {
    let t = line.trim_start();
    let name_end = t
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        .unwrap_or(t.len());
    if name_end == 0 {
        return false;
    }
    let rest = t[name_end..].trim_start();
    [":=", "+=", "?=", "="]
        .iter()
        .any(|op| rest.starts_with(op))
}

fn word_at(toks: &[Token], i: usize) -> Option<&str> {
    match toks.get(i) {
        Some(Token::Word(w)) => Some(w),
        _ => None,
    }
}

/// The expression from token `from` to the end of the line.
fn parse_rest(toks: &[Token], from: usize) -> Result<Expr, SyntaxError> {
    let mut pos = from;
    let e = expr::parse(toks, &mut pos)?;
    if pos != toks.len() {
        return Err(SyntaxError::Trailing(toks[pos].clone()));
    }
    Ok(e)
}

/// An optional `if <expr>` from token `from` to the end of the line.
fn parse_if(toks: &[Token], from: usize) -> Result<Option<Expr>, SyntaxError> {
    match toks.get(from) {
        None => Ok(None),
        Some(Token::Word(w)) if w == "if" => parse_rest(toks, from + 1).map(Some),
        Some(t) => Err(SyntaxError::NotIf(t.clone())),
    }
}

/// Columns of leading white space, a tab to the next multiple of 8 (as the
/// kernel's lexer counts help text).
fn indentation(line: &str) -> usize {
    let mut col = 0;
    for c in line.chars() {
        match c {
            ' ' => col += 1,
            '\t' => col = (col / 8 + 1) * 8,
            _ => break,
        }
    }
    col
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

#[cfg(test)]
mod tests {
    use super::*;

    fn read(files: &[(&str, &str)]) -> Kconfig {
        let dir = tempfile::tempdir().unwrap();
        for (name, text) in files {
            let p = dir.path().join(name);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        }
        let vars = HashMap::from([("SRCARCH".to_string(), "arm64".to_string())]);
        Kconfig::read(dir.path(), &vars).unwrap()
    }

    #[test]
    fn entries_frames_and_help_text() {
        let k = read(&[
            (
                "Kconfig",
                "mainmenu \"toy\"\nsource \"arch/$(SRCARCH)/Kconfig\"\n\
                 menu \"Net\"\n\tdepends on NET\n\
                 config WIFI\n\ttristate \"wifi\" if EXPERT\n\tdepends on MMC\n\tselect CRC\n\thelp\n\t  depends on nothing: help text\n\n\t  config NOT_A_SYMBOL\n\
                 endmenu\n\
                 if ARM64\nchoice\n\tprompt \"hz\"\nconfig HZ_100\n\tbool \"100\"\nconfig HZ_250\n\tbool \"250\"\nendchoice\nendif\n",
            ),
            (
                "arch/arm64/Kconfig",
                "config ARM64\n\tdef_bool y\n\tselect NET\n",
            ),
        ]);
        assert!(k.get("NOT_A_SYMBOL").is_none());
        let wifi = k.get("WIFI").unwrap();
        assert_eq!(wifi.ty, Some(Type::Tristate));
        assert_eq!(wifi.defs[0].at, "Kconfig:5");
        assert_eq!(wifi.defs[0].dep_expr().to_string(), "NET && MMC");
        assert_eq!(
            wifi.defs[0].prompts[0].as_ref().unwrap().to_string(),
            "EXPERT"
        );
        assert_eq!(k.get("CRC").unwrap().selected_by[0].0, "WIFI");
        assert_eq!(k.get("NET").unwrap().selected_by[0].0, "ARM64");
        assert_eq!(k.get("HZ_250").unwrap().defs[0].choice, Some(0));
        assert_eq!(k.choices[0].members, ["HZ_100", "HZ_250"]);
        assert_eq!(
            k.get("HZ_100").unwrap().defs[0].dep_expr().to_string(),
            "ARM64"
        );
        assert!(!k.get("ARM64").unwrap().has_prompt());
        assert_eq!(k.nearest("WIFII"), Some("WIFI"));
    }

    #[test]
    fn unbalanced_blocks_are_errors_with_a_place() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("Kconfig"), "menu \"x\"\nendif\n").unwrap();
        let err = Kconfig::read(dir.path(), &HashMap::new()).unwrap_err();
        assert_eq!(err.to_string(), "Kconfig:2: endif closes a menu");
    }
}
