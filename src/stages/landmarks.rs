//! Stage 5, landmarks: 21 fiducial points on the eyebrows, eyes, nose and lips,
//! found as in Khan (2018): each facial part is searched inside a region placed
//! relative to the aligned eyes; within it, Sobel gradients mark the part's edges
//! and Shi-Tomasi corners (`cv::goodFeaturesToTrack`) refine its end points.
//!
//! * ends (eye and mouth corners, brow ends, nose wings): the 5th / 95th percentile
//!   in x of the strongest gradient-magnitude pixels; eye and mouth corners are
//!   pulled half-way to the nearest Shi-Tomasi corner within [`SNAP_RADIUS`] of the
//!   crop side;
//! * tops and bottoms (brow top, eyelids, lip midpoints): percentiles in y of the
//!   strongest vertical-gradient pixels in the part's central column band;
//! * nose tip: the median height of strong vertical gradients under the nose bridge.
//!
//! Points are computed on the aligned crop and mapped back to image coordinates by
//! the caller. Image-left is `l_`, image-right `r_` (the subject's right is on the
//! image left).

use crate::error::Result;
use crate::gray::GrayImage;
use opencv::core::{Mat, Point2f, Rect, Vector, BORDER_DEFAULT, CV_32F};
use opencv::imgproc;
use opencv::prelude::*;

/// Names of the points, in output order.
pub const POINT_NAMES: [&str; 21] = [
    "l_brow_outer",
    "l_brow_top",
    "l_brow_inner",
    "r_brow_inner",
    "r_brow_top",
    "r_brow_outer",
    "l_eye_outer",
    "l_eye_top",
    "l_eye_inner",
    "l_eye_bottom",
    "r_eye_inner",
    "r_eye_top",
    "r_eye_outer",
    "r_eye_bottom",
    "nose_tip",
    "l_nose_wing",
    "r_nose_wing",
    "mouth_left",
    "mouth_top",
    "mouth_right",
    "mouth_bottom",
];
/// Number of points.
pub const NUM_POINTS: usize = POINT_NAMES.len();
/// Fraction of pixels in a region counted as its edges.
pub const EDGE_FRACTION: f32 = 0.15;
/// Corner snapping radius, as a fraction of the crop side.
pub const SNAP_RADIUS: f32 = 0.04;
/// Half width of the central column band for tops and bottoms, as a fraction of the region width.
pub const CENTRAL_BAND: f32 = 0.15;

/// A search region in crop fractions: x0, y0, x1, y1.
type Region = [f32; 4];

/// Regions relative to an aligned crop with eyes at y = 0.39 and 0.38 apart
/// ([`crate::stages::align::AlignConfig::default`]).
const L_BROW: Region = [0.10, 0.17, 0.48, 0.33];
const R_BROW: Region = [0.52, 0.17, 0.90, 0.33];
const L_EYE: Region = [0.17, 0.32, 0.46, 0.47];
const R_EYE: Region = [0.54, 0.32, 0.83, 0.47];
const NOSE: Region = [0.34, 0.50, 0.66, 0.72];
const MOUTH: Region = [0.22, 0.70, 0.78, 0.95];

/// Gradients of the crop, shared by every region.
struct Gradients {
    size: i32,
    mag: Vec<f32>,
    gy: Vec<f32>,
}

impl Gradients {
    fn new(face: &GrayImage) -> Result<Self> {
        let mut gx = Mat::default();
        let mut gy = Mat::default();
        imgproc::sobel(
            face.mat(),
            &mut gx,
            CV_32F,
            1,
            0,
            3,
            1.0,
            0.0,
            BORDER_DEFAULT,
        )?;
        imgproc::sobel(
            face.mat(),
            &mut gy,
            CV_32F,
            0,
            1,
            3,
            1.0,
            0.0,
            BORDER_DEFAULT,
        )?;
        let gx: &[f32] = gx.data_typed()?;
        let gy: Vec<f32> = gy.data_typed::<f32>()?.iter().map(|v| v.abs()).collect();
        let mag = gx
            .iter()
            .zip(&gy)
            .map(|(x, y)| (x * x + y * y).sqrt())
            .collect();
        Ok(Gradients {
            size: face.width() as i32,
            mag,
            gy,
        })
    }

    fn pixels(&self, r: Region) -> (i32, i32, i32, i32) {
        let s = self.size as f32;
        let x0 = (r[0] * s) as i32;
        let y0 = (r[1] * s) as i32;
        let x1 = ((r[2] * s) as i32).min(self.size);
        let y1 = ((r[3] * s) as i32).min(self.size);
        (x0, y0, x1, y1)
    }

    /// The strongest `EDGE_FRACTION` of pixels of `map` inside `r`, as (x, y).
    fn strong(&self, map: &[f32], r: Region) -> Vec<(f32, f32)> {
        let (x0, y0, x1, y1) = self.pixels(r);
        let mut vals: Vec<(f32, f32, f32)> =
            Vec::with_capacity(((x1 - x0) * (y1 - y0)).max(0) as usize);
        for y in y0..y1 {
            for x in x0..x1 {
                vals.push((map[(y * self.size + x) as usize], x as f32, y as f32));
            }
        }
        vals.sort_by(|a, b| b.0.total_cmp(&a.0));
        let keep = ((vals.len() as f32 * EDGE_FRACTION).ceil() as usize)
            .max(1)
            .min(vals.len());
        vals.truncate(keep);
        vals.into_iter().map(|(_, x, y)| (x, y)).collect()
    }
}

fn percentile(mut v: Vec<f32>, q: f32) -> f32 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let i = ((v.len() - 1) as f32 * q).round() as usize;
    v[i.min(v.len() - 1)]
}

fn median(v: Vec<f32>) -> f32 {
    percentile(v, 0.5)
}

/// Left (q small) or right (q large) end of the edge pixels: x at percentile q,
/// y the median of the edge pixels within two pixels of that x.
fn end_point(edges: &[(f32, f32)], q: f32) -> [f32; 2] {
    let x = percentile(edges.iter().map(|p| p.0).collect(), q);
    let ys: Vec<f32> = edges
        .iter()
        .filter(|p| (p.0 - x).abs() <= 2.0)
        .map(|p| p.1)
        .collect();
    [x, median(ys)]
}

/// Top (q small) or bottom (q large) of the edge pixels in the central column band of `r`.
fn vertical_point(
    g: &Gradients,
    edges: &[(f32, f32)],
    r: Region,
    centre_x: f32,
    q: f32,
) -> [f32; 2] {
    let band = CENTRAL_BAND * (r[2] - r[0]) * g.size as f32;
    let ys: Vec<f32> = edges
        .iter()
        .filter(|p| (p.0 - centre_x).abs() <= band)
        .map(|p| p.1)
        .collect();
    let ys = if ys.is_empty() {
        edges.iter().map(|p| p.1).collect()
    } else {
        ys
    };
    [centre_x, percentile(ys, q)]
}

/// Shi-Tomasi corners inside `r`, in crop coordinates.
fn corners(face: &GrayImage, g: &Gradients, r: Region) -> Result<Vec<[f32; 2]>> {
    let (x0, y0, x1, y1) = g.pixels(r);
    let roi = Mat::roi(
        face.mat(),
        Rect::new(x0, y0, (x1 - x0).max(1), (y1 - y0).max(1)),
    )?;
    let mut found = Vector::<Point2f>::new();
    imgproc::good_features_to_track(
        &roi,
        &mut found,
        12,
        0.05,
        2.0,
        &Mat::default(),
        3,
        false,
        0.04,
    )?;
    Ok(found
        .iter()
        .map(|p| [p.x + x0 as f32, p.y + y0 as f32])
        .collect())
}

/// Move `p` half-way to the nearest corner within `radius`: a full snap jumps
/// between neighbouring corners as the image is resampled, half a snap keeps the
/// corner's pull with half the jump.
fn snap(p: [f32; 2], corners: &[[f32; 2]], radius: f32) -> [f32; 2] {
    corners
        .iter()
        .map(|c| (c, (c[0] - p[0]).powi(2) + (c[1] - p[1]).powi(2)))
        .filter(|(_, d)| *d <= radius * radius)
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(c, _)| [(c[0] + p[0]) / 2.0, (c[1] + p[1]) / 2.0])
        .unwrap_or(p)
}

/// A part with two ends, a top and a bottom (eye, mouth), or two ends and a top (brow).
struct Part {
    left: [f32; 2],
    right: [f32; 2],
    top: [f32; 2],
    bottom: [f32; 2],
}

fn part(face: &GrayImage, g: &Gradients, r: Region, use_corners: bool) -> Result<Part> {
    let edges = g.strong(&g.mag, r);
    let vedges = g.strong(&g.gy, r);
    let cs = if use_corners {
        corners(face, g, r)?
    } else {
        Vec::new()
    };
    let radius = SNAP_RADIUS * g.size as f32;
    let left = snap(end_point(&edges, 0.05), &cs, radius);
    let right = snap(end_point(&edges, 0.95), &cs, radius);
    let centre_x = (left[0] + right[0]) / 2.0;
    Ok(Part {
        left,
        right,
        top: vertical_point(g, &vedges, r, centre_x, 0.1),
        bottom: vertical_point(g, &vedges, r, centre_x, 0.9),
    })
}

/// The 21 points of [`POINT_NAMES`] on an aligned crop, in crop coordinates.
pub fn find_landmarks(face: &GrayImage) -> Result<[[f32; 2]; NUM_POINTS]> {
    let g = Gradients::new(face)?;
    // Brow ends are soft (hair, shading) and have no reliable corner.
    let lb = part(face, &g, L_BROW, false)?;
    let rb = part(face, &g, R_BROW, false)?;
    let le = part(face, &g, L_EYE, true)?;
    let re = part(face, &g, R_EYE, true)?;
    let mouth = part(face, &g, MOUTH, true)?;
    // Wings: ends of the lower half of the nose region, where the nostrils are.
    let lower_nose = [NOSE[0], (NOSE[1] + NOSE[3]) / 2.0, NOSE[2], NOSE[3]];
    let wing_edges = g.strong(&g.mag, lower_nose);
    let l_wing = end_point(&wing_edges, 0.05);
    let r_wing = end_point(&wing_edges, 0.95);
    let nose_tip = [
        (l_wing[0] + r_wing[0]) / 2.0,
        median(g.strong(&g.gy, NOSE).iter().map(|p| p.1).collect()),
    ];
    Ok([
        lb.left,
        lb.top,
        lb.right,
        rb.left,
        rb.top,
        rb.right,
        le.left,
        le.top,
        le.right,
        le.bottom,
        re.left,
        re.top,
        re.right,
        re.bottom,
        nose_tip,
        l_wing,
        r_wing,
        mouth.left,
        mouth.top,
        mouth.right,
        mouth.bottom,
    ])
}

/// Centre of each eye from its corners: (image-left, image-right).
pub fn eye_centres(points: &[[f32; 2]; NUM_POINTS]) -> [[f32; 2]; 2] {
    let mid = |a: [f32; 2], b: [f32; 2]| [(a[0] + b[0]) / 2.0, (a[1] + b[1]) / 2.0];
    [mid(points[6], points[8]), mid(points[10], points[12])]
}
