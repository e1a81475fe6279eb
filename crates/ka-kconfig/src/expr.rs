//! Kconfig expressions: parsed from a line's tokens, evaluated in tristate
//! logic (n < m < y) against a final `.config`, and blamed: which leaves make
//! an expression lower (or higher) than a value needs.

use crate::values::{Tri, Values};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// A symbol, or a constant (`y`, `m`, `n`, a number, a quoted string).
    Sym(String),
    /// A quoted constant.
    Str(String),
    /// A macro call the kernel's kconfig expands while parsing (a toolchain
    /// test such as `$(cc-option,-mfoo)`); this parser does not run it.
    Macro(String),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Cmp(Cmp, Box<Expr>, Box<Expr>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Cmp {
    fn text(self) -> &'static str {
        match self {
            Cmp::Eq => "=",
            Cmp::Ne => "!=",
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
        }
    }
}

/// A token of a Kconfig line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    Word(String),
    Str(String),
    Macro(String),
    Op(&'static str),
}

/// A Kconfig line or expression that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyntaxError {
    #[error("a string is not closed")]
    OpenString,
    #[error("a $( macro is not closed")]
    OpenMacro,
    #[error("unexpected character {0:?}")]
    Character(char),
    #[error("an expression ends early")]
    EndsEarly,
    #[error("a ( is not closed")]
    OpenParen,
    #[error("unexpected {0:?} in an expression")]
    Operator(&'static str),
    #[error("unexpected {0:?} after an expression")]
    Trailing(Token),
    #[error("expected `if` or the end of the line, found {0:?}")]
    NotIf(Token),
    /// `config`/`menuconfig` without its symbol's name.
    #[error("{0} without a name")]
    NoName(String),
    /// `source` and its kin without a quoted path.
    #[error("{0} without a quoted path")]
    NoPath(String),
    /// `select`/`imply` without the symbol.
    #[error("{0} without a symbol")]
    NoSymbol(String),
    #[error("end{end} closes a {open}")]
    Closes { end: String, open: &'static str },
    #[error("end{0} without {0}")]
    Unopened(String),
}

/// Split a (continuation-joined) Kconfig line into tokens; `#` outside a
/// string starts a comment. It stays whole: one loop over the line's bytes,
/// each arm one kind of token, sharing the position `i`.
pub fn tokenize(line: &str) -> Result<Vec<Token>, SyntaxError> {
    let b = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        match c {
            b' ' | b'\t' | b'\r' => i += 1,
            b'#' => break,
            b'"' | b'\'' => {
                let quote = c;
                let mut s = String::new();
                i += 1;
                loop {
                    let Some(&d) = b.get(i) else {
                        return Err(SyntaxError::OpenString);
                    };
                    i += 1;
                    if d == quote {
                        break;
                    }
                    if d == b'\\' {
                        if let Some(&e) = b.get(i) {
                            s.push(e as char);
                            i += 1;
                        }
                        continue;
                    }
                    s.push(d as char);
                }
                out.push(Token::Str(s));
            }
            b'$' if b.get(i + 1) == Some(&b'(') => {
                let start = i;
                let mut depth = 0usize;
                loop {
                    let Some(&d) = b.get(i) else {
                        return Err(SyntaxError::OpenMacro);
                    };
                    i += 1;
                    if d == b'(' {
                        depth += 1;
                    } else if d == b')' {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                }
                out.push(Token::Macro(line[start..i].to_string()));
            }
            _ => {
                let two = line.get(i..i + 2).unwrap_or("");
                let op2 = ["&&", "||", "!=", "<=", ">="]
                    .into_iter()
                    .find(|o| *o == two);
                if let Some(op) = op2 {
                    out.push(Token::Op(op));
                    i += 2;
                    continue;
                }
                let op1 = ["!", "(", ")", "=", "<", ">"]
                    .into_iter()
                    .find(|o| o.as_bytes()[0] == c);
                if let Some(op) = op1 {
                    out.push(Token::Op(op));
                    i += 1;
                    continue;
                }
                let start = i;
                while i < b.len() && !b" \t\r#\"'!()=<>&|".contains(&b[i]) {
                    i += 1;
                }
                if i == start {
                    return Err(SyntaxError::Character(c as char));
                }
                // a macro glued to a word (`arch/$(SRCARCH)/Kconfig` is
                // quoted, but words like `FOO$(x)` exist in theory): keep
                // it as one word
                out.push(Token::Word(line[start..i].to_string()));
            }
        }
    }
    Ok(out)
}

/// Parse tokens `toks[*pos..]` as one expression, stopping before a token
/// the grammar does not continue with (the `if` of `default X if Y`).
pub fn parse(toks: &[Token], pos: &mut usize) -> Result<Expr, SyntaxError> {
    parse_or(toks, pos)
}

fn parse_or(t: &[Token], p: &mut usize) -> Result<Expr, SyntaxError> {
    let mut left = parse_and(t, p)?;
    while t.get(*p) == Some(&Token::Op("||")) {
        *p += 1;
        let right = parse_and(t, p)?;
        left = Expr::Or(Box::new(left), Box::new(right));
    }
    Ok(left)
}

fn parse_and(t: &[Token], p: &mut usize) -> Result<Expr, SyntaxError> {
    let mut left = parse_not(t, p)?;
    while t.get(*p) == Some(&Token::Op("&&")) {
        *p += 1;
        let right = parse_not(t, p)?;
        left = Expr::And(Box::new(left), Box::new(right));
    }
    Ok(left)
}

fn parse_not(t: &[Token], p: &mut usize) -> Result<Expr, SyntaxError> {
    if t.get(*p) == Some(&Token::Op("!")) {
        *p += 1;
        return Ok(Expr::Not(Box::new(parse_not(t, p)?)));
    }
    parse_cmp(t, p)
}

fn parse_cmp(t: &[Token], p: &mut usize) -> Result<Expr, SyntaxError> {
    let left = parse_atom(t, p)?;
    let op = match t.get(*p) {
        Some(Token::Op("=")) => Cmp::Eq,
        Some(Token::Op("!=")) => Cmp::Ne,
        Some(Token::Op("<")) => Cmp::Lt,
        Some(Token::Op("<=")) => Cmp::Le,
        Some(Token::Op(">")) => Cmp::Gt,
        Some(Token::Op(">=")) => Cmp::Ge,
        _ => return Ok(left),
    };
    *p += 1;
    let right = parse_atom(t, p)?;
    Ok(Expr::Cmp(op, Box::new(left), Box::new(right)))
}

fn parse_atom(t: &[Token], p: &mut usize) -> Result<Expr, SyntaxError> {
    let tok = t.get(*p).ok_or(SyntaxError::EndsEarly)?;
    *p += 1;
    match tok {
        Token::Op("(") => {
            let e = parse_or(t, p)?;
            if t.get(*p) != Some(&Token::Op(")")) {
                return Err(SyntaxError::OpenParen);
            }
            *p += 1;
            Ok(e)
        }
        Token::Word(w) if w.contains("$(") => Ok(Expr::Macro(w.clone())),
        Token::Word(w) => Ok(Expr::Sym(w.clone())),
        Token::Str(s) => Ok(Expr::Str(s.clone())),
        Token::Macro(m) => Ok(Expr::Macro(m.clone())),
        Token::Op(o) => Err(SyntaxError::Operator(o)),
    }
}

impl Expr {
    pub fn and(a: Expr, b: Expr) -> Expr {
        Expr::And(Box::new(a), Box::new(b))
    }

    /// The tristate value. A macro (a toolchain test) counts as `y`: the
    /// kernel's kconfig ran it; its result shows in the symbols it defines.
    pub fn eval(&self, v: &Values) -> Tri {
        match self {
            Expr::Sym(s) => v.tri(s),
            Expr::Str(s) => Tri::parse(s).unwrap_or(Tri::N),
            Expr::Macro(_) => Tri::Y,
            Expr::Not(a) => !a.eval(v),
            Expr::And(a, b) => a.eval(v).min(b.eval(v)),
            Expr::Or(a, b) => a.eval(v).max(b.eval(v)),
            Expr::Cmp(op, a, b) => {
                let (x, y) = (a.text_value(v), b.text_value(v));
                let ord = match (parse_number(&x), parse_number(&y)) {
                    (Some(i), Some(j)) => i.cmp(&j),
                    _ => x.cmp(&y),
                };
                let holds = match op {
                    Cmp::Eq => ord.is_eq(),
                    Cmp::Ne => !ord.is_eq(),
                    Cmp::Lt => ord.is_lt(),
                    Cmp::Le => ord.is_le(),
                    Cmp::Gt => ord.is_gt(),
                    Cmp::Ge => ord.is_ge(),
                };
                if holds { Tri::Y } else { Tri::N }
            }
        }
    }

    fn text_value(&self, v: &Values) -> String {
        match self {
            Expr::Sym(s) => v.text(s),
            Expr::Str(s) => s.clone(),
            other => other.eval(v).as_str().to_string(),
        }
    }

    /// The leaves that keep this expression below `need`, each as
    /// `NAME=value` (or the comparison that fails, or the macro).
    pub fn blame_low(&self, need: Tri, v: &Values, out: &mut Vec<String>) {
        if self.eval(v) >= need {
            return;
        }
        match self {
            Expr::And(a, b) | Expr::Or(a, b) => {
                a.blame_low(need, v, out);
                b.blame_low(need, v, out);
            }
            Expr::Not(a) => a.blame_high(!need, v, out),
            leaf => push_unique(out, leaf.leaf_text(v)),
        }
    }

    /// The leaves that keep this expression above `max`.
    pub fn blame_high(&self, max: Tri, v: &Values, out: &mut Vec<String>) {
        if self.eval(v) <= max {
            return;
        }
        match self {
            Expr::And(a, b) | Expr::Or(a, b) => {
                a.blame_high(max, v, out);
                b.blame_high(max, v, out);
            }
            Expr::Not(a) => a.blame_low(!max, v, out),
            leaf => push_unique(out, leaf.leaf_text(v)),
        }
    }

    fn leaf_text(&self, v: &Values) -> String {
        match self {
            Expr::Sym(s) => format!("{s}={}", v.text(s)),
            Expr::Cmp(..) => format!("{} (is {})", self, self.with_values(v)),
            other => other.to_string(),
        }
    }

    /// The expression with each symbol's value beside it, as menuconfig's
    /// help shows it: `MMC [=n] && CFG80211 [=m]`.
    pub fn with_values(&self, v: &Values) -> String {
        self.render(&|s| {
            if Tri::parse(s).is_some() || parse_number(s).is_some() {
                s.to_string()
            } else {
                format!("{s} [={}]", v.text(s))
            }
        })
    }

    fn render(&self, sym: &dyn Fn(&str) -> String) -> String {
        let paren = |e: &Expr| match e {
            Expr::Or(..) => format!("({})", e.render(sym)),
            _ => e.render(sym),
        };
        match self {
            Expr::Sym(s) => sym(s),
            Expr::Str(s) => format!("{s:?}"),
            Expr::Macro(m) => m.clone(),
            Expr::Not(a) => match **a {
                Expr::Sym(_) | Expr::Str(_) | Expr::Macro(_) => format!("!{}", a.render(sym)),
                _ => format!("!({})", a.render(sym)),
            },
            Expr::And(a, b) => format!("{} && {}", paren(a), paren(b)),
            Expr::Or(a, b) => format!("{} || {}", a.render(sym), b.render(sym)),
            Expr::Cmp(op, a, b) => format!("{}{}{}", a.render(sym), op.text(), b.render(sym)),
        }
    }

    /// Every symbol the expression names.
    pub fn symbols<'a>(&'a self, out: &mut Vec<&'a str>) {
        match self {
            Expr::Sym(s) => out.push(s),
            Expr::Str(_) | Expr::Macro(_) => {}
            Expr::Not(a) => a.symbols(out),
            Expr::And(a, b) | Expr::Or(a, b) | Expr::Cmp(_, a, b) => {
                a.symbols(out);
                b.symbols(out);
            }
        }
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(&|s| s.to_string()))
    }
}

fn push_unique(out: &mut Vec<String>, s: String) {
    if !out.contains(&s) {
        out.push(s);
    }
}

/// A Kconfig number: decimal (signed) or hexadecimal with `0x`.
pub fn parse_number(s: &str) -> Option<i64> {
    if let Some(h) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        return i64::from_str_radix(h, 16).ok();
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expr(s: &str) -> Expr {
        let t = tokenize(s).unwrap();
        let mut p = 0;
        let e = parse(&t, &mut p).unwrap();
        assert_eq!(p, t.len(), "{s}");
        e
    }

    fn values(pairs: &[(&str, &str)]) -> Values {
        Values::from_pairs(pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())))
    }

    #[test]
    fn precedence_and_tristate_logic() {
        let v = values(&[("A", "y"), ("B", "m")]);
        assert_eq!(expr("A && B").eval(&v), Tri::M);
        assert_eq!(expr("A || B").eval(&v), Tri::Y);
        assert_eq!(expr("!B").eval(&v), Tri::M);
        assert_eq!(expr("C || B && A").eval(&v), Tri::M);
        assert_eq!(expr("!(A && C)").eval(&v), Tri::Y);
        assert_eq!(expr("B = m").eval(&v), Tri::Y);
        assert_eq!(expr("B != m").eval(&v), Tri::N);
    }

    #[test]
    fn numbers_compare_as_numbers() {
        let v = values(&[("HZ", "250"), ("X", "0x10")]);
        assert_eq!(expr("HZ > 100").eval(&v), Tri::Y);
        assert_eq!(expr("X >= 16").eval(&v), Tri::Y);
        assert_eq!(expr("HZ < 1000").eval(&v), Tri::Y);
    }

    #[test]
    fn blame_names_the_leaves_that_keep_it_low() {
        let v = values(&[("A", "y"), ("B", "m")]);
        let mut out = Vec::new();
        expr("A && (B || C) && !D").blame_low(Tri::Y, &v, &mut out);
        assert_eq!(out, ["B=m", "C=n"]);
        let mut out = Vec::new();
        expr("A && !E").blame_low(Tri::Y, &values(&[("A", "y"), ("E", "y")]), &mut out);
        assert_eq!(out, ["E=y"]);
    }

    #[test]
    fn renders_with_values() {
        let v = values(&[("MMC", "y")]);
        assert_eq!(
            expr("MMC && (CFG80211 || X=y)").with_values(&v),
            "MMC [=y] && (CFG80211 [=n] || X [=n]=y)"
        );
    }

    #[test]
    fn macros_are_atoms() {
        let t = tokenize("def_bool $(cc-option,-mabi=lp64 -x) # c").unwrap();
        assert_eq!(t[1], Token::Macro("$(cc-option,-mabi=lp64 -x)".into()));
        assert_eq!(t.len(), 2);
    }
}
