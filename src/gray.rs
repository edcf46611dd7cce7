//! A typed 8-bit grey image. Every stage after decode takes a [`GrayImage`], so a
//! colour frame cannot reach a grey stage: the only way to build one is from 8-bit
//! grey pixels or from a single-channel 8-bit `Mat`.

use crate::error::{FerError, Result};
use opencv::core::{Mat, Scalar, CV_8UC1};
use opencv::prelude::*;

/// An 8-bit single-channel image backed by an OpenCV `Mat` (CV_8UC1, continuous).
#[derive(Debug)]
pub struct GrayImage {
    mat: Mat,
}

impl GrayImage {
    /// Wrap a `Mat`; refuses anything but a non-empty CV_8UC1 matrix.
    pub fn from_mat(mat: Mat) -> Result<Self> {
        if mat.typ() != CV_8UC1 {
            return Err(FerError::param(
                "image",
                format!("expected CV_8UC1, got Mat type {}", mat.typ()),
            ));
        }
        if mat.rows() <= 0 || mat.cols() <= 0 {
            return Err(FerError::param("image", "empty image"));
        }
        let mat = if mat.is_continuous() {
            mat
        } else {
            mat.try_clone()?
        };
        Ok(GrayImage { mat })
    }

    /// Copy row-major grey pixels into a new image.
    pub fn from_pixels(width: u32, height: u32, pixels: &[u8]) -> Result<Self> {
        let expected = width as usize * height as usize;
        if width == 0 || height == 0 || pixels.len() != expected {
            return Err(FerError::param(
                "image",
                format!(
                    "{width}x{height} needs {expected} pixels, got {}",
                    pixels.len()
                ),
            ));
        }
        let rows =
            i32::try_from(height).map_err(|_| FerError::param("image", "height too large"))?;
        let cols = i32::try_from(width).map_err(|_| FerError::param("image", "width too large"))?;
        let mut mat = Mat::new_rows_cols_with_default(rows, cols, CV_8UC1, Scalar::all(0.0))?;
        mat.data_bytes_mut()?.copy_from_slice(pixels);
        Ok(GrayImage { mat })
    }

    /// A deep copy.
    pub fn try_clone(&self) -> Result<Self> {
        Ok(GrayImage {
            mat: self.mat.try_clone()?,
        })
    }

    /// The left-right mirror image.
    pub fn mirrored(&self) -> Result<Self> {
        let mut out = Mat::default();
        opencv::core::flip(&self.mat, &mut out, 1)?;
        GrayImage::from_mat(out)
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.mat.cols() as u32
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.mat.rows() as u32
    }

    /// The underlying matrix (CV_8UC1).
    pub fn mat(&self) -> &Mat {
        &self.mat
    }

    /// Row-major pixels.
    pub fn pixels(&self) -> &[u8] {
        // A continuous CV_8UC1 Mat always exposes its bytes.
        self.mat.data_bytes().unwrap_or(&[])
    }

    /// Pixel at (x, y); 0 outside the image.
    pub fn get(&self, x: i32, y: i32) -> u8 {
        if x < 0 || y < 0 || x >= self.mat.cols() || y >= self.mat.rows() {
            return 0;
        }
        self.pixels()[(y * self.mat.cols() + x) as usize]
    }
}
