//! Line-wise edits of the fleet's YAML files (manifests, series.yaml): only the
//! entries that change are touched; every other line, comment and blank line
//! is kept byte for byte. The caller re-parses the result and compares it with
//! what it meant to write (see `rewrite` in lib.rs): a file this editor
//! cannot handle is refused, never re-serialized.
//!
//! Handled: a top-level list written in flow style on one line
//! (`include: [a, "b"]  # why`) or in block style (`include:` then `  - a`
//! lines, indented or not); a top-level scalar (`scope: board/x`).

/// What to do with one list item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    Keep,
    Drop,
    Replace(String),
}

/// The line with its end, and its text without the end.
fn split_lines(text: &str) -> Vec<&str> {
    text.split_inclusive('\n').collect()
}

fn body(line: &str) -> &str {
    line.trim_end_matches(['\n', '\r'])
}

/// `key:` at column 0; returns what follows the colon.
fn key_rest<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.strip_prefix(key)?.strip_prefix(':')
}

/// Split `rest` into value and trailing comment (` # ...`), keeping spacing.
fn split_comment(rest: &str) -> (&str, &str) {
    let bytes = rest.as_bytes();
    let mut quote: Option<u8> = None;
    for (i, &b) in bytes.iter().enumerate() {
        match quote {
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'"' || b == b'\'' => quote = Some(b),
            None if b == b'#' && (i == 0 || bytes[i - 1].is_ascii_whitespace()) => {
                // keep the whitespace before the comment with the comment
                let start = rest[..i].trim_end().len();
                return (&rest[..start], &rest[start..]);
            }
            None => {}
        }
    }
    let end = rest.trim_end().len();
    (&rest[..end], &rest[end..])
}

/// An item as written (maybe quoted) → (value, quote char).
fn unquote(item: &str) -> (String, Option<char>) {
    let t = item.trim();
    for q in ['"', '\''] {
        if t.len() >= 2 && t.starts_with(q) && t.ends_with(q) {
            return (t[1..t.len() - 1].to_string(), Some(q));
        }
    }
    (t.to_string(), None)
}

fn quote(value: &str, q: Option<char>) -> String {
    match q {
        Some(q) => format!("{q}{value}{q}"),
        None => value.to_string(),
    }
}

/// Why a YAML file could not be edited in place: a shape this editor does
/// not rewrite (the owner edits it by hand).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    #[error("{0}: a flow list spread over several lines; put it on one line or edit it by hand")]
    FlowOverLines(String),
    #[error("{key}: {value:?} is not a list this tool can edit; write it as [a, b] or as - items")]
    NotAList { key: String, value: String },
    #[error("{key}: line {line} is not a list item (`- value`); edit it by hand")]
    NotAnItem { key: String, line: usize },
    #[error("no top-level `{0}:` line")]
    NoKey(String),
}

/// Apply `f` to every item of the top-level list `key`. A missing key is no change.
pub fn edit_list(text: &str, key: &str, f: impl Fn(&str) -> Edit) -> Result<String, EditError> {
    let lines = split_lines(text);
    let Some(at) = lines.iter().position(|l| key_rest(l, key).is_some()) else {
        return Ok(text.to_string());
    };
    let line = lines[at];
    let rest = key_rest(body(line), key).expect("found above");
    let (value, comment) = split_comment(rest);
    let value_trim = value.trim();
    let mut out: Vec<String> = lines[..at].iter().map(|s| s.to_string()).collect();
    let ending = &line[body(line).len()..];

    if value_trim.starts_with('[') {
        if !value_trim.ends_with(']') {
            return Err(EditError::FlowOverLines(key.into()));
        }
        let inner = &value_trim[1..value_trim.len() - 1];
        if let Some(items) = edited_flow_items(inner, &f) {
            let lead = &value[..value.len() - value.trim_start().len()];
            out.push(format!(
                "{key}:{lead}[{}]{comment}{ending}",
                items.join(", ")
            ));
        } else {
            out.push(line.to_string());
        }
        out.extend(lines[at + 1..].iter().map(|s| s.to_string()));
        return Ok(out.concat());
    }
    if !value_trim.is_empty() {
        return Err(EditError::NotAList {
            key: key.into(),
            value: value_trim.into(),
        });
    }

    // Block list: the item lines that follow.
    let block = edited_block_items(&lines, at, key, &f)?;
    if block.dropped > 0 && block.kept_items == 0 {
        out.push(format!("{key}: []{comment}{ending}"));
    } else {
        out.push(line.to_string());
    }
    out.extend(block.lines);
    out.extend(lines[block.end..].iter().map(|s| s.to_string()));
    Ok(out.concat())
}

/// The items of a one-line flow list (`inner`: between the brackets) after
/// `f`, as written (kept quoting); `None` when `f` changes none of them.
fn edited_flow_items(inner: &str, f: &impl Fn(&str) -> Edit) -> Option<Vec<String>> {
    let mut items = Vec::new();
    let mut changed = false;
    for raw in inner.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (v, q) = unquote(raw);
        match f(&v) {
            Edit::Keep => items.push(raw.to_string()),
            Edit::Drop => changed = true,
            Edit::Replace(new) => {
                changed = true;
                items.push(quote(&new, q));
            }
        }
    }
    changed.then_some(items)
}

/// A block list's lines after `f`, and how many items were kept and dropped.
struct EditedBlock {
    lines: Vec<String>,
    kept_items: usize,
    dropped: usize,
    /// The index of the first line after the list.
    end: usize,
}

/// Apply `f` to the `- item` lines after line `at` (`key:`), keeping blank
/// and comment lines; the list ends at the first line at column 0.
fn edited_block_items(
    lines: &[&str],
    at: usize,
    key: &str,
    f: &impl Fn(&str) -> Edit,
) -> Result<EditedBlock, EditError> {
    let mut kept_items = 0;
    let mut dropped = 0;
    let mut block = Vec::new();
    let mut i = at + 1;
    while i < lines.len() {
        let l = lines[i];
        let b = body(l);
        let t = b.trim_start();
        if t.is_empty() || t.starts_with('#') {
            block.push(l.to_string());
        } else if let Some(item_text) =
            t.strip_prefix("- ")
                .or(if t == "-" { Some("") } else { None })
        {
            let indent = &b[..b.len() - t.len()];
            let (value, comment) = split_comment(item_text);
            let (v, q) = unquote(value);
            match f(&v) {
                Edit::Keep => {
                    kept_items += 1;
                    block.push(l.to_string());
                }
                Edit::Drop => dropped += 1,
                Edit::Replace(new) => {
                    kept_items += 1;
                    let lend = &l[b.len()..];
                    block.push(format!("{indent}- {}{comment}{lend}", quote(&new, q)));
                }
            }
        } else if b.starts_with(char::is_whitespace) {
            return Err(EditError::NotAnItem {
                key: key.into(),
                line: i + 1,
            });
        } else {
            break;
        }
        i += 1;
    }
    Ok(EditedBlock {
        lines: block,
        kept_items,
        dropped,
        end: i,
    })
}

/// Set the top-level scalar `key` to `value`, keeping its quoting and comment.
pub fn set_scalar(text: &str, key: &str, value: &str) -> Result<String, EditError> {
    let lines = split_lines(text);
    let Some(at) = lines.iter().position(|l| key_rest(l, key).is_some()) else {
        return Err(EditError::NoKey(key.into()));
    };
    let line = lines[at];
    let rest = key_rest(body(line), key).expect("found above");
    let (old, comment) = split_comment(rest);
    let (_, q) = unquote(old);
    let lead = &old[..old.len() - old.trim_start().len()];
    let lead = if lead.is_empty() { " " } else { lead };
    let ending = &line[body(line).len()..];
    let mut out: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
    out[at] = format!("{key}:{lead}{}{comment}{ending}", quote(value, q));
    Ok(out.concat())
}

/// Append `block` (whole lines) at the end, after a final newline.
pub fn append(text: &str, block: &str) -> String {
    let mut out = text.to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(block);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drop_x(v: &str) -> Edit {
        if v == "x" { Edit::Drop } else { Edit::Keep }
    }

    #[test]
    fn flow_list_keeps_comment() {
        let t = "host: h\ninclude: [a, x, \"b\"]  # why\nexclude: []\n";
        assert_eq!(
            edit_list(t, "include", drop_x).unwrap(),
            "host: h\ninclude: [a, \"b\"]  # why\nexclude: []\n"
        );
        let r = edit_list(t, "include", |v| {
            if v == "b" {
                Edit::Replace("c/d".into())
            } else {
                Edit::Keep
            }
        })
        .unwrap();
        assert_eq!(r, "host: h\ninclude: [a, x, \"c/d\"]  # why\nexclude: []\n");
    }

    #[test]
    fn block_list_drops_lines_and_empties_to_flow() {
        let t = "include:\n  # keep me\n  - x   # gone\nexclude: []\n";
        assert_eq!(
            edit_list(t, "include", drop_x).unwrap(),
            "include: []\n  # keep me\nexclude: []\n"
        );
        let t = "include:\n- a\n- x\nbuild: {}\n";
        assert_eq!(
            edit_list(t, "include", drop_x).unwrap(),
            "include:\n- a\nbuild: {}\n"
        );
    }

    #[test]
    fn untouched_text_is_identical() {
        let t = "# top\nscopes: [a,b]   \ninclude:\n    - 'q'\n";
        assert_eq!(edit_list(t, "scopes", |_| Edit::Keep).unwrap(), t);
        assert_eq!(edit_list(t, "include", |_| Edit::Keep).unwrap(), t);
        assert_eq!(edit_list(t, "exclude", drop_x).unwrap(), t);
    }

    #[test]
    fn multi_line_flow_is_refused() {
        assert!(edit_list("include: [a,\n  b]\n", "include", drop_x).is_err());
    }

    #[test]
    fn scalar_keeps_quotes() {
        let t = "scope: \"board/a\"  # tag\ncampaign: c\n";
        assert_eq!(
            set_scalar(t, "scope", "board/b").unwrap(),
            "scope: \"board/b\"  # tag\ncampaign: c\n"
        );
    }
}
