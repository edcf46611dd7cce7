//! One criterion benchmark per pipeline stage on the shipped sample `data/justin.jpg`
//! (381x384, one face), and one per model kind classifying that face's features
//! (models trained on synthetic rows of the same layout: inference cost does
//! not depend on what was learned, only on the model's shape). Run with `cargo bench`.

use criterion::{criterion_group, criterion_main, Criterion};
use fer::stages::align::align;
use fer::stages::align::AlignConfig;
use fer::stages::decode::{decode_file, DecodeConfig};
use fer::stages::denoise::{denoise, DenoiseConfig};
use fer::stages::detect::{DetectConfig, Detector, Search};
use fer::stages::enhance::{enhance, ClaheConfig};
use fer::stages::features::{geometric_features, FeatureConfig, HogExtractor};
use fer::stages::landmarks::find_landmarks;
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
    let eyes = face
        .eyes
        .unwrap_or_else(|| fer::stages::align::eyes_from_box(face.bbox));
    let align_cfg = AlignConfig::default();
    let (raw_crop, _) = align(&smooth, eyes, &align_cfg).expect("align");
    let crop = enhance(&raw_crop, &ClaheConfig::default()).expect("clahe");
    let points = find_landmarks(&crop).expect("landmarks");
    let hog = HogExtractor::new(&FeatureConfig::default(), align_cfg.size).expect("hog");

    c.bench_function("decode (jpeg 381x384)", |b| {
        b.iter(|| decode_file(black_box(&path), &decode_cfg))
    });
    c.bench_function("denoise (gaussian 3x3)", |b| {
        b.iter(|| denoise(black_box(&img), &DenoiseConfig::default()))
    });
    c.bench_function("detect (faces + eyes)", |b| {
        b.iter(|| detector.detect(black_box(&smooth)))
    });
    // The two face searches on their own, without eyes: coarse to fine (the default) and
    // one full-resolution search (what `fer bench` calls bare Haar).
    let mut proposal = Detector::new(DetectConfig {
        eyes: false,
        ..Default::default()
    })
    .expect("cascades");
    c.bench_function("detect faces (proposal search)", |b| {
        b.iter(|| proposal.detect_boxes(black_box(&smooth)))
    });
    let mut full = Detector::new(DetectConfig {
        eyes: false,
        search: Search::Full,
        ..Default::default()
    })
    .expect("cascades");
    c.bench_function("detect faces (full search)", |b| {
        b.iter(|| full.detect_boxes(black_box(&smooth)))
    });
    c.bench_function("align (96x96 crop)", |b| {
        b.iter(|| align(black_box(&smooth), eyes, &align_cfg))
    });
    c.bench_function("clahe (2.0, 8x8 on the crop)", |b| {
        b.iter(|| enhance(black_box(&raw_crop), &ClaheConfig::default()))
    });
    c.bench_function("landmarks (21 points)", |b| {
        b.iter(|| find_landmarks(black_box(&crop)))
    });
    c.bench_function("features (distances + HOG)", |b| {
        b.iter(|| {
            let mut f = geometric_features(
                black_box(&points),
                align_cfg.eye_distance * align_cfg.size as f32,
            );
            f.extend(hog.compute(&crop).expect("hog"));
            f
        })
    });
}

/// Classification of one face's features by each model kind, with default hyperparameters.
fn classifiers(c: &mut Criterion) {
    use fer::model::{mlp::MlpParams, ModelKind, TreeParams};
    use fer::rows::LabelledRows;
    use fer::train::{fit, FitOptions};
    use rand::{Rng, SeedableRng};
    let cfg = fer::PipelineConfig::default();
    let dim = cfg.features.names(cfg.align.size).len();
    let mut rng = rand::rngs::StdRng::seed_from_u64(1);
    let classes = 7;
    let n = 140;
    let rows = LabelledRows {
        x: (0..n)
            .map(|i| {
                (0..dim)
                    .map(|j| {
                        rng.random_range(-1.0f32..1.0)
                            + if j % classes == i % classes { 1.0 } else { 0.0 }
                    })
                    .collect()
            })
            .collect(),
        y: (0..n).map(|i| (i % classes) as u32).collect(),
        groups: (0..n).map(|i| format!("s{}", i % 20)).collect(),
        mirrored: vec![false; n],
        sample: (0..n).collect(),
        teacher: None,
        votes: None,
        source: vec![],
        sources: vec![],
        classes: [
            "angry", "disgust", "fear", "happy", "sad", "surprise", "neutral",
        ]
        .map(String::from)
        .to_vec(),
        skipped: 0,
        sets: None,
    };
    let face: Vec<f32> = rows.x[0].clone();
    let all: Vec<usize> = (0..n).collect();
    for kind in ModelKind::all() {
        let opts = FitOptions {
            kind,
            params: MlpParams {
                epochs: 3,
                ..Default::default()
            }
            .check()
            .expect("params"),
            trees: TreeParams::default().check().expect("params"),
            val_fraction: 0.1,
            pipeline: cfg,
            sources: vec![],
        };
        let model = fit(&rows, &all, &opts, &mut |_, _, _, _| {}).expect("fit");
        c.bench_function(&format!("classify ({kind}, 1 face)"), |b| {
            b.iter(|| model.predict(black_box(std::slice::from_ref(&face))))
        });
    }
}

criterion_group!(benches, stages, classifiers);
criterion_main!(benches);
