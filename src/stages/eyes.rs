//! Eye centres without the eye cascade: the face box gives a rough crop (eyes where
//! they sit in an upright face, [`crate::stages::align::BOX_EYES`]); inside a window
//! around each expected eye, the eye centre is the point that the image gradients
//! converge on, as in Timm and Barth, "Accurate eye centre localisation by means of
//! gradients" (VISAPP 2011): the dark, round iris is the centre that most gradient
//! vectors point away from. Brows are dark too but long, so their gradients agree on
//! a line rather than a point.
//!
//! `--eye-finder gradients` uses it instead of OpenCV's `haarcascade_eye.xml` search
//! (6 to 9 ms a face): a search of a few hundred candidate points, about 0.3 ms. It
//! is not the default, because it costs accuracy: the shipped model's recipe
//! retrained with it lost 4 points on FER2013 PrivateTest and 8 on the Yale faces.
//! How the two finders compare on real and on turned faces is measured by
//! `cargo run --release --example speed_tradeoffs -- eye-points`; `BENCHMARKS.md`
//! ("Eyes from gradients") has both tables.
//! Gradients are `cv::Sobel` (3x3) of a `cv::GaussianBlur`red crop, the crop
//! `cv::warpAffine` through [`crate::stages::align::align`].

use crate::error::Result;
use crate::gray::GrayImage;
use crate::stages::align::{align, eyes_from_box, AlignConfig};
use opencv::core::{Mat, Size, BORDER_DEFAULT, CV_32F};
use opencv::imgproc;
use opencv::prelude::*;

/// Side of the rough crop the eyes are sought in.
pub const ROUGH_CROP: i32 = 64;
/// Half the width and half the height of the window searched around each expected
/// eye, as fractions of the crop side. The half height, 0.12 of a crop whose eyes are
/// 0.38 apart, lets each eye move up or down by a third of the eye distance: a face
/// turned by up to about 30 degrees.
pub const EYE_WINDOW_HALF: (f32, f32) = (0.14, 0.12);
/// Gradients weaker than the window's mean magnitude plus this many standard
/// deviations are ignored (Timm and Barth's threshold).
pub const GRADIENT_THRESHOLD_SD: f32 = 0.3;
/// Sigma of the blur applied before the gradients, in pixels of the rough crop.
pub const BLUR_SIGMA: f64 = 1.0;

/// The rough crop's geometry: the shipped alignment's proportions at [`ROUGH_CROP`].
fn rough_geometry() -> AlignConfig {
    AlignConfig {
        size: ROUGH_CROP,
        ..AlignConfig::default()
    }
}

/// Both eye centres (image-left, image-right) in image coordinates, found inside the
/// face box `bbox` of `img`. One search: a second one, around the eyes the first
/// found, drifted further from the cascade's eyes and from the true tilt of turned
/// faces (`BENCHMARKS.md`).
pub fn eyes_from_gradients(img: &GrayImage, bbox: [i32; 4]) -> Result<[[f32; 2]; 2]> {
    let geometry = rough_geometry();
    let (crop, to_crop) = align(img, eyes_from_box(bbox), &geometry)?;
    let back = to_crop.inverse();
    Ok(eye_centres_in_crop(&crop, &geometry)?.map(|p| back.apply(p)))
}

/// Eye centres inside a crop aligned with `geometry` (eyes expected at its canonical
/// places), in crop coordinates.
pub fn eye_centres_in_crop(crop: &GrayImage, geometry: &AlignConfig) -> Result<[[f32; 2]; 2]> {
    let mut blurred = Mat::default();
    imgproc::gaussian_blur(
        crop.mat(),
        &mut blurred,
        Size::new(0, 0),
        BLUR_SIGMA,
        BLUR_SIGMA,
        BORDER_DEFAULT,
    )?;
    let mut gx = Mat::default();
    let mut gy = Mat::default();
    imgproc::sobel(&blurred, &mut gx, CV_32F, 1, 0, 3, 1.0, 0.0, BORDER_DEFAULT)?;
    imgproc::sobel(&blurred, &mut gy, CV_32F, 0, 1, 3, 1.0, 0.0, BORDER_DEFAULT)?;
    let field = Field {
        side: crop.width() as i32,
        grey: blurred.data_bytes()?,
        gx: gx.data_typed()?,
        gy: gy.data_typed()?,
    };
    let side = geometry.size as f32;
    let half = (
        (EYE_WINDOW_HALF.0 * side).round() as i32,
        (EYE_WINDOW_HALF.1 * side).round() as i32,
    );
    Ok(geometry
        .canonical_eyes()
        .map(|[x, y]| field.centre(x.round() as i32, y.round() as i32, half)))
}

/// A blurred crop and its gradients, row-major, `side` x `side`.
struct Field<'a> {
    side: i32,
    grey: &'a [u8],
    gx: &'a [f32],
    gy: &'a [f32],
}

impl Field<'_> {
    /// The gradient-convergence centre of the window of half size `half` around (cx, cy).
    fn centre(&self, cx: i32, cy: i32, half: (i32, i32)) -> [f32; 2] {
        let x0 = (cx - half.0).max(1);
        let x1 = (cx + half.0).min(self.side - 2);
        let y0 = (cy - half.1).max(1);
        let y1 = (cy + half.1).min(self.side - 2);
        let at = |x: i32, y: i32| (y * self.side + x) as usize;
        // Strong gradients of the window, normalised.
        let mut grads = Vec::with_capacity(((x1 - x0 + 1) * (y1 - y0 + 1)).max(0) as usize);
        for y in y0..=y1 {
            for x in x0..=x1 {
                let (gx, gy) = (self.gx[at(x, y)], self.gy[at(x, y)]);
                grads.push((x as f32, y as f32, gx, gy, (gx * gx + gy * gy).sqrt()));
            }
        }
        let n = grads.len().max(1) as f32;
        let mean = grads.iter().map(|g| g.4).sum::<f32>() / n;
        let sd = (grads.iter().map(|g| (g.4 - mean).powi(2)).sum::<f32>() / n).sqrt();
        let threshold = mean + GRADIENT_THRESHOLD_SD * sd;
        let strong: Vec<(f32, f32, f32, f32)> = grads
            .iter()
            .filter(|g| g.4 > threshold && g.4 > 0.0)
            .map(|g| (g.0, g.1, g.2 / g.4, g.3 / g.4))
            .collect();
        let mut best = (0.0f32, [cx as f32, cy as f32]);
        for y in y0..=y1 {
            for x in x0..=x1 {
                let (fx, fy) = (x as f32, y as f32);
                let mut sum = 0.0f32;
                for &(px, py, gx, gy) in &strong {
                    let (dx, dy) = (px - fx, py - fy);
                    let d2 = dx * dx + dy * dy;
                    if d2 == 0.0 {
                        continue;
                    }
                    // Only gradients pointing away from the candidate count: dark inside.
                    let dot = (dx * gx + dy * gy) / d2.sqrt();
                    if dot > 0.0 {
                        sum += dot * dot;
                    }
                }
                // Dark centres weigh more: the pupil, not the bright sclera beside it.
                let score = sum * (255 - self.grey[at(x, y)]) as f32;
                if score > best.0 {
                    best = (score, [fx, fy]);
                }
            }
        }
        best.1
    }
}
