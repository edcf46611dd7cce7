//! `fer compare`: every model kind trained and tested on the same folds, one table.

use super::data_args::{DataArgs, GroupBy};
use super::detect_args::DeviceArgs;
use super::recipe_args::RecipeArgs;
use super::{load_face_model, pool_for, progress, set_threads};
use anyhow::{bail, Result};
use clap::Args;
use fer::compare;
use fer::compare_cnn;
use fer::compare_job::{CompareJob, CompareProgress, DeepEntrant, Protocol};
use fer::data_selection::DataSelection;
use fer::model::cnn_train::{CnnParams, ValidCnnParams};
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
    /// Add a row for our CNN (`fer train-cnn`'s network and schedule), trained from
    /// scratch on every fold's training images and tested on its test images.
    #[arg(long)]
    cnn: bool,
    /// Epochs of the --cnn row's training (train-cnn's default: 60).
    #[arg(long, value_name = "N", requires = "cnn", default_value_t = CnnParams::default().epochs)]
    cnn_epochs: usize,
    /// Channels of the --cnn row's stages (comma separated).
    #[arg(
        long,
        value_delimiter = ',',
        requires = "cnn",
        default_value = "16,32,64"
    )]
    cnn_channels: Vec<usize>,
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

impl CompareArgs {
    /// The --cnn row's settings (train-cnn's, with --cnn-epochs, --cnn-channels and --no-mirror).
    fn cnn_params(&self) -> Result<Option<ValidCnnParams>> {
        if !self.cnn {
            return Ok(None);
        }
        Ok(Some(compare_cnn::row_params(
            self.cnn_epochs,
            self.cnn_channels.clone(),
            !self.recipe.mlp.no_mirror,
        )?))
    }
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
        compare::all_variants(args.data.set_by.is_some())
    } else {
        compare::variants_named(&args.models)?
    };
    let options = args.recipe.options(&args.data, ModelKind::MLP)?;
    let protocol = match (args.cv, args.test.is_empty()) {
        (Some(k), true) => Protocol::CrossValidate(k),
        (None, false) => Protocol::HeldOut(DataSelection {
            data: args.test.clone(),
            splits: args.test_split.clone(),
            ..args.data.selection()
        }),
        _ => bail!("give either --cv K or --test PATH..."),
    };
    let mut deep = Vec::new();
    for name in &args.deep {
        let model = load_face_model(name, &args.device)?;
        let pool = pool_for(model.as_ref(), &args.recipe.detect)?;
        deep.push(DeepEntrant {
            label: compare::deep_label(&name.to_string_lossy(), args.device.tta.as_deref()),
            model,
            pool,
        });
    }
    let cnn = args.cnn_params()?;
    let job = CompareJob {
        data: args.data.selection(),
        protocol,
        variants,
        options,
        mirror: !args.recipe.mlp.no_mirror,
        votes: args.recipe.votes()?,
        deep,
        cnn,
    };
    let bars = Bars {
        features: progress(0, "features"),
        fits: progress(0, "compare"),
    };
    let cmp = job.run(&bars)?;
    bars.fits.finish_and_clear();
    fer::atomic_file::write_atomic(&args.json, serde_json::to_string_pretty(&cmp)?.as_bytes())?;
    fer::plot::comparison(&cmp, &args.plot)?;
    print!("{}", cmp.to_text());
    eprintln!(
        "JSON: {}   bar chart: {}",
        args.json.display(),
        args.plot.display()
    );
    Ok(0)
}

/// The two progress bars of a comparison: features, then fits.
struct Bars {
    features: indicatif::ProgressBar,
    fits: indicatif::ProgressBar,
}

impl CompareProgress for Bars {
    fn images(&self, total: usize) {
        self.features.set_length(total as u64);
    }
    fn image_done(&self) {
        self.features.inc(1);
    }
    fn fits(&self, total: usize) {
        self.features.finish_and_clear();
        self.fits.set_length(total as u64);
    }
    fn fit_done(&self, fold: usize, variant: &str, accuracy: f64) {
        self.fits.inc(1);
        self.fits.set_prefix(format!(
            "fold {} {variant} {:.1}%",
            fold + 1,
            100.0 * accuracy
        ));
    }
}
