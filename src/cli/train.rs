//! `fer train`: train a model of one kind on labelled data and save it as one bundle.

use super::data_args::DataArgs;
use super::recipe_args::RecipeArgs;
use super::{create_parent_dir, progress, set_threads};
use anyhow::Result;
use clap::Args;
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
    #[command(flatten)]
    recipe: RecipeArgs,
}

pub fn run(args: TrainArgs) -> Result<i32> {
    set_threads(0)?;
    let (opts, rows) = args.recipe.training_rows(&args.data, &args.kind)?;
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
    Ok(0)
}
