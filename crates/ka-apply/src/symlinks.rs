//! Symbolic links in a series of patches. A patch may not make a link (by
//! creating, renaming, copying or retargeting one, or by a mode change)
//! whose target is absolute or climbs out of the tree, nor touch a path
//! beyond a link that an earlier patch (or an earlier file of the same
//! patch) made.
//!
//! `git apply` refuses the second ("affected file ... is beyond a symbolic
//! link"). It accepts the first: to git a link is only a name it stores. We
//! are stricter because the build host applies the series with `patch -p1`
//! into a real tree, where a later patch, or the build itself, would follow
//! such a link out of the tree.
//!
//! Both [`Overlay`](crate::Overlay) (ka-check, on a base tree) and
//! [`SeriesLinks`] (ka-import, on the patches alone) answer [`Links`]; one
//! [`judge`] decides for both.

use crate::ApplyError;
use crate::hunk::LineKind;
use crate::parse::{Body, FileDiff, Target, parse_patch};
use diffy::patch_set::FileMode;
use std::collections::BTreeMap;

/// Why a patch is refused, and the line of the patch file where the file
/// diff at fault starts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct Hostile {
    pub line: usize,
    pub message: String,
}

/// The symbolic links as the earlier patches left them.
pub(crate) trait Links {
    /// Whether an earlier patch made `path` a link (cheap: asked for every
    /// folder above every path a patch touches).
    fn made_link(&self, path: &str) -> bool;
    /// Whether `path` is a link now, the base tree included (may be slow:
    /// asked only for the source of a rename or copy).
    fn is_link(&mut self, path: &str) -> Result<bool, ApplyError>;
    /// The content of `path` now (a link's content is its target).
    fn read(&mut self, path: &str) -> Result<Option<Vec<u8>>, ApplyError>;
}

/// A path that becomes a link (with its target) or stops being one, to
/// record once the patch applies.
pub(crate) type LinkChange = (String, Option<Vec<u8>>);

/// The links of one patch, staged over the earlier patches' ones.
struct Staged<'a> {
    earlier: &'a mut dyn Links,
    changes: BTreeMap<String, Option<Vec<u8>>>,
    /// The changed paths in the order of the patch.
    order: Vec<String>,
}

impl Staged<'_> {
    fn record(&mut self, path: &str, target: Option<Vec<u8>>) {
        self.changes.insert(path.to_string(), target);
        self.order.push(path.to_string());
    }

    fn made_link(&self, path: &str) -> bool {
        match self.changes.get(path) {
            Some(target) => target.is_some(),
            None => self.earlier.made_link(path),
        }
    }

    fn is_link(&mut self, path: &str) -> Result<bool, ApplyError> {
        match self.changes.get(path) {
            Some(target) => Ok(target.is_some()),
            None => self.earlier.is_link(path),
        }
    }

    fn read(&mut self, path: &str) -> Result<Option<Vec<u8>>, ApplyError> {
        match self.changes.get(path) {
            Some(Some(target)) => Ok(Some(target.clone())),
            _ => self.earlier.read(path),
        }
    }

    /// The link folder above `path`, if any.
    fn link_above(&self, path: &str) -> Option<String> {
        path.match_indices('/')
            .map(|(i, _)| &path[..i])
            .find(|folder| self.made_link(folder))
            .map(str::to_string)
    }
}

/// Judge the file diffs of one patch in order. `Ok(Err(_))` refuses the
/// patch; `Ok(Ok(changes))` lists the link changes to record once it applies.
/// `Err` only for failures to read the base tree.
pub(crate) fn judge(
    diffs: &[FileDiff<'_>],
    links: &mut dyn Links,
) -> Result<Result<Vec<LinkChange>, Hostile>, ApplyError> {
    let mut staged = Staged {
        earlier: links,
        changes: BTreeMap::new(),
        order: Vec::new(),
    };
    for diff in diffs {
        if let Err(message) = staged.judge_diff(diff)? {
            return Ok(Err(Hostile {
                line: diff.line,
                message,
            }));
        }
    }
    let Staged { changes, order, .. } = staged;
    Ok(Ok(order
        .into_iter()
        .map(|path| {
            let target = changes[&path].clone();
            (path, target)
        })
        .collect()))
}

impl Staged<'_> {
    /// Judge one file diff of the patch and stage the link changes it makes;
    /// `Ok(Err(message))` refuses the patch.
    fn judge_diff(&mut self, diff: &FileDiff<'_>) -> Result<Result<(), String>, ApplyError> {
        let (source, dest) = match &diff.target {
            Target::Modify { original, modified } => (Some(original), modified),
            Target::Create(path) => (None, path),
            Target::Delete(path) => (Some(path), path),
            Target::Rename { from, to } | Target::Copy { from, to } => (Some(from), to),
        };
        for path in source.into_iter().chain([dest]) {
            if let Some(link) = self.link_above(path) {
                return Ok(Err(format!(
                    "{path} is beyond the symbolic link {link}, made earlier in the series; \
                     writing through a link is refused (git apply: \"beyond a symbolic link\"): \
                     change the files where the link points instead"
                )));
            }
        }
        let was_link = self.was_link(diff, source)?;
        let is_link = match (&diff.target, diff.new_mode) {
            (Target::Delete(_), _) => false,
            (_, Some(mode)) => mode == FileMode::Symlink,
            (_, None) => was_link,
        };
        if let Target::Rename { from, .. } = &diff.target {
            self.record(from, None);
        }
        if !is_link {
            self.record(dest, None);
            return Ok(Ok(()));
        }
        let target = self.link_target(diff, source)?;
        let what = link_verb(&diff.target);
        let Some(target) = target else {
            // A link renamed or copied from a path that does not exist
            // here: applying the patch refuses it ("file does not exist").
            if matches!(diff.target, Target::Create(_)) || matches!(diff.body, Body::Binary(_)) {
                return Ok(Err(format!(
                    "{what} {dest} without showing its target as text; refusing a link the \
                     check cannot follow: make the patch with `git format-patch` (a link is one \
                     line of text)"
                )));
            }
            self.record(dest, Some(Vec::new()));
            return Ok(Ok(()));
        };
        if let Err(why) = target_stays_inside(dest, &target) {
            return Ok(Err(format!(
                "{what} {dest} -> {}: {why}; a link must point inside the tree (applied with \
                 `patch -p1`, a later patch or the build would write through it): make the \
                 target relative and inside the tree, or drop the link from the patch",
                String::from_utf8_lossy(&target)
            )));
        }
        self.record(dest, Some(target));
        Ok(Ok(()))
    }

    /// Whether the diff's `source` path was a link before it. A git diff
    /// shows a link's mode on its header or `index` line; only a rename or
    /// copy may not, and only then is the base tree asked (one git process
    /// each: never for every modified file).
    fn was_link(
        &mut self,
        diff: &FileDiff<'_>,
        source: Option<&String>,
    ) -> Result<bool, ApplyError> {
        Ok(diff.old_mode == Some(FileMode::Symlink)
            || match (&diff.target, source) {
                (Target::Rename { .. } | Target::Copy { .. }, Some(from)) => self.is_link(from)?,
                (_, Some(from)) => self.made_link(from),
                (_, None) => false,
            })
    }

    /// The target of the link a diff leaves: its hunks' new lines, or, for a
    /// rename, copy or mode change without hunks, the `source`'s content;
    /// `None` when the diff does not show it as text.
    fn link_target(
        &mut self,
        diff: &FileDiff<'_>,
        source: Option<&String>,
    ) -> Result<Option<Vec<u8>>, ApplyError> {
        Ok(match (&diff.body, source) {
            (Body::Text(hunks), _) if !hunks.is_empty() => Some(
                hunks
                    .iter()
                    .flat_map(|h| h.lines.iter())
                    .filter(|(kind, _)| *kind != LineKind::Delete)
                    .flat_map(|(_, text)| text.iter().copied())
                    .collect(),
            ),
            // A rename, copy or mode change without hunks keeps the content.
            (Body::Text(_), Some(from)) => self.read(from)?,
            (Body::Text(_), None) => Some(Vec::new()),
            (_, _) => None,
        })
    }
}

/// What a diff does to the link it leaves, for messages.
fn link_verb(target: &Target) -> &'static str {
    match target {
        Target::Create(_) => "creates the symbolic link",
        Target::Rename { .. } => "renames a symbolic link to",
        Target::Copy { .. } => "copies a symbolic link to",
        Target::Modify { .. } | Target::Delete(_) => "changes the symbolic link",
    }
}

/// Whether the link at `link` (a path in the tree) pointing at `target`
/// resolves inside the tree. `..` may only lead the target (`../../x`, as
/// the kernel's own links are written), never after a folder name: a folder
/// may itself be a link, and `dir/..` then is not where it seems.
fn target_stays_inside(link: &str, target: &[u8]) -> Result<(), &'static str> {
    if target.is_empty() {
        return Err("an empty target");
    }
    if target.starts_with(b"/") {
        return Err("an absolute target, outside the tree");
    }
    let mut climbs_left = link.matches('/').count();
    let mut after_name = false;
    for part in target.split(|&b| b == b'/') {
        match part {
            b"" | b"." => {}
            b".." if after_name => return Err("`..` after a folder name"),
            b".." if climbs_left == 0 => return Err("its `..` climb out of the tree"),
            b".." => climbs_left -= 1,
            _ => after_name = true,
        }
    }
    Ok(())
}

/// The links a series makes, known from the patches alone (no base tree):
/// what ka-import checks before it writes anything.
#[derive(Debug, Default, Clone)]
pub struct SeriesLinks {
    /// link path → target
    links: BTreeMap<String, Vec<u8>>,
}

impl Links for SeriesLinks {
    fn made_link(&self, path: &str) -> bool {
        self.links.contains_key(path)
    }

    fn is_link(&mut self, path: &str) -> Result<bool, ApplyError> {
        Ok(self.links.contains_key(path))
    }

    fn read(&mut self, path: &str) -> Result<Option<Vec<u8>>, ApplyError> {
        Ok(self.links.get(path).cloned())
    }
}

impl SeriesLinks {
    pub fn new() -> Self {
        Self::default()
    }

    /// Judge the next patch of the series and record its links. A patch
    /// that does not parse is left to [`parse_check`](crate::parse_check).
    pub fn add(&mut self, bytes: &[u8]) -> Result<(), Hostile> {
        let Ok(diffs) = parse_patch(bytes) else {
            return Ok(());
        };
        // SeriesLinks reads nothing that can fail.
        let changes = judge(&diffs, self).unwrap_or_else(|e| {
            Err(Hostile {
                line: 1,
                message: e.to_string(),
            })
        })?;
        for (path, target) in changes {
            match target {
                Some(t) => self.links.insert(path, t),
                None => self.links.remove(&path),
            };
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_inside_and_outside_the_tree() {
        assert!(target_stays_inside("a/b/link", b"../../x/y").is_ok());
        assert!(target_stays_inside("a/link", b"./b/../c").is_err());
        assert!(target_stays_inside("link", b"x").is_ok());
        assert!(target_stays_inside("link", b"../x").is_err());
        assert!(target_stays_inside("a/link", b"../../x").is_err());
        assert!(target_stays_inside("a/link", b"/etc").is_err());
        assert!(target_stays_inside("a/link", b"").is_err());
        assert!(target_stays_inside("a/link", b"..//./x").is_ok());
    }
}
