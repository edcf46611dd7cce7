//! A deep neural decision forest (Kontschieder et al. 2015): a learned
//! representation (one `Linear -> ReLU -> Dropout` layer, the MLP's hidden
//! layer) feeds a fully connected routing layer whose sigmoid outputs are the
//! decision nodes of several soft trees; the forest's prediction is the mean of
//! its trees' leaf mixtures. Everything is trained end to end by gradient.
//!
//! Leaf distributions are parameterised as `softmax(phi)` and trained by the
//! same AdamW steps as the rest, not by the paper's fixed-point update of
//! `pi`: the update needs a full pass over the training set between gradient
//! epochs, while the softmax form keeps one optimiser, one mini-batch loop and
//! early stopping shared with every other network here.
//!
//! Weights under the builder's path: `fc0.*` (representation), `route.*`
//! `[trees * inner, hidden]`, `leaf` `[trees, leaves, classes]`.

use crate::error::FerError;
use crate::error::Result;
use crate::model::learner::{fit_network, Classify, FitJob, Fitted, Learner, LoadJob, Trained};
use crate::model::net::{dropout, EpochCallback, Net};
use crate::model::soft_tree::{inner_nodes, route, MIN_PROB};
use candle_core::{Tensor, D};
use candle_nn::{Linear, Module, VarBuilder};
use rand::rngs::StdRng;

/// A deep neural decision forest.
pub struct Ndf {
    fc: Linear,
    route: Linear,
    leaf: Tensor,
    trees: usize,
    depth: usize,
    dropout: f32,
}

impl Ndf {
    /// Build (or load) the weights from `vb`.
    pub fn new(
        vb: VarBuilder,
        dim: usize,
        hidden: usize,
        trees: usize,
        depth: usize,
        classes: usize,
        dropout: f32,
    ) -> Result<Self> {
        let fc = candle_nn::linear(dim, hidden, vb.pp("fc0"))?;
        let route = candle_nn::linear(hidden, trees * inner_nodes(depth), vb.pp("route"))?;
        let leaf = vb.get((trees, 1 << depth, classes), "leaf")?;
        Ok(Ndf {
            fc,
            route,
            leaf,
            trees,
            depth,
            dropout,
        })
    }
}

impl Net for Ndf {
    fn log_probs(&self, x: &Tensor, mut rng: Option<&mut StdRng>) -> Result<Tensor> {
        let x = match rng.as_deref_mut() {
            Some(r) if self.dropout > 0.0 => dropout(x, self.dropout / 2.0, r)?,
            _ => x.clone(),
        };
        let mut h = self.fc.forward(&x)?.relu()?;
        if let Some(r) = rng {
            if self.dropout > 0.0 {
                h = dropout(&h, self.dropout, r)?;
            }
        }
        let decisions = candle_nn::ops::sigmoid(&self.route.forward(&h)?)?;
        let pi = candle_nn::ops::softmax(&self.leaf, D::Minus1)?;
        let inner = inner_nodes(self.depth);
        let mut sum: Option<Tensor> = None;
        for t in 0..self.trees {
            let (_, leaves) = route(&decisions.narrow(1, t * inner, inner)?, self.depth)?;
            let p = leaves.matmul(&pi.get(t)?)?;
            sum = Some(match sum {
                Some(s) => (s + p)?,
                None => p,
            });
        }
        let mean = (sum
            .ok_or_else(|| crate::error::FerError::Training("forest without trees".into()))?
            / self.trees as f64)?;
        Ok(mean.clamp(MIN_PROB, 1.0)?.log()?)
    }
}

/// The `ndf` kind.
pub struct NdfKind;

impl Learner for NdfKind {
    fn name(&self) -> &'static str {
        "ndf"
    }
    fn is_network(&self) -> bool {
        true
    }
    fn fit(&self, job: &FitJob, _: &mut Trained, on_epoch: &mut EpochCallback) -> Result<Fitted> {
        let (p, t) = (job.params, job.trees);
        let hidden = p.hidden.first().copied().unwrap_or(1);
        fit_network(job, on_epoch, "ndf", |vb| {
            Ndf::new(
                vb,
                job.set.dim,
                hidden,
                t.ndf_trees,
                t.ndf_depth,
                job.classes,
                p.dropout,
            )
        })
    }
    fn load(&self, job: &LoadJob) -> Result<Box<dyn Classify>> {
        let hidden = job
            .mlp
            .hidden
            .first()
            .copied()
            .ok_or_else(|| FerError::Training("ndf needs a hidden layer size".into()))?;
        Ok(Box::new(Ndf::new(
            job.vars().pp("ndf"),
            job.dim,
            hidden,
            job.trees.ndf_trees,
            job.trees.ndf_depth,
            job.classes,
            job.mlp.dropout,
        )?))
    }
}
