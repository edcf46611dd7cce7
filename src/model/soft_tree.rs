//! A soft binary decision tree (Frosst & Hinton 2017, "Distilling a Neural
//! Network Into a Soft Decision Tree"). Every inner node `i` has a sigmoid gate
//! `p_i(x) = sigmoid(x . w_i + b_i)`, the probability of taking its right branch;
//! a leaf's path probability is the product of the gate probabilities along its
//! path, and each leaf holds a class distribution `softmax(phi_l)`.
//!
//! - Output: the mixture of leaf distributions weighted by path probability
//!   (differentiable everywhere; the paper predicts with the single most probable
//!   leaf, which `fer explain` shows). Training minimises the cross-entropy of
//!   that mixture; the paper's loss instead weights each leaf's own cross-entropy
//!   by its path probability.
//! - The paper's penalty that pushes each node towards using both subtrees
//!   equally, `-lambda 2^-depth sum_i 0.5 (log a_i + log(1 - a_i))` with `a_i`
//!   the path-weighted mean gate probability over the batch, is added to the loss.
//!
//! Nodes are numbered breadth first (heap order: node `i` has children `2i + 1`
//! on the left and `2i + 2` on the right); weights are `gate.weight`
//! `[inner, dim]`, `gate.bias` `[inner]` and `leaf` `[leaves, classes]` under the
//! builder's path.

use crate::error::FerError;
use crate::error::Result;
use crate::model::ensemble::EnsembleKind;
use crate::model::learner::{
    fit_kind, fit_network_on, soften, Classify, FitJob, Fitted, Learner, LoadJob, Trained,
};
use crate::model::mlp::MlpKind;
use crate::model::net::Net;
use crate::model::net::{EpochCallback, TrainSet};
use crate::model::params::Teacher;
use candle_core::{DType, Tensor, D};
use candle_nn::{Linear, Module, VarBuilder};
use rand::rngs::StdRng;

/// Smallest probability passed to a logarithm.
pub const MIN_PROB: f64 = 1e-12;
/// Keeps the balance penalty finite when a node sends everything one way.
const BALANCE_EPS: f64 = 1e-6;

/// Inner nodes of a complete binary tree of `depth`.
pub fn inner_nodes(depth: usize) -> usize {
    (1 << depth) - 1
}

/// Route a batch through a complete binary tree. `gates` `[n, inner]` holds each
/// node's probability of going right; returns the probability of reaching each
/// inner node `[n, inner]` and each leaf `[n, 2^depth]`.
pub fn route(gates: &Tensor, depth: usize) -> Result<(Tensor, Tensor)> {
    let n = gates.dim(0)?;
    let mut reach = Tensor::ones((n, 1), DType::F32, gates.device())?;
    let mut levels = Vec::with_capacity(depth);
    for level in 0..depth {
        let width = 1usize << level;
        let p = gates.narrow(1, width - 1, width)?;
        levels.push(reach.clone());
        let left = (&reach * p.affine(-1.0, 1.0)?)?;
        let right = (&reach * &p)?;
        // Interleave so that node j's children sit at 2j and 2j + 1 of the next level.
        reach = Tensor::stack(&[left, right], 2)?.reshape((n, 2 * width))?;
    }
    Ok((Tensor::cat(&levels, 1)?, reach))
}

/// Frosst & Hinton's balance penalty for one tree: `reach` and `gates` `[n, inner]`.
pub fn balance_penalty(
    reach: &Tensor,
    gates: &Tensor,
    depth: usize,
    lambda: f32,
) -> Result<Tensor> {
    let num = (reach * gates)?.sum(0)?;
    let den = (reach.sum(0)? + BALANCE_EPS)?;
    let alpha = (num / den)?.clamp(BALANCE_EPS, 1.0 - BALANCE_EPS)?;
    let decay: Vec<f32> = (0..depth)
        .flat_map(|level| std::iter::repeat_n(0.5f32.powi(level as i32), 1 << level))
        .collect();
    let decay = Tensor::from_vec(decay, inner_nodes(depth), gates.device())?;
    let both = (alpha.log()? + alpha.affine(-1.0, 1.0)?.log()?)?;
    Ok(((both * decay)?.sum_all()? * (-0.5 * lambda as f64))?)
}

/// A soft decision tree.
pub struct SoftTree {
    gate: Linear,
    leaf: Tensor,
    depth: usize,
    penalty: f32,
}

impl SoftTree {
    /// Build (or load) the weights from `vb`.
    pub fn new(
        vb: VarBuilder,
        dim: usize,
        depth: usize,
        classes: usize,
        penalty: f32,
    ) -> Result<Self> {
        let gate = candle_nn::linear(dim, inner_nodes(depth), vb.pp("gate"))?;
        let leaf = vb.get((1 << depth, classes), "leaf")?;
        Ok(SoftTree {
            gate,
            leaf,
            depth,
            penalty,
        })
    }

    /// Depth of the tree.
    pub fn depth(&self) -> usize {
        self.depth
    }

    /// Gate probabilities (going right) `[n, inner]`.
    pub fn gates(&self, x: &Tensor) -> Result<Tensor> {
        Ok(candle_nn::ops::sigmoid(&self.gate.forward(x)?)?)
    }

    /// Class distribution of every leaf `[leaves, classes]`.
    pub fn leaf_distributions(&self) -> Result<Tensor> {
        Ok(candle_nn::ops::softmax(&self.leaf, D::Minus1)?)
    }

    /// Gate weights `[inner, dim]` (which features each node looks at).
    pub fn gate_weights(&self) -> &Tensor {
        self.gate.weight()
    }
}

impl Net for SoftTree {
    fn log_probs(&self, x: &Tensor, _rng: Option<&mut StdRng>) -> Result<Tensor> {
        let (_, leaves) = route(&self.gates(x)?, self.depth)?;
        Ok(leaves
            .matmul(&self.leaf_distributions()?)?
            .clamp(MIN_PROB, 1.0)?
            .log()?)
    }

    fn penalty(&self, x: &Tensor) -> Result<Option<Tensor>> {
        if self.penalty == 0.0 {
            return Ok(None);
        }
        let gates = self.gates(x)?;
        let (reach, _) = route(&gates, self.depth)?;
        Ok(Some(balance_penalty(
            &reach,
            &gates,
            self.depth,
            self.penalty,
        )?))
    }
}

/// The `soft-tree` kind: on labels, or distilled from a teacher trained first on
/// the same rows (`--distill`).
pub struct SoftTreeKind;

impl Learner for SoftTreeKind {
    fn name(&self) -> &'static str {
        "soft-tree"
    }
    fn is_network(&self) -> bool {
        true
    }
    /// What it learns depends on its distillation setting, not on the rows alone.
    fn reusable(&self) -> bool {
        false
    }
    fn fit(
        &self,
        job: &FitJob,
        trained: &mut Trained,
        on_epoch: &mut EpochCallback,
    ) -> Result<Fitted> {
        let t = job.trees;
        let (soft, teacher_seconds) = match t.distill {
            Some(Teacher::Deep) | None => (None, 0.0), // a deep teacher's targets are already in `set`
            Some(teacher) => {
                let (soft, secs) = soft_targets(teacher, job, trained)?;
                (Some(soft), secs)
            }
        };
        let student = match &soft {
            Some(s) => TrainSet {
                soft: Some(s),
                ..*job.set
            },
            None => TrainSet { ..*job.set },
        };
        // The tree's own seconds plus the teacher's: counted from here, so that
        // a teacher trained just now is not counted twice.
        let mut f = fit_network_on(job, &student, on_epoch, "tree", |vb| {
            SoftTree::new(vb, job.set.dim, t.depth, job.classes, t.penalty)
        })?;
        f.seconds += teacher_seconds;
        Ok(f)
    }
    fn load(&self, job: &LoadJob) -> Result<Box<dyn Classify>> {
        Ok(Box::new(SoftTree::new(
            job.vars().pp("tree"),
            job.dim,
            job.trees.depth,
            job.classes,
            job.trees.penalty,
        )?))
    }
}

/// The teacher's probabilities on the training rows, softened at the distillation
/// temperature, as a row-major `[n, classes]` table over every row of the set
/// (zero outside the training rows); and the teacher's training seconds.
fn soft_targets(teacher: Teacher, job: &FitJob, trained: &mut Trained) -> Result<(Vec<f32>, f64)> {
    let learner: &dyn Learner = match teacher {
        Teacher::Mlp => &MlpKind,
        Teacher::Ensemble => &EnsembleKind,
        Teacher::Deep => {
            return Err(FerError::Training(
                "a deep teacher's targets come with the rows".into(),
            ))
        }
    };
    let teacher = fit_kind(learner, job, trained, &mut |_, _, _, _| {})?;
    let (dim, classes, train) = (job.set.dim, job.classes, &job.split.train);
    let mut x = Vec::with_capacity(train.len() * dim);
    for &r in train {
        x.extend_from_slice(&job.set.x[r * dim..(r + 1) * dim]);
    }
    let probs = teacher.classifier.probabilities(&x, train.len(), dim)?;
    let softened = soften(&probs, job.trees.temperature);
    let mut out = vec![0f32; job.set.y.len() * classes];
    for (&r, p) in train.iter().zip(softened.chunks(classes)) {
        out[r * classes..(r + 1) * classes].copy_from_slice(p);
    }
    Ok((out, teacher.seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn routing_sums_to_one_and_follows_heap_order() -> Result<()> {
        // depth 2: root goes right with 0.8, node 1 (left) right with 0.25, node 2 (right) right with 0.5.
        let gates = Tensor::new(&[[0.8f32, 0.25, 0.5]], &Device::Cpu)?;
        let (reach, leaves) = route(&gates, 2)?;
        let leaves = leaves.to_vec2::<f32>()?;
        let expected = [0.2 * 0.75, 0.2 * 0.25, 0.8 * 0.5, 0.8 * 0.5];
        for (a, b) in leaves[0].iter().zip(expected) {
            assert!((a - b).abs() < 1e-6, "{leaves:?}");
        }
        let reach = reach.to_vec2::<f32>()?;
        assert!(
            (reach[0][1] - 0.2).abs() < 1e-6 && (reach[0][2] - 0.8).abs() < 1e-6,
            "{reach:?}"
        );
        Ok(())
    }
}
