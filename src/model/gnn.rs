//! A graph network over the 21 fiducial points (`--model gnn`): a graph
//! convolutional network (Kipf & Welling 2017) on a fixed anatomical graph, in the
//! manner of the graph-based FER reviewed in the reading list.
//!
//! - **Nodes** are the points. A node's input is its 20 scale-free distances to the
//!   other points (its row of the distance part) and its run of the point part:
//!   position in the crop and the HOG block centred on it
//!   ([`crate::stages::features::FeatureConfig::points`], which `fer train --model
//!   gnn` turns on). Inputs are standardised like every other kind's.
//! - **Edges** ([`EDGES`]): each brow, eye, the nose and the mouth chained (eyes
//!   and mouth as rings), and links between the parts. With self-loops, the
//!   adjacency is normalised as `D^-1/2 (A + I) D^-1/2`.
//! - **Layers**: a linear embedding to the width (the first `--hidden` value), then
//!   [`LAYERS`] graph convolutions `h + ReLU(Â h W + b)`, each followed by dropout
//!   in training, then a permutation-invariant readout (mean and max over the
//!   nodes), concatenated with the whole crop's HOG part projected to the width
//!   (`ReLU`, dropout; only when the features have HOG), and a linear layer to
//!   class logits. The global part is there because the points alone fell far
//!   short: on CK+'s validation split of `fer train` the graph alone read 79.4%, with
//!   the global part 83.0%, the MLP 86.1% (README, "How they compare").
//!
//! Trained by [`crate::model::net::fit_net`] like the MLP (AdamW, early stopping),
//! so votes, partial labels and latent truth apply to it too. `fer explain` reports
//! each node's gradient x input for the predicted class ([`Gnn::node_weights`]).
//!
//! Weights under `gnn.`: `embed.*`, `conv{l}.*`, `global.*`, `head.*`.
//! `fer explain`'s node weights hold the global part fixed.

use crate::error::{FerError, Result};
use crate::model::learner::{fit_network, Classify, FitJob, Fitted, Learner, LoadJob, Trained};
use crate::model::net::{dropout, EpochCallback, Net};
use crate::stages::features::{FeatureLayout, NUM_DISTANCES};
use crate::stages::landmarks::NUM_POINTS;
use candle_core::{Device, IndexOp, Tensor, Var, D};
use candle_nn::{Linear, Module, VarBuilder};
use rand::rngs::StdRng;

/// Graph convolutions between the embedding and the readout.
pub const LAYERS: usize = 2;

/// The anatomical graph, as pairs of point indices (see
/// [`crate::stages::landmarks::POINT_NAMES`]).
pub const EDGES: [(usize, usize); 33] = [
    // Brows, outer to inner, and the two inner ends.
    (0, 1),
    (1, 2),
    (2, 3),
    (3, 4),
    (4, 5),
    // Left eye ring: outer, top, inner, bottom.
    (6, 7),
    (7, 8),
    (8, 9),
    (9, 6),
    // Right eye ring: inner, top, outer, bottom.
    (10, 11),
    (11, 12),
    (12, 13),
    (13, 10),
    // Nose: tip and wings.
    (14, 15),
    (14, 16),
    (15, 16),
    // Mouth ring: left, top, right, bottom.
    (17, 18),
    (18, 19),
    (19, 20),
    (20, 17),
    // Brow over eye.
    (0, 6),
    (1, 7),
    (2, 8),
    (3, 10),
    (4, 11),
    (5, 12),
    // Eyes to each other and to the nose.
    (8, 10),
    (8, 15),
    (10, 16),
    // Nose to mouth.
    (14, 18),
    (15, 17),
    (16, 19),
    // Mouth corners to the eyes' outer corners (the cheeks).
    (6, 17),
];

/// `D^-1/2 (A + I) D^-1/2` of [`EDGES`], row-major `[NUM_POINTS, NUM_POINTS]`.
pub fn normalised_adjacency() -> Vec<f32> {
    let n = NUM_POINTS;
    let mut a = vec![0f32; n * n];
    for i in 0..n {
        a[i * n + i] = 1.0;
    }
    for &(i, j) in &EDGES {
        a[i * n + j] = 1.0;
        a[j * n + i] = 1.0;
    }
    let degree: Vec<f32> = (0..n).map(|i| a[i * n..(i + 1) * n].iter().sum()).collect();
    for i in 0..n {
        for j in 0..n {
            a[i * n + j] /= (degree[i] * degree[j]).sqrt();
        }
    }
    a
}

/// Index of pair (i, j), i < j, in the distance part.
fn pair_index(i: usize, j: usize) -> usize {
    i * (2 * NUM_POINTS - i - 1) / 2 + (j - i - 1)
}

/// For each node in turn, the feature columns it reads: its distances to the
/// other points, then its run of the point part.
pub fn node_columns(layout: &FeatureLayout) -> Result<Vec<u32>> {
    let points = layout.points.clone().ok_or_else(|| {
        FerError::Training(
            "gnn reads the point features (position and HOG block per point); this feature layout has none (train with --model gnn or --point-features)".into(),
        )
    })?;
    if layout.distances != (0..NUM_DISTANCES) || points.len() != NUM_POINTS * layout.per_point {
        return Err(FerError::Training(format!(
            "gnn cannot read this feature layout: {layout:?}"
        )));
    }
    let mut cols = Vec::with_capacity(NUM_POINTS * node_inputs(layout));
    for i in 0..NUM_POINTS {
        for j in (0..NUM_POINTS).filter(|&j| j != i) {
            cols.push(pair_index(i.min(j), i.max(j)) as u32);
        }
        let start = points.start + i * layout.per_point;
        cols.extend((start..start + layout.per_point).map(|c| c as u32));
    }
    Ok(cols)
}

/// Inputs per node.
pub fn node_inputs(layout: &FeatureLayout) -> usize {
    NUM_POINTS - 1 + layout.per_point
}

/// The graph network.
pub struct Gnn {
    columns: Tensor,
    adjacency: Tensor,
    embed: Linear,
    convs: Vec<Linear>,
    /// The whole crop's HOG part (its columns) and its projection to the width.
    global: Option<(Tensor, Linear)>,
    head: Linear,
    node_inputs: usize,
    dropout: f32,
}

impl Gnn {
    /// Build (or load) the weights from `vb` for feature vectors laid out as `layout`.
    pub fn new(
        vb: VarBuilder,
        layout: &FeatureLayout,
        dim: usize,
        width: usize,
        classes: usize,
        dropout: f32,
    ) -> Result<Self> {
        let cols = node_columns(layout)?;
        if let Some(&c) = cols.iter().find(|&&c| c as usize >= dim) {
            return Err(FerError::Training(format!(
                "gnn reads feature {c}, but the vectors have {dim}"
            )));
        }
        if width == 0 {
            return Err(FerError::Training("gnn needs a width above 0".into()));
        }
        let inputs = node_inputs(layout);
        let n = cols.len();
        let global = if layout.hog.is_empty() {
            None
        } else {
            let hog: Vec<u32> = layout.hog.clone().map(|c| c as u32).collect();
            let len = hog.len();
            Some((
                Tensor::from_vec(hog, len, &Device::Cpu)?,
                candle_nn::linear(len, width, vb.pp("global"))?,
            ))
        };
        let readout = (2 + usize::from(global.is_some())) * width;
        Ok(Gnn {
            columns: Tensor::from_vec(cols, n, &Device::Cpu)?,
            adjacency: Tensor::from_vec(
                normalised_adjacency(),
                (NUM_POINTS, NUM_POINTS),
                &Device::Cpu,
            )?,
            embed: candle_nn::linear(inputs, width, vb.pp("embed"))?,
            convs: (0..LAYERS)
                .map(|l| candle_nn::linear(width, width, vb.pp(format!("conv{l}"))))
                .collect::<std::result::Result<_, _>>()?,
            global,
            head: candle_nn::linear(readout, classes, vb.pp("head"))?,
            node_inputs: inputs,
            dropout,
        })
    }

    /// Node inputs `[n, NUM_POINTS, inputs]` gathered from feature rows `[n, dim]`.
    pub fn nodes(&self, x: &Tensor) -> Result<Tensor> {
        let n = x.dim(0)?;
        Ok(x.index_select(&self.columns, 1)?
            .reshape((n, NUM_POINTS, self.node_inputs))?)
    }

    /// Class logits from node inputs and feature rows `x` (for the global part);
    /// with `rng`, in training mode.
    pub fn logits_of_nodes(
        &self,
        nodes: &Tensor,
        x: &Tensor,
        mut rng: Option<&mut StdRng>,
    ) -> Result<Tensor> {
        let mut h = self.embed.forward(nodes)?.relu()?;
        for conv in &self.convs {
            let mixed = self.adjacency.broadcast_matmul(&h)?;
            h = (&h + conv.forward(&mixed)?.relu()?)?;
            if let Some(r) = rng.as_deref_mut() {
                if self.dropout > 0.0 {
                    h = dropout(&h, self.dropout, r)?;
                }
            }
        }
        let mut parts = vec![h.mean(1)?, h.max(1)?];
        if let Some((columns, global)) = &self.global {
            let mut g = global.forward(&x.index_select(columns, 1)?)?.relu()?;
            if let Some(r) = rng {
                if self.dropout > 0.0 {
                    g = dropout(&g, self.dropout, r)?;
                }
            }
            parts.push(g);
        }
        Ok(self.head.forward(&Tensor::cat(&parts, D::Minus1)?)?)
    }

    /// Each node's gradient x input for class `class` of one standardised row
    /// `x` `[dim]`: how much the node's inputs push that class's logit, to first
    /// order. A distance counts for both of its points.
    pub fn node_weights(&self, x: &[f32], class: usize) -> Result<Vec<f32>> {
        let xt = Tensor::from_slice(x, (1, x.len()), &Device::Cpu)?;
        let nodes = Var::from_tensor(&self.nodes(&xt)?)?;
        let logits = self.logits_of_nodes(nodes.as_tensor(), &xt, None)?;
        let grads = logits.i((0, class))?.backward()?;
        let g = grads
            .get(nodes.as_tensor())
            .ok_or_else(|| FerError::Training("no gradient for the nodes".into()))?;
        Ok((g * nodes.as_tensor())?
            .sum(D::Minus1)?
            .squeeze(0)?
            .to_vec1::<f32>()?)
    }
}

impl Net for Gnn {
    fn log_probs(&self, x: &Tensor, rng: Option<&mut StdRng>) -> Result<Tensor> {
        Ok(candle_nn::ops::log_softmax(
            &self.scores(x, rng)?,
            D::Minus1,
        )?)
    }

    fn probabilities(&self, x: &Tensor) -> Result<Tensor> {
        Ok(candle_nn::ops::softmax(&self.scores(x, None)?, D::Minus1)?)
    }

    /// The logits: independent per-class scores, as the partial BCE wants them.
    fn scores(&self, x: &Tensor, rng: Option<&mut StdRng>) -> Result<Tensor> {
        self.logits_of_nodes(&self.nodes(x)?, x, rng)
    }
}

/// The node width: the first `--hidden` value.
fn width(hidden: &[usize]) -> Result<usize> {
    hidden
        .first()
        .copied()
        .ok_or_else(|| FerError::Training("gnn needs a width (--hidden)".into()))
}

/// The `gnn` kind.
pub struct GnnKind;

impl Learner for GnnKind {
    fn name(&self) -> &'static str {
        "gnn"
    }
    fn is_network(&self) -> bool {
        true
    }
    fn reads_points(&self) -> bool {
        true
    }
    fn fit(&self, job: &FitJob, _: &mut Trained, on_epoch: &mut EpochCallback) -> Result<Fitted> {
        let p = job.params;
        fit_network(job, on_epoch, "gnn", |vb| {
            Gnn::new(
                vb,
                job.layout,
                job.set.dim,
                width(&p.hidden)?,
                job.classes,
                p.dropout,
            )
        })
    }
    fn load(&self, job: &LoadJob) -> Result<Box<dyn Classify>> {
        Ok(Box::new(Gnn::new(
            job.vars().pp("gnn"),
            job.layout,
            job.dim,
            width(&job.mlp.hidden)?,
            job.classes,
            job.mlp.dropout,
        )?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_graph_is_connected_symmetric_and_normalised() {
        let a = normalised_adjacency();
        let n = NUM_POINTS;
        for i in 0..n {
            for j in 0..n {
                assert!((a[i * n + j] - a[j * n + i]).abs() < 1e-7);
            }
        }
        // Every point reaches every other one through the edges.
        let mut seen = vec![false; n];
        let mut stack = vec![0];
        while let Some(i) = stack.pop() {
            if !std::mem::replace(&mut seen[i], true) {
                stack.extend((0..n).filter(|&j| a[i * n + j] > 0.0 && !seen[j]));
            }
        }
        assert!(seen.iter().all(|&s| s), "unreached: {seen:?}");
        let unique: std::collections::BTreeSet<_> =
            EDGES.iter().map(|&(i, j)| (i.min(j), i.max(j))).collect();
        assert_eq!(unique.len(), EDGES.len(), "an edge is listed twice");
    }

    #[test]
    fn nodes_read_their_own_distances_and_point_run() {
        let cfg = crate::stages::features::FeatureConfig {
            points: true,
            ..Default::default()
        };
        let layout = cfg.layout(96);
        let cols = node_columns(&layout).unwrap();
        let per = node_inputs(&layout);
        assert_eq!(cols.len(), NUM_POINTS * per);
        let names = cfg.names(96);
        let point_names = crate::stages::landmarks::POINT_NAMES;
        for (i, name) in point_names.iter().enumerate() {
            let node = &cols[i * per..(i + 1) * per];
            for &c in &node[..NUM_POINTS - 1] {
                assert!(names[c as usize].contains(name), "{}", names[c as usize]);
            }
            assert_eq!(names[node[NUM_POINTS - 1] as usize], format!("{name} x"));
            assert!(node[NUM_POINTS..]
                .iter()
                .all(|&c| names[c as usize].starts_with(&format!("{name} "))));
        }
        let plain = crate::stages::features::FeatureConfig::default().layout(96);
        assert!(node_columns(&plain).is_err());
    }
}
