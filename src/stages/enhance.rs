//! Stage 3, enhance: contrast-limited adaptive histogram equalisation, as
//! `cv::createCLAHE(clip, Size(grid, grid))->apply(src, dst)`. A clip limit of 0
//! disables the stage.

use crate::error::{FerError, Result};
use crate::gray::GrayImage;
use opencv::core::{Mat, Size};
use opencv::imgproc;
use opencv::prelude::*;
use serde::{Deserialize, Serialize};

/// Largest tile grid accepted.
pub const MAX_GRID: i32 = 64;

/// CLAHE parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClaheConfig {
    /// Contrast clip limit (OpenCV units); 0 disables the stage.
    pub clip_limit: f64,
    /// Tiles per side.
    pub grid: i32,
}

impl Default for ClaheConfig {
    fn default() -> Self {
        ClaheConfig {
            clip_limit: 2.0,
            grid: 8,
        }
    }
}

impl ClaheConfig {
    /// Validate the parameters.
    pub fn check(&self) -> Result<()> {
        if !(self.clip_limit.is_finite() && self.clip_limit >= 0.0) {
            return Err(FerError::param(
                "clahe.clip_limit",
                format!("must be >= 0, got {}", self.clip_limit),
            ));
        }
        if self.grid < 1 || self.grid > MAX_GRID {
            return Err(FerError::param(
                "clahe.grid",
                format!("must be 1..={MAX_GRID}, got {}", self.grid),
            ));
        }
        Ok(())
    }
}

/// Equalise `img` with CLAHE.
pub fn enhance(img: &GrayImage, cfg: &ClaheConfig) -> Result<GrayImage> {
    if cfg.clip_limit == 0.0 {
        return img.try_clone();
    }
    let mut clahe = imgproc::create_clahe(cfg.clip_limit, Size::new(cfg.grid, cfg.grid))?;
    let mut out = Mat::default();
    clahe.apply(img.mat(), &mut out)?;
    GrayImage::from_mat(out)
}
