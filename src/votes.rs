//! Crowd votes as training targets (`fer train --votes FILE`): a label
//! distribution per image instead of one label, as FER+ (Barsoum et al. 2016)
//! re-annotated FER2013 with ten votes per image.
//!
//! The file is a CSV with a `path` column and one count column per class; a
//! column counts when its name is a class or a synonym (`happiness`, `anger`,
//! `sadness`, ...), so `../shared/data/ferplus/votes.csv` reads as it is. Other
//! columns (`unknown`, `NF` for "not a face", the split, the old label) are
//! ignored: those votes leave the distribution, as in FER+'s own protocol.
//!
//! A sample finds its votes by the longest tail of its path that the file
//! lists (`../shared/data/fer2013/train/angry/Training_1.jpg` matches
//! `fer2013/train/angry/Training_1.jpg`), so the file's paths may be relative to
//! any folder above the images.

use crate::dataset::{normalise_label, Sample, CANONICAL_CLASSES};
use crate::error::{FerError, Result};
use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};

/// Vote counts per image, over the canonical classes.
#[derive(Debug, Clone)]
pub struct Votes {
    file: PathBuf,
    /// Path as written in the file (with `/`) -> counts in [`CANONICAL_CLASSES`] order.
    by_path: HashMap<String, [f32; CANONICAL_CLASSES.len()]>,
}

/// How many of a training set's samples found votes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VoteCoverage {
    /// Samples whose targets are their votes.
    pub voted: usize,
    /// Samples the file does not list: they keep a one-hot target on their label.
    pub unlisted: usize,
    /// Listed samples with no vote on any of the model's classes: one-hot too.
    pub empty: usize,
}

fn dataset_err(path: &Path, reason: impl Into<String>) -> FerError {
    FerError::Dataset {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// `path`'s normal components joined with `/`.
fn slash_path(path: &Path) -> Vec<String> {
    path.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect()
}

impl Votes {
    /// Read a votes CSV. Refused: no `path` column, no column that names a class,
    /// a count that is not a non-negative number, or no vote at all in the file.
    pub fn load(file: &Path) -> Result<Self> {
        let mut rdr = csv::Reader::from_path(file).map_err(|e| dataset_err(file, e.to_string()))?;
        let headers = rdr
            .headers()
            .map_err(|e| dataset_err(file, e.to_string()))?
            .clone();
        let path_col = headers
            .iter()
            .position(|h| h == "path")
            .ok_or_else(|| dataset_err(file, "no `path` column"))?;
        let vote_cols: Vec<(usize, usize)> = headers
            .iter()
            .enumerate()
            .filter_map(|(i, h)| {
                let class = normalise_label(h)?;
                Some((i, CANONICAL_CLASSES.iter().position(|c| *c == class)?))
            })
            .collect();
        if vote_cols.is_empty() {
            return Err(dataset_err(
                file,
                "no vote column: none of the column names is a class (neutral, happiness, anger, ...)",
            ));
        }
        let mut by_path = HashMap::new();
        let mut total = 0f64;
        for (i, rec) in rdr.records().enumerate() {
            let rec = rec.map_err(|e| dataset_err(file, format!("row {}: {e}", i + 2)))?;
            let mut counts = [0f32; CANONICAL_CLASSES.len()];
            for &(col, class) in &vote_cols {
                let cell = rec.get(col).unwrap_or("").trim();
                if cell.is_empty() {
                    continue; // images without votes have empty cells
                }
                let v: f32 = cell.parse().map_err(|_| {
                    dataset_err(
                        file,
                        format!("row {}: vote count `{cell}` is not a number", i + 2),
                    )
                })?;
                if !(v.is_finite() && v >= 0.0) {
                    return Err(dataset_err(
                        file,
                        format!("row {}: vote count {v} is negative or not finite", i + 2),
                    ));
                }
                counts[class] += v;
                total += v as f64;
            }
            let key = slash_path(Path::new(rec.get(path_col).unwrap_or(""))).join("/");
            if !key.is_empty() {
                by_path.insert(key, counts);
            }
        }
        if total == 0.0 {
            return Err(dataset_err(
                file,
                "every vote count is zero: there is no label distribution to learn from",
            ));
        }
        Ok(Votes {
            file: file.to_path_buf(),
            by_path,
        })
    }

    /// The file the votes came from.
    pub fn file(&self) -> &Path {
        &self.file
    }

    /// Images listed.
    pub fn len(&self) -> usize {
        self.by_path.len()
    }

    /// Whether no image is listed.
    pub fn is_empty(&self) -> bool {
        self.by_path.is_empty()
    }

    /// The vote counts of the image at `path` (canonical order), by the longest
    /// tail of its path that the file lists.
    pub fn counts(&self, path: &Path) -> Option<&[f32; CANONICAL_CLASSES.len()]> {
        let parts = slash_path(path);
        (0..parts.len()).find_map(|start| self.by_path.get(&parts[start..].join("/")))
    }

    /// The votes of `path` over `classes` (canonical names), normalised to sum
    /// to one; `None` when the file does not list it.
    /// `Some(None)`: listed, but no vote falls on these classes.
    pub fn distribution(&self, path: &Path, classes: &[String]) -> Option<Option<Vec<f32>>> {
        let counts = self.counts(path)?;
        let picked: Vec<f32> = classes
            .iter()
            .map(|c| {
                CANONICAL_CLASSES
                    .iter()
                    .position(|k| k == c)
                    .map_or(0.0, |i| counts[i])
            })
            .collect();
        let sum: f32 = picked.iter().sum();
        Some((sum > 0.0).then(|| picked.iter().map(|v| v / sum).collect()))
    }

    /// A sample's target over `classes`: its vote distribution, or a one-hot on
    /// its own label when it has none; `coverage` counts which it was.
    pub fn target(
        &self,
        sample: &Sample,
        classes: &[String],
        coverage: &mut VoteCoverage,
    ) -> Vec<f32> {
        let found = self.distribution(&sample.path, classes);
        match &found {
            None => coverage.unlisted += 1,
            Some(None) => coverage.empty += 1,
            Some(Some(_)) => coverage.voted += 1,
        }
        found.flatten().unwrap_or_else(|| {
            classes
                .iter()
                .map(|c| if *c == sample.label { 1.0 } else { 0.0 })
                .collect()
        })
    }

    /// Accept a training set's `coverage` of `what` (images, crops): an error
    /// naming the file when none had a vote on `classes`, else a log line (at info)
    /// of how many learn their votes and how many keep their label.
    pub fn accept(&self, coverage: VoteCoverage, classes: &[String], what: &str) -> Result<()> {
        if coverage.voted == 0 {
            return Err(dataset_err(
                &self.file,
                format!(
                    "none of the {} training images has a vote on the classes {}: {} are not listed, {} have no such vote",
                    coverage.unlisted + coverage.empty + coverage.voted,
                    classes.join(", "),
                    coverage.unlisted,
                    coverage.empty
                ),
            ));
        }
        tracing::info!(
            "votes from {}: {} {what} learn their vote distribution, {} keep their label ({} not listed, {} without a vote on these classes)",
            self.file.display(),
            coverage.voted,
            coverage.unlisted + coverage.empty,
            coverage.unlisted,
            coverage.empty
        );
        Ok(())
    }
}
