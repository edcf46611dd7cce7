//! One criterion benchmark per pipeline stage on the shipped sample `data/justin.jpg`
//! (381x384, one face). Run with `cargo bench`.

use criterion::{criterion_group, criterion_main, Criterion};
use fer::stages::align::align;
use fer::stages::decode::{decode_file, DecodeConfig};
use fer::stages::denoise::{denoise, DenoiseConfig};
use fer::stages::detect::{DetectConfig, Detector};
use fer::stages::enhance::{enhance, ClaheConfig};
use fer::stages::features::{geometric_features, FeatureConfig, HogExtractor};
use fer::stages::landmarks::find_landmarks;
use fer::stages::align::AlignConfig;
use std::hint::black_box;
use std::path::Path;

fn stages(c: &mut Criterion) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("data/justin.jpg");
    let decode_cfg = DecodeConfig::default();
    let img = decode_file(&path, &decode_cfg).expect("sample decodes");
    let smooth = denoise(&img, &DenoiseConfig::default()).expect("denoise");
    let mut detector = Detector::new(DetectConfig::default()).expect("cascades");
    let faces = detector.detect(&smooth).expect("detect");
    let face = faces.first().copied().expect("justin.jpg has a face");
    let eyes = face.eyes.unwrap_or_else(|| fer::stages::align::eyes_from_box(face.bbox));
    let align_cfg = AlignConfig::default();
    let (raw_crop, _) = align(&smooth, eyes, &align_cfg).expect("align");
    let crop = enhance(&raw_crop, &ClaheConfig::default()).expect("clahe");
    let points = find_landmarks(&crop).expect("landmarks");
    let hog = HogExtractor::new(&FeatureConfig::default(), align_cfg.size).expect("hog");

    c.bench_function("decode (jpeg 381x384)", |b| b.iter(|| decode_file(black_box(&path), &decode_cfg)));
    c.bench_function("denoise (gaussian 3x3)", |b| b.iter(|| denoise(black_box(&img), &DenoiseConfig::default())));
    c.bench_function("detect (faces + eyes)", |b| b.iter(|| detector.detect(black_box(&smooth))));
    c.bench_function("align (96x96 crop)", |b| b.iter(|| align(black_box(&smooth), eyes, &align_cfg)));
    c.bench_function("clahe (2.0, 8x8 on the crop)", |b| b.iter(|| enhance(black_box(&raw_crop), &ClaheConfig::default())));
    c.bench_function("landmarks (21 points)", |b| b.iter(|| find_landmarks(black_box(&crop))));
    c.bench_function("features (distances + HOG)", |b| {
        b.iter(|| {
            let mut f = geometric_features(black_box(&points), align_cfg.eye_distance * align_cfg.size as f32);
            f.extend(hog.compute(&crop).expect("hog"));
            f
        })
    });
}

criterion_group!(benches, stages);
criterion_main!(benches);
