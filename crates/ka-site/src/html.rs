//! The HTML every page is made of: escaping, the page frame with its inline
//! style, and semantic tables. Everything that comes from state goes through
//! [`esc`]; cells are HTML already when they reach [`Table`].

use std::fmt::{self, Display, Write};

/// Text made safe for element content and quoted attribute values.
pub struct Esc<'a>(pub &'a str);

impl Display for Esc<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.0.chars() {
            match c {
                '&' => f.write_str("&amp;")?,
                '<' => f.write_str("&lt;")?,
                '>' => f.write_str("&gt;")?,
                '"' => f.write_str("&quot;")?,
                '\'' => f.write_str("&#39;")?,
                c => f.write_char(c)?,
            }
        }
        Ok(())
    }
}

pub fn esc(text: &str) -> Esc<'_> {
    Esc(text)
}

/// A link; `href` is a site-relative path made by the site, `text` from state.
pub fn link(href: &str, text: &str) -> String {
    format!("<a href=\"{}\">{}</a>", esc(href), esc(text))
}

/// A pass or a failure: a word (and a symbol) carries it, the colour only helps.
pub fn verdict(passed: bool) -> &'static str {
    if passed {
        "<span class=\"ok\">✓ pass</span>"
    } else {
        "<span class=\"bad\">✗ FAIL</span>"
    }
}

/// A word that wants attention (drifted, blocked), marked the same way.
pub fn alert(word: &str) -> String {
    format!("<span class=\"bad\">⚠ {}</span>", esc(word))
}

/// A cell with nothing to show.
pub const NONE: &str = "<span class=\"none\">—</span>";

/// A time from state: machine-readable, and its age at the site's `as_of`.
pub fn when(at: &str, as_of: i64) -> String {
    match ka_core::time::parse_time(at) {
        Ok(t) => format!(
            "<time datetime=\"{}\">{}</time> <span class=\"age\">({})</span>",
            esc(at),
            esc(&at.replace('T', " ")),
            esc(&age(as_of - t))
        ),
        Err(_) => esc(at).to_string(),
    }
}

/// An age for people: `41d ago`, `5h ago`, `in 2d`.
pub fn age(secs: i64) -> String {
    let text = ka_retain::human_age(secs.abs());
    if secs < 0 {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

/// One row of a table: cells (the first is the row's header), or an error
/// spanning the row.
pub enum Row {
    Cells(Vec<String>),
    Error(String),
}

/// A table with a caption, column headers and row headers.
pub struct Table<'a> {
    pub caption: &'a str,
    pub head: &'a [&'a str],
    pub rows: Vec<Row>,
    /// What an empty table says instead.
    pub empty: &'a str,
}

impl Table<'_> {
    pub fn render(&self, out: &mut String) {
        if self.rows.is_empty() {
            let _ = writeln!(
                out,
                "<h2>{}</h2>\n<p class=\"none\">{}</p>",
                esc(self.caption),
                esc(self.empty)
            );
            return;
        }
        // Wide tables scroll on their own on a phone; the page does not.
        let _ = writeln!(
            out,
            "<div class=\"wide\"><table>\n<caption>{}</caption>",
            esc(self.caption)
        );
        out.push_str("<thead><tr>");
        for h in self.head {
            let _ = write!(out, "<th scope=\"col\">{}</th>", esc(h));
        }
        out.push_str("</tr></thead>\n<tbody>\n");
        for row in &self.rows {
            match row {
                Row::Cells(cells) => {
                    out.push_str("<tr>");
                    for (i, c) in cells.iter().enumerate() {
                        if i == 0 {
                            let _ = write!(out, "<th scope=\"row\">{c}</th>");
                        } else {
                            let _ = write!(out, "<td>{c}</td>");
                        }
                    }
                    out.push_str("</tr>\n");
                }
                Row::Error(msg) => {
                    let _ = writeln!(
                        out,
                        "<tr class=\"error\"><td colspan=\"{}\"><strong>error:</strong> {}</td></tr>",
                        self.head.len(),
                        esc(msg)
                    );
                }
            }
        }
        out.push_str("</tbody></table></div>\n");
    }
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:0 auto;max-width:80em;padding:.5em 1em;line-height:1.4;color:#111;background:#fff}\
nav a{margin-right:1em}\
table{border-collapse:collapse;margin:.5em 0 1.5em}\
caption{text-align:left;font-weight:bold;font-size:1.2em;padding:.3em 0}\
th,td{border:1px solid #bbb;padding:.25em .5em;text-align:left;vertical-align:top}\
thead th{background:#eee}\
.wide{overflow-x:auto}\
.ok{color:#0a5d0a}\
.bad{color:#a30000;font-weight:bold}\
.none,.age{color:#555}\
tr.error td{background:#fff0f0;color:#a30000}\
pre{overflow-x:auto;background:#f6f6f6;border:1px solid #ddd;padding:.5em;font-size:.85em}\
ol.strip{display:flex;flex-wrap:wrap;list-style:none;padding:0;gap:.25em}\
ol.strip li{border:1px solid #bbb;padding:0 .3em}\
code{overflow-wrap:anywhere}";

/// A whole page. `up` leads from the page's folder to the site root (`""`
/// or `"../"`); `as_of` is shown so every age on the page can be read.
pub fn page(title: &str, up: &str, as_of: i64, body: &str) -> String {
    let as_of_text = ka_core::time::rfc3339(as_of);
    let as_of_line = if as_of == 0 {
        "No state recorded yet: run ka-promote (make demo does).".to_string()
    } else {
        format!(
            "State as of <time datetime=\"{as_of_text}\">{}</time>; ages count to then.",
            as_of_text.replace('T', " ")
        )
    };
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
<title>{title} — kernel-agent</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
<header><nav><a href=\"{up}index.html\">Fleet</a><a href=\"{up}matrix.html\">Patch matrix</a></nav>\n\
<h1>{title}</h1>\n<p>{as_of_line}</p></header>\n\
<main>\n{body}</main>\n</body>\n</html>\n",
        title = esc(title),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc("<b>\"a\" & 'b'</b>").to_string(),
            "&lt;b&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/b&gt;"
        );
    }

    #[test]
    fn a_table_has_scoped_headers_and_error_rows_span_it() {
        let mut out = String::new();
        Table {
            caption: "Hosts",
            head: &["Host", "Arch"],
            rows: vec![
                Row::Cells(vec!["ohm".into(), "x86_64".into()]),
                Row::Error("hosts/<x>/installed.json is corrupt".into()),
            ],
            empty: "no hosts",
        }
        .render(&mut out);
        assert!(out.contains("<th scope=\"col\">Host</th>"));
        assert!(out.contains("<th scope=\"row\">ohm</th><td>x86_64</td>"));
        assert!(out.contains(
            "<td colspan=\"2\"><strong>error:</strong> hosts/&lt;x&gt;/installed.json is corrupt</td>"
        ));
    }

    #[test]
    fn an_empty_table_says_so() {
        let mut out = String::new();
        Table {
            caption: "Jobs",
            head: &["Job"],
            rows: vec![],
            empty: "no build jobs yet",
        }
        .render(&mut out);
        assert!(out.contains("no build jobs yet") && !out.contains("<table>"));
    }

    #[test]
    fn ages_and_verdicts_are_words() {
        assert_eq!(age(3 * 86_400), "3d ago");
        assert_eq!(age(-7200), "in 2h");
        assert!(verdict(false).contains("FAIL") && verdict(true).contains("pass"));
        let w = when(
            "2026-03-01T10:00:00Z",
            ka_core::time::parse_time("2026-03-02T10:00:00Z").unwrap(),
        );
        assert!(
            w.contains("datetime=\"2026-03-01T10:00:00Z\"") && w.contains("(1d ago)"),
            "{w}"
        );
    }
}
