//! `fer explain`'s pictures: a soft tree with the face's most probable path in red
//! (each inner node names its strongest feature, each leaf its top class), or a
//! DNDT's bins with the face's value on each feature's axis, or a graph network's
//! points on their edges, each disc sized by the point's weight.

use super::canvas::{save, text_style, DrawResult, Picture};
use crate::error::Result;
use crate::explain::{short_name, Drawing, Explanation};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};
use std::path::Path;

/// Width given to each leaf of a soft tree.
const NODE_W: i32 = 150;
/// Height of a level of a soft tree.
const LEVEL_H: i32 = 90;
/// Height of a node box.
const NODE_H: i32 = 28;
/// The path's colour.
const HIGHLIGHT: RGBColor = RGBColor(214, 39, 40);
/// A node on the path is filled with this.
const HIGHLIGHT_FILL: RGBColor = RGBColor(253, 224, 221);
/// Other nodes are filled with this.
const NODE_FILL: RGBColor = RGBColor(247, 247, 247);
/// Length of a DNDT feature's axis.
const AXIS_W: i32 = 600;
/// Height of a DNDT feature's row.
const ROW_H: i32 = 60;
/// Room for the feature names left of the axes.
const NAMES_W: i32 = 360;

struct SoftTreePicture<'a> {
    depth: usize,
    labels: &'a [String],
    on_path: &'a [usize],
    title: String,
}

impl SoftTreePicture<'_> {
    /// Centre of node `i` (heap order).
    fn pos(&self, i: usize) -> (i32, i32) {
        let width = (1i32 << self.depth) * NODE_W;
        let level = (usize::BITS - (i + 1).leading_zeros() - 1) as i32;
        let first = (1usize << level) - 1;
        let slot = width / (1 << level);
        ((i - first) as i32 * slot + slot / 2, 50 + level * LEVEL_H)
    }
}

impl Picture for SoftTreePicture<'_> {
    fn size(&self) -> (u32, u32) {
        (
            ((1 << self.depth) * NODE_W) as u32,
            ((self.depth as i32 + 1) * LEVEL_H + 60) as u32,
        )
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        root.draw(&Text::new(
            self.title.clone(),
            (10, 10),
            text_style(15, &BLACK, HPos::Left, VPos::Top),
        ))?;
        let hot = |i: usize| self.on_path.contains(&i);
        for i in 1..self.labels.len() {
            let parent = (i - 1) / 2;
            let ((x0, y0), (x1, y1)) = (self.pos(parent), self.pos(i));
            let style = if hot(i) && hot(parent) {
                HIGHLIGHT.stroke_width(3)
            } else {
                RGBColor(153, 153, 153).stroke_width(1)
            };
            root.draw(&PathElement::new(
                vec![(x0, y0 + NODE_H / 2), (x1, y1 - NODE_H / 2)],
                style,
            ))?;
        }
        for (i, label) in self.labels.iter().enumerate() {
            let (x, y) = self.pos(i);
            let corners = [
                (x - NODE_W / 2 + 4, y - NODE_H / 2),
                (x + NODE_W / 2 - 4, y + NODE_H / 2),
            ];
            let (fill, stroke) = if hot(i) {
                (HIGHLIGHT_FILL, HIGHLIGHT.stroke_width(2))
            } else {
                (NODE_FILL, RGBColor(85, 85, 85).stroke_width(1))
            };
            root.draw(&Rectangle::new(corners, fill.filled()))?;
            root.draw(&Rectangle::new(corners, stroke))?;
            root.draw(&Text::new(
                label.clone(),
                (x, y),
                text_style(11, &BLACK, HPos::Center, VPos::Center),
            ))?;
        }
        Ok(())
    }
}

struct BinsPicture<'a> {
    e: &'a Explanation,
}

impl Picture for BinsPicture<'_> {
    fn size(&self) -> (u32, u32) {
        (
            (NAMES_W + AXIS_W + 20) as u32,
            (50 + self.e.bins.len() as i32 * ROW_H) as u32,
        )
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let e = self.e;
        root.draw(&Text::new(
            format!(
                "DNDT bins: {} (leaf {}, membership {:.1}%)",
                e.predicted,
                e.leaf,
                100.0 * e.path_probability
            ),
            (10, 10),
            text_style(15, &BLACK, HPos::Left, VPos::Top),
        ))?;
        for (j, b) in e.bins.iter().enumerate() {
            let y = 50 + j as i32 * ROW_H;
            // Axis range: the cuts and the value, with a margin.
            let lo = b.cuts.iter().cloned().fold(b.value, f32::min);
            let hi = b.cuts.iter().cloned().fold(b.value, f32::max);
            let pad = ((hi - lo) * 0.25).max(1e-3);
            let x_of =
                |v: f32| NAMES_W + ((v - lo + pad) / (hi - lo + 2.0 * pad) * AXIS_W as f32) as i32;
            root.draw(&Text::new(
                short_name(&b.feature).to_string(),
                (10, y),
                text_style(12, &BLACK, HPos::Left, VPos::Center),
            ))?;
            let mut edges = vec![lo - pad];
            edges.extend(&b.cuts);
            edges.push(hi + pad);
            for (k, w) in edges.windows(2).enumerate() {
                let corners = [(x_of(w[0]), y - 10), (x_of(w[1]), y + 10)];
                let (fill, stroke) = if k == b.bin {
                    (HIGHLIGHT_FILL, HIGHLIGHT.stroke_width(1))
                } else {
                    (NODE_FILL, RGBColor(187, 187, 187).stroke_width(1))
                };
                root.draw(&Rectangle::new(corners, fill.filled()))?;
                root.draw(&Rectangle::new(corners, stroke))?;
            }
            for c in &b.cuts {
                root.draw(&Text::new(
                    format!("{c:.3}"),
                    (x_of(*c), y + 12),
                    text_style(11, &RGBColor(85, 85, 85), HPos::Center, VPos::Top),
                ))?;
            }
            root.draw(&Circle::new((x_of(b.value), y), 5, HIGHLIGHT.filled()))?;
        }
        Ok(())
    }
}

/// Side of the graph network's picture of the crop.
const CROP_SIDE: i32 = 480;
/// Largest disc radius, for the heaviest point.
const MAX_RADIUS: f32 = 18.0;
/// A point that pushes away from the predicted class.
const AGAINST: RGBColor = RGBColor(31, 119, 180);

struct PointsPicture<'a> {
    e: &'a Explanation,
}

impl Picture for PointsPicture<'_> {
    fn size(&self) -> (u32, u32) {
        (CROP_SIDE as u32, (CROP_SIDE + 40) as u32)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let e = self.e;
        root.draw(&Text::new(
            format!(
                "gnn: {} ({:.1}%); red pushes towards it, blue away",
                e.predicted,
                100.0 * e.path_probability
            ),
            (10, 10),
            text_style(15, &BLACK, HPos::Left, VPos::Top),
        ))?;
        let at = |name: &str| {
            e.points.iter().find(|p| p.name == name).map(|p| {
                (
                    (p.x * CROP_SIDE as f32) as i32,
                    40 + (p.y * CROP_SIDE as f32) as i32,
                )
            })
        };
        let names = crate::stages::landmarks::POINT_NAMES;
        for &(i, j) in &crate::model::gnn::EDGES {
            if let (Some(a), Some(b)) = (at(names[i]), at(names[j])) {
                root.draw(&PathElement::new(
                    vec![a, b],
                    RGBColor(187, 187, 187).stroke_width(1),
                ))?;
            }
        }
        let heaviest = e
            .points
            .iter()
            .map(|p| p.weight.abs())
            .fold(f32::MIN_POSITIVE, f32::max);
        for p in &e.points {
            let Some(c) = at(&p.name) else { continue };
            let r = (MAX_RADIUS * (p.weight.abs() / heaviest).sqrt()).max(2.0) as i32;
            let colour = if p.weight >= 0.0 { HIGHLIGHT } else { AGAINST };
            root.draw(&Circle::new(c, r, colour.mix(0.6).filled()))?;
            root.draw(&Text::new(
                short_name(&p.name).to_string(),
                (c.0 + r + 2, c.1),
                text_style(10, &RGBColor(85, 85, 85), HPos::Left, VPos::Center),
            ))?;
        }
        Ok(())
    }
}

/// Draw the picture of explanation `e` to `path` (.svg or .png).
pub fn explanation(drawing: &Drawing, e: &Explanation, path: &Path) -> Result<()> {
    match drawing {
        Drawing::SoftTree {
            depth,
            labels,
            on_path,
        } => save(
            &SoftTreePicture {
                depth: *depth,
                labels,
                on_path,
                title: format!(
                    "soft tree, depth {depth}: {} ({:.1}% path probability to leaf {})",
                    e.predicted,
                    100.0 * e.path_probability,
                    e.leaf
                ),
            },
            path,
        ),
        Drawing::Bins => save(&BinsPicture { e }, path),
        Drawing::Points => save(&PointsPicture { e }, path),
    }
}
