//! Rewriting the references to series and scopes: `scopes:`, `include:`,
//! `exclude:` in manifests and `after:` (and `scope:`) in series.yaml. Each
//! rewrite is line-wise and checked by re-parsing against the intended value.

use crate::repo::{ManifestInfo, SeriesInfo, verify};
use crate::yamledit::{Edit, EditError, edit_list, set_scalar};
use ka_core::error::{Result, contract};
use ka_schema::SeriesMeta;

pub type EditFn<'a> = &'a dyn Fn(&str) -> Edit;

/// The list after the edit, as the rewritten YAML must read.
pub fn apply_vec(v: &[String], f: EditFn) -> Vec<String> {
    v.iter()
        .filter_map(|x| match f(x) {
            Edit::Keep => Some(x.clone()),
            Edit::Drop => None,
            Edit::Replace(n) => Some(n),
        })
        .collect()
}

fn at(rel: &str) -> impl Fn(EditError) -> ka_core::Error + '_ {
    move |e| contract(format!("{rel}: {e}; nothing was changed: edit it by hand"))
}

/// A manifest's new text, or `None` when nothing in it changes.
pub fn manifest(m: &ManifestInfo, scopes: EditFn, series: EditFn) -> Result<Option<String>> {
    let mut text = edit_list(&m.text, "scopes", scopes).map_err(at(&m.rel))?;
    text = edit_list(&text, "include", series).map_err(at(&m.rel))?;
    text = edit_list(&text, "exclude", series).map_err(at(&m.rel))?;
    if text == m.text {
        return Ok(None);
    }
    let mut want = m.manifest.clone();
    want.scopes = apply_vec(&want.scopes, scopes);
    want.include = apply_vec(&want.include, series);
    want.exclude = apply_vec(&want.exclude, series);
    verify(&m.rel, &text, &want)?;
    Ok(Some(text))
}

/// A series.yaml's new text with `after:` edited and maybe a new `scope:`
/// tag; `None` when nothing changes.
pub fn series_yaml(
    s: &SeriesInfo,
    after: EditFn,
    new_scope: Option<&str>,
) -> Result<Option<String>> {
    let rel = s.yaml();
    let mut text = edit_list(&s.text, "after", after).map_err(at(&rel))?;
    let mut want: SeriesMeta = s.meta.clone();
    want.after = apply_vec(&want.after, after);
    if let Some(scope) = new_scope
        && scope != s.meta.scope
    {
        text = set_scalar(&text, "scope", scope).map_err(at(&rel))?;
        want.scope = scope.to_string();
    }
    if text == s.text {
        return Ok(None);
    }
    verify(&rel, &text, &want)?;
    Ok(Some(text))
}
