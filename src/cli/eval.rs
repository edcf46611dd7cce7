//! `fer eval`: a model's accuracy on labelled data, or cross-validated training with `--cv`.

use super::data_args::{DataArgs, GroupBy};
use super::detect_args::DeviceArgs;
use super::recipe_args::RecipeArgs;
use super::{load_face_model, pool_for, progress, set_threads};
use anyhow::{bail, Result};
use clap::Args;
use fer::metrics::Report;
use fer::model::load::{resolve_model, DEFAULT_MODEL};
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct EvalArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Model to evaluate (default: cnn-ferplus): a bundle, a CNN from train-cnn, an ONNX or ensemble sidecar (.json), a shipped model's name (cnn-ferplus, mini-xception, faceapi-expression, deep-ensemble, deep-ensemble-fer; models/fer-default.safetensors is the feature model), or a weighted ensemble A@0.9+B@0.1.
    #[arg(long, conflicts_with = "cv")]
    model: Option<PathBuf>,
    #[command(flatten)]
    device: DeviceArgs,
    /// Cross-validate instead: K folds, each training a model with the training options below.
    #[arg(long, value_name = "K")]
    cv: Option<usize>,
    /// Model kind to cross-validate.
    #[arg(long, default_value = "mlp", value_parser = super::kind_names(), requires = "cv")]
    kind: String,
    /// Grouping for --cv folds (subjects from the manifest or CK+/Yale file names; images without one are their own group).
    #[arg(long, value_enum, default_value = "subject")]
    group_by: GroupBy,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
    /// Save the confusion matrix picture here (.png or .svg).
    #[arg(long, default_value = "confusion.png")]
    plot: PathBuf,
    #[command(flatten)]
    recipe: RecipeArgs,
}

pub fn run(args: EvalArgs) -> Result<i32> {
    set_threads(0)?;
    let report = match args.cv {
        None => {
            let path = args
                .model
                .clone()
                .unwrap_or_else(|| PathBuf::from(DEFAULT_MODEL));
            evaluate_model(&args, &path)?
        }
        Some(k) => cross_validate(&args, k)?,
    };
    fer::plot::confusion(&report, &args.plot)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", report.to_text());
    }
    eprintln!("confusion matrix picture: {}", args.plot.display());
    for t in &report.latent_transitions {
        let picture = fer::plot::transition_picture_path(&args.plot, &t.source);
        fer::plot::transition(t, &picture)?;
        eprintln!(
            "transition matrix of source {}: {}",
            t.source,
            picture.display()
        );
    }
    Ok(0)
}

/// The report of the model at `path` on the data, with its latent-truth matrices if it has them.
fn evaluate_model(args: &EvalArgs, path: &Path) -> Result<Report> {
    let model = load_face_model(path, &args.device)?;
    let pool = pool_for(model.as_ref(), &args.recipe.detect)?;
    let samples = args.data.samples()?;
    let protocol = format!(
        "model {} evaluated on {}",
        resolve_model(path).display(),
        args.data.describe().join(" "),
    );
    let pb = progress(samples.len() as u64, "faces");
    let mut report = fer::evaluate::evaluate(
        &samples,
        &pool,
        model.as_ref(),
        &args.data.filter()?.classes,
        protocol,
        &|| pb.inc(1),
    )?;
    pb.finish_and_clear();
    report.latent_transitions = model.latent_transitions()?;
    Ok(report)
}

/// Grouped k-fold cross-validation of training with the recipe's options.
fn cross_validate(args: &EvalArgs, k: usize) -> Result<Report> {
    if args.group_by != GroupBy::Subject {
        bail!("--cv groups by subject only");
    }
    let (opts, rows) = args.recipe.training_rows(&args.data, args.kind.parse()?)?;
    let pb = progress(k as u64, "folds");
    let mut report = fer::cross_validation::cross_validate(&rows, k, &opts, &mut |f, acc| {
        pb.set_position(f as u64 + 1);
        pb.set_prefix(format!("fold {} accuracy {:.1}%", f + 1, 100.0 * acc));
    })?;
    pb.finish_and_clear();
    report.protocol = format!("{} on {}", report.protocol, args.data.describe().join(" "));
    Ok(report)
}
