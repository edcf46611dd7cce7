//! Sets of frames (GaitSet, Chao et al. 2019): which frames belong together, so
//! that a set model classifies them as one set and `fer eval` scores whole sets.
//!
//! `--set-by sequence` takes a frame's sequence from a manifest's `note` column
//! (`seq=S010_004`, as `../shared/data/MANIFEST.csv` writes it for CK+), or else
//! from a CK+ file name (`S010_004_00000017.png` is sequence `S010_004`).
//! `--set-by COLUMN` takes any other manifest column's value. A frame without a
//! value is a set of its own.
//!
//! A set holds frames of one label: a CK+ sequence's neutral first frame and its
//! peak frames are two sets. The mirrored copies made for training form sets of
//! their own (the mirrored sequence), never mixed with the originals.

use crate::error::{FerError, Result};
use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::str::FromStr;

/// The `--set-by` value that reads sequences rather than a column.
pub const SEQUENCE: &str = "sequence";
/// The key of a sequence in a manifest's `note` column.
const NOTE_SEQUENCE_KEY: &str = "seq=";

/// Where a sample's set comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetBy {
    /// The sequence: `seq=` in the `note` column, or a CK+ file name.
    Sequence,
    /// The value of this manifest column.
    Column(String),
}

impl FromStr for SetBy {
    type Err = FerError;
    fn from_str(s: &str) -> Result<Self> {
        match s.trim() {
            "" => Err(FerError::param(
                "set-by",
                "give `sequence` or a manifest column name",
            )),
            SEQUENCE => Ok(SetBy::Sequence),
            column => Ok(SetBy::Column(column.to_string())),
        }
    }
}

impl fmt::Display for SetBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetBy::Sequence => f.write_str(SEQUENCE),
            SetBy::Column(c) => f.write_str(c),
        }
    }
}

impl SetBy {
    /// The manifest column this reads (`note` for sequences).
    pub fn column(&self) -> &str {
        match self {
            SetBy::Sequence => "note",
            SetBy::Column(c) => c,
        }
    }

    /// The set of a sample from its file and the value of [`SetBy::column`]
    /// (empty when the column is absent or the sample comes from a folder).
    pub fn value(&self, path: &Path, column_value: &str) -> Option<String> {
        match self {
            SetBy::Sequence => note_sequence(column_value).or_else(|| sequence_from_name(path)),
            SetBy::Column(_) => Some(column_value.trim().to_string()).filter(|v| !v.is_empty()),
        }
    }
}

/// `seq=VALUE` among the `;`- or space-separated entries of a `note`.
fn note_sequence(note: &str) -> Option<String> {
    note.split([';', ' '])
        .find_map(|part| part.trim().strip_prefix(NOTE_SEQUENCE_KEY))
        .map(str::to_string)
        .filter(|v| !v.is_empty())
}

/// The sequence of a CK+ file name: `S010_004_00000017.png` -> `S010_004`.
pub fn sequence_from_name(path: &Path) -> Option<String> {
    let stem = path.file_stem()?.to_str()?;
    let parts: Vec<&str> = stem.split('_').collect();
    let digits = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_digit());
    match parts.as_slice() {
        [subject, seq, frame]
            if subject.len() == 4
                && subject.starts_with('S')
                && digits(&subject[1..], 3)
                && digits(seq, 3)
                && frame.bytes().all(|b| b.is_ascii_digit()) =>
        {
            Some(format!("{subject}_{seq}"))
        }
        _ => None,
    }
}

/// The key that puts a row in its set: its sample's set (or the file when it has
/// none), its label, and whether it is a mirrored copy.
pub fn row_key(set: Option<&str>, path: &Path, label: u32, mirrored: bool) -> String {
    let base = set.map_or_else(|| path.display().to_string(), str::to_string);
    format!(
        "{base}\u{1f}{label}{}",
        if mirrored { "\u{1f}m" } else { "" }
    )
}

/// The sets that `rows` fall into under `keys` (one key per row, indexed by row),
/// each a list of rows in the order given; sets in order of first appearance.
pub fn group(keys: &[String], rows: &[usize]) -> Vec<Vec<usize>> {
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut sets: Vec<Vec<usize>> = Vec::new();
    for &r in rows {
        let k = index.entry(keys[r].as_str()).or_insert_with(|| {
            sets.push(Vec::new());
            sets.len() - 1
        });
        sets[*k].push(r);
    }
    sets
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sequences_come_from_the_note_or_the_ck_file_name() {
        let s = SetBy::Sequence;
        let p = Path::new("ckplus48/anger/S010_004_00000017.png");
        assert_eq!(s.value(p, "seq=S010_005").as_deref(), Some("S010_005"));
        assert_eq!(s.value(p, "votes=3/4;seq=X").as_deref(), Some("X"));
        assert_eq!(s.value(p, "").as_deref(), Some("S010_004"));
        assert_eq!(s.value(Path::new("a/b.png"), ""), None);
        assert_eq!(sequence_from_name(Path::new("S1_004_0001.png")), None);
        let c: SetBy = "clip".parse().unwrap();
        assert_eq!(c.column(), "clip");
        assert_eq!(c.value(p, " c7 ").as_deref(), Some("c7"));
        assert_eq!(c.value(p, ""), None);
        assert!("".parse::<SetBy>().is_err());
        assert_eq!("sequence".parse::<SetBy>().unwrap(), SetBy::Sequence);
    }

    #[test]
    fn rows_group_by_set_label_and_mirroring() {
        let p = Path::new("x.png");
        let keys = vec![
            row_key(Some("a"), p, 0, false),
            row_key(Some("a"), p, 0, true),
            row_key(Some("a"), p, 1, false),
            row_key(Some("a"), p, 0, false),
            row_key(None, Path::new("y.png"), 0, false),
        ];
        let sets = group(&keys, &[0, 1, 2, 3, 4]);
        assert_eq!(sets, vec![vec![0, 3], vec![1], vec![2], vec![4]]);
        assert_eq!(group(&keys, &[3, 4]), vec![vec![3], vec![4]]);
    }
}
