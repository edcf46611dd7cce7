//! `fer train`: train a model of one kind on labelled data and save it as one bundle.

use super::data_args::DataArgs;
use super::recipe_args::RecipeArgs;
use super::{create_parent_dir, progress, set_threads};
use anyhow::{bail, Result};
use clap::Args;
use fer::model::ModelKind;
use std::path::PathBuf;

#[derive(Args)]
pub struct TrainArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Where to write the model bundle (.safetensors).
    #[arg(long)]
    out: PathBuf,
    /// Model kind.
    #[arg(long = "model", default_value = "mlp", value_parser = super::kind_names())]
    kind: String,
    /// Also draw the training curves (loss and validation accuracy per epoch) here (.png or .svg).
    #[arg(long, value_name = "FILE")]
    plot: Option<PathBuf>,
    #[command(flatten)]
    recipe: RecipeArgs,
}

pub fn run(args: TrainArgs) -> Result<i32> {
    set_threads(0)?;
    let kind: ModelKind = args.kind.parse()?;
    fer::train::check_set_by(kind, args.data.set_by.is_some())?;
    if args.plot.is_some() && !kind.uses_validation() {
        bail!("--plot draws training curves; a {kind} model is trained in one pass and has none");
    }
    let (opts, rows) = args.recipe.training_rows(&args.data, kind)?;
    let pb = progress(args.recipe.mlp.epochs as u64, "training");
    let all: Vec<usize> = (0..rows.x.len()).collect();
    let model = fer::train::fit(&rows, &all, &opts, &mut |epoch, _, loss, acc| {
        pb.set_position(epoch as u64);
        pb.set_prefix(format!("loss {loss:.3} val acc {:.1}%", 100.0 * acc));
    })?;
    pb.finish_and_clear();
    create_parent_dir(&args.out)?;
    model.save(&args.out)?;
    eprintln!(
        "saved {} ({} model): {} classes, {}",
        args.out.display(),
        model.kind(),
        model.classes().len(),
        model.header().training.describe()
    );
    if let Some(picture) = &args.plot {
        let name = args.out.display().to_string();
        fer::plot::training_curves(&fer::plot::Curves::of_bundle(&model, &name), picture)?;
        eprintln!("training curves: {}", picture.display());
    }
    Ok(0)
}
