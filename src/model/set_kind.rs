//! The `set-max`, `set-mean` and `set-attention` kinds ([`SetKind`]): a
//! [`SetNet`] trained on sets of frames. AdamW on the (by default
//! class-balanced) cross-entropy of each set's label, with early stopping on
//! the validation sets (the mean of their accuracy read whole and frame by
//! frame), as [`crate::model::net::fit_net`] does
//! for rows.
//!
//! Each mini-batch holds `--batch-size` sets. For each batch one frame count
//! `m` is drawn between 1 and the longest set's length (at most
//! [`MAX_DRAWN_FRAMES`]), and `m` frames are drawn from every set (without
//! replacement where the set has `m`, with replacement where it is shorter, as
//! GaitSet samples its frames). So the model learns from single frames as well
//! as whole sets, and its answer does not hinge on a set's size.

use crate::error::{FerError, Result};
use crate::model::learner::{Classify, FitJob, Fitted, Learner, LoadJob, Trained};
use crate::model::net::{self, EpochCallback, TrainSet};
use crate::model::set_net::{SetNet, SetPool};
use crate::sets;
use candle_core::{Device, Tensor, D};
use candle_nn::{AdamW, Optimizer, ParamsAdamW};
use rand::rngs::StdRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::Rng;
use std::time::Instant;

/// The most frames drawn from one set for one training step (long sets, such
/// as a video's, are sampled rather than read whole).
pub const MAX_DRAWN_FRAMES: usize = 16;

/// The `set-max`, `set-mean` and `set-attention` kinds.
pub struct SetKind(pub SetPool);

impl Learner for SetKind {
    fn name(&self) -> &'static str {
        match self.0 {
            SetPool::Max => "set-max",
            SetPool::Mean => "set-mean",
            SetPool::Attention => "set-attention",
        }
    }
    /// Trained by gradient, but on sets with their own loop: votes, partial
    /// labels and latent truth (which [`crate::model::net::fit_net`] carries) do not apply.
    fn is_network(&self) -> bool {
        false
    }
    fn uses_validation(&self) -> bool {
        true
    }
    fn needs_sets(&self) -> bool {
        true
    }
    fn fit(&self, job: &FitJob, _: &mut Trained, on_epoch: &mut EpochCallback) -> Result<Fitted> {
        fit_set_net(job, self.0, on_epoch)
    }
    fn load(&self, job: &LoadJob) -> Result<Box<dyn Classify>> {
        Ok(Box::new(SetNet::new(
            job.vars().pp("set"),
            job.dim,
            &job.mlp.hidden,
            job.classes,
            job.mlp.dropout,
            self.0,
        )?))
    }
}

/// Train a set model with `pool` on `job`'s sets (its rows grouped by `job.sets`).
pub fn fit_set_net(job: &FitJob, pool: SetPool, on_epoch: &mut EpochCallback) -> Result<Fitted> {
    let started = Instant::now();
    let keys = job.sets.ok_or_else(|| {
        FerError::Training(
            "a set model learns from sets of frames: give --set-by sequence (or a manifest column)"
                .into(),
        )
    })?;
    if job.set.soft.is_some() {
        return Err(FerError::Training(
            "set models learn from the labels; --votes and --distill deep are for the other kinds"
                .into(),
        ));
    }
    let p = job.params;
    let train = sets::group(keys, &job.split.train);
    let val = sets::group(keys, &job.split.val);
    if train.is_empty() {
        return Err(FerError::Training("no training sets".into()));
    }
    let (varmap, mut rng) = net::start(p.seed);
    let model = SetNet::new(
        net::builder(&varmap).pp("set"),
        job.set.dim,
        &p.hidden,
        job.classes,
        p.dropout,
        pool,
    )?;
    net::seeded_init(&varmap, &mut rng)?;
    let mut opt = AdamW::new(
        varmap.all_vars(),
        ParamsAdamW {
            lr: p.learning_rate,
            weight_decay: p.weight_decay,
            ..Default::default()
        },
    )?;
    let label = |s: &[usize]| job.set.y[s[0]];
    let class_w = net::class_weights(
        train.iter().map(|s| label(s)),
        job.classes,
        p.class_balanced,
    );
    let mut order: Vec<usize> = (0..train.len()).collect();
    let mut stopping = net::EarlyStopping::new(&varmap, p.patience, !val.is_empty());
    for epoch in 1..=p.epochs {
        order.shuffle(&mut rng);
        let (mut loss_sum, mut batches) = (0f32, 0usize);
        for chunk in order.chunks(p.batch_size) {
            let longest = chunk.iter().map(|&s| train[s].len()).max().unwrap_or(1);
            let m = rng.random_range(1..=longest.min(MAX_DRAWN_FRAMES));
            let mut frames = Vec::with_capacity(chunk.len() * m);
            for &s in chunk {
                frames.extend(draw(&train[s], m, &mut rng));
            }
            let x = frames_tensor(job.set, &frames, (chunk.len(), m))?;
            let y: Vec<u32> = chunk.iter().map(|&s| label(&train[s])).collect();
            let w: Vec<f32> = y.iter().map(|&c| class_w[c as usize]).collect();
            let y = Tensor::from_vec(y, chunk.len(), &Device::Cpu)?;
            let w = Tensor::from_vec(w, chunk.len(), &Device::Cpu)?;
            let logp = model.set_log_probs(&x, Some(&mut rng))?;
            let picked = logp.gather(&y.unsqueeze(1)?, 1)?.squeeze(1)?;
            let loss =
                ((picked * &w)?.sum_all()?.neg()? / w.sum_all()?.to_scalar::<f32>()? as f64)?;
            opt.backward_step(&loss)?;
            loss_sum += loss.to_scalar::<f32>()?;
            batches += 1;
        }
        let train_loss = net::finite_loss(epoch, loss_sum / batches.max(1) as f32)?;
        let scored = if val.is_empty() { &train } else { &val };
        let acc = set_accuracy(&model, job.set, scored)?;
        on_epoch(epoch, p.epochs, train_loss, acc);
        if stopping.epoch_ended(epoch, train_loss, acc)? {
            break;
        }
    }
    let report = stopping.finish()?;
    Ok(Fitted::new(model, net::weights(&varmap)?, report, started))
}

/// `m` frames of `set`: distinct ones when it has `m`, else drawn with replacement.
fn draw(set: &[usize], m: usize, rng: &mut StdRng) -> Vec<usize> {
    if m <= set.len() {
        set.choose_multiple(rng, m).copied().collect()
    } else {
        (0..m)
            .map(|_| set[rng.random_range(0..set.len())])
            .collect()
    }
}

/// The rows `frames` of `set` as a tensor of shape `shape + [dim]`.
fn frames_tensor(set: &TrainSet, frames: &[usize], shape: (usize, usize)) -> Result<Tensor> {
    let mut xs = Vec::with_capacity(frames.len() * set.dim);
    for &r in frames {
        xs.extend_from_slice(&set.x[r * set.dim..(r + 1) * set.dim]);
    }
    Ok(Tensor::from_vec(
        xs,
        (shape.0, shape.1, set.dim),
        &Device::Cpu,
    )?)
}

/// The validation score: the mean of the share of `sets` read right whole and
/// the share of their frames read right one at a time. A set model serves both
/// (a track's frames in `fer live`, single images in `fer batch`), and scoring
/// sets alone let it stop while single frames were still being learnt.
fn set_accuracy(model: &SetNet, set: &TrainSet, sets: &[Vec<usize>]) -> Result<f32> {
    let (mut whole, mut frames, mut n_frames) = (0usize, 0usize, 0usize);
    let predict = |x: &Tensor| -> Result<Vec<u32>> {
        Ok(model
            .set_log_probs(x, None)?
            .argmax(D::Minus1)?
            .to_vec1::<u32>()?)
    };
    for s in sets {
        let label = set.y[s[0]];
        whole += usize::from(predict(&frames_tensor(set, s, (1, s.len()))?)?[0] == label);
        let singles = predict(&frames_tensor(set, s, (s.len(), 1))?)?;
        frames += singles.iter().filter(|&&p| p == label).count();
        n_frames += s.len();
    }
    let share = |k: usize, n: usize| k as f32 / n.max(1) as f32;
    Ok((share(whole, sets.len()) + share(frames, n_frames)) / 2.0)
}
