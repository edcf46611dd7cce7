//! `fer train-cnn`: train our own CNN from scratch on face crops.

use super::data_args::DataArgs;
use super::detect_args::DetectArgs;
use super::{create_parent_dir, progress, set_threads};
use anyhow::{bail, Result};
use clap::Args;
use fer::model::cnn::CnnArch;
use fer::model::cnn_checkpoint::Checkpoints;
use fer::model::cnn_train::{
    self, CnnParams, CropOrigin, GitLoss, ValidCnnParams, ValidationCrops,
};
use fer::pipeline::PipelineConfig;
use fer::votes::Votes;
use std::path::PathBuf;

#[derive(Args)]
pub struct TrainCnnArgs {
    #[command(flatten)]
    data: DataArgs,
    /// Manifest rows of these splits (comma separated; the same --data and filters
    /// otherwise) are validation crops: their accuracy is measured after every epoch,
    /// logged and kept in the CNN's curves (`fer plot`). It never steers training.
    #[arg(long, value_delimiter = ',', value_name = "SPLIT")]
    validation_split: Vec<String>,
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
    /// Crowd votes per image (CSV: `path` and one count column per class, like
    /// ../shared/data/ferplus/votes.csv): each crop learns its image's vote
    /// distribution (label smoothing and mixup apply to it) instead of its label;
    /// images without votes keep their label.
    #[arg(long, value_name = "FILE")]
    votes: Option<PathBuf>,
    /// Class-balanced loss: each crop weighs crops / (classes x crops of its class), so
    /// that small classes count as much as large ones (off by default).
    #[arg(long)]
    class_balance: bool,
    /// Seed of the initial weights, batch order, flips and mixup draws.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Where to write a checkpoint at the end of every epoch (atomically; removed once
    /// the CNN is saved) [default: OUT.checkpoint].
    #[arg(long, value_name = "FILE")]
    checkpoint: Option<PathBuf>,
    /// Go on from a checkpoint: the given one, or without a path the --checkpoint file
    /// when there is one. Give the same data and options; the CNN comes out as if the
    /// run had never stopped.
    #[arg(long, value_name = "CHECKPOINT")]
    resume: Option<Option<PathBuf>>,
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
            class_balanced: self.class_balance,
        }
        .check()?)
    }

    /// Where checkpoints go and which one to resume from. A checkpoint named with
    /// `--resume PATH` must exist; bare `--resume` starts afresh when there is none yet.
    fn checkpoints(&self) -> Result<Checkpoints> {
        let save_to = self.checkpoint.clone().unwrap_or_else(|| {
            let mut name = self.out.as_os_str().to_owned();
            name.push(".checkpoint");
            PathBuf::from(name)
        });
        let resume_from = match &self.resume {
            None => None,
            Some(None) => {
                if save_to.exists() {
                    Some(save_to.clone())
                } else {
                    eprintln!(
                        "no checkpoint at {} yet: starting afresh",
                        save_to.display()
                    );
                    None
                }
            }
            Some(Some(p)) if !p.exists() => {
                bail!("--resume {}: no such checkpoint", p.display())
            }
            Some(Some(p)) => Some(p.clone()),
        };
        Ok(Checkpoints {
            save_to: Some(save_to),
            resume_from,
        })
    }
}

pub fn run(args: TrainCnnArgs) -> Result<i32> {
    set_threads(0)?;
    keep_freed_memory();
    let params = args.params()?;
    let checkpoints = args.checkpoints()?;
    let mut pipeline = PipelineConfig::default();
    args.detect.apply(&mut pipeline)?;
    // Read (and checked) before any image is.
    let votes = args.votes.as_deref().map(Votes::load).transpose()?;
    let samples = args.data.samples()?;
    let classes = cnn_train::classes_to_learn(&samples)?;
    let pb = progress(samples.len() as u64, "cropping faces");
    let (crops, skipped) = cnn_train::crops_from_samples(
        &samples,
        &classes,
        &pipeline,
        params.arch.input_size,
        votes.as_ref(),
        &|| pb.inc(1),
    )?;
    pb.finish_and_clear();
    eprintln!(
        "{} crops of {} classes ({skipped} images skipped: unreadable or no face)",
        crops.len(),
        classes.len()
    );
    let validation = validation_crops(&args, &classes, &pipeline, params.arch.input_size)?;
    let pb = progress(params.epochs as u64, "training");
    let origin = CropOrigin {
        classes,
        pipeline,
        sources: args.data.describe(),
        skipped,
        votes: args.votes.as_ref().map(|v| v.display().to_string()),
    };
    let model = cnn_train::train(
        &crops,
        origin,
        validation.as_ref(),
        &params,
        &checkpoints,
        &mut |epoch, _, loss, acc| {
            pb.set_position(epoch as u64);
            pb.set_prefix(format!("loss {loss:.3} train acc {:.1}%", 100.0 * acc));
        },
    )?;
    pb.finish_and_clear();
    create_parent_dir(&args.out)?;
    model.save(&args.out)?;
    eprintln!("saved {}", args.out.display());
    if let Some(ckpt) = &checkpoints.save_to {
        // The model holds all the checkpoint was for; a failure here loses nothing.
        if let Err(e) = std::fs::remove_file(ckpt) {
            tracing::warn!("could not remove the checkpoint {}: {e}", ckpt.display());
        }
    }
    Ok(0)
}

/// The crops of `--validation-split`: the same data and filters, other splits.
fn validation_crops(
    args: &TrainCnnArgs,
    classes: &[String],
    pipeline: &PipelineConfig,
    side: usize,
) -> Result<Option<ValidationCrops>> {
    if args.validation_split.is_empty() {
        return Ok(None);
    }
    if args.data.split.is_empty() {
        bail!("--validation-split needs --split for the training rows, or the validation rows would be trained on too");
    }
    if let Some(both) = args
        .validation_split
        .iter()
        .find(|s| args.data.split.contains(s))
    {
        bail!("--validation-split {both} is also a training --split: validate on other rows");
    }
    let data = DataArgs {
        split: args.validation_split.clone(),
        ..args.data.clone()
    };
    let samples = data.samples()?;
    let pb = progress(samples.len() as u64, "cropping validation faces");
    let (crops, skipped) =
        cnn_train::crops_from_samples(&samples, classes, pipeline, side, None, &|| pb.inc(1))?;
    pb.finish_and_clear();
    if crops.is_empty() {
        bail!(
            "--validation-split {}: no validation crops of the classes {} in {}",
            args.validation_split.join(","),
            classes.join(","),
            data.describe().join(" ")
        );
    }
    eprintln!(
        "{} validation crops ({skipped} images skipped: unreadable, no face, or a class not trained)",
        crops.len()
    );
    Ok(Some(ValidationCrops {
        crops,
        sources: data.describe(),
    }))
}

/// The variable that, set to 1, leaves glibc's allocator settings alone.
const KEEP_MALLOC_DEFAULTS: &str = "FER_GLIBC_MALLOC_DEFAULTS";

/// Ask glibc's allocator to keep freed memory for reuse instead of handing it back.
///
/// A training step allocates and frees buffers of several megabytes (activations,
/// im2col copies, gradients). With glibc's defaults each is a fresh `mmap` and
/// `munmap`, and the page faults that follow cost more than the arithmetic: 3 epochs
/// of the CK+ split took 53.7 s, 28 s of it in the kernel; with these settings 36.8 s,
/// 2 s in the kernel, and the same weights byte for byte (BENCHMARKS.md, "Training the
/// CNN"). The cost is memory kept mapped after a peak, which a training process wants
/// back a moment later anyway. `FER_GLIBC_MALLOC_DEFAULTS=1` keeps glibc's defaults
/// (for measuring the difference, or where memory is tight).
fn keep_freed_memory() {
    if std::env::var_os(KEEP_MALLOC_DEFAULTS).is_some_and(|v| v == "1") {
        return;
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        /// Blocks up to this size come from the heap, not their own mmap (glibc's
        /// ceiling for this setting on 64-bit machines is 32 MiB).
        const MMAP_THRESHOLD: libc::c_int = 32 << 20;
        /// Freed memory at the top of the heap kept before trimming.
        const TRIM_THRESHOLD: libc::c_int = 1 << 30;
        /// Extra room asked for whenever the heap grows.
        const TOP_PAD: libc::c_int = 256 << 20;
        // SAFETY: mallopt only changes allocator tunables; called before the
        // training threads start allocating.
        unsafe {
            libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD);
            libc::mallopt(libc::M_TRIM_THRESHOLD, TRIM_THRESHOLD);
            libc::mallopt(libc::M_TOP_PAD, TOP_PAD);
        }
    }
}
