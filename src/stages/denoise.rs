//! Stage 2, denoise: Gaussian blur as `cv::GaussianBlur(src, dst, Size(k, k), sigma)`
//! with OpenCV's default border (reflect 101). A kernel of 1 leaves the image as is.

use crate::error::{FerError, Result};
use crate::gray::GrayImage;
use opencv::core::{Mat, Size, BORDER_DEFAULT};
use opencv::imgproc;
use serde::{Deserialize, Serialize};

/// Largest kernel accepted; larger blurs destroy the facial detail the later stages need.
pub const MAX_KERNEL: i32 = 31;

/// Gaussian blur parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DenoiseConfig {
    /// Odd kernel side in pixels (1 disables the stage).
    pub kernel: i32,
    /// Standard deviation in pixels; 0 lets OpenCV derive it from the kernel.
    pub sigma: f64,
}

impl Default for DenoiseConfig {
    fn default() -> Self {
        DenoiseConfig {
            kernel: 3,
            sigma: 0.0,
        }
    }
}

impl DenoiseConfig {
    /// Validate the parameters.
    pub fn check(&self) -> Result<()> {
        if self.kernel < 1 || self.kernel % 2 == 0 || self.kernel > MAX_KERNEL {
            return Err(FerError::param(
                "denoise.kernel",
                format!("must be odd, 1..={MAX_KERNEL}, got {}", self.kernel),
            ));
        }
        if !(self.sigma.is_finite() && self.sigma >= 0.0) {
            return Err(FerError::param(
                "denoise.sigma",
                format!("must be >= 0, got {}", self.sigma),
            ));
        }
        Ok(())
    }
}

/// Blur `img` with the configured Gaussian.
pub fn denoise(img: &GrayImage, cfg: &DenoiseConfig) -> Result<GrayImage> {
    if cfg.kernel == 1 {
        return img.try_clone();
    }
    let mut out = Mat::default();
    imgproc::gaussian_blur(
        img.mat(),
        &mut out,
        Size::new(cfg.kernel, cfg.kernel),
        cfg.sigma,
        cfg.sigma,
        BORDER_DEFAULT,
    )?;
    GrayImage::from_mat(out)
}
