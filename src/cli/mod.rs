//! The `fer` command line, one file per command. Each file holds its command's
//! clap arguments, turns them once into the library's validated configs, calls
//! the library and prints the result; nothing below this module sees clap types.
//! The argument groups several commands share live in [`data_args`],
//! [`detect_args`] and [`recipe_args`].

pub mod batch;
pub mod bench;
pub mod compare;
pub mod data_args;
pub mod detect_args;
pub mod eval;
pub mod explain;
pub mod live;
pub mod merge;
pub mod plot;
pub mod recipe_args;
pub mod train;
pub mod train_cnn;

use anyhow::{Context, Result};
use detect_args::{DetectArgs, DeviceArgs};
use fer::model::FaceModel;
use fer::workers::PipelinePool;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::Path;

/// The registered model kinds, as the values `--model` (train) and `--kind` (eval) take.
pub fn kind_names() -> clap::builder::PossibleValuesParser {
    clap::builder::PossibleValuesParser::new(fer::model::ModelKind::names())
}

/// A progress bar on stderr, labelled `what`.
pub fn progress(len: u64, what: &str) -> ProgressBar {
    let pb = ProgressBar::new(len);
    let style = ProgressStyle::with_template(
        "{msg:12} [{bar:40}] {pos}/{len} {per_sec} eta {eta} {prefix}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    pb.set_style(style);
    pb.set_message(what.to_string());
    pb
}

/// Any face model `--model` names (see `fer::model::load`), read with the run's device and `--tta`.
pub fn load_face_model(path: &Path, device: &DeviceArgs) -> Result<Box<dyn FaceModel>> {
    Ok(fer::model::load::load_face_model(
        &path.to_string_lossy(),
        &device.options()?,
    )?)
}

/// Pipelines with the model's configuration and the run's detection options.
pub fn pool_for(model: &dyn FaceModel, detect: &DetectArgs) -> Result<PipelinePool> {
    Ok(PipelinePool::new(model.run_pipeline(&detect.options())?)?)
}

/// Worker threads for rayon (0: one per core), and none of OpenCV's own.
pub fn set_threads(threads: usize) -> Result<()> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()
        .context("starting worker threads")?;
    fer::workers::opencv_single_threaded()?;
    Ok(())
}

/// Create the folder `path` will be written into, when it names one.
pub fn create_parent_dir(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    Ok(())
}
