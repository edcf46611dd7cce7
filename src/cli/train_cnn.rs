//! `fer train-cnn`: train our own CNN from scratch on face crops.

use super::data_args::DataArgs;
use super::detect_args::DetectArgs;
use super::{create_parent_dir, progress, set_threads};
use anyhow::{bail, Result};
use clap::Args;
use fer::model::cnn::CnnArch;
use fer::model::cnn_train::{self, CnnParams, GitLoss, ValidCnnParams};
use fer::pipeline::PipelineConfig;
use std::path::PathBuf;

#[derive(Args)]
pub struct TrainCnnArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Where to write the CNN (.safetensors).
    #[arg(long)]
    out: PathBuf,
    #[command(flatten)]
    detect: DetectArgs,
    /// Input side in pixels.
    #[arg(long, default_value_t = 48)]
    input_size: usize,
    /// Channels of each stage (comma separated); each stage halves the side.
    #[arg(long, value_delimiter = ',', default_value = "16,32,64")]
    channels: Vec<usize>,
    /// GroupNorm groups (must divide every stage's channels).
    #[arg(long, default_value_t = 8)]
    groups: usize,
    /// Passes over the training crops.
    #[arg(long, default_value_t = 60)]
    epochs: usize,
    /// Crops per optimiser step.
    #[arg(long, default_value_t = 64)]
    batch_size: usize,
    /// Peak AdamW learning rate for a batch of 256, scaled linearly to --batch-size.
    #[arg(long, default_value_t = 1e-2)]
    lr: f64,
    /// Epochs of linear warmup before the cosine decay.
    #[arg(long, default_value_t = 3)]
    warmup_epochs: usize,
    /// AdamW weight decay.
    #[arg(long, default_value_t = 5e-4)]
    weight_decay: f64,
    /// Label smoothing epsilon (0: hard targets).
    #[arg(long, default_value_t = 0.1)]
    label_smoothing: f32,
    /// Mixup Beta(alpha, alpha), alpha in (0, 1]; 0 turns mixup off.
    #[arg(long, default_value_t = 0.2)]
    mixup: f32,
    /// Add Git loss (center and push terms) with these weights, e.g. 0.01,0.01.
    #[arg(long, value_delimiter = ',')]
    git_loss: Option<Vec<f64>>,
    /// Do not flip crops left to right at random.
    #[arg(long)]
    no_mirror: bool,
    /// Seed of the initial weights, batch order, flips and mixup draws.
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

impl TrainCnnArgs {
    fn params(&self) -> Result<ValidCnnParams> {
        let git_loss = match self.git_loss.as_deref() {
            None => None,
            Some(&[center, push]) => Some(GitLoss { center, push }),
            Some(w) => bail!("--git-loss takes two weights, center,push (got {w:?})"),
        };
        Ok(CnnParams {
            arch: CnnArch {
                input_size: self.input_size,
                channels: self.channels.clone(),
                groups: self.groups,
            },
            epochs: self.epochs,
            batch_size: self.batch_size,
            lr_per_256: self.lr,
            warmup_epochs: self.warmup_epochs,
            weight_decay: self.weight_decay,
            label_smoothing: self.label_smoothing,
            mixup_alpha: self.mixup,
            git_loss,
            mirror: !self.no_mirror,
            seed: self.seed,
        }
        .check()?)
    }
}

pub fn run(args: TrainCnnArgs) -> Result<i32> {
    set_threads(0)?;
    let params = args.params()?;
    let mut pipeline = PipelineConfig::default();
    args.detect.apply(&mut pipeline)?;
    let samples = args.data.samples()?;
    let classes = cnn_train::classes_to_learn(&samples)?;
    let pb = progress(samples.len() as u64, "cropping faces");
    let (crops, skipped) = cnn_train::crops_from_samples(
        &samples,
        &classes,
        &pipeline,
        params.arch.input_size,
        &|| pb.inc(1),
    )?;
    pb.finish_and_clear();
    eprintln!(
        "{} crops of {} classes ({skipped} images skipped: unreadable or no face)",
        crops.len(),
        classes.len()
    );
    let pb = progress(params.epochs as u64, "training");
    let model = cnn_train::train(
        &crops,
        classes,
        skipped,
        pipeline,
        &params,
        args.data.describe(),
        &mut |epoch, _, loss, acc| {
            pb.set_position(epoch as u64);
            pb.set_prefix(format!("loss {loss:.3} train acc {:.1}%", 100.0 * acc));
        },
    )?;
    pb.finish_and_clear();
    create_parent_dir(&args.out)?;
    model.save(&args.out)?;
    eprintln!("saved {}", args.out.display());
    Ok(0)
}
