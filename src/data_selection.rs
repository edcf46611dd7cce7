//! Which labelled data a command reads, without clap: sources (folders or
//! manifests) and the datasets, splits and classes to keep. `fer train`,
//! `eval`, `compare` and `train-cnn` fill one from `--data`, `--dataset`,
//! `--split`, `--classes` and `--set-by`; the Python module from its keyword arguments.

use crate::dataset::{self, DataFilter, Sample};
use crate::error::{FerError, Result};
use crate::sets::SetBy;
use std::path::PathBuf;

/// Labelled data: sources and filters, as given.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DataSelection {
    /// Folder-per-class datasets or manifest CSVs; `NAME=PATH` names the annotation source.
    pub data: Vec<PathBuf>,
    /// Manifest rows: keep only these datasets.
    pub datasets: Vec<String>,
    /// Manifest rows: keep only these splits.
    pub splits: Vec<String>,
    /// Keep only samples of these classes (any spelling [`dataset::normalise_label`] knows).
    pub classes: Vec<String>,
    /// Which frames form a set (`--set-by`), for set models and per-set scores.
    pub set_by: Option<SetBy>,
}

impl DataSelection {
    /// The filter, with class names normalised; an unknown class is refused.
    pub fn filter(&self) -> Result<DataFilter> {
        let classes = self
            .classes
            .iter()
            .map(|c| {
                dataset::normalise_label(c)
                    .map(str::to_string)
                    .ok_or_else(|| FerError::param("classes", format!("unknown class `{c}`")))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(DataFilter {
            datasets: self.datasets.clone(),
            splits: self.splits.clone(),
            classes,
            set_by: self.set_by.clone(),
        })
    }

    /// The samples selected.
    pub fn samples(&self) -> Result<Vec<Sample>> {
        if self.data.is_empty() {
            return Err(FerError::param(
                "data",
                "give at least one folder or manifest",
            ));
        }
        dataset::load(&self.data, &self.filter()?)
    }

    /// The data and filters, as recorded in a bundle and a report's protocol.
    pub fn describe(&self) -> Vec<String> {
        let mut v: Vec<String> = self.data.iter().map(|p| p.display().to_string()).collect();
        if !self.datasets.is_empty() {
            v.push(format!("dataset={}", self.datasets.join(",")));
        }
        if !self.splits.is_empty() {
            v.push(format!("split={}", self.splits.join(",")));
        }
        if !self.classes.is_empty() {
            v.push(format!("classes={}", self.classes.join(",")));
        }
        if let Some(by) = &self.set_by {
            v.push(format!("set-by={by}"));
        }
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_normalised_and_unknown_ones_refused() {
        let s = DataSelection {
            classes: vec!["happy".into()],
            ..Default::default()
        };
        assert_eq!(s.filter().unwrap().classes, vec!["happy".to_string()]);
        let bad = DataSelection {
            classes: vec!["bored".into()],
            ..Default::default()
        };
        assert!(bad.filter().unwrap_err().to_string().contains("bored"));
        assert!(DataSelection::default().samples().is_err());
    }

    #[test]
    fn describe_lists_sources_then_filters() {
        let s = DataSelection {
            data: vec!["m.csv".into()],
            splits: vec!["Training".into(), "PublicTest".into()],
            ..Default::default()
        };
        assert_eq!(s.describe(), vec!["m.csv", "split=Training,PublicTest"]);
    }
}
