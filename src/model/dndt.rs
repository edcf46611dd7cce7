//! A deep neural decision tree (Yang et al. 2018, "Deep Neural Decision Trees").
//! Each of a few selected features is softly binned: with sorted cut points
//! `b_1 < ... < b_n`, the bin memberships are
//! `softmax(([1, 2, ..., n + 1] x - [0, b_1, b_1 + b_2, ...]) / tau)`; the leaves
//! are the Kronecker product of every feature's bins (`(n + 1)^k` of them) and a
//! linear layer maps leaf memberships to class logits. Cut points and leaf
//! weights are learned by gradient.
//!
//! The leaf count grows exponentially with the features binned, so only a few
//! are: [`select_features`] takes turns over the classes, each turn taking the
//! feature with the best one-vs-rest ANOVA F-score (between-class over
//! within-class variance) on the training rows for that class, skipping any
//! whose absolute correlation with one already taken is above
//! [`MAX_FEATURE_CORRELATION`] (the 210 distances hold many near copies).
//!
//! The leaf layer sees nearly one-hot leaf memberships, so each leaf's logits
//! only move with the rows that reach it: it trains at
//! [`DNDT_LEARNING_RATE_SCALE`] times the MLP's learning rate.
//!
//! Cut points are kept sorted by construction: the first is free, the others
//! add `exp(gap)` to it. They start at the training quantiles of their feature.
//! Weights under the builder's path: `cut_start` `[k, 1]`, `cut_gaps`
//! `[k, n - 1]` (when `n > 1`), `leaf.*` `[classes, leaves]`; the selected
//! feature indices are stored beside them as `features` `[k]`.

use crate::error::{FerError, Result};
use crate::model::learner::{Classify, FitJob, Fitted, Learner, LoadJob, Trained};
use crate::model::net::Net;
use crate::model::net::{self as nets, seeded_init, EpochCallback};
use candle_core::DType;
use candle_core::{Device, Tensor, D};
use candle_nn::{Linear, Module, VarBuilder};
use rand::rngs::StdRng;
use std::time::Instant;

/// Learning rate multiplier over the shared optimiser settings (at the MLP's rate a
/// DNDT on CK+ stopped early at 57.6% validation accuracy, still learning).
pub const DNDT_LEARNING_RATE_SCALE: f64 = 10.0;
/// Features more correlated than this with an already selected one are skipped.
pub const MAX_FEATURE_CORRELATION: f64 = 0.9;
/// Smallest gap between initial cut points (standardised units).
const MIN_CUT_GAP: f32 = 1e-3;

/// A deep neural decision tree.
pub struct Dndt {
    features: Vec<usize>,
    index: Tensor,
    cut_start: Tensor,
    cut_gaps: Option<Tensor>,
    leaf: Linear,
    cuts: usize,
    tau: f32,
}

impl Dndt {
    /// Build (or load) the weights from `vb` for the given input feature indices.
    pub fn new(
        vb: VarBuilder,
        features: Vec<usize>,
        cuts: usize,
        classes: usize,
        tau: f32,
    ) -> Result<Self> {
        let k = features.len();
        if k == 0 || cuts == 0 {
            return Err(FerError::Training(
                "a DNDT needs at least one feature and one cut point".into(),
            ));
        }
        let leaves = (cuts + 1).pow(k as u32);
        let cut_start = vb.get((k, 1), "cut_start")?;
        let cut_gaps = if cuts > 1 {
            Some(vb.get((k, cuts - 1), "cut_gaps")?)
        } else {
            None
        };
        let leaf = candle_nn::linear(leaves, classes, vb.pp("leaf"))?;
        let index = Tensor::from_vec(
            features.iter().map(|&f| f as u32).collect::<Vec<_>>(),
            k,
            &Device::Cpu,
        )?;
        Ok(Dndt {
            features,
            index,
            cut_start,
            cut_gaps,
            leaf,
            cuts,
            tau,
        })
    }

    /// Indices of the binned input features.
    pub fn features(&self) -> &[usize] {
        &self.features
    }

    /// Cut points `[k, cuts]` in standardised units, sorted along each row.
    pub fn cut_points(&self) -> Result<Tensor> {
        Ok(match &self.cut_gaps {
            Some(g) => {
                let rest = self.cut_start.broadcast_add(&g.exp()?.cumsum(1)?)?;
                Tensor::cat(&[&self.cut_start, &rest], 1)?
            }
            None => self.cut_start.clone(),
        })
    }

    /// Soft bin memberships of every selected feature: `k` tensors `[n, cuts + 1]`.
    pub fn bins(&self, x: &Tensor) -> Result<Vec<Tensor>> {
        let xs = x.index_select(&self.index, 1)?;
        let cuts = self.cut_points()?;
        let w: Vec<f32> = (1..=self.cuts + 1).map(|v| v as f32).collect();
        let w = Tensor::from_vec(w, (1, self.cuts + 1), x.device())?;
        let mut out = Vec::with_capacity(self.features.len());
        for j in 0..self.features.len() {
            let xj = xs.narrow(1, j, 1)?;
            let b = Tensor::cat(
                &[
                    &Tensor::zeros((1, 1), x.dtype(), x.device())?,
                    &cuts.get(j)?.cumsum(0)?.neg()?.unsqueeze(0)?,
                ],
                1,
            )?;
            let logits = (xj.broadcast_mul(&w)?.broadcast_add(&b)? / self.tau as f64)?;
            out.push(candle_nn::ops::softmax(&logits, D::Minus1)?);
        }
        Ok(out)
    }

    /// Class logits of one leaf (index in Kronecker order: the first feature's bin is the most significant digit).
    pub fn leaf_logits(&self, leaf: usize) -> Result<Vec<f32>> {
        let w = self.leaf.weight().narrow(1, leaf, 1)?.squeeze(1)?;
        let w = match self.leaf.bias() {
            Some(b) => (w + b)?,
            None => w,
        };
        Ok(w.to_vec1::<f32>()?)
    }

    /// Leaf memberships `[n, (cuts + 1)^k]`: the Kronecker product of the bins.
    pub fn leaves(&self, x: &Tensor) -> Result<Tensor> {
        let n = x.dim(0)?;
        let mut bins = self.bins(x)?.into_iter();
        let mut h = bins
            .next()
            .ok_or_else(|| FerError::Training("DNDT without features".into()))?;
        for b in bins {
            let width = h.dim(1)? * b.dim(1)?;
            h = h
                .unsqueeze(2)?
                .broadcast_mul(&b.unsqueeze(1)?)?
                .reshape((n, width))?;
        }
        Ok(h)
    }
}

impl Net for Dndt {
    fn log_probs(&self, x: &Tensor, _rng: Option<&mut StdRng>) -> Result<Tensor> {
        Ok(candle_nn::ops::log_softmax(
            &self.leaf.forward(&self.leaves(x)?)?,
            D::Minus1,
        )?)
    }
}

/// One-way ANOVA F-score of every feature over `rows` of the row-major `x` `[*, dim]`.
pub fn f_scores(x: &[f32], y: &[u32], rows: &[usize], dim: usize, classes: usize) -> Vec<f64> {
    let mut count = vec![0f64; classes];
    let mut sum = vec![0f64; classes * dim];
    let mut total = vec![0f64; dim];
    for &r in rows {
        let c = y[r] as usize;
        count[c] += 1.0;
        for j in 0..dim {
            let v = x[r * dim + j] as f64;
            sum[c * dim + j] += v;
            total[j] += v;
        }
    }
    let n = rows.len() as f64;
    let present = count.iter().filter(|&&c| c > 0.0).count() as f64;
    let mut within = vec![0f64; dim];
    for &r in rows {
        let c = y[r] as usize;
        for j in 0..dim {
            let mean = sum[c * dim + j] / count[c];
            within[j] += (x[r * dim + j] as f64 - mean).powi(2);
        }
    }
    (0..dim)
        .map(|j| {
            let grand = total[j] / n;
            let between: f64 = (0..classes)
                .filter(|&c| count[c] > 0.0)
                .map(|c| count[c] * (sum[c * dim + j] / count[c] - grand).powi(2))
                .sum();
            let (df_b, df_w) = ((present - 1.0).max(1.0), (n - present).max(1.0));
            if within[j] <= f64::EPSILON {
                0.0
            } else {
                (between / df_b) / (within[j] / df_w)
            }
        })
        .collect()
}

fn correlation(x: &[f32], rows: &[usize], dim: usize, a: usize, b: usize) -> f64 {
    let n = rows.len() as f64;
    let mean = |j: usize| rows.iter().map(|&r| x[r * dim + j] as f64).sum::<f64>() / n;
    let (ma, mb) = (mean(a), mean(b));
    let (mut sab, mut saa, mut sbb) = (0.0, 0.0, 0.0);
    for &r in rows {
        let (da, db) = (x[r * dim + a] as f64 - ma, x[r * dim + b] as f64 - mb);
        sab += da * db;
        saa += da * da;
        sbb += db * db;
    }
    if saa <= 0.0 || sbb <= 0.0 {
        0.0
    } else {
        sab / (saa * sbb).sqrt()
    }
}

/// Choose `k` features to bin, taking turns over the classes: each class's
/// turn takes the feature with the best one-vs-rest F-score for that class,
/// skipping near copies of features already chosen. (Ranking by the overall
/// F-score alone tends to pick features that all separate the same classes.)
pub fn select_features(
    x: &[f32],
    y: &[u32],
    rows: &[usize],
    dim: usize,
    classes: usize,
    k: usize,
) -> Vec<usize> {
    let present: Vec<u32> = (0..classes as u32)
        .filter(|c| rows.iter().any(|&r| y[r] == *c))
        .collect();
    let rankings: Vec<Vec<usize>> = present
        .iter()
        .map(|&c| {
            let binary: Vec<u32> = y.iter().map(|&v| (v == c) as u32).collect();
            let scores = f_scores(x, &binary, rows, dim, 2);
            let mut ranked: Vec<usize> = (0..dim).collect();
            ranked.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
            ranked
        })
        .collect();
    let mut next = vec![0usize; rankings.len()];
    let mut chosen: Vec<usize> = Vec::with_capacity(k);
    while chosen.len() < k && next.iter().any(|&n| n < dim) {
        for (ranked, pos) in rankings.iter().zip(next.iter_mut()) {
            if chosen.len() == k {
                break;
            }
            while *pos < dim {
                let f = ranked[*pos];
                *pos += 1;
                let fresh = !chosen.contains(&f)
                    && chosen
                        .iter()
                        .all(|&c| correlation(x, rows, dim, c, f).abs() <= MAX_FEATURE_CORRELATION);
                if fresh {
                    chosen.push(f);
                    break;
                }
            }
        }
    }
    chosen
}

/// Initial `(cut_start [k, 1], cut_gaps [k, cuts - 1])` values: the feature's
/// training quantiles at `i / (cuts + 1)`.
pub fn initial_cuts(
    x: &[f32],
    rows: &[usize],
    dim: usize,
    features: &[usize],
    cuts: usize,
) -> (Vec<f32>, Vec<f32>) {
    let mut start = Vec::with_capacity(features.len());
    let mut gaps = Vec::with_capacity(features.len() * cuts.saturating_sub(1));
    for &f in features {
        let mut v: Vec<f32> = rows.iter().map(|&r| x[r * dim + f]).collect();
        v.sort_by(|a, b| a.total_cmp(b));
        let q = |i: usize| {
            v.get((v.len() * i / (cuts + 1)).min(v.len().saturating_sub(1)))
                .copied()
                .unwrap_or(0.0)
        };
        let points: Vec<f32> = (1..=cuts).map(q).collect();
        start.push(points[0]);
        for w in points.windows(2) {
            gaps.push((w[1] - w[0]).max(MIN_CUT_GAP).ln());
        }
    }
    (start, gaps)
}

/// Bundle tensor holding the DNDT's selected feature indices.
pub const DNDT_FEATURES_TENSOR: &str = "dndt.features";

/// The `dndt` kind.
pub struct DndtKind;

impl Learner for DndtKind {
    fn name(&self) -> &'static str {
        "dndt"
    }
    fn is_network(&self) -> bool {
        true
    }
    fn fit(&self, job: &FitJob, _: &mut Trained, on_epoch: &mut EpochCallback) -> Result<Fitted> {
        let started = Instant::now();
        let (p, t, set) = (job.params, job.trees, job.set);
        let train_rows = &job.split.train;
        let features = select_features(
            set.x,
            set.y,
            train_rows,
            set.dim,
            job.classes,
            t.dndt_features,
        );
        if features.len() < t.dndt_features {
            return Err(FerError::Training(format!(
                "only {} features are informative and not near copies of each other; ask for fewer (--dndt-features)",
                features.len()
            )));
        }
        let (varmap, mut rng) = nets::start(p.seed);
        let tree = Dndt::new(
            nets::builder(&varmap).pp("dndt"),
            features.clone(),
            t.dndt_cuts,
            job.classes,
            t.dndt_tau,
        )?;
        seeded_init(&varmap, &mut rng)?;
        let (start, gaps) = initial_cuts(set.x, train_rows, set.dim, &features, t.dndt_cuts);
        nets::set_weight(
            &varmap,
            "dndt.cut_start",
            &Tensor::from_vec(start, (features.len(), 1), &Device::Cpu)?,
        )?;
        if t.dndt_cuts > 1 {
            nets::set_weight(
                &varmap,
                "dndt.cut_gaps",
                &Tensor::from_vec(gaps, (features.len(), t.dndt_cuts - 1), &Device::Cpu)?,
            )?;
        }
        let fast = p.with_learning_rate_scale(DNDT_LEARNING_RATE_SCALE);
        let report = nets::fit_net(
            &tree,
            &varmap,
            &fast,
            set,
            job.classes,
            train_rows,
            &job.split.val,
            &mut rng,
            on_epoch,
        )?;
        let mut tensors = nets::weights(&varmap)?;
        let idx: Vec<f32> = features.iter().map(|&f| f as f32).collect();
        tensors.push((
            DNDT_FEATURES_TENSOR.to_string(),
            Tensor::from_vec(idx, features.len(), &Device::Cpu)?,
        ));
        Ok(Fitted::new(tree, tensors, report, started))
    }
    fn load(&self, job: &LoadJob) -> Result<Box<dyn Classify>> {
        let t = job
            .tensors
            .get(DNDT_FEATURES_TENSOR)
            .ok_or_else(|| FerError::Training(format!("tensor {DNDT_FEATURES_TENSOR} missing")))?;
        let features: Vec<usize> = t
            .to_dtype(DType::F32)?
            .to_vec1::<f32>()?
            .into_iter()
            .map(|f| f as usize)
            .collect();
        let trees = job.trees;
        if features.len() != trees.dndt_features || features.iter().any(|&f| f >= job.dim) {
            return Err(FerError::Training(format!(
                "{DNDT_FEATURES_TENSOR} does not name {} features below {}",
                trees.dndt_features, job.dim
            )));
        }
        Ok(Box::new(Dndt::new(
            job.vars().pp("dndt"),
            features,
            trees.dndt_cuts,
            job.classes,
            trees.dndt_tau,
        )?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f_score_prefers_the_separating_feature() {
        // feature 0 separates the classes, feature 1 is noise, feature 2 copies feature 0.
        let x = [
            0.0f32, 5.0, 0.1, 0.2, 1.0, 0.3, 3.0, 4.0, 3.1, 3.2, 2.0, 3.3,
        ];
        let y = [0u32, 0, 1, 1];
        let rows = [0, 1, 2, 3];
        let s = f_scores(&x, &y, &rows, 3, 2);
        assert!(s[0] > 10.0 * s[1], "{s:?}");
        assert_eq!(select_features(&x, &y, &rows, 3, 2, 2), vec![0, 1]);
    }

    #[test]
    fn selection_takes_turns_over_the_classes() {
        // Three classes; features 0 and 1 both single out class 0 (strongly), feature 2 class 1 (weakly).
        let x = [
            9.0f32, 9.5, 0.0, 9.2, 8.9, 0.1, 0.0, 0.1, 3.0, 0.2, 0.3, 3.2, 0.1, 0.0, 0.0, 0.3, 0.2,
            0.1,
        ];
        let y = [0u32, 0, 1, 1, 2, 2];
        let rows = [0, 1, 2, 3, 4, 5];
        let chosen = select_features(&x, &y, &rows, 3, 3, 2);
        assert!(
            chosen.contains(&2),
            "class 1's feature is skipped: {chosen:?}"
        );
    }
}
