//! Human output on a terminal: the one rule for empty lists.
//!
//! A list that comes out empty says so when a person reads it ("no open
//! blocks"), and stays silent when stdout is piped, so a script reading the
//! lines sees none. Every `list`-like view uses [`say_none`].

use std::io::{self, IsTerminal, Write};

/// Whether stdout is a terminal (a person reads it), not a pipe or file.
pub fn stdout_is_terminal() -> bool {
    io::stdout().is_terminal()
}

/// After a list of `shown` items: when it was empty and stdout is a
/// terminal, write the line `none` (e.g. "no open blocks"); otherwise write
/// nothing.
pub fn say_none(out: &mut impl Write, shown: usize, none: &str) -> io::Result<()> {
    say_none_if(out, shown, stdout_is_terminal(), none)
}

/// [`say_none`] with the terminal test given.
pub fn say_none_if(
    out: &mut impl Write,
    shown: usize,
    terminal: bool,
    none: &str,
) -> io::Result<()> {
    if shown == 0 && terminal {
        writeln!(out, "{none}")?;
    }
    Ok(())
}

/// A table with a header line: every column but the last padded to its
/// widest cell plus two spaces; trailing blanks trimmed. Widths count
/// characters, so `—` is one column wide.
pub fn table<R: AsRef<[String]>>(
    out: &mut impl Write,
    header: &[&str],
    rows: &[R],
) -> io::Result<()> {
    let mut width: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (w, c) in width.iter_mut().zip(r.as_ref()) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |out: &mut dyn Write, cells: &mut dyn Iterator<Item = &str>| -> io::Result<()> {
        let cells: Vec<&str> = cells.collect();
        let mut text = String::new();
        for (i, c) in cells.iter().enumerate() {
            text.push_str(c);
            if i + 1 < cells.len() {
                let w = width.get(i).copied().unwrap_or(0);
                text.push_str(&" ".repeat(w.saturating_sub(c.chars().count()) + 2));
            }
        }
        writeln!(out, "{}", text.trim_end())
    };
    line(out, &mut header.iter().copied())?;
    for r in rows {
        line(out, &mut r.as_ref().iter().map(String::as_str))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{say_none_if, table};

    #[test]
    fn tables_align_every_column_but_the_last() {
        let mut out = Vec::new();
        let rows = vec![
            vec!["fresnel".to_string(), "—".into(), "pass 2d ago".into()],
            vec!["ohm".to_string(), "6.1.158-3".into(), "".into()],
        ];
        table(&mut out, &["HOST", "BUILT", "VERIFY"], &rows).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "HOST     BUILT      VERIFY\n\
             fresnel  —          pass 2d ago\n\
             ohm      6.1.158-3\n"
        );
    }

    fn said(shown: usize, terminal: bool) -> String {
        let mut out = Vec::new();
        say_none_if(&mut out, shown, terminal, "no open blocks").unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn an_empty_list_says_none_only_on_a_terminal() {
        assert_eq!(said(0, true), "no open blocks\n");
        assert_eq!(said(0, false), "", "piped: silent");
        assert_eq!(said(2, true), "", "a list with items says nothing more");
        assert_eq!(said(2, false), "");
    }
}

/// A byte count as a person reads it: `517 MB`, `1.3 GB` (powers of 1000, as
/// `ls -h --si` and apt print them).
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["bytes", "kB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    match unit {
        0 => format!("{bytes} bytes"),
        _ if value < 10.0 => format!("{value:.1} {}", UNITS[unit]),
        _ => format!("{value:.0} {}", UNITS[unit]),
    }
}

#[cfg(test)]
mod size_tests {
    #[test]
    fn sizes_read_like_apt() {
        assert_eq!(super::size(999), "999 bytes");
        assert_eq!(super::size(1_300_000_000), "1.3 GB");
        assert_eq!(super::size(517_000_000), "517 MB");
    }
}
