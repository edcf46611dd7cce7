//! Which labelled data a command reads (`DataArgs`), shared by train, train-cnn,
//! eval and compare.

use anyhow::Result;
use clap::{Args, ValueEnum};
use fer::data_selection::DataSelection;
use fer::dataset::{DataFilter, Sample};
use fer::sets::SetBy;
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
    /// Frames that form one set: `sequence` (a manifest note's seq=, or a CK+ file name) or any manifest column. Set models (--model set-max, set-mean, set-attention) train on these sets; eval also scores whole sets.
    #[arg(long, value_name = "COLUMN")]
    pub set_by: Option<SetBy>,
}

/// How `--cv` folds are grouped.
#[derive(Clone, Copy, ValueEnum, PartialEq)]
pub enum GroupBy {
    Subject,
}

impl DataArgs {
    /// The library's selection these flags give.
    pub fn selection(&self) -> DataSelection {
        DataSelection {
            data: self.data.clone(),
            datasets: self.dataset.clone(),
            splits: self.split.clone(),
            classes: self.classes.clone(),
            set_by: self.set_by.clone(),
        }
    }

    pub fn filter(&self) -> Result<DataFilter> {
        Ok(self.selection().filter()?)
    }

    /// The samples these arguments select.
    pub fn samples(&self) -> Result<Vec<Sample>> {
        Ok(self.selection().samples()?)
    }

    /// The data and filters, as recorded in a bundle and a report's protocol.
    pub fn describe(&self) -> Vec<String> {
        self.selection().describe()
    }
}
