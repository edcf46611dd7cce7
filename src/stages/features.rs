//! Stage 6, features: the geometric part is every distance between two of the 21
//! fiducial points divided by the inter-ocular distance (the distance between the
//! eye centres the face was aligned on), so it does not change when the face is
//! scaled or shifted. (Normalising by the distance between the landmark eye
//! centres instead was measured to be about twice as noisy under rescaling.) The optional appearance part is a HOG descriptor of the aligned
//! crop, as `cv::HOGDescriptor(win, block = 2 cells, stride = 1 cell, cell, bins)::compute`.
//! The optional point part (what `--model gnn` reads as its node features) gives
//! each fiducial point its position in the crop (as a fraction of the side) and
//! one HOG block of 2x2 cells centred on it, as the same `HOGDescriptor` call with
//! a one-block window evaluated at the points' `locations` (checked in the tests
//! against computing each window's crop on its own).
//!
//! The layout is versioned by [`FEATURE_SCHEMA_VERSION`]: a model trained on one
//! layout refuses another.

use crate::error::{FerError, Result};
use crate::gray::GrayImage;
use crate::stages::landmarks::{NUM_POINTS, POINT_NAMES};
use opencv::core::{Point, Size, Vector};
use opencv::objdetect::HOGDescriptor;
use opencv::prelude::*;
use serde::{Deserialize, Serialize};

/// Version of the feature layout; bump on any change to what a position means.
pub const FEATURE_SCHEMA_VERSION: u32 = 1;
/// Number of geometric features: one per pair of points.
pub const NUM_DISTANCES: usize = NUM_POINTS * (NUM_POINTS - 1) / 2;
/// Below this inter-ocular distance (pixels) the points are degenerate.
pub const MIN_EYE_DISTANCE: f32 = 1e-3;

/// Feature parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct FeatureConfig {
    /// Append a HOG descriptor of the aligned crop.
    pub hog: bool,
    /// HOG cell side in pixels; the crop side must be a multiple of it.
    pub hog_cell: i32,
    /// HOG orientation bins.
    pub hog_bins: i32,
    /// Append each point's position and a HOG block centred on it
    /// ([`POINT_FEATURES`] values per point, after the HOG part). Off in bundles
    /// written before it existed.
    #[serde(default)]
    pub points: bool,
}

/// Values per point in the point part: x and y in the crop (fractions of its
/// side), then one HOG block of 2x2 cells (4 x `hog_bins` values).
pub fn point_features(hog_bins: i32) -> usize {
    2 + 4 * hog_bins.max(0) as usize
}

/// Where each part of a feature vector lies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureLayout {
    /// The [`NUM_DISTANCES`] scale-free distances, pair (i, j) with i < j in row-major order.
    pub distances: std::ops::Range<usize>,
    /// The HOG part of the whole crop (empty without HOG).
    pub hog: std::ops::Range<usize>,
    /// The point part: [`NUM_POINTS`] runs of `per_point` values, when present.
    pub points: Option<std::ops::Range<usize>>,
    /// Values per point in the point part.
    pub per_point: usize,
}

impl Default for FeatureConfig {
    fn default() -> Self {
        FeatureConfig {
            hog: true,
            hog_cell: 12,
            hog_bins: 9,
            points: false,
        }
    }
}

impl FeatureConfig {
    /// Validate against the crop side.
    pub fn check(&self, crop_size: i32) -> Result<()> {
        if self.hog || self.points {
            if self.hog_cell < 4 || crop_size % self.hog_cell != 0 || crop_size / self.hog_cell < 2
            {
                return Err(FerError::param(
                    "features.hog_cell",
                    format!("must be >= 4 and divide the crop side {crop_size} into at least 2 cells, got {}", self.hog_cell),
                ));
            }
            if !(2..=36).contains(&self.hog_bins) {
                return Err(FerError::param(
                    "features.hog_bins",
                    format!("must be 2..=36, got {}", self.hog_bins),
                ));
            }
        }
        Ok(())
    }

    /// Length of the HOG part for a crop of `crop_size`.
    pub fn hog_len(&self, crop_size: i32) -> usize {
        if !self.hog {
            return 0;
        }
        let cells = crop_size / self.hog_cell;
        let blocks = (cells - 1) as usize;
        blocks * blocks * 4 * self.hog_bins as usize
    }

    /// Length of the whole vector for a crop of `crop_size`.
    pub fn len(&self, crop_size: i32) -> usize {
        NUM_DISTANCES + self.hog_len(crop_size) + self.points_len()
    }

    /// The same settings with the point part on.
    pub fn with_points(self) -> Self {
        FeatureConfig {
            points: true,
            ..self
        }
    }

    /// Length of the point part.
    pub fn points_len(&self) -> usize {
        if self.points {
            NUM_POINTS * point_features(self.hog_bins)
        } else {
            0
        }
    }

    /// Where the parts of the vector lie for a crop of `crop_size`.
    pub fn layout(&self, crop_size: i32) -> FeatureLayout {
        let hog_end = NUM_DISTANCES + self.hog_len(crop_size);
        FeatureLayout {
            distances: 0..NUM_DISTANCES,
            hog: NUM_DISTANCES..hog_end,
            points: self.points.then(|| hog_end..hog_end + self.points_len()),
            per_point: point_features(self.hog_bins),
        }
    }

    /// Feature names, in vector order.
    pub fn names(&self, crop_size: i32) -> Vec<String> {
        let mut names =
            Vec::with_capacity(NUM_DISTANCES + self.hog_len(crop_size) + self.points_len());
        for (i, a) in POINT_NAMES.iter().enumerate() {
            for b in &POINT_NAMES[i + 1..] {
                names.push(format!("{a} - {b} / inter-ocular"));
            }
        }
        names.extend((0..self.hog_len(crop_size)).map(|k| self.hog_name(crop_size, k)));
        if self.points {
            let bins = self.hog_bins.max(1) as usize;
            let deg = 180 / bins;
            for p in POINT_NAMES {
                names.push(format!("{p} x"));
                names.push(format!("{p} y"));
                for k in 0..4 * bins {
                    let (cell, bin) = (k / bins, k % bins);
                    names.push(format!(
                        "{p} HOG cell ({},{}) at {}-{} deg",
                        cell / 2,
                        cell % 2,
                        bin * deg,
                        (bin + 1) * deg
                    ));
                }
            }
        }
        names
    }

    /// Where HOG feature `k` looks: OpenCV lays blocks out x-major (column by
    /// column), each block's 2x2 cells x-major too, then the orientation bins
    /// (unsigned, 0-180 degrees). Names give the cell's pixel range in the crop.
    fn hog_name(&self, crop_size: i32, k: usize) -> String {
        let bins = self.hog_bins as usize;
        let blocks_per_side = (crop_size / self.hog_cell - 1).max(1) as usize;
        let (block, cell, bin) = (k / (4 * bins), (k / bins) % 4, k % bins);
        let (bx, by) = (block / blocks_per_side, block % blocks_per_side);
        let (cx, cy) = (bx + cell / 2, by + cell % 2);
        let c = self.hog_cell as usize;
        let deg = 180 / bins.max(1);
        format!(
            "HOG block ({bx},{by}) cell x{}-{} y{}-{} at {}-{} deg",
            cx * c,
            (cx + 1) * c,
            cy * c,
            (cy + 1) * c,
            bin * deg,
            (bin + 1) * deg
        )
    }
}

/// Scale-free distances between every pair of points, divided by `iod`, the
/// inter-ocular distance in the same units as the points.
pub fn geometric_features(points: &[[f32; 2]; NUM_POINTS], iod: f32) -> Vec<f32> {
    let iod = iod.max(MIN_EYE_DISTANCE);
    let mut out = Vec::with_capacity(NUM_DISTANCES);
    for i in 0..NUM_POINTS {
        for j in i + 1..NUM_POINTS {
            let (a, b) = (points[i], points[j]);
            out.push(((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt() / iod);
        }
    }
    out
}

/// Computes HOG descriptors; holds the OpenCV descriptor so it is built once per worker.
pub struct HogExtractor {
    hog: Option<HOGDescriptor>,
    /// One-block window for the point part.
    points: Option<HOGDescriptor>,
    /// Side of that window (2 cells).
    block: i32,
    crop_size: i32,
}

/// `hog` of `face`, at `locations` (window corners), or at every window position
/// when there are none; no padding.
fn descriptor(
    hog: &HOGDescriptor,
    face: &GrayImage,
    locations: &Vector<Point>,
) -> Result<Vec<f32>> {
    let mut desc = Vector::<f32>::new();
    hog.compute(
        face.mat(),
        &mut desc,
        Size::new(0, 0),
        Size::new(0, 0),
        locations,
    )?;
    Ok(desc.to_vec())
}

/// `cv::HOGDescriptor` with windows of `win` pixels, blocks of 2x2 cells of `cell`.
fn hog_descriptor(win: i32, cell: i32, bins: i32) -> Result<HOGDescriptor> {
    Ok(HOGDescriptor::new(
        Size::new(win, win),
        Size::new(2 * cell, 2 * cell),
        Size::new(cell, cell),
        Size::new(cell, cell),
        bins,
        1,
        -1.0,
        opencv::objdetect::HOGDescriptor_HistogramNormType::L2Hys,
        0.2,
        false,
        opencv::objdetect::HOGDescriptor_DEFAULT_NLEVELS,
        false,
    )?)
}

impl HogExtractor {
    /// Build for crops of side `crop_size`.
    pub fn new(cfg: &FeatureConfig, crop_size: i32) -> Result<Self> {
        cfg.check(crop_size)?;
        let c = cfg.hog_cell;
        Ok(HogExtractor {
            hog: cfg
                .hog
                .then(|| hog_descriptor(crop_size, c, cfg.hog_bins))
                .transpose()?,
            points: cfg
                .points
                .then(|| hog_descriptor(2 * c, c, cfg.hog_bins))
                .transpose()?,
            block: 2 * c,
            crop_size,
        })
    }

    /// HOG of the aligned crop (empty when disabled).
    pub fn compute(&self, face: &GrayImage) -> Result<Vec<f32>> {
        let Some(hog) = &self.hog else {
            return Ok(Vec::new());
        };
        descriptor(hog, face, &Vector::new())
    }

    /// The point part for `points` in the crop (empty when disabled): each point's
    /// position as a fraction of the side, then the HOG block centred on it (moved
    /// inside the crop where the point is nearer the border than half a block).
    pub fn compute_points(
        &self,
        face: &GrayImage,
        points: &[[f32; 2]; NUM_POINTS],
    ) -> Result<Vec<f32>> {
        let Some(hog) = &self.points else {
            return Ok(Vec::new());
        };
        let (side, half) = (self.crop_size as f32, self.block / 2);
        let max = self.crop_size - self.block;
        let locations: Vector<Point> = points
            .iter()
            .map(|p| {
                let corner = |v: f32| ((v.round() as i32) - half).clamp(0, max);
                Point::new(corner(p[0]), corner(p[1]))
            })
            .collect();
        let desc = descriptor(hog, face, &locations)?;
        let per_block = desc.len() / NUM_POINTS;
        if per_block == 0 || desc.len() != NUM_POINTS * per_block {
            return Err(FerError::param(
                "features.points",
                format!(
                    "HOG at the points gave {} values for {NUM_POINTS} points",
                    desc.len()
                ),
            ));
        }
        let mut out = Vec::with_capacity(NUM_POINTS * (2 + per_block));
        for (p, block) in points.iter().zip(desc.chunks(per_block)) {
            out.push(p[0] / side);
            out.push(p[1] / side);
            out.extend_from_slice(block);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances_are_invariant_to_similarity_transforms() {
        let pts: [[f32; 2]; NUM_POINTS] =
            std::array::from_fn(|i| [(i * 7 % 13) as f32 * 3.1, (i * 5 % 11) as f32 * 2.3]);
        let base = geometric_features(&pts, 36.0);
        let (s, angle, dx, dy) = (2.5f32, 0.3f32, 40.0, -17.0);
        let moved = pts.map(|[x, y]| {
            [
                s * (angle.cos() * x - angle.sin() * y) + dx,
                s * (angle.sin() * x + angle.cos() * y) + dy,
            ]
        });
        let other = geometric_features(&moved, 36.0 * s);
        assert_eq!(base.len(), NUM_DISTANCES);
        for (a, b) in base.iter().zip(&other) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
    }

    /// The point part's HOG block at each point is the HOG of that window as a
    /// region of the crop (a view, so gradients at its edge see the pixels
    /// beyond, as OpenCV's `locateROI` lets them), and positions are fractions of
    /// the side.
    #[test]
    fn point_blocks_match_the_hog_of_each_window() {
        let size = 96;
        let pixels: Vec<u8> = (0..size * size)
            .map(|i| ((i % size) * 7 + (i / size) * 13 + (i * i) % 31) as u8)
            .collect();
        let face = GrayImage::from_pixels(size as u32, size as u32, &pixels).unwrap();
        let cfg = FeatureConfig {
            points: true,
            ..FeatureConfig::default()
        };
        let ex = HogExtractor::new(&cfg, size).unwrap();
        // One point in the middle, one at the border (its block moves inside).
        let pts: [[f32; 2]; NUM_POINTS] = std::array::from_fn(|i| {
            if i == 0 {
                [1.0, 95.0]
            } else {
                [40.0 + i as f32, 50.0]
            }
        });
        let out = ex.compute_points(&face, &pts).unwrap();
        let per = point_features(cfg.hog_bins);
        assert_eq!(out.len(), cfg.points_len());
        let single = hog_descriptor(24, 12, 9).unwrap();
        for (i, p) in pts.iter().enumerate() {
            let run = &out[i * per..(i + 1) * per];
            assert_eq!(run[0], p[0] / 96.0);
            assert_eq!(run[1], p[1] / 96.0);
            let corner = |v: f32| (v.round() as i32 - 12).clamp(0, 72);
            let roi = opencv::core::Mat::roi(
                face.mat(),
                opencv::core::Rect::new(corner(p[0]), corner(p[1]), 24, 24),
            )
            .unwrap();
            let mut want = Vector::<f32>::new();
            single
                .compute(
                    &roi,
                    &mut want,
                    Size::new(0, 0),
                    Size::new(0, 0),
                    &Vector::new(),
                )
                .unwrap();
            assert_eq!(want.len(), per - 2);
            for (a, b) in run[2..].iter().zip(want.iter()) {
                assert!((a - b).abs() < 1e-5, "point {i}: {a} vs {b}");
            }
        }
        let layout = cfg.layout(96);
        assert_eq!(
            layout.points,
            Some(NUM_DISTANCES + cfg.hog_len(96)..cfg.names(96).len())
        );
    }

    #[test]
    fn names_match_the_vector_length() {
        let cfg = FeatureConfig::default();
        assert_eq!(cfg.names(96).len(), NUM_DISTANCES + cfg.hog_len(96));
        let names = cfg.names(96);
        assert!(names[0].contains("inter-ocular"));
        // 8x8 cells of 12 px make 7x7 blocks; the second block down the first column starts at y 12.
        assert_eq!(
            names[NUM_DISTANCES],
            "HOG block (0,0) cell x0-12 y0-12 at 0-20 deg"
        );
        assert_eq!(
            names[NUM_DISTANCES + 4 * 9 + 9 + 1],
            "HOG block (0,1) cell x0-12 y24-36 at 20-40 deg"
        );
    }
}
