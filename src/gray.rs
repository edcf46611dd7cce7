//! A typed 8-bit grey image. Every stage after decode takes a [`GrayImage`], so a
//! colour frame cannot reach a grey stage: the only way to build one is from 8-bit
//! grey pixels or from a single-channel 8-bit `Mat`.

use crate::error::{FerError, Result};
use opencv::core::{Mat, Scalar, CV_8UC1};
use opencv::prelude::*;

/// The order of the colour channels of interleaved pixels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelOrder {
    /// Blue, green, red: OpenCV's (and so `cv2.imread`'s) order.
    Bgr,
    /// Red, green, blue: the order of most other libraries (PIL, imageio, matplotlib).
    Rgb,
}

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

    /// Grey from interleaved 8-bit colour pixels (3 channels, or 4 with alpha;
    /// row-major, tightly packed), in `order`. The conversion is `image`'s
    /// `to_luma8` (Rec. 709 weights), the one decode uses, so an array holding a
    /// decoded file's colour pixels gives the grey image
    /// [`crate::stages::decode::decode_file`] gives for that file.
    pub fn from_colour(
        width: u32,
        height: u32,
        channels: usize,
        order: ChannelOrder,
        pixels: &[u8],
    ) -> Result<Self> {
        if !(3..=4).contains(&channels) {
            return Err(FerError::param(
                "image",
                format!("colour images have 3 or 4 channels, not {channels}"),
            ));
        }
        let expected = width as usize * height as usize * channels;
        if width == 0 || height == 0 || pixels.len() != expected {
            return Err(FerError::param(
                "image",
                format!(
                    "{width}x{height}x{channels} needs {expected} bytes, got {}",
                    pixels.len()
                ),
            ));
        }
        let mut rgb = pixels.to_vec();
        if order == ChannelOrder::Bgr {
            rgb.chunks_exact_mut(channels).for_each(|p| p.swap(0, 2));
        }
        let size_err = || FerError::param("image", "pixel buffer does not match its size");
        let img = if channels == 3 {
            image::DynamicImage::ImageRgb8(
                image::RgbImage::from_raw(width, height, rgb).ok_or_else(size_err)?,
            )
        } else {
            image::DynamicImage::ImageRgba8(
                image::RgbaImage::from_raw(width, height, rgb).ok_or_else(size_err)?,
            )
        };
        let luma = img.to_luma8();
        GrayImage::from_pixels(width, height, luma.as_raw())
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::decode::{decode_file, DecodeConfig};

    /// The colour pixels of a decoded file give the grey image decode gives, in either order.
    #[test]
    fn colour_pixels_give_decodes_grey() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("data/justin.jpg");
        let rgb = image::open(&path).unwrap().to_rgb8();
        let (w, h) = rgb.dimensions();
        let want = decode_file(&path, &DecodeConfig::default()).unwrap();
        let from_rgb = GrayImage::from_colour(w, h, 3, ChannelOrder::Rgb, rgb.as_raw()).unwrap();
        assert_eq!(from_rgb.pixels(), want.pixels());
        let bgra: Vec<u8> = rgb
            .as_raw()
            .chunks_exact(3)
            .flat_map(|p| [p[2], p[1], p[0], 255])
            .collect();
        let from_bgra = GrayImage::from_colour(w, h, 4, ChannelOrder::Bgr, &bgra).unwrap();
        assert_eq!(from_bgra.pixels(), want.pixels());
    }

    #[test]
    fn wrong_sizes_and_channels_are_refused() {
        assert!(GrayImage::from_colour(2, 2, 3, ChannelOrder::Bgr, &[0; 11]).is_err());
        assert!(GrayImage::from_colour(2, 2, 2, ChannelOrder::Bgr, &[0; 8]).is_err());
        assert!(GrayImage::from_colour(0, 2, 3, ChannelOrder::Bgr, &[]).is_err());
    }
}
