//! A whole comparison as one job, without clap: which data (cross-validated, or
//! trained on one selection and tested on another), which model kinds, which
//! pre-trained deep models, and the recipe. `fer compare` and the Python
//! module's `compare` both build a [`CompareJob`] and [`CompareJob::run`] it.

use crate::compare::{self, Comparison, Variant};
use crate::compare_cnn;
use crate::cross_validation;
use crate::data_selection::DataSelection;
use crate::error::{FerError, Result};
use crate::model::cnn_train::ValidCnnParams;
use crate::model::FaceModel;
use crate::rows;
use crate::train::FitOptions;
use crate::votes::Votes;
use crate::workers::PipelinePool;

/// The name of the CNN's row.
pub const CNN_ROW: &str = "cnn";

/// How the rows are split into training and test.
#[derive(Debug, Clone)]
pub enum Protocol {
    /// K folds grouped by subject over `data`.
    CrossValidate(usize),
    /// Train on `data`, test on this selection.
    HeldOut(DataSelection),
}

/// A pre-trained model that joins as a row: run on the test images, never retrained.
pub struct DeepEntrant {
    /// The row's name.
    pub label: String,
    pub model: Box<dyn FaceModel>,
    /// Pipelines with the model's configuration and the run's detection options.
    pub pool: PipelinePool,
}

/// What a comparison reports as it goes; every method does nothing by default.
pub trait CompareProgress: Sync {
    /// Features are about to be made for this many images.
    fn images(&self, _total: usize) {}
    /// One image's features are made (called from worker threads).
    fn image_done(&self) {}
    /// This many fits (folds times variants) are about to run.
    fn fits(&self, _total: usize) {}
    /// One variant was trained and tested on one fold, with this accuracy.
    fn fit_done(&self, _fold: usize, _variant: &str, _accuracy: f64) {}
}

/// Everything a comparison needs.
pub struct CompareJob {
    pub data: DataSelection,
    pub protocol: Protocol,
    pub variants: Vec<Variant>,
    /// The recipe every variant shares (its `kind` is ignored).
    pub options: FitOptions,
    /// Add left-right mirrored copies of the training images.
    pub mirror: bool,
    /// Crowd votes the networks learn instead of labels.
    pub votes: Option<Votes>,
    pub deep: Vec<DeepEntrant>,
    /// Our CNN, trained from scratch on every fold with these settings (`--cnn`).
    pub cnn: Option<ValidCnnParams>,
}

impl CompareJob {
    /// Extract the features once, train and test every variant on every fold, then
    /// run the deep entrants on the same test images.
    pub fn run(&self, progress: &dyn CompareProgress) -> Result<Comparison> {
        // One extraction serves every row: with the point part when a variant reads
        // it (the other rows read the columns before it, as they would on their own).
        let mut extract = self.options.clone();
        extract.pipeline.features.points |= self.variants.iter().any(|v| v.kind.reads_points());
        let mut samples = self.data.samples()?;
        let n_train = samples.len();
        let protocol = match &self.protocol {
            Protocol::CrossValidate(k) => format!(
                "{k}-fold cross-validation grouped by subject on {}",
                self.data.describe().join(" ")
            ),
            Protocol::HeldOut(test) => {
                samples.extend(test.samples()?);
                format!(
                    "trained on {}; tested on {}",
                    self.data.describe().join(" "),
                    test.describe().join(" ")
                )
            }
        };
        progress.images(samples.len());
        let mut rows = rows::labelled_rows(&samples, extract.pipeline, self.mirror, &|| {
            progress.image_done()
        })?;
        if let Some(votes) = &self.votes {
            rows.attach_votes(&samples, votes)?;
        }
        let folds = match self.protocol {
            Protocol::CrossValidate(k) => cross_validation::cv_folds(&rows, k)?,
            Protocol::HeldOut(_) => vec![compare::held_out_fold(&rows, n_train)],
        };
        if folds.is_empty() {
            return Err(FerError::param("cv", "no folds"));
        }
        progress.fits(folds.len() * (self.variants.len() + usize::from(self.cnn.is_some())));
        let mut cmp = compare::run(
            &rows,
            &folds,
            &self.options,
            &self.variants,
            protocol.clone(),
            &mut |f, name, acc| progress.fit_done(f, name, acc),
        )?;
        if let Some(params) = &self.cnn {
            cmp.rows.push(compare_cnn::cnn_row(
                CNN_ROW,
                params,
                &samples,
                &rows,
                &folds,
                &self.options.pipeline,
                &protocol,
                &mut |f, acc| progress.fit_done(f, CNN_ROW, acc),
            )?);
        }
        for d in &self.deep {
            cmp.rows.push(compare::deep_row(
                &d.label,
                d.model.as_ref(),
                d.model.bytes_on_disk(),
                &samples,
                &rows,
                &folds,
                &d.pool,
                &protocol,
            )?);
        }
        Ok(cmp)
    }
}
