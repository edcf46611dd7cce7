//! `fer explain`: why a tree model or the graph network read a face as it did.
//!
//! - **soft-tree**: the leaf of highest path probability and the path to it from
//!   the root; each node is described by the features that weigh most in its gate
//!   (weights act on standardised features, so their sizes compare), with this
//!   face's value and the training mean; then the leaf's class distribution.
//!   The picture is the whole tree as SVG with that path drawn in red.
//! - **dndt**: the bin each binned feature falls in, with the learned cut points
//!   in feature units; the leaf is the combination of bins. The picture shows
//!   each feature's axis with its cut points and this face's value.
//!
//! - **gnn**: each fiducial point's weight for the predicted class, the gradient
//!   x input of its node's inputs ([`crate::model::gnn::Gnn::node_weights`]; the
//!   whole-face HOG part held fixed),
//!   heaviest first. The picture is the landmark graph at this face's points in
//!   the crop, each point's disc sized and coloured by its weight.
//!
//! Other kinds are refused with a reason: forest and boosting hold hundreds of
//! trees, and the neural decision forest routes on learned hidden units, not on
//! named features.

use crate::error::{FerError, Result};
use crate::metrics::argmax;
use crate::model::dndt::Dndt;
use crate::model::gnn::Gnn;
use crate::model::soft_tree::{inner_nodes, route, SoftTree};
use crate::model::Model;
use crate::stages::landmarks::{NUM_POINTS, POINT_NAMES};
use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};
use std::fmt::Write as _;

/// The models `fer explain` can walk.
enum Tree<'a> {
    /// A soft decision tree: a path of gates.
    Soft(&'a SoftTree),
    /// A DNDT: one bin per selected feature.
    Bins(&'a Dndt),
}

/// The tree inside `model`, when it is one that can be explained.
fn tree_of(model: &Model) -> Option<Tree<'_>> {
    let any = model.classifier().as_any();
    any.downcast_ref::<SoftTree>()
        .map(Tree::Soft)
        .or_else(|| any.downcast_ref::<Dndt>().map(Tree::Bins))
}

/// A fiducial point's part in a graph network's reading.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PointWeight {
    pub name: String,
    /// Gradient x input of the node's inputs for the predicted class (positive
    /// pushes towards it).
    pub weight: f32,
    /// Position in the aligned crop, as fractions of its side.
    pub x: f32,
    pub y: f32,
}

/// Features listed per node.
pub const TOP_FEATURES: usize = 3;

/// A feature's part in a node's gate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureWeight {
    pub name: String,
    /// Gate weight on the standardised feature (positive pushes right).
    pub weight: f32,
    /// This face's value, in feature units.
    pub value: f32,
    /// Training mean, in feature units.
    pub mean: f32,
}

/// One node on the path.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeStep {
    /// Node number (breadth first, root 0).
    pub node: usize,
    /// Probability of going right at this node.
    pub p_right: f32,
    /// Branch taken: "left" or "right".
    pub went: String,
    /// The features that weigh most in this node's gate.
    pub features: Vec<FeatureWeight>,
}

/// One binned feature of a DNDT.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BinStep {
    pub feature: String,
    /// This face's value, in feature units.
    pub value: f32,
    /// Learned cut points, in feature units.
    pub cuts: Vec<f32>,
    /// Bin of highest membership (0 is below the first cut).
    pub bin: usize,
    /// Its membership.
    pub membership: f32,
}

/// The explanation of one face.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    pub kind: String,
    /// Class of highest model probability, and the probabilities.
    pub predicted: String,
    pub probabilities: Vec<(String, f32)>,
    /// Leaf on the path of highest probability and that path's probability.
    pub leaf: usize,
    pub path_probability: f32,
    /// The leaf's own class distribution (none for the graph network).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub leaf_distribution: Vec<(String, f32)>,
    /// Soft tree: the nodes from root to leaf.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub nodes: Vec<NodeStep>,
    /// DNDT: the bins.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub bins: Vec<BinStep>,
    /// Graph network: every point, heaviest first.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub points: Vec<PointWeight>,
}

fn softmax(v: &[f32]) -> Vec<f32> {
    let max = v.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let e: Vec<f32> = v.iter().map(|x| (x - max).exp()).collect();
    let z: f32 = e.iter().sum();
    e.iter().map(|x| x / z).collect()
}

/// A feature name without the common " / inter-ocular" suffix, for tight spaces.
pub fn short_name(name: &str) -> &str {
    name.trim_end_matches(" / inter-ocular")
}

/// Explain the model's reading of one face's feature vector.
pub fn explain(model: &Model, features: &[f32]) -> Result<Explanation> {
    let h = model.header();
    let names = h.pipeline.features.names(h.pipeline.align.size);
    let (mean, std) = model.norm()?;
    let x = model.standardise(&[features.to_vec()])?;
    let dim = h.feature_dim;
    let probs = model
        .classifier()
        .probabilities(&x, 1, dim)?
        .into_iter()
        .next()
        .unwrap_or_default();
    let labelled = |p: &[f32]| -> Vec<(String, f32)> {
        h.classes.iter().cloned().zip(p.iter().copied()).collect()
    };
    let predicted = h
        .classes
        .get(argmax(&probs, None))
        .cloned()
        .unwrap_or_default();
    let xt = Tensor::from_slice(&x, (1, dim), &Device::Cpu)?;
    match tree_of(model) {
        Some(Tree::Soft(tree)) => {
            let gates = tree.gates(&xt)?;
            let (_, leaves) = route(&gates, tree.depth())?;
            let gates = gates.squeeze(0)?.to_vec1::<f32>()?;
            let leaves = leaves.squeeze(0)?.to_vec1::<f32>()?;
            let leaf = argmax(&leaves, None);
            let weights = tree.gate_weights().to_vec2::<f32>()?;
            let mut path = Vec::new();
            let mut node = inner_nodes(tree.depth()) + leaf;
            while node > 0 {
                let parent = (node - 1) / 2;
                let went = if node == 2 * parent + 2 {
                    "right"
                } else {
                    "left"
                };
                let mut order: Vec<usize> = (0..dim).collect();
                order.sort_by(|&a, &b| {
                    weights[parent][b]
                        .abs()
                        .total_cmp(&weights[parent][a].abs())
                });
                let top = order
                    .iter()
                    .take(TOP_FEATURES)
                    .map(|&f| FeatureWeight {
                        name: names[f].clone(),
                        weight: weights[parent][f],
                        value: features[f],
                        mean: mean[f],
                    })
                    .collect();
                path.push(NodeStep {
                    node: parent,
                    p_right: gates[parent],
                    went: went.into(),
                    features: top,
                });
                node = parent;
            }
            path.reverse();
            let dist = tree.leaf_distributions()?.get(leaf)?.to_vec1::<f32>()?;
            Ok(Explanation {
                kind: model.kind().name().into(),
                predicted,
                probabilities: labelled(&probs),
                leaf,
                path_probability: leaves[leaf],
                leaf_distribution: labelled(&dist),
                nodes: path,
                bins: vec![],
                points: vec![],
            })
        }
        Some(Tree::Bins(tree)) => {
            let cuts = tree.cut_points()?.to_vec2::<f32>()?;
            let mut leaf = 0usize;
            let mut prob = 1.0f32;
            let mut bins = Vec::new();
            for (j, (b, &f)) in tree.bins(&xt)?.iter().zip(tree.features()).enumerate() {
                let m = b.squeeze(0)?.to_vec1::<f32>()?;
                let bin = argmax(&m, None);
                leaf = leaf * m.len() + bin;
                prob *= m[bin];
                bins.push(BinStep {
                    feature: names[f].clone(),
                    value: features[f],
                    cuts: cuts[j].iter().map(|c| c * std[f] + mean[f]).collect(),
                    bin,
                    membership: m[bin],
                });
            }
            Ok(Explanation {
                kind: model.kind().name().into(),
                predicted,
                probabilities: labelled(&probs),
                leaf,
                path_probability: prob,
                leaf_distribution: labelled(&softmax(&tree.leaf_logits(leaf)?)),
                nodes: vec![],
                bins,
                points: vec![],
            })
        }
        None if model.classifier().as_any().is::<Gnn>() => {
            let gnn = model.classifier().as_any().downcast_ref::<Gnn>();
            let layout = h.pipeline.features.layout(h.pipeline.align.size);
            let (Some(gnn), Some(part)) = (gnn, layout.points) else {
                return Err(FerError::param(
                    "model",
                    "a gnn bundle without point features",
                ));
            };
            let class = argmax(&probs, None);
            let weights = gnn.node_weights(&x, class)?;
            let mut points: Vec<PointWeight> = (0..NUM_POINTS)
                .map(|i| {
                    let at = part.start + i * layout.per_point;
                    PointWeight {
                        name: POINT_NAMES[i].into(),
                        weight: weights.get(i).copied().unwrap_or(0.0),
                        x: features.get(at).copied().unwrap_or(0.0),
                        y: features.get(at + 1).copied().unwrap_or(0.0),
                    }
                })
                .collect();
            points.sort_by(|a, b| b.weight.total_cmp(&a.weight));
            Ok(Explanation {
                kind: model.kind().name().into(),
                predicted,
                probabilities: labelled(&probs),
                leaf: 0,
                path_probability: probs.get(class).copied().unwrap_or(0.0),
                leaf_distribution: vec![],
                nodes: vec![],
                bins: vec![],
                points,
            })
        }
        None => Err(FerError::param(
            "model",
            format!(
                "`fer explain` reads soft-tree, dndt and gnn models; this is a {} model ({})",
                model.kind(),
                match model.kind().name() {
                    "ndf" => "its trees route on learned hidden units, not on named features",
                    "forest" | "boost" | "ensemble" =>
                        "hundreds of trees vote; no single path explains the reading",
                    _ => "neither a tree nor the graph network",
                }
            ),
        )),
    }
}

fn top_class(dist: &[(String, f32)]) -> (String, f32) {
    dist.iter()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .cloned()
        .unwrap_or_default()
}

impl Explanation {
    /// Human-readable text.
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        let (c, p) = top_class(&self.probabilities);
        let _ = writeln!(s, "{} model reads: {c} ({:.1}%)", self.kind, 100.0 * p);
        if !self.nodes.is_empty() {
            let _ = writeln!(
                s,
                "path of highest probability ({:.1}%), root to leaf {}:",
                100.0 * self.path_probability,
                self.leaf
            );
            for n in &self.nodes {
                let _ = writeln!(
                    s,
                    "  node {:>2}: went {:<5} (p right {:.2}) because of",
                    n.node, n.went, n.p_right
                );
                for f in &n.features {
                    let _ = writeln!(
                        s,
                        "      {:+.3} x {:<45} this face {:.3}, mean {:.3}",
                        f.weight, f.name, f.value, f.mean
                    );
                }
            }
        }
        if !self.bins.is_empty() {
            let _ = writeln!(
                s,
                "bins (leaf {}, membership {:.1}%):",
                self.leaf,
                100.0 * self.path_probability
            );
            for b in &self.bins {
                let cuts: Vec<String> = b.cuts.iter().map(|c| format!("{c:.3}")).collect();
                let _ = writeln!(
                    s,
                    "  {:<45} = {:.3}: bin {} of {} (membership {:.2}), cuts at {}",
                    b.feature,
                    b.value,
                    b.bin,
                    b.cuts.len() + 1,
                    b.membership,
                    cuts.join(", ")
                );
            }
        }
        if !self.points.is_empty() {
            let _ = writeln!(
                s,
                "points, by weight for {c} (gradient x input of each node):"
            );
            for p in &self.points {
                let _ = writeln!(
                    s,
                    "  {:+.3}  {:<14} at ({:.2}, {:.2}) of the crop",
                    p.weight, p.name, p.x, p.y
                );
            }
        }
        if !self.leaf_distribution.is_empty() {
            let dist: Vec<String> = self
                .leaf_distribution
                .iter()
                .map(|(c, p)| format!("{c} {:.1}%", 100.0 * p))
                .collect();
            let _ = writeln!(s, "leaf {} distribution: {}", self.leaf, dist.join(", "));
        }
        s
    }
}

/// The picture of face `i` (from 0): `base` for the first, `base` with `-face2`,
/// `-face3`, ... before the extension for the others.
pub fn picture_path(base: &std::path::Path, i: usize) -> std::path::PathBuf {
    if i == 0 {
        return base.to_path_buf();
    }
    let stem = base
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let ext = base
        .extension()
        .map_or_else(|| "svg".to_string(), |e| e.to_string_lossy().into_owned());
    base.with_file_name(format!("{stem}-face{}.{ext}", i + 1))
}

/// What the picture of an explanation shows.
pub enum Drawing {
    /// A soft tree: every node's label (heap order, leaves after the inner nodes:
    /// an inner node's strongest feature with its sign, a leaf's top class), and
    /// the nodes on this face's most probable path.
    SoftTree {
        depth: usize,
        labels: Vec<String>,
        on_path: Vec<usize>,
    },
    /// A DNDT: the bins of [`Explanation::bins`].
    Bins,
    /// A graph network: the points of [`Explanation::points`] on the graph's edges.
    Points,
}

/// Longest node label in a tree picture, in characters.
const NODE_LABEL_CHARS: usize = 24;

/// What to draw for `e`, an explanation of `model`'s reading.
pub fn drawing(model: &Model, e: &Explanation) -> Result<Drawing> {
    match tree_of(model) {
        Some(Tree::Soft(tree)) => {
            let depth = tree.depth();
            let weights = tree.gate_weights().to_vec2::<f32>()?;
            let leaves = tree.leaf_distributions()?.to_vec2::<f32>()?;
            let h = model.header();
            let names = h.pipeline.features.names(h.pipeline.align.size);
            let inner = inner_nodes(depth);
            let labels = (0..inner + leaves.len())
                .map(|i| {
                    let label = if i < inner {
                        let row = &weights[i];
                        let best = (0..row.len())
                            .max_by(|&a, &b| row[a].abs().total_cmp(&row[b].abs()))
                            .unwrap_or(0);
                        format!(
                            "{}{}",
                            if row[best] >= 0.0 { "+" } else { "-" },
                            short_name(&names[best])
                        )
                    } else {
                        let dist = &leaves[i - inner];
                        let c = argmax(dist, None);
                        format!(
                            "{} {:.0}%",
                            h.classes.get(c).map_or("?", |s| s.as_str()),
                            100.0 * dist[c]
                        )
                    };
                    label.chars().take(NODE_LABEL_CHARS).collect()
                })
                .collect();
            let on_path = e
                .nodes
                .iter()
                .map(|n| n.node)
                .chain(std::iter::once(inner + e.leaf))
                .collect();
            Ok(Drawing::SoftTree {
                depth,
                labels,
                on_path,
            })
        }
        Some(Tree::Bins(_)) => Ok(Drawing::Bins),
        None if !e.points.is_empty() => Ok(Drawing::Points),
        None => Err(FerError::param("model", "no picture for this model kind")),
    }
}
