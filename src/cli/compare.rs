//! `fer compare`: every model kind trained and tested on the same folds, one table.

use super::data_args::{DataArgs, GroupBy};
use super::detect_args::DeviceArgs;
use super::recipe_args::RecipeArgs;
use super::{load_face_model, pool_for, progress, set_threads};
use anyhow::{bail, Result};
use clap::Args;
use fer::compare;
use fer::model::ModelKind;
use std::path::PathBuf;

#[derive(Args)]
pub struct CompareArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Cross-validate with K folds grouped by subject.
    #[arg(long, value_name = "K", conflicts_with = "test")]
    cv: Option<usize>,
    /// Grouping for --cv folds.
    #[arg(long, value_enum, default_value = "subject")]
    group_by: GroupBy,
    /// Test on these sources instead of cross-validating (folders or manifests).
    #[arg(long, num_args = 1..)]
    test: Vec<PathBuf>,
    /// Manifest rows of the --test sources: keep only these splits (e.g. PrivateTest).
    #[arg(long, value_delimiter = ',', requires = "test")]
    test_split: Vec<String>,
    /// Models to compare, comma separated (default: every kind, and soft-tree-distilled, the soft tree distilled from the MLP).
    #[arg(long, value_delimiter = ',')]
    models: Vec<String>,
    /// Pre-trained deep models to add as rows, run on the same test images: ONNX or ensemble sidecars, shipped names (mini-xception, faceapi-expression, deep-ensemble), or weighted ensembles A@0.9+B@0.1.
    #[arg(long, num_args = 1..)]
    deep: Vec<PathBuf>,
    #[command(flatten)]
    device: DeviceArgs,
    /// Write the table as JSON here.
    #[arg(long, default_value = "compare.json")]
    json: PathBuf,
    /// Save the bar chart here (.png or .svg).
    #[arg(long, default_value = "compare.png")]
    plot: PathBuf,
    #[command(flatten)]
    recipe: RecipeArgs,
}

pub fn run(args: CompareArgs) -> Result<i32> {
    set_threads(0)?;
    if args.group_by != GroupBy::Subject {
        bail!("--cv groups by subject only");
    }
    if args.recipe.trees.distill.is_some() || args.recipe.trees.teacher.is_some() {
        bail!("fer compare sets distillation per row (soft-tree-distilled learns from the MLP); --distill and --teacher are for train and eval");
    }
    let variants = if args.models.is_empty() {
        compare::all_variants()
    } else {
        compare::variants_named(&args.models)?
    };
    let opts = args.recipe.options(&args.data, ModelKind::MLP)?;
    // One extraction serves every row: with the point part when gnn is among them
    // (the other rows read the columns before it, as they would on their own).
    let mut extract = opts.clone();
    extract.pipeline.features.points |= variants.iter().any(|v| v.kind.reads_points());
    let votes = args.recipe.votes()?;
    let (samples, n_train, protocol) = match (args.cv, args.test.is_empty()) {
        (Some(k), true) => {
            let samples = args.data.samples()?;
            let n = samples.len();
            let protocol = format!(
                "{k}-fold cross-validation grouped by subject on {}",
                args.data.describe().join(" ")
            );
            (samples, n, protocol)
        }
        (None, false) => {
            let test = DataArgs {
                data: args.test.clone(),
                split: args.test_split.clone(),
                ..args.data.clone()
            };
            let mut samples = args.data.samples()?;
            let n_train = samples.len();
            samples.extend(test.samples()?);
            let protocol = format!(
                "trained on {}; tested on {}",
                args.data.describe().join(" "),
                test.describe().join(" ")
            );
            (samples, n_train, protocol)
        }
        _ => bail!("give either --cv K or --test PATH..."),
    };
    let mut rows = args.recipe.rows(&samples, &extract)?;
    if let Some(votes) = &votes {
        rows.attach_votes(&samples, votes)?;
    }
    let folds = match args.cv {
        Some(k) => fer::train::cv_folds(&rows, k)?,
        None => vec![compare::held_out_fold(&rows, n_train)],
    };
    let pb = progress((folds.len() * variants.len()) as u64, "compare");
    let mut cmp = compare::run(
        &rows,
        &folds,
        &opts,
        &variants,
        protocol.clone(),
        &mut |f, name, acc| {
            pb.inc(1);
            pb.set_prefix(format!("fold {} {name} {:.1}%", f + 1, 100.0 * acc));
        },
    )?;
    pb.finish_and_clear();
    for name in &args.deep {
        let model = load_face_model(name, &args.device)?;
        let pool = pool_for(model.as_ref(), &args.recipe.detect)?;
        cmp.rows.push(compare::deep_row(
            &compare::deep_label(&name.to_string_lossy(), args.device.tta.as_deref()),
            model.as_ref(),
            model.bytes_on_disk(),
            &samples,
            &rows,
            &folds,
            &pool,
            &protocol,
        )?);
    }
    fer::model::bundle::write_atomic(&args.json, serde_json::to_string_pretty(&cmp)?.as_bytes())?;
    fer::plot::comparison(&cmp, &args.plot)?;
    print!("{}", cmp.to_text());
    eprintln!(
        "JSON: {}   bar chart: {}",
        args.json.display(),
        args.plot.display()
    );
    Ok(0)
}
