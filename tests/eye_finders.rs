//! The eye finders against each other on real faces: the eye centres found from
//! gradients (`fer::stages::eyes`, `--eye-finder gradients`) against the eye cascade's
//! pair, where the cascade finds one. `BENCHMARKS.md` gives the full comparison
//! (`cargo run --release --example speed_tradeoffs -- eye-points`).

mod common;

use fer::gray::GrayImage;
use fer::stages::decode::decode_file;
use fer::stages::denoise::denoise;
use fer::stages::detect::{DetectConfig, Detector};
use fer::stages::eyes::eyes_from_gradients;

/// For each face with a cascade pair: the distance of each gradient eye from the
/// cascade's, over the cascade's eye distance.
fn distances(frames: &[GrayImage]) -> Vec<f32> {
    let mut det = Detector::new(DetectConfig::default()).unwrap();
    let mut out = Vec::new();
    for img in frames {
        for bbox in det.detect_boxes(img).unwrap() {
            let Some(c) = det.find_eyes(img, bbox).unwrap() else {
                continue;
            };
            let g = eyes_from_gradients(img, bbox).unwrap();
            let iod = ((c[1][0] - c[0][0]).powi(2) + (c[1][1] - c[0][1]).powi(2)).sqrt();
            for k in 0..2 {
                let d = ((g[k][0] - c[k][0]).powi(2) + (g[k][1] - c[k][1]).powi(2)).sqrt();
                out.push(d / iod);
            }
        }
    }
    out
}

fn smooth(path: &std::path::Path) -> Option<GrayImage> {
    let img = decode_file(path, &Default::default()).ok()?;
    Some(denoise(&img, &Default::default()).unwrap())
}

#[test]
fn gradient_eyes_land_near_the_cascades_on_the_sample_face() {
    let d = distances(&[smooth(&common::sample("justin.jpg")).unwrap()]);
    assert_eq!(d.len(), 2, "the cascade finds both eyes of data/justin.jpg");
    assert!(d.iter().all(|&e| e < 0.15), "{d:?}");
}

#[test]
fn gradient_eyes_land_near_the_cascades_on_the_yale_faces() {
    let Some(data) = common::shared_data("gradient_eyes_land_near_the_cascades_on_the_yale_faces")
    else {
        return;
    };
    let frames: Vec<GrayImage> = walkdir::WalkDir::new(data.join("yalefaces"))
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .filter_map(|e| smooth(e.path()))
        .collect();
    let d = distances(&frames);
    // 111 pairs when measured; the mean was 0.125 of the eye distance, 78.8% of the
    // eyes within 0.2 of it.
    assert!(d.len() >= 200, "{} eyes", d.len());
    let mean = d.iter().sum::<f32>() / d.len() as f32;
    let near = d.iter().filter(|&&e| e <= 0.2).count() as f32 / d.len() as f32;
    assert!(mean < 0.16 && near > 0.7, "mean {mean}, within 0.2: {near}");
}
