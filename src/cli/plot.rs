//! `fer plot`: the picture of something fer wrote, chosen by what the file holds.

use anyhow::{bail, Context, Result};
use clap::Args;
use fer::compare::Comparison;
use fer::plot::Curves;
use fer::timeline::Timeline;
use std::path::{Path, PathBuf};

#[derive(Args)]
pub struct PlotArgs {
    /// A model (bundle or CNN, .safetensors; or a shipped name): its training curves.
    /// A train-cnn checkpoint (.checkpoint): the curves of the run so far.
    /// A timeline (fer live --jsonl) or fer batch rows of a video (.csv or .jsonl):
    /// each face's expressions over time. A fer compare JSON: its bar chart.
    input: PathBuf,
    /// Write the picture here (.png or .svg; default: beside the input, named after it).
    #[arg(long, short)]
    out: Option<PathBuf>,
}

/// What `fer plot` can draw.
enum Input {
    Model,
    Timeline,
    Comparison,
}

fn kind_of(path: &Path) -> Result<Input> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    Ok(match ext.as_str() {
        "jsonl" | "csv" => Input::Timeline,
        "json" => Input::Comparison,
        "safetensors" | "checkpoint" => Input::Model,
        // A shipped model's name.
        _ if fer::model::load::resolve_model(path) != path => Input::Model,
        _ => bail!(
            "{}: give a model (.safetensors or a shipped name), a train-cnn checkpoint (.checkpoint), a timeline or batch rows (.jsonl, .csv), or a fer compare JSON (.json)",
            path.display()
        ),
    })
}

/// `clip.jsonl` and `-timeline` give `clip-timeline.png` beside the input.
fn default_out(input: &Path, suffix: &str) -> PathBuf {
    let stem = input
        .file_stem()
        .map_or_else(|| "plot".into(), |s| s.to_string_lossy().into_owned());
    let dir = if input.is_file() {
        input.parent().map(Path::to_path_buf).unwrap_or_default()
    } else {
        PathBuf::new()
    };
    dir.join(format!("{stem}{suffix}.png"))
}

pub fn run(args: PlotArgs) -> Result<i32> {
    let input = &args.input;
    let out = match kind_of(input)? {
        Input::Model => {
            let out = args
                .out
                .clone()
                .unwrap_or_else(|| default_out(input, "-curves"));
            fer::plot::training_curves(&Curves::of_model_file(input)?, &out)?;
            out
        }
        Input::Timeline => {
            let out = args
                .out
                .clone()
                .unwrap_or_else(|| default_out(input, "-timeline"));
            let timeline = Timeline::load(input)?;
            fer::plot::timeline(&timeline, &input.display().to_string(), &out)?;
            out
        }
        Input::Comparison => {
            let out = args
                .out
                .clone()
                .unwrap_or_else(|| default_out(input, "-chart"));
            let text = std::fs::read_to_string(input)
                .with_context(|| format!("reading {}", input.display()))?;
            let cmp: Comparison = serde_json::from_str(&text)
                .with_context(|| format!("{}: not the JSON of fer compare", input.display()))?;
            fer::plot::comparison(&cmp, &out)?;
            out
        }
    };
    eprintln!("picture: {}", out.display());
    Ok(0)
}
