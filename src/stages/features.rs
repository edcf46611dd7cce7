//! Stage 6, features: the geometric part is every distance between two of the 21
//! fiducial points divided by the inter-ocular distance (the distance between the
//! eye centres the face was aligned on), so it does not change when the face is
//! scaled or shifted. (Normalising by the distance between the landmark eye
//! centres instead was measured to be about twice as noisy under rescaling.) The optional appearance part is a HOG descriptor of the aligned
//! crop, as `cv::HOGDescriptor(win, block = 2 cells, stride = 1 cell, cell, bins)::compute`.
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
}

impl Default for FeatureConfig {
    fn default() -> Self {
        FeatureConfig {
            hog: true,
            hog_cell: 12,
            hog_bins: 9,
        }
    }
}

impl FeatureConfig {
    /// Validate against the crop side.
    pub fn check(&self, crop_size: i32) -> Result<()> {
        if self.hog {
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

    /// Feature names, in vector order.
    pub fn names(&self, crop_size: i32) -> Vec<String> {
        let mut names = Vec::with_capacity(NUM_DISTANCES + self.hog_len(crop_size));
        for (i, a) in POINT_NAMES.iter().enumerate() {
            for b in &POINT_NAMES[i + 1..] {
                names.push(format!("{a} - {b} / inter-ocular"));
            }
        }
        names.extend((0..self.hog_len(crop_size)).map(|k| self.hog_name(crop_size, k)));
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
}

impl HogExtractor {
    /// Build for crops of side `crop_size`.
    pub fn new(cfg: &FeatureConfig, crop_size: i32) -> Result<Self> {
        cfg.check(crop_size)?;
        if !cfg.hog {
            return Ok(HogExtractor { hog: None });
        }
        let c = cfg.hog_cell;
        let hog = HOGDescriptor::new(
            Size::new(crop_size, crop_size),
            Size::new(2 * c, 2 * c),
            Size::new(c, c),
            Size::new(c, c),
            cfg.hog_bins,
            1,
            -1.0,
            opencv::objdetect::HOGDescriptor_HistogramNormType::L2Hys,
            0.2,
            false,
            opencv::objdetect::HOGDescriptor_DEFAULT_NLEVELS,
            false,
        )?;
        Ok(HogExtractor { hog: Some(hog) })
    }

    /// HOG of the aligned crop (empty when disabled).
    pub fn compute(&self, face: &GrayImage) -> Result<Vec<f32>> {
        let Some(hog) = &self.hog else {
            return Ok(Vec::new());
        };
        let mut desc = Vector::<f32>::new();
        hog.compute(
            face.mat(),
            &mut desc,
            Size::new(0, 0),
            Size::new(0, 0),
            &Vector::<Point>::new(),
        )?;
        Ok(desc.to_vec())
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
