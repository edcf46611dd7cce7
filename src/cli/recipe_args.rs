//! How a model is trained (`RecipeArgs`): its stages, detection, network and tree
//! options, shared by train, eval --cv and compare.

use super::data_args::DataArgs;
use super::detect_args::DetectArgs;
use super::{pool_for, progress};
use anyhow::{bail, Context, Result};
use clap::Args;
use fer::model::load::LoadOptions;
use fer::model::mlp::{MlpParams, Objective};
use fer::model::{ModelKind, Teacher, TreeParams};
use fer::pipeline::PipelineConfig;
use fer::rows::{self, LabelledRows};
use fer::train::FitOptions;
use fer::votes::Votes;
use std::path::PathBuf;

/// Stage options fixed at training time and stored in the model.
#[derive(Args, Clone)]
pub struct StageArgs {
    /// Gaussian kernel side (odd; 1 disables denoising).
    #[arg(long, default_value_t = 3)]
    pub blur_kernel: i32,
    /// Gaussian sigma (0: from the kernel).
    #[arg(long, default_value_t = 0.0)]
    pub blur_sigma: f64,
    /// CLAHE clip limit (0 disables CLAHE).
    #[arg(long, default_value_t = 2.0)]
    pub clahe_clip: f64,
    /// CLAHE tiles per side.
    #[arg(long, default_value_t = 8)]
    pub clahe_grid: i32,
    /// Side of the aligned face crop in pixels.
    #[arg(long, default_value_t = 96)]
    pub crop_size: i32,
    /// Geometric features only (no HOG appearance features).
    #[arg(long)]
    pub no_hog: bool,
    /// HOG cell side in pixels (must divide the crop size).
    #[arg(long, default_value_t = 12)]
    pub hog_cell: i32,
    /// Append each fiducial point's position and a HOG block centred on it (on for --model gnn, which reads them as its node features).
    #[arg(long)]
    pub point_features: bool,
}

impl StageArgs {
    pub fn config(&self, detect: &DetectArgs) -> Result<PipelineConfig> {
        let mut cfg = PipelineConfig::default();
        cfg.denoise.kernel = self.blur_kernel;
        cfg.denoise.sigma = self.blur_sigma;
        cfg.clahe.clip_limit = self.clahe_clip;
        cfg.clahe.grid = self.clahe_grid;
        cfg.align.size = self.crop_size;
        cfg.features.hog = !self.no_hog;
        cfg.features.hog_cell = self.hog_cell;
        cfg.features.points = self.point_features;
        detect.apply(&mut cfg)?;
        Ok(cfg)
    }
}

#[derive(Args, Clone)]
pub struct MlpArgs {
    /// Hidden layer sizes, comma separated.
    #[arg(long, value_delimiter = ',', default_value = "256")]
    pub hidden: Vec<usize>,
    /// Dropout probability.
    #[arg(long, default_value_t = 0.5)]
    pub dropout: f32,
    /// AdamW learning rate.
    #[arg(long, default_value_t = 1e-3)]
    pub lr: f64,
    /// AdamW weight decay.
    #[arg(long, default_value_t = 1e-2)]
    pub weight_decay: f64,
    /// Maximum epochs.
    #[arg(long, default_value_t = 80)]
    pub epochs: usize,
    /// Mini-batch size.
    #[arg(long, default_value_t = 64)]
    pub batch_size: usize,
    /// Early-stopping patience in epochs.
    #[arg(long, default_value_t = 12)]
    pub patience: usize,
    /// Share of the training data (whole subjects when known) held out for early stopping.
    #[arg(long, default_value_t = 0.1)]
    pub val_fraction: f32,
    /// Plain (not class-balanced) cross-entropy.
    #[arg(long)]
    pub no_class_balance: bool,
    /// Random seed.
    #[arg(long, default_value_t = 7)]
    pub seed: u64,
    /// Do not add left-right mirrored copies of the training images.
    #[arg(long)]
    pub no_mirror: bool,
    /// Partial labels (Durand et al. 2019): a class that a sample's source does not annotate is unknown, not absent (binary cross-entropy over the known classes). Sources: --data NAME=PATH, a manifest's dataset column, or each folder.
    #[arg(long, conflicts_with = "latent_truth")]
    pub partial_labels: bool,
    /// Latent truth (IPA2LT, Zeng et al. 2018): with two or more annotated sources, learn the true expression and one transition matrix per source (saved in the bundle; fer eval prints and draws them).
    #[arg(long)]
    pub latent_truth: bool,
    /// Crowd votes per image (CSV: `path` and one count column per class, like ../shared/data/ferplus/votes.csv): the networks learn each image's vote distribution instead of its label (unknown/not-a-face votes left out; images without votes keep their label).
    #[arg(long, value_name = "FILE")]
    pub votes: Option<PathBuf>,
}

impl MlpArgs {
    pub fn params(&self) -> MlpParams {
        MlpParams {
            hidden: self.hidden.clone(),
            dropout: self.dropout,
            learning_rate: self.lr,
            weight_decay: self.weight_decay,
            epochs: self.epochs,
            batch_size: self.batch_size,
            patience: self.patience,
            class_balanced: !self.no_class_balance,
            seed: self.seed,
            objective: if self.latent_truth {
                Objective::LatentTruth
            } else if self.partial_labels {
                Objective::PartialLabels
            } else {
                Objective::CrossEntropy
            },
        }
    }
}

/// Tree model options (forest, boost, soft-tree, ndf, dndt, ensemble).
#[derive(Args, Clone)]
pub struct TreeArgs {
    /// Random forest: number of trees.
    #[arg(long, default_value_t = 100)]
    pub forest_trees: usize,
    /// Random forest: deepest a tree may grow (0: no limit).
    #[arg(long, default_value_t = 0)]
    pub forest_max_depth: u16,
    /// Random forest: fewest training rows in a leaf.
    #[arg(long, default_value_t = 1)]
    pub forest_min_leaf: usize,
    /// Boosting: perpetual's budget (higher fits harder, slower).
    #[arg(long, default_value_t = 0.3)]
    pub boost_budget: f32,
    /// Boosting: histogram bins per feature (fewer is faster).
    #[arg(long, default_value_t = 32)]
    pub boost_max_bin: u16,
    /// Soft tree: depth (2^depth leaves).
    #[arg(long, default_value_t = 5)]
    pub depth: usize,
    /// Soft tree: strength of the balanced-split penalty.
    #[arg(long, default_value_t = 0.01)]
    pub tree_penalty: f32,
    /// Soft tree: distil from this teacher (trained first on the same rows) instead of training on labels;
    /// `deep`: every network learns from the --teacher model's probabilities.
    #[arg(long, value_parser = ["mlp", "ensemble", "deep"])]
    pub distill: Option<String>,
    /// The deep teacher for --distill deep: an ONNX sidecar, a shipped name (mini-xception), or a CNN from train-cnn.
    #[arg(long, value_name = "MODEL")]
    pub teacher: Option<PathBuf>,
    /// Distillation temperature.
    #[arg(long, default_value_t = 4.0)]
    pub temperature: f32,
    /// Neural decision forest: number of trees.
    #[arg(long, default_value_t = 5)]
    pub ndf_trees: usize,
    /// Neural decision forest: depth of each tree.
    #[arg(long, default_value_t = 4)]
    pub ndf_depth: usize,
    /// DNDT: how many features to bin (leaves grow as (cuts+1)^features).
    #[arg(long, default_value_t = 8)]
    pub dndt_features: usize,
    /// DNDT: cut points per feature.
    #[arg(long, default_value_t = 1)]
    pub dndt_cuts: usize,
    /// DNDT: soft binning temperature.
    #[arg(long, default_value_t = 0.1)]
    pub dndt_tau: f32,
    /// logistic and svm: project the standardised features onto their first N
    /// principal components first (linfa's PCA, fitted on the training rows; 0: off).
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub pca: usize,
}

impl TreeArgs {
    pub fn params(&self) -> Result<TreeParams> {
        Ok(TreeParams {
            forest_trees: self.forest_trees,
            forest_max_depth: self.forest_max_depth,
            forest_min_leaf: self.forest_min_leaf,
            boost_budget: self.boost_budget,
            boost_max_bin: self.boost_max_bin,
            depth: self.depth,
            penalty: self.tree_penalty,
            distill: self
                .distill
                .as_deref()
                .map(str::parse::<Teacher>)
                .transpose()?,
            temperature: self.temperature,
            ndf_trees: self.ndf_trees,
            ndf_depth: self.ndf_depth,
            dndt_features: self.dndt_features,
            dndt_cuts: self.dndt_cuts,
            dndt_tau: self.dndt_tau,
            pca: self.pca,
        })
    }

    /// The deep teacher `--distill deep --teacher MODEL` names, if any.
    fn deep_teacher(&self) -> Result<Option<&PathBuf>> {
        let deep = self.distill.as_deref() == Some("deep");
        match (deep, &self.teacher) {
            (true, Some(path)) => Ok(Some(path)),
            (false, None) => Ok(None),
            _ => bail!("--distill deep and --teacher MODEL go together"),
        }
    }
}

/// Everything that decides how a model is trained: stages, detection, network, trees.
#[derive(Args)]
pub struct RecipeArgs {
    #[command(flatten)]
    pub stages: StageArgs,
    #[command(flatten)]
    pub detect: DetectArgs,
    #[command(flatten)]
    pub mlp: MlpArgs,
    #[command(flatten)]
    pub trees: TreeArgs,
}

impl RecipeArgs {
    /// The options for a model of `kind` and its labelled rows: the samples' features
    /// (with mirrored copies unless --no-mirror) and, with --distill deep, the teacher's
    /// probabilities.
    pub fn training_rows(
        &self,
        data: &DataArgs,
        kind: ModelKind,
    ) -> Result<(FitOptions, LabelledRows)> {
        let opts = self.options(data, kind)?;
        let votes = self.votes()?;
        let teacher = self.trees.deep_teacher()?;
        let samples = data.samples()?;
        let mut rows = self.rows(&samples, &opts)?;
        if let Some(path) = teacher {
            let model = fer::model::load::load_face_model(
                &path.to_string_lossy(),
                &LoadOptions::default(),
            )?;
            let pool = pool_for(model.as_ref(), &self.detect)?;
            let pb = progress(samples.len() as u64, "teacher");
            rows::attach_teacher(&mut rows, &samples, model.as_ref(), &pool, &|| pb.inc(1))
                .with_context(|| format!("--teacher {}", path.display()))?;
            pb.finish_and_clear();
        }
        if let Some(votes) = &votes {
            rows.attach_votes(&samples, votes)?;
        }
        Ok((opts, rows))
    }

    /// The features of `samples` (with mirrored copies unless --no-mirror), with a progress bar.
    pub fn rows(
        &self,
        samples: &[fer::dataset::Sample],
        opts: &FitOptions,
    ) -> Result<LabelledRows> {
        let pb = progress(samples.len() as u64, "features");
        let rows = rows::labelled_rows(samples, opts.pipeline, !self.mlp.no_mirror, &|| pb.inc(1))?;
        pb.finish_and_clear();
        Ok(rows)
    }

    /// The --votes file, read (and checked) before any image is.
    pub fn votes(&self) -> Result<Option<Votes>> {
        if self.mlp.votes.is_some() && self.trees.distill.as_deref() == Some("deep") {
            bail!("--votes and --distill deep both give the training targets; choose one");
        }
        Ok(self.mlp.votes.as_deref().map(Votes::load).transpose()?)
    }

    /// Validated pipeline and training options for a model of `kind`.
    pub fn options(&self, data: &DataArgs, kind: ModelKind) -> Result<FitOptions> {
        let sources = data
            .describe()
            .into_iter()
            .chain(
                self.mlp
                    .votes
                    .iter()
                    .map(|v| format!("votes={}", v.display())),
            )
            .collect();
        Ok(FitOptions::new(
            kind,
            self.stages.config(&self.detect)?,
            self.mlp.params(),
            self.trees.params()?,
            self.mlp.val_fraction,
            sources,
        )?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Defaults {
        #[command(flatten)]
        mlp: MlpArgs,
        #[command(flatten)]
        trees: TreeArgs,
    }

    /// The defaults shown in `--help` are the library's defaults.
    #[test]
    fn cli_defaults_match_the_library_defaults() {
        let d = Defaults::try_parse_from(["fer"]).expect("no arguments needed");
        assert_eq!(d.mlp.params(), MlpParams::default());
        assert_eq!(d.trees.params().expect("valid"), TreeParams::default());
    }
}
