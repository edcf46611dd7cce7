//! `fer explain`: why a tree model read a face as it did.
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
//! Other kinds are refused with a reason: forest and boosting hold hundreds of
//! trees, and the neural decision forest routes on learned hidden units, not on
//! named features.

use crate::error::{FerError, Result};
use crate::metrics::argmax;
use crate::model::dndt::Dndt;
use crate::model::soft_tree::{inner_nodes, route, SoftTree};
use crate::model::Model;
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
    /// The leaf's own class distribution.
    pub leaf_distribution: Vec<(String, f32)>,
    /// Soft tree: the nodes from root to leaf.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub nodes: Vec<NodeStep>,
    /// DNDT: the bins.
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub bins: Vec<BinStep>,
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
            })
        }
        None => Err(FerError::param(
            "model",
            format!(
                "`fer explain` reads soft-tree and dndt models; this is a {} model ({})",
                model.kind(),
                match model.kind().name() {
                    "ndf" => "its trees route on learned hidden units, not on named features",
                    "forest" | "boost" | "ensemble" =>
                        "hundreds of trees vote; no single path explains the reading",
                    _ => "not a tree",
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
        let dist: Vec<String> = self
            .leaf_distribution
            .iter()
            .map(|(c, p)| format!("{c} {:.1}%", 100.0 * p))
            .collect();
        let _ = writeln!(s, "leaf {} distribution: {}", self.leaf, dist.join(", "));
        s
    }
}

const NODE_W: f32 = 150.0;
const LEVEL_H: f32 = 90.0;
const HIGHLIGHT: &str = "#d62728";

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
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

/// A picture (SVG) of the explained model with this face's path highlighted.
pub fn picture_svg(model: &Model, e: &Explanation) -> Result<String> {
    match tree_of(model) {
        Some(Tree::Soft(tree)) => Ok(soft_tree_svg(
            model,
            tree.depth(),
            tree.gate_weights().to_vec2::<f32>()?,
            tree.leaf_distributions()?.to_vec2::<f32>()?,
            e,
        )),
        Some(Tree::Bins(_)) => Ok(bins_svg(e)),
        None => Err(FerError::param("model", "no picture for this model kind")),
    }
}

fn soft_tree_svg(
    model: &Model,
    depth: usize,
    weights: Vec<Vec<f32>>,
    leaves: Vec<Vec<f32>>,
    e: &Explanation,
) -> String {
    let h = model.header();
    let names = h.pipeline.features.names(h.pipeline.align.size);
    let n_leaves = 1usize << depth;
    let width = n_leaves as f32 * NODE_W;
    let height = (depth as f32 + 1.0) * LEVEL_H + 60.0;
    let on_path: Vec<usize> = e
        .nodes
        .iter()
        .map(|n| n.node)
        .chain(std::iter::once(inner_nodes(depth) + e.leaf))
        .collect();
    // Centre of node `i` (heap order, leaves after the inner nodes).
    let pos = |i: usize| -> (f32, f32) {
        let level = (usize::BITS - (i + 1).leading_zeros() - 1) as usize;
        let first = (1usize << level) - 1;
        let slot = width / (1usize << level) as f32;
        (
            (i - first) as f32 * slot + slot / 2.0,
            40.0 + level as f32 * LEVEL_H,
        )
    };
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
    );
    let _ = writeln!(s, "<text x=\"10\" y=\"18\" font-size=\"14\">soft tree, depth {depth}: {} ({:.1}% path probability to leaf {})</text>", esc(&e.predicted), 100.0 * e.path_probability, e.leaf);
    let total = inner_nodes(depth) + n_leaves;
    for i in 1..total {
        let parent = (i - 1) / 2;
        let ((x0, y0), (x1, y1)) = (pos(parent), pos(i));
        let hot = on_path.contains(&i) && on_path.contains(&parent);
        let (colour, w) = if hot { (HIGHLIGHT, 3) } else { ("#999", 1) };
        let _ = writeln!(s, "<line x1=\"{x0}\" y1=\"{}\" x2=\"{x1}\" y2=\"{}\" stroke=\"{colour}\" stroke-width=\"{w}\"/>", y0 + 14.0, y1 - 14.0);
    }
    for i in 0..total {
        let (x, y) = pos(i);
        let hot = on_path.contains(&i);
        let stroke = if hot { HIGHLIGHT } else { "#555" };
        let label = if i < inner_nodes(depth) {
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
            let dist = &leaves[i - inner_nodes(depth)];
            let c = argmax(dist, None);
            format!(
                "{} {:.0}%",
                h.classes.get(c).map_or("?", |s| s.as_str()),
                100.0 * dist[c]
            )
        };
        let label: String = label.chars().take(24).collect();
        let _ = writeln!(
            s,
            "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"28\" rx=\"4\" fill=\"{}\" stroke=\"{stroke}\" stroke-width=\"{}\"/>",
            x - NODE_W / 2.0 + 4.0,
            y - 14.0,
            NODE_W - 8.0,
            if hot { "#fde0dd" } else { "#f7f7f7" },
            if hot { 2 } else { 1 }
        );
        let _ = writeln!(
            s,
            "<text x=\"{x}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            y + 4.0,
            esc(&label)
        );
    }
    s += "</svg>\n";
    s
}

fn bins_svg(e: &Explanation) -> String {
    const AXIS_W: f32 = 600.0;
    const ROW_H: f32 = 60.0;
    let height = 50.0 + e.bins.len() as f32 * ROW_H;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"11\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n",
        AXIS_W + 380.0
    );
    let _ = writeln!(s, "<text x=\"10\" y=\"18\" font-size=\"14\">DNDT bins: {} (leaf {}, membership {:.1}%)</text>", esc(&e.predicted), e.leaf, 100.0 * e.path_probability);
    for (j, b) in e.bins.iter().enumerate() {
        let y = 50.0 + j as f32 * ROW_H;
        // Axis range: the cuts and the value, with a margin.
        let lo = b.cuts.iter().cloned().fold(b.value, f32::min);
        let hi = b.cuts.iter().cloned().fold(b.value, f32::max);
        let pad = ((hi - lo) * 0.25).max(1e-3);
        let x_of = |v: f32| 360.0 + (v - lo + pad) / (hi - lo + 2.0 * pad) * AXIS_W;
        let _ = writeln!(
            s,
            "<text x=\"10\" y=\"{}\">{}</text>",
            y + 4.0,
            esc(short_name(&b.feature))
        );
        let mut edges = vec![lo - pad];
        edges.extend(&b.cuts);
        edges.push(hi + pad);
        for (k, w) in edges.windows(2).enumerate() {
            let fill = if k == b.bin { "#fde0dd" } else { "#f7f7f7" };
            let stroke = if k == b.bin { HIGHLIGHT } else { "#bbb" };
            let _ = writeln!(s, "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"20\" fill=\"{fill}\" stroke=\"{stroke}\"/>", x_of(w[0]), y - 10.0, x_of(w[1]) - x_of(w[0]));
        }
        for c in &b.cuts {
            let _ = writeln!(
                s,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#555\">{c:.3}</text>",
                x_of(*c),
                y + 24.0
            );
        }
        let _ = writeln!(
            s,
            "<circle cx=\"{}\" cy=\"{y}\" r=\"5\" fill=\"{HIGHLIGHT}\"/>",
            x_of(b.value)
        );
    }
    s += "</svg>\n";
    s
}
