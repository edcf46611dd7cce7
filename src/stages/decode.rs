//! Stage 1, decode: any common format (PNG, JPEG, GIF, TIFF, BMP, WebP) and any
//! pixel layout (grey, colour, alpha, palette, 16-bit) to 8-bit grey.
//!
//! Decoding uses the `image` crate. The header is read first and the image refused
//! if `width * height` exceeds [`DecodeConfig::max_pixels`], before any pixel
//! buffer is allocated. EXIF orientation is applied. Grey conversion is
//! `image`'s `to_luma8` (Rec. 709 luma). TIFF layouts `image` declines (palette
//! colour) fall back to OpenCV's `imdecode` in grey mode, after the same header
//! check (dimensions read with the `tiff` crate).

use crate::error::{FerError, Result};
use crate::gray::GrayImage;
use image::{ImageDecoder, ImageReader};
use opencv::core::{Mat, Scalar, Vector, CV_8UC3};
use opencv::imgcodecs;
use opencv::imgproc;
use opencv::prelude::*;
use serde::{Deserialize, Serialize};
use std::io::{BufReader, Cursor, Read};
use std::path::Path;

/// Default pixel limit: 64 megapixels (an 8000x8000 frame).
pub const DEFAULT_MAX_PIXELS: u64 = 64_000_000;
/// Default limit on the encoded file size: 256 MiB.
pub const DEFAULT_MAX_FILE_BYTES: u64 = 256 * 1024 * 1024;

/// Decode parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DecodeConfig {
    /// Refuse images whose header announces more pixels than this.
    pub max_pixels: u64,
    /// Refuse files larger than this many bytes.
    pub max_file_bytes: u64,
}

impl Default for DecodeConfig {
    fn default() -> Self {
        DecodeConfig {
            max_pixels: DEFAULT_MAX_PIXELS,
            max_file_bytes: DEFAULT_MAX_FILE_BYTES,
        }
    }
}

impl DecodeConfig {
    /// Validate the parameters.
    pub fn check(&self) -> Result<()> {
        if self.max_pixels == 0 {
            return Err(FerError::param("max_pixels", "must be positive"));
        }
        if self.max_file_bytes == 0 {
            return Err(FerError::param("max_file_bytes", "must be positive"));
        }
        Ok(())
    }
}

/// Read and decode one file to grey.
pub fn decode_file(path: &Path, cfg: &DecodeConfig) -> Result<GrayImage> {
    let bytes = read_bytes(path, cfg)?;
    decode(&bytes, cfg, false)
        .map(|(grey, _)| grey)
        .map_err(|e| name_file(e, path))
}

/// Read and decode one file once, to grey for the pipeline and to colour (BGR,
/// `CV_8UC3`) for pictures.
pub fn decode_file_with_colour(path: &Path, cfg: &DecodeConfig) -> Result<(GrayImage, Mat)> {
    let bytes = read_bytes(path, cfg)?;
    match decode(&bytes, cfg, true).map_err(|e| name_file(e, path))? {
        (grey, Some(colour)) => Ok((grey, colour)),
        (grey, None) => {
            let mut colour = Mat::default();
            imgproc::cvt_color_def(grey.mat(), &mut colour, imgproc::COLOR_GRAY2BGR)?;
            Ok((grey, colour))
        }
    }
}

/// Decode an in-memory encoded image to grey. Errors name no file; [`decode_file`]
/// adds it.
pub fn decode_bytes(bytes: &[u8], cfg: &DecodeConfig) -> Result<GrayImage> {
    decode(bytes, cfg, false).map(|(grey, _)| grey)
}

fn read_bytes(path: &Path, cfg: &DecodeConfig) -> Result<Vec<u8>> {
    let err = |reason: String| FerError::Decode {
        path: path.to_path_buf(),
        reason,
    };
    let meta = std::fs::metadata(path).map_err(|e| err(e.to_string()))?;
    if !meta.is_file() {
        return Err(err("not a regular file".into()));
    }
    if meta.len() == 0 {
        return Err(err("empty file (0 bytes)".into()));
    }
    if meta.len() > cfg.max_file_bytes {
        return Err(err(format!(
            "file is {} bytes, over the limit of {}",
            meta.len(),
            cfg.max_file_bytes
        )));
    }
    let file = std::fs::File::open(path).map_err(|e| err(e.to_string()))?;
    let mut bytes = Vec::with_capacity(meta.len() as usize);
    BufReader::new(file)
        .take(cfg.max_file_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| err(e.to_string()))?;
    Ok(bytes)
}

/// Put the file's name into an error raised on its bytes.
pub fn name_file(e: FerError, path: &Path) -> FerError {
    match e {
        FerError::Decode { reason, .. } => FerError::Decode {
            path: path.to_path_buf(),
            reason,
        },
        FerError::TooLarge {
            width,
            height,
            pixels,
            limit,
            ..
        } => FerError::TooLarge {
            path: path.to_path_buf(),
            width,
            height,
            pixels,
            limit,
        },
        other => other,
    }
}

/// Decode once to grey and, with `colour`, to BGR too.
fn decode(bytes: &[u8], cfg: &DecodeConfig, colour: bool) -> Result<(GrayImage, Option<Mat>)> {
    let err = |reason: String| FerError::Decode {
        path: "<memory>".into(),
        reason,
    };
    if bytes.is_empty() {
        return Err(err("empty file (0 bytes)".into()));
    }
    let reader = ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| err(e.to_string()))?;
    let Some(format) = reader.format() else {
        return Err(err(
            "not a recognised image format (PNG, JPEG, GIF, TIFF, BMP, WebP)".into(),
        ));
    };
    if format == image::ImageFormat::Jpeg && !has_jpeg_end(bytes) {
        // The JPEG decoder fills a cut-off scan with grey instead of failing.
        return Err(err("truncated JPEG: no end-of-image marker".into()));
    }
    let decoded = reader.into_decoder().and_then(|mut decoder| {
        let (width, height) = decoder.dimensions();
        if let Err(e) = check_pixels(width as u64, height as u64, cfg) {
            return Ok(Err(e));
        }
        let orientation = decoder
            .orientation()
            .unwrap_or(image::metadata::Orientation::NoTransforms);
        let mut limits = image::Limits::default();
        // Allow what the pixel limit allows, at up to 8 bytes a pixel (16-bit RGBA).
        limits.max_alloc = Some(cfg.max_pixels.saturating_mul(8).max(1 << 20));
        decoder.set_limits(limits)?;
        let mut img = image::DynamicImage::from_decoder(decoder)?;
        img.apply_orientation(orientation);
        Ok(Ok(img))
    });
    match decoded {
        Ok(Ok(img)) => {
            let luma = img.to_luma8();
            let grey = GrayImage::from_pixels(luma.width(), luma.height(), luma.as_raw())?;
            let bgr = if colour && img.color().has_color() {
                Some(rgb_to_bgr_mat(&img.to_rgb8())?)
            } else {
                None
            };
            Ok((grey, bgr))
        }
        Ok(Err(too_large)) => Err(too_large),
        // The `image` crate declines some TIFF layouts (palette colour); libtiff in
        // OpenCV reads them, after the same header check.
        Err(image::ImageError::Unsupported(e)) if format == image::ImageFormat::Tiff => {
            let (width, height) = tiff::decoder::Decoder::new(Cursor::new(bytes))
                .and_then(|mut d| d.dimensions())
                .map_err(|te| err(format!("Tiff: {te}")))?;
            check_pixels(width as u64, height as u64, cfg)?;
            let grey = decode_with_opencv(bytes)
                .map_err(|cv| err(format!("Tiff: {e}; OpenCV fallback: {cv}")))?;
            Ok((grey, None))
        }
        Err(image::ImageError::Limits(e)) => Err(err(format!(
            "{format:?}: {e}: it declares more data than the pixel limit allows"
        ))),
        Err(e) => Err(err(format!("{format:?}: {e}"))),
    }
}

fn rgb_to_bgr_mat(rgb: &image::RgbImage) -> Result<Mat> {
    let (w, h) = (rgb.width() as i32, rgb.height() as i32);
    let mut mat = Mat::new_rows_cols_with_default(h, w, CV_8UC3, Scalar::all(0.0))?;
    mat.data_bytes_mut()?.copy_from_slice(rgb.as_raw());
    let mut bgr = Mat::default();
    imgproc::cvt_color_def(&mat, &mut bgr, imgproc::COLOR_RGB2BGR)?;
    Ok(bgr)
}

/// Tail searched for the JPEG end-of-image marker (encoders may pad after it).
const JPEG_END_SEARCH: usize = 4096;

fn has_jpeg_end(bytes: &[u8]) -> bool {
    let tail = &bytes[bytes.len().saturating_sub(JPEG_END_SEARCH)..];
    tail.windows(2).any(|w| w == [0xFF, 0xD9])
}

fn check_pixels(width: u64, height: u64, cfg: &DecodeConfig) -> Result<()> {
    check_size(width, height, cfg.max_pixels)
}

/// Refuse a `width` x `height` image or frame of more than `max_pixels` pixels (a
/// [`FerError::TooLarge`] with the path `<memory>`, for the caller to name), or of
/// no pixels at all.
pub fn check_size(width: u64, height: u64, max_pixels: u64) -> Result<()> {
    let pixels = width.saturating_mul(height);
    if width == 0 || height == 0 {
        return Err(FerError::Decode {
            path: "<memory>".into(),
            reason: format!("image is {width}x{height}"),
        });
    }
    if pixels > max_pixels {
        return Err(FerError::TooLarge {
            path: "<memory>".into(),
            width,
            height,
            pixels,
            limit: max_pixels,
        });
    }
    Ok(())
}

fn decode_with_opencv(bytes: &[u8]) -> std::result::Result<GrayImage, String> {
    let buf = Vector::<u8>::from_slice(bytes);
    let mat = imgcodecs::imdecode(&buf, imgcodecs::IMREAD_GRAYSCALE).map_err(|e| e.to_string())?;
    if mat.empty() {
        return Err("OpenCV could not decode it either".into());
    }
    GrayImage::from_mat(mat).map_err(|e| e.to_string())
}
