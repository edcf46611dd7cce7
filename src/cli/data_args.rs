//! Which labelled data a command reads (`DataArgs`), shared by train, train-cnn,
//! eval and compare.

use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use fer::dataset::{self, DataFilter, Sample};
use std::path::PathBuf;

#[derive(Args, Clone)]
pub struct DataArgs {
    /// Folder-per-class datasets or manifest CSVs (like ../shared/data/MANIFEST.csv); repeatable. NAME=PATH names the annotation source (for --partial-labels and --latent-truth; default: a manifest row's dataset, or the folder).
    #[arg(long, required = true, num_args = 1..)]
    pub data: Vec<PathBuf>,
    /// Manifest rows: keep only these datasets (comma separated).
    #[arg(long, value_delimiter = ',')]
    pub dataset: Vec<String>,
    /// Manifest rows: keep only these splits (comma separated), e.g. Training or PrivateTest.
    #[arg(long, value_delimiter = ',')]
    pub split: Vec<String>,
    /// Keep only samples of these classes (comma separated); eval also predicts among them only.
    #[arg(long, value_delimiter = ',')]
    pub classes: Vec<String>,
}

/// How `--cv` folds are grouped.
#[derive(Clone, Copy, ValueEnum, PartialEq)]
pub enum GroupBy {
    Subject,
}

impl DataArgs {
    pub fn filter(&self) -> Result<DataFilter> {
        let classes = self
            .classes
            .iter()
            .map(|c| {
                dataset::normalise_label(c)
                    .map(str::to_string)
                    .with_context(|| format!("unknown class `{c}`"))
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(DataFilter {
            datasets: self.dataset.clone(),
            splits: self.split.clone(),
            classes,
        })
    }

    /// The samples these arguments select.
    pub fn samples(&self) -> Result<Vec<Sample>> {
        Ok(dataset::load(&self.data, &self.filter()?)?)
    }

    /// The data and filters, as recorded in a bundle and a report's protocol.
    pub fn describe(&self) -> Vec<String> {
        let mut v: Vec<String> = self.data.iter().map(|p| p.display().to_string()).collect();
        if !self.dataset.is_empty() {
            v.push(format!("dataset={}", self.dataset.join(",")));
        }
        if !self.split.is_empty() {
            v.push(format!("split={}", self.split.join(",")));
        }
        if !self.classes.is_empty() {
            v.push(format!("classes={}", self.classes.join(",")));
        }
        v
    }
}
