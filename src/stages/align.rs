//! Crop geometry shared by every path: a face is mapped by a similarity transform
//! (rotation, uniform scale, shift) that puts its eyes at fixed places in a square
//! `size x size` crop. The eyes come from the eye detector; when it finds none they
//! are estimated at fixed fractions of the face box ([`BOX_EYES`]). Because a
//! pre-cropped face (`--no-detect`) and a face the detector crops from a full
//! frame go through this same function, a model trained on one path sees the
//! same geometry on the other.

use crate::error::{FerError, Result};
use crate::gray::GrayImage;
use opencv::core::{Mat, Rect, Scalar, Size, BORDER_REPLICATE, CV_64F};
use opencv::imgproc;
use opencv::prelude::*;
use serde::{Deserialize, Serialize};

/// Where the eyes sit inside a Haar face box, as (x, y) fractions of its side.
/// Means of the detected eye centres: x 0.324 (mirrored for the right eye), y 0.383
/// over 46 faces of the dlib group photos; x 0.316, y 0.386 over 109 Yale frames.
pub const BOX_EYES: [[f32; 2]; 2] = [[0.31, 0.39], [0.69, 0.39]];

/// Crop geometry.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct AlignConfig {
    /// Side of the aligned square crop in pixels.
    pub size: i32,
    /// Height of the eye line, as a fraction of `size`.
    pub eye_y: f32,
    /// Distance between the eye centres, as a fraction of `size`.
    pub eye_distance: f32,
}

impl Default for AlignConfig {
    fn default() -> Self {
        // The same proportions as BOX_EYES, so a box-aligned face is barely resampled.
        AlignConfig {
            size: 96,
            eye_y: 0.39,
            eye_distance: 0.38,
        }
    }
}

impl AlignConfig {
    /// Validate the parameters.
    pub fn check(&self) -> Result<()> {
        if !(32..=512).contains(&self.size) {
            return Err(FerError::param(
                "align.size",
                format!("must be 32..=512, got {}", self.size),
            ));
        }
        if !(0.2..=0.6).contains(&self.eye_y) {
            return Err(FerError::param(
                "align.eye_y",
                format!("must be 0.2..=0.6, got {}", self.eye_y),
            ));
        }
        if !(0.2..=0.6).contains(&self.eye_distance) {
            return Err(FerError::param(
                "align.eye_distance",
                format!("must be 0.2..=0.6, got {}", self.eye_distance),
            ));
        }
        Ok(())
    }

    /// Canonical eye centres in the crop.
    pub fn canonical_eyes(&self) -> [[f32; 2]; 2] {
        let s = self.size as f32;
        let half = self.eye_distance * s / 2.0;
        [
            [s / 2.0 - half, self.eye_y * s],
            [s / 2.0 + half, self.eye_y * s],
        ]
    }
}

/// A 2x3 affine map `[a, b, c; d, e, f]`: (x, y) -> (a x + b y + c, d x + e y + f).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Affine(pub [f64; 6]);

impl Affine {
    /// Apply to a point.
    pub fn apply(&self, p: [f32; 2]) -> [f32; 2] {
        let [a, b, c, d, e, f] = self.0;
        let (x, y) = (p[0] as f64, p[1] as f64);
        [(a * x + b * y + c) as f32, (d * x + e * y + f) as f32]
    }

    /// The inverse map (a similarity is always invertible unless its scale is 0).
    pub fn inverse(&self) -> Affine {
        let [a, b, c, d, e, f] = self.0;
        let det = a * e - b * d;
        let (ia, ib, id, ie) = (e / det, -b / det, -d / det, a / det);
        Affine([ia, ib, -(ia * c + ib * f), id, ie, -(id * c + ie * f)])
    }
}

/// The similarity transform taking `eyes` (image-left, image-right) to the canonical eyes.
pub fn eye_transform(eyes: [[f32; 2]; 2], cfg: &AlignConfig) -> Affine {
    let [l, r] = eyes;
    let [cl, cr] = cfg.canonical_eyes();
    let (dx, dy) = ((r[0] - l[0]) as f64, (r[1] - l[1]) as f64);
    let src_dist = (dx * dx + dy * dy).sqrt().max(1e-6);
    let s = (cr[0] - cl[0]) as f64 / src_dist;
    let theta = dy.atan2(dx);
    let (sin, cos) = theta.sin_cos();
    let (a, b, d, e) = (s * cos, s * sin, -s * sin, s * cos);
    let c = cl[0] as f64 - (a * l[0] as f64 + b * l[1] as f64);
    let f = cl[1] as f64 - (d * l[0] as f64 + e * l[1] as f64);
    Affine([a, b, c, d, e, f])
}

/// Eye centres estimated from a face box.
pub fn eyes_from_box(bbox: [i32; 4]) -> [[f32; 2]; 2] {
    let [x, y, w, h] = bbox.map(|v| v as f32);
    BOX_EYES.map(|[fx, fy]| [x + fx * w, y + fy * h])
}

/// Below this scale the crop is first shrunk with area averaging, so that a large
/// face is not aliased by the bilinear warp.
const AREA_RESIZE_BELOW: f64 = 0.75;

/// Warp `img` so that `eyes` land on the canonical eyes; returns the crop and the map
/// from image to crop coordinates.
pub fn align(
    img: &GrayImage,
    eyes: [[f32; 2]; 2],
    cfg: &AlignConfig,
) -> Result<(GrayImage, Affine)> {
    let m = eye_transform(eyes, cfg);
    let [a, b, ..] = m.0;
    let scale = (a * a + b * b).sqrt();
    // Work on the part of the image the crop can see (plus a pixel of margin).
    let inv = m.inverse();
    let s = cfg.size as f32;
    let corners = [[0.0, 0.0], [s, 0.0], [0.0, s], [s, s]].map(|p| inv.apply(p));
    let (iw, ih) = (img.width() as i32, img.height() as i32);
    let x0 = (corners
        .iter()
        .map(|p| p[0])
        .fold(f32::MAX, f32::min)
        .floor() as i32
        - 1)
    .clamp(0, iw - 1);
    let y0 = (corners
        .iter()
        .map(|p| p[1])
        .fold(f32::MAX, f32::min)
        .floor() as i32
        - 1)
    .clamp(0, ih - 1);
    let x1 =
        (corners.iter().map(|p| p[0]).fold(f32::MIN, f32::max).ceil() as i32 + 2).clamp(x0 + 1, iw);
    let y1 =
        (corners.iter().map(|p| p[1]).fold(f32::MIN, f32::max).ceil() as i32 + 2).clamp(y0 + 1, ih);
    let roi = Mat::roi(img.mat(), Rect::new(x0, y0, x1 - x0, y1 - y0))?;
    // Crop coordinates from ROI coordinates: shift by the ROI origin, then maybe shrink.
    let mut pre = 1.0;
    let mut src = Mat::default();
    if scale < AREA_RESIZE_BELOW {
        let size = Size::new(
            ((x1 - x0) as f64 * scale).ceil().max(1.0) as i32,
            ((y1 - y0) as f64 * scale).ceil().max(1.0) as i32,
        );
        pre = scale;
        imgproc::resize(&roi, &mut src, size, 0.0, 0.0, imgproc::INTER_AREA)?;
    } else {
        roi.copy_to(&mut src)?;
    }
    let [a, b, c, d, e, f] = m.0;
    let (x0f, y0f) = (x0 as f64, y0 as f64);
    let local = [
        a / pre,
        b / pre,
        c + a * x0f + b * y0f,
        d / pre,
        e / pre,
        f + d * x0f + e * y0f,
    ];
    let mut mat = Mat::new_rows_cols_with_default(2, 3, CV_64F, Scalar::all(0.0))?;
    for (i, v) in local.iter().enumerate() {
        *mat.at_2d_mut::<f64>((i / 3) as i32, (i % 3) as i32)? = *v;
    }
    let mut out = Mat::default();
    imgproc::warp_affine(
        &src,
        &mut out,
        &mat,
        Size::new(cfg.size, cfg.size),
        imgproc::INTER_LINEAR,
        BORDER_REPLICATE,
        Scalar::all(0.0),
    )?;
    Ok((GrayImage::from_mat(out)?, m))
}
