//! Landmarks and features on real faces: positions, and invariance of the
//! feature vector to scaling and shifting the face.

mod common;

use fer::stages::decode::{decode_file, DecodeConfig};
use fer::stages::features::NUM_DISTANCES;
use fer::stages::landmarks::POINT_NAMES;
use fer::{GrayImage, Pipeline, PipelineConfig};
use opencv::core::{Mat, Scalar, Size, BORDER_CONSTANT};
use opencv::imgproc;
use opencv::prelude::*;

fn point(name: &str, pts: &[[f32; 2]]) -> [f32; 2] {
    pts[POINT_NAMES.iter().position(|n| *n == name).unwrap()]
}

#[test]
fn landmarks_sit_on_the_face_in_anatomical_order() {
    let mut p = Pipeline::new(PipelineConfig::default()).unwrap();
    let r = p.read_file(&common::sample("justin.jpg")).unwrap();
    assert_eq!(r.faces.len(), 1);
    let f = &r.faces[0];
    let pts = &f.landmarks;
    let [x, y, w, h] = f.bbox.map(|v| v as f32);
    for (n, q) in POINT_NAMES.iter().zip(pts.iter()) {
        assert!(
            q[0] > x && q[0] < x + w && q[1] > y && q[1] < y + h,
            "{n} {q:?} outside the box {:?}",
            f.bbox
        );
    }
    let p = |n: &str| point(n, pts);
    // Left to right.
    assert!(p("l_eye_outer")[0] < p("l_eye_inner")[0]);
    assert!(p("l_eye_inner")[0] < p("r_eye_inner")[0]);
    assert!(p("r_eye_inner")[0] < p("r_eye_outer")[0]);
    assert!(p("mouth_left")[0] < p("nose_tip")[0] && p("nose_tip")[0] < p("mouth_right")[0]);
    assert!(p("l_nose_wing")[0] < p("r_nose_wing")[0]);
    // Top to bottom.
    for side in ["l", "r"] {
        let (brow_name, top_name, bottom_name) = (
            format!("{side}_brow_top"),
            format!("{side}_eye_top"),
            format!("{side}_eye_bottom"),
        );
        let (brow, eye_top, eye_bottom) = (p(&brow_name), p(&top_name), p(&bottom_name));
        assert!(
            brow[1] < eye_top[1] && eye_top[1] <= eye_bottom[1],
            "{side}: brow {brow:?} eye {eye_top:?}/{eye_bottom:?}"
        );
        assert!(eye_bottom[1] < p("nose_tip")[1]);
    }
    assert!(p("nose_tip")[1] < p("mouth_top")[1]);
    assert!(p("mouth_top")[1] < p("mouth_bottom")[1]);
    // The mouth is about as wide as the distance between the eye centres (0.6x to 1.4x).
    let eye_dist =
        (p("r_eye_outer")[0] + p("r_eye_inner")[0] - p("l_eye_outer")[0] - p("l_eye_inner")[0])
            / 2.0;
    let mouth = p("mouth_right")[0] - p("mouth_left")[0];
    assert!(
        mouth > 0.6 * eye_dist && mouth < 1.4 * eye_dist,
        "mouth {mouth} eyes {eye_dist}"
    );
}

/// `img` scaled by `s`, then placed at (`dx`, `dy`) on a larger grey canvas.
fn scaled_and_shifted(img: &GrayImage, s: f64, dx: i32, dy: i32) -> GrayImage {
    let mut scaled = Mat::default();
    imgproc::resize(
        img.mat(),
        &mut scaled,
        Size::new(0, 0),
        s,
        s,
        imgproc::INTER_CUBIC,
    )
    .unwrap();
    let mut out = Mat::default();
    opencv::core::copy_make_border(
        &scaled,
        &mut out,
        dy,
        40,
        dx,
        40,
        BORDER_CONSTANT,
        Scalar::all(128.0),
    )
    .unwrap();
    GrayImage::from_mat(out).unwrap()
}

#[test]
fn features_do_not_change_when_the_face_is_scaled_or_shifted() {
    let img = decode_file(&common::sample("justin.jpg"), &DecodeConfig::default()).unwrap();
    let mut p = Pipeline::new(PipelineConfig::default()).unwrap();
    let base = p.read_image(&img).unwrap().faces.remove(0);
    for (s, dx, dy) in [(1.5, 0, 0), (1.0, 57, 23), (0.75, 31, 80), (2.0, 10, 5)] {
        let moved = p.read_image(&scaled_and_shifted(&img, s, dx, dy)).unwrap();
        assert_eq!(moved.faces.len(), 1, "scale {s} shift ({dx}, {dy})");
        let f = &moved.faces[0];
        // The face box moves with the image.
        let expect_x = base.bbox[0] as f64 * s + dx as f64;
        assert!(
            (f.bbox[0] as f64 - expect_x).abs() < 0.1 * base.bbox[2] as f64 * s,
            "box {:?}",
            f.bbox
        );
        // Geometric features: ratios of distances, equal up to resampling noise.
        let geo = |v: &[f32]| v[..NUM_DISTANCES].to_vec();
        let (a, b) = (geo(&base.features), geo(&f.features));
        let mean_abs: f32 =
            a.iter().zip(&b).map(|(x, y)| (x - y).abs()).sum::<f32>() / a.len() as f32;
        let mean: f32 = a.iter().sum::<f32>() / a.len() as f32;
        // The face is re-detected and its points re-found on resampled pixels, so the
        // ratios move a little (measured: 4-7% of their mean value on this photo).
        assert!(
            mean_abs < 0.09 * mean,
            "scale {s}: geometric features moved by {mean_abs} (mean value {mean})"
        );
        // The whole vector (HOG included) stays close: correlation above 0.95.
        assert!(correlation(&base.features, &f.features) > 0.98, "scale {s}");
    }
}

fn correlation(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len() as f32;
    let (ma, mb) = (a.iter().sum::<f32>() / n, b.iter().sum::<f32>() / n);
    let cov: f32 = a.iter().zip(b).map(|(x, y)| (x - ma) * (y - mb)).sum();
    let va: f32 = a.iter().map(|x| (x - ma).powi(2)).sum();
    let vb: f32 = b.iter().map(|y| (y - mb).powi(2)).sum();
    cov / (va.sqrt() * vb.sqrt())
}

#[test]
fn a_pre_cropped_face_and_the_same_face_in_a_frame_give_close_features() {
    // The crop geometry is shared: the face cut out of the frame by its detected
    // box and read with whole-image mode must look like the face read in the frame.
    let img = decode_file(&common::sample("justin.jpg"), &DecodeConfig::default()).unwrap();
    let mut p = Pipeline::new(PipelineConfig::default()).unwrap();
    let in_frame = p.read_image(&img).unwrap().faces.remove(0);
    let [x, y, w, h] = in_frame.bbox;
    let mut crop = Mat::default();
    Mat::roi(img.mat(), opencv::core::Rect::new(x, y, w, h))
        .unwrap()
        .copy_to(&mut crop)
        .unwrap();
    let mut cfg = PipelineConfig::default();
    cfg.detect.whole_image = true;
    let mut whole = Pipeline::new(cfg).unwrap();
    let cropped = whole
        .read_image(&GrayImage::from_mat(crop).unwrap())
        .unwrap()
        .faces
        .remove(0);
    assert!(correlation(&in_frame.features, &cropped.features) > 0.9);
}

#[test]
fn degenerate_images_do_not_panic() {
    let mut cfg = PipelineConfig::default();
    let mut detect = Pipeline::new(cfg).unwrap();
    cfg.detect.whole_image = true;
    let mut whole = Pipeline::new(cfg).unwrap();
    for (w, h, v) in [
        (1u32, 1u32, 0u8),
        (2, 2, 255),
        (3, 200, 7),
        (500, 1, 9),
        (64, 64, 128),
    ] {
        let img = GrayImage::from_pixels(w, h, &vec![v; (w * h) as usize]).unwrap();
        assert!(detect.read_image(&img).unwrap().faces.is_empty(), "{w}x{h}");
        let r = whole.read_image(&img).unwrap();
        assert_eq!(r.faces.len(), 1);
        assert!(
            r.faces[0].features.iter().all(|f| f.is_finite()),
            "{w}x{h}: non-finite features"
        );
    }
}

#[test]
fn invalid_stage_parameters_are_refused() {
    let mut bad = Vec::new();
    let mut c = PipelineConfig::default();
    c.denoise.kernel = 4;
    bad.push(c);
    let mut c = PipelineConfig::default();
    c.clahe.grid = 0;
    bad.push(c);
    let mut c = PipelineConfig::default();
    c.align.size = 100; // not a multiple of the HOG cell
    bad.push(c);
    let mut c = PipelineConfig::default();
    c.decode.max_pixels = 0;
    bad.push(c);
    for c in bad {
        assert!(Pipeline::new(c).is_err(), "{c:?}");
    }
}
