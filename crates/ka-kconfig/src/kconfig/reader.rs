//! The reader of Kconfig files: the lines of each file, the blocks they
//! open and close (`if`, `menu`, `choice`), the entries and their attributes.

use super::{Choice, Def, Kconfig, KconfigError, Problem, Type};
use crate::expr::{self, Expr, SyntaxError, Token};
use std::collections::HashMap;
use std::fs;
use std::path::Path;

/// Read `<tree>/Kconfig` and everything it sources (see [`Kconfig::read`]).
pub(super) fn read(tree: &Path, vars: &HashMap<String, String>) -> Result<Kconfig, KconfigError> {
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

impl Reader<'_> {
    /// Read the file `rel` (relative to the tree), and what it sources.
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
            if in_help_text(&mut help_indent, raw) {
                continue;
            }
            let line = joined_line(raw, &mut lines);
            if is_assignment(&line) {
                continue; // a macro variable (scripts/Kconfig.include)
            }
            let toks = expr::tokenize(&line)
                .map_err(|e| KconfigError::syntax(format!("{rel}:{lineno}"), e))?;
            let Some(Token::Word(first)) = toks.first() else {
                continue;
            };
            match first.as_str() {
                "help" | "---help---" => {
                    help_indent = Some(None);
                }
                word => self.statement(word, &toks, rel, lineno)?,
            }
        }
        self.depth -= 1;
        Ok(())
    }

    /// One line of `rel` that starts with the keyword `word` (not `help`):
    /// an entry, the opening or closing of a block, a `source`, or an
    /// attribute of the current entry. One match over the language's
    /// keywords, kept whole so that the set reads in one place.
    fn statement(
        &mut self,
        word: &str,
        toks: &[Token],
        rel: &str,
        lineno: usize,
    ) -> Result<(), KconfigError> {
        let at = || format!("{rel}:{lineno}");
        match word {
            "config" | "menuconfig" => {
                let name = word_at(toks, 1)
                    .ok_or_else(|| KconfigError::syntax(at(), SyntaxError::NoName(word.into())))?;
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
                let e = parse_rest(toks, 1).map_err(|e| KconfigError::syntax(at(), e))?;
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
            "source" | "osource" | "rsource" | "orsource" => self.source(word, toks, rel, &at())?,
            _ => self.attribute(word, toks, &at())?,
        }
        Ok(())
    }

    /// `source`, `osource` (optional), `rsource` (relative to `rel`'s
    /// folder) and `orsource`: read the file named, its `$(VAR)`s expanded.
    fn source(
        &mut self,
        word: &str,
        toks: &[Token],
        rel: &str,
        at: &str,
    ) -> Result<(), KconfigError> {
        let Some(Token::Str(p)) = toks.get(1) else {
            return Err(KconfigError::syntax(at, SyntaxError::NoPath(word.into())));
        };
        let mut target = self.expand(p);
        if word.starts_with('r') || word.starts_with("or") {
            let dir = Path::new(rel).parent().unwrap_or(Path::new(""));
            target = dir.join(&target).to_string_lossy().into_owned();
        }
        if word.starts_with('o') && !self.tree.join(&target).exists() {
            return Ok(());
        }
        self.file(&target)?;
        self.entry = Entry::None;
        self.current = None;
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

    /// An attribute line of the current entry (`depends on`, a type,
    /// `prompt`, `default`, `select`, `imply`, `range`); others are skipped.
    fn attribute(&mut self, word: &str, toks: &[Token], at: &str) -> Result<(), KconfigError> {
        let err = |e: SyntaxError| KconfigError::syntax(at, e);
        if word == "depends" {
            return self.depends_on(toks, at);
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
            return self.type_attribute(&name, ty, word, toks, at);
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

    /// `depends on <expr>`: of a config entry, its own; of a menu or choice,
    /// it applies to everything inside it.
    fn depends_on(&mut self, toks: &[Token], at: &str) -> Result<(), KconfigError> {
        let e = parse_rest(toks, 2).map_err(|e| KconfigError::syntax(at, e))?;
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
        Ok(())
    }

    /// A type line of the config entry `name`: `bool "prompt" [if …]` (the
    /// type, and a prompt) or `def_bool <expr> [if …]` (the type, and a
    /// default); the first type given wins.
    fn type_attribute(
        &mut self,
        name: &str,
        ty: Type,
        word: &str,
        toks: &[Token],
        at: &str,
    ) -> Result<(), KconfigError> {
        let err = |e: SyntaxError| KconfigError::syntax(at, e);
        let sym = self.k.symbols.get_mut(name).expect("current symbol");
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

/// Whether `raw` belongs to the help text being read (`help_indent` is
/// `Some` inside one: `Some(None)` until its first non-blank line sets the
/// indentation): every line that is blank or indented at least as far as its
/// first line. The first line that is not ends the help text.
fn in_help_text(help_indent: &mut Option<Option<usize>>, raw: &str) -> bool {
    let Some(indent) = *help_indent else {
        return false;
    };
    if raw.trim().is_empty() {
        return true;
    }
    let this = indentation(raw);
    match indent {
        None => {
            *help_indent = Some(Some(this));
            true
        }
        Some(first) if this >= first => true,
        Some(_) => {
            *help_indent = None;
            false
        }
    }
}

/// `raw` with the lines it continues (a `\` at its end) joined to it.
fn joined_line<'a>(raw: &str, lines: &mut impl Iterator<Item = (usize, &'a str)>) -> String {
    let mut line = raw.to_string();
    while line.ends_with('\\') {
        line.pop();
        match lines.next() {
            Some((_, next)) => line.push_str(next),
            None => break,
        }
    }
    line
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
