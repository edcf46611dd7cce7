//! `fer explain`: a tree or graph model's reading of every face in an image, as text and a picture.

use super::detect_args::DetectArgs;
use super::pool_for;
use anyhow::{bail, Result};
use clap::Args;
use fer::model::load::resolve_model;
use fer::model::Model;
use std::path::PathBuf;

#[derive(Args)]
pub struct ExplainArgs {
    /// Image file.
    image: PathBuf,
    /// A soft-tree, dndt or gnn model bundle.
    #[arg(long)]
    model: PathBuf,
    /// Print the explanations as JSON.
    #[arg(long)]
    json: bool,
    /// Write the picture here (.svg or .png); further faces get -face2, -face3, ... before the extension.
    #[arg(long, default_value = "explain.svg")]
    picture: PathBuf,
    #[command(flatten)]
    detect: DetectArgs,
}

pub fn run(args: ExplainArgs) -> Result<i32> {
    let model = Model::load(&resolve_model(&args.model))?;
    let pool = pool_for(&model, &args.detect)?;
    let reading = pool.with(|p| p.read_file(&args.image))??;
    if reading.faces.is_empty() {
        bail!("{}: no face found", args.image.display());
    }
    let mut all = Vec::new();
    for (i, face) in reading.faces.iter().enumerate() {
        let e = fer::explain::explain(&model, &face.features)?;
        let picture = fer::explain::picture_path(&args.picture, i);
        fer::plot::explanation(&fer::explain::drawing(&model, &e)?, &e, &picture)?;
        if !args.json {
            println!("face {} at {:?}:\n{}", i + 1, face.bbox, e.to_text());
        }
        eprintln!("picture: {}", picture.display());
        all.push(serde_json::json!({ "face": i + 1, "bbox": face.bbox, "explanation": e }));
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&all)?);
    }
    Ok(0)
}
