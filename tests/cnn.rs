//! Our own CNN: the training tricks, learning from scratch, round trips, bad files,
//! and held-out CK+ subjects.

mod common;

use candle_core::{Device, Tensor};
use fer::dataset::{self, DataFilter};
use fer::model::cnn::{is_cnn_file, CnnArch, CnnHeader, CnnModel, CNN_FORMAT, CNN_SCHEMA_VERSION};
use fer::model::cnn_checkpoint::Checkpoints;
use fer::model::cnn_train::{
    beta_sample, crops_from_samples, fit_cnn, fit_cnn_with_checkpoints, git_terms,
    smoothed_targets, CnnParams, CnnTrainingSummary, CropSet, GitLoss, ValidCnnParams,
};
use fer::PipelineConfig;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A tiny network and schedule that trains in seconds on the CPU.
fn tiny(side: usize, epochs: usize) -> ValidCnnParams {
    CnnParams {
        arch: CnnArch {
            input_size: side,
            channels: vec![8, 16],
            groups: 4,
        },
        epochs,
        batch_size: 16,
        lr_per_256: 2e-2,
        warmup_epochs: 1,
        git_loss: Some(GitLoss::default()),
        ..Default::default()
    }
    .check()
    .unwrap()
}

/// `n` noisy 16x16 images per class: horizontal stripes, vertical stripes, a bright centre.
fn patterns(n: usize, seed: u64) -> CropSet {
    let side = 16;
    let mut rng = StdRng::seed_from_u64(seed);
    let mut set = CropSet {
        pixels: vec![],
        labels: vec![],
        side,
        targets: None,
    };
    for i in 0..3 * n {
        let class = (i % 3) as u32;
        let phase = rng.random_range(0..4);
        for y in 0..side {
            for x in 0..side {
                let on = match class {
                    0 => (y + phase) % 4 < 2,
                    1 => (x + phase) % 4 < 2,
                    _ => (4..12).contains(&x) && (4..12).contains(&y),
                };
                let v = if on { 190.0 } else { 60.0 } + rng.random_range(-40.0..40.0);
                set.pixels.push(v as u8);
            }
        }
        set.labels.push(class);
    }
    set
}

fn accuracy(model: &CnnModel, set: &CropSet) -> f32 {
    let probs = model.probabilities(&set.pixels, set.labels.len()).unwrap();
    let right = probs
        .iter()
        .zip(&set.labels)
        .filter(|(p, &y)| fer::metrics::argmax(p, None) == y as usize)
        .count();
    right as f32 / set.labels.len() as f32
}

fn model_of(set: &CropSet, classes: usize, params: &ValidCnnParams) -> CnnModel {
    let (net, varmap, curves) = fit_cnn(set, classes, params, &mut |_, _, _, _| {}).unwrap();
    let loss = curves.loss;
    assert!(
        loss.last().unwrap() < loss.first().unwrap(),
        "loss did not fall: {loss:?}"
    );
    let header = CnnHeader {
        format: CNN_FORMAT.into(),
        schema_version: CNN_SCHEMA_VERSION,
        classes: ["angry", "happy", "sad", "surprise"][..classes]
            .iter()
            .map(|s| s.to_string())
            .collect(),
        arch: params.arch.clone(),
        pipeline: PipelineConfig::default(),
        training: CnnTrainingSummary {
            params: (**params).clone(),
            samples: set.len(),
            skipped: 0,
            sources: vec![],
            loss,
            train_accuracy: curves.train_accuracy,
            validation_accuracy: vec![],
            validation_sources: vec![],
            validation_samples: 0,
            votes: None,
        },
    };
    CnnModel::new(header, net, varmap)
}

#[test]
fn learning_rate_warms_up_linearly_then_decays_by_cosine() {
    let p = CnnParams {
        batch_size: 64,
        lr_per_256: 4e-3,
        ..Default::default()
    }
    .check()
    .unwrap();
    let peak = 1e-3; // linear scaling: 4e-3 * 64 / 256
    let (warmup, total) = (10, 110);
    assert!((p.learning_rate(0, warmup, total) - peak / 10.0).abs() < 1e-12);
    assert!((p.learning_rate(4, warmup, total) - peak / 2.0).abs() < 1e-12);
    assert!((p.learning_rate(warmup, warmup, total) - peak).abs() < 1e-12);
    assert!(
        (p.learning_rate(60, warmup, total) - peak / 2.0).abs() < 1e-9,
        "half way down the cosine"
    );
    assert!(p.learning_rate(total, warmup, total).abs() < 1e-12);
    let after: Vec<f64> = (warmup..total)
        .map(|s| p.learning_rate(s, warmup, total))
        .collect();
    assert!(
        after.windows(2).all(|w| w[1] <= w[0]),
        "decays monotonically after warmup"
    );
}

#[test]
fn smoothed_targets_sum_to_one_and_keep_the_label_highest() {
    let t = smoothed_targets(&[2, 0], 4, 0.1);
    assert_eq!(t.len(), 8);
    for row in t.chunks(4) {
        assert!((row.iter().sum::<f32>() - 1.0).abs() < 1e-6);
    }
    assert!((t[2] - 0.925).abs() < 1e-6 && (t[0] - 0.025).abs() < 1e-6);
    assert!((t[4] - 0.925).abs() < 1e-6);
}

#[test]
fn mixup_weights_follow_a_symmetric_beta() {
    let mut rng = StdRng::seed_from_u64(1);
    let draws: Vec<f32> = (0..4000).map(|_| beta_sample(0.2, &mut rng)).collect();
    assert!(draws.iter().all(|&d| (0.0..=1.0).contains(&d)));
    let mean = draws.iter().sum::<f32>() / draws.len() as f32;
    assert!((mean - 0.5).abs() < 0.03, "mean {mean}");
    // Beta(0.2, 0.2) puts most of its mass near 0 and 1.
    let extreme =
        draws.iter().filter(|&&d| !(0.1..=0.9).contains(&d)).count() as f32 / draws.len() as f32;
    assert!(extreme > 0.6, "share near the ends {extreme}");
}

#[test]
fn git_loss_prefers_embeddings_on_their_own_centre_and_far_from_the_others() {
    let dev = Device::Cpu;
    let centres = Tensor::new(&[[0f32, 0.0], [4.0, 0.0]], &dev).unwrap();
    let weights = Tensor::new(&[[1f32, 0.0], [0.0, 1.0]], &dev).unwrap();
    let on = Tensor::new(&[[0f32, 0.0], [4.0, 0.0]], &dev).unwrap();
    let off = Tensor::new(&[[2f32, 0.0], [2.0, 0.0]], &dev).unwrap();
    let value = |e: &Tensor| {
        let (c, p) = git_terms(e, &weights, &centres).unwrap();
        (c.to_scalar::<f32>().unwrap(), p.to_scalar::<f32>().unwrap())
    };
    let (c_on, p_on) = value(&on);
    let (c_off, p_off) = value(&off);
    assert!(c_on.abs() < 1e-6, "on the centre: {c_on}");
    assert!((c_off - 2.0).abs() < 1e-5, "half of 2^2: {c_off}");
    assert!((p_on - 1.0 / 17.0).abs() < 1e-5, "1 / (1 + 4^2): {p_on}");
    assert!(p_off > p_on, "closer to the other centre pushes harder");
}

#[test]
fn invalid_settings_are_refused_before_training() {
    let bad = [
        CnnParams {
            arch: CnnArch {
                groups: 5,
                ..Default::default()
            },
            ..Default::default()
        },
        CnnParams {
            arch: CnnArch {
                input_size: 4,
                ..Default::default()
            },
            ..Default::default()
        },
        CnnParams {
            warmup_epochs: CnnParams::default().epochs,
            ..Default::default()
        },
        CnnParams {
            mixup_alpha: 2.0,
            ..Default::default()
        },
        CnnParams {
            lr_per_256: 0.0,
            ..Default::default()
        },
        CnnParams {
            label_smoothing: 1.0,
            ..Default::default()
        },
        CnnParams {
            git_loss: Some(GitLoss {
                center: -1.0,
                push: 0.0,
            }),
            ..Default::default()
        },
    ];
    for p in bad {
        assert!(p.clone().check().is_err(), "{p:?}");
    }
    let params = tiny(16, 2);
    let empty = CropSet {
        pixels: vec![],
        labels: vec![],
        side: 16,
        targets: None,
    };
    assert!(fit_cnn(&empty, 3, &params, &mut |_, _, _, _| {}).is_err());
    let wrong_side = CropSet {
        pixels: vec![0; 64],
        labels: vec![0],
        side: 8,
        targets: None,
    };
    assert!(fit_cnn(&wrong_side, 3, &params, &mut |_, _, _, _| {}).is_err());
}

#[test]
fn learns_patterns_from_scratch_and_gives_the_same_answers_after_save_and_load() {
    let params = tiny(16, 8);
    let model = model_of(&patterns(40, 1), 3, &params);
    let held_out = patterns(20, 2);
    let acc = accuracy(&model, &held_out);
    assert!(acc >= 0.9, "held-out accuracy {acc}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cnn.safetensors");
    model.save(&path).unwrap();
    assert!(is_cnn_file(&path));
    let loaded = CnnModel::load(&path).unwrap();
    assert_eq!(loaded.header(), model.header());
    let a = model
        .probabilities(&held_out.pixels, held_out.len())
        .unwrap();
    let b = loaded
        .probabilities(&held_out.pixels, held_out.len())
        .unwrap();
    assert_eq!(a, b);

    // More crops than one forward pass takes: each crop reads as it does alone.
    let many = patterns(100, 3);
    assert!(many.len() > fer::model::cnn::INFERENCE_BATCH);
    let all = model.probabilities(&many.pixels, many.len()).unwrap();
    assert_eq!(all.len(), many.len());
    let side2 = many.side * many.side;
    for i in [0, 255, 256, many.len() - 1] {
        let alone = model
            .probabilities(&many.pixels[i * side2..(i + 1) * side2], 1)
            .unwrap();
        for (x, y) in all[i].iter().zip(&alone[0]) {
            assert!((x - y).abs() < 1e-5, "crop {i}: {x} alone {y}");
        }
    }
    // A byte count that is not whole crops is an error, not a panic.
    let err = model
        .probabilities(&many.pixels[1..], many.len())
        .unwrap_err();
    assert!(err.to_string().contains("crops of 16x16"), "{err}");
}

/// `set` with all but `keep` crops of class `rare` left out.
fn thinned(set: &CropSet, rare: u32, keep: usize) -> CropSet {
    let side2 = set.side * set.side;
    let mut out = CropSet {
        pixels: vec![],
        labels: vec![],
        side: set.side,
        targets: None,
    };
    let mut kept = 0;
    for (i, &y) in set.labels.iter().enumerate() {
        if y == rare {
            if kept == keep {
                continue;
            }
            kept += 1;
        }
        out.labels.push(y);
        out.pixels
            .extend_from_slice(&set.pixels[i * side2..(i + 1) * side2]);
    }
    out
}

/// Recall of class `c` on `set`.
fn recall(model: &CnnModel, set: &CropSet, c: u32) -> f32 {
    let probs = model.probabilities(&set.pixels, set.len()).unwrap();
    let (hit, all) =
        probs
            .iter()
            .zip(&set.labels)
            .filter(|(_, &y)| y == c)
            .fold((0, 0), |(h, a), (p, _)| {
                (
                    h + (fer::metrics::argmax(p, None) == c as usize) as usize,
                    a + 1,
                )
            });
    hit as f32 / all as f32
}

#[test]
fn a_class_balanced_loss_finds_a_rare_class_that_the_plain_loss_misses() {
    // 60 crops of two classes and 15 of the third (plain loss: recall 0, balanced: 1);
    // a held-out set with all three alike.
    let train = thinned(&patterns(60, 11), 2, 15);
    let held_out = patterns(30, 12);
    let plain = tiny(16, 4);
    let balanced = CnnParams {
        class_balanced: true,
        ..(*plain).clone()
    }
    .check()
    .unwrap();
    let (r_plain, r_balanced) = (
        recall(&model_of(&train, 3, &plain), &held_out, 2),
        recall(&model_of(&train, 3, &balanced), &held_out, 2),
    );
    assert!(
        r_balanced > r_plain + 0.2 && r_balanced > 0.8,
        "rare-class recall: plain {r_plain}, balanced {r_balanced}"
    );
}

#[test]
fn class_balance_off_leaves_the_settings_and_so_old_checkpoints_fingerprints_as_they_were() {
    let json = serde_json::to_string(&CnnParams::default()).unwrap();
    assert!(!json.contains("class_balanced"), "{json}");
    let back: CnnParams = serde_json::from_str(&json).unwrap();
    assert!(!back.class_balanced);
    let on = CnnParams {
        class_balanced: true,
        ..Default::default()
    };
    let json_on = serde_json::to_string(&on).unwrap();
    assert!(json_on.contains("\"class_balanced\":true"));
    assert_eq!(serde_json::from_str::<CnnParams>(&json_on).unwrap(), on);
}

/// Every weight of a trained network, by name.
fn weights_of(varmap: &candle_nn::VarMap) -> Vec<(String, Vec<f32>)> {
    let data = varmap.data().lock().unwrap();
    let mut w: Vec<(String, Vec<f32>)> = data
        .iter()
        .map(|(n, v)| {
            (
                n.clone(),
                v.as_tensor().flatten_all().unwrap().to_vec1().unwrap(),
            )
        })
        .collect();
    w.sort_by(|a, b| a.0.cmp(&b.0));
    w
}

/// An uninterrupted run of 3 classes, keeping a copy of each epoch's checkpoint as
/// `dir/after-EPOCH`.
fn run_keeping_each_checkpoint(
    data: &CropSet,
    validation: Option<&CropSet>,
    params: &ValidCnnParams,
    dir: &std::path::Path,
) -> (
    fer::model::cnn::Cnn,
    candle_nn::VarMap,
    fer::model::cnn_train::CnnCurves,
) {
    let ckpt = dir.join("run.checkpoint");
    let save_only = Checkpoints {
        save_to: Some(ckpt.clone()),
        resume_from: None,
    };
    fit_cnn_with_checkpoints(
        data,
        validation,
        3,
        params,
        &save_only,
        &mut |e, _, _, _| {
            std::fs::copy(&ckpt, dir.join(format!("after-{e}"))).unwrap();
        },
    )
    .unwrap()
}

#[test]
fn a_run_resumed_from_any_epoch_ends_with_the_weights_of_an_uninterrupted_one() {
    // Git loss on, so its centres (outside the saved CNN) must come back too; mixup and
    // flips on, so the random stream must resume where it stopped.
    let params = tiny(16, 5);
    let data = patterns(12, 7);
    let dir = tempfile::tempdir().unwrap();
    let (_, whole, curves) = run_keeping_each_checkpoint(&data, None, &params, dir.path());
    let expected = weights_of(&whole);
    for stopped_after in 1..=4 {
        let resume = Checkpoints {
            save_to: Some(dir.path().join("resumed.checkpoint")),
            resume_from: Some(dir.path().join(format!("after-{stopped_after}"))),
        };
        let mut epochs_run = vec![];
        let (_, resumed, curves2) =
            fit_cnn_with_checkpoints(&data, None, 3, &params, &resume, &mut |e, _, _, _| {
                epochs_run.push(e)
            })
            .unwrap();
        assert_eq!(epochs_run, ((stopped_after + 1)..=5).collect::<Vec<_>>());
        assert_eq!(
            weights_of(&resumed),
            expected,
            "resumed after epoch {stopped_after}"
        );
        assert_eq!(curves2, curves);
    }
    // Without checkpoints the same run gives the same weights (saving changes nothing).
    let (_, plain, _) = fit_cnn(&data, 3, &params, &mut |_, _, _, _| {}).unwrap();
    assert_eq!(weights_of(&plain), expected);
}

#[test]
fn validation_crops_are_scored_every_epoch_and_change_no_weight() {
    let params = tiny(16, 4);
    let data = patterns(12, 7);
    let validation = patterns(8, 99);
    let dir = tempfile::tempdir().unwrap();
    let (net, varmap, curves) =
        run_keeping_each_checkpoint(&data, Some(&validation), &params, dir.path());
    let (_, plain, plain_curves) = fit_cnn(&data, 3, &params, &mut |_, _, _, _| {}).unwrap();
    assert_eq!(
        weights_of(&varmap),
        weights_of(&plain),
        "validation only looks"
    );
    assert_eq!(curves.loss, plain_curves.loss);
    assert!(plain_curves.validation_accuracy.is_empty());
    assert_eq!(curves.validation_accuracy.len(), 4);
    // The last figure is the final network's accuracy on those crops.
    let mut model = model_of(&data, 3, &params);
    model = CnnModel::new(model.header().clone(), net, varmap);
    let last = *curves.validation_accuracy.last().unwrap();
    assert_eq!(last, accuracy(&model, &validation));
    assert!(last > 0.6, "the patterns are learnt: {last}");

    // Resumed, the validation curve goes on where it stopped.
    let resume = Checkpoints {
        save_to: None,
        resume_from: Some(dir.path().join("after-2")),
    };
    let (_, _, resumed) = fit_cnn_with_checkpoints(
        &data,
        Some(&validation),
        3,
        &params,
        &resume,
        &mut |_, _, _, _| {},
    )
    .unwrap();
    assert_eq!(resumed, curves);
    // fer plot reads a checkpoint's curves so far.
    let so_far = fer::plot::Curves::of_model_file(&dir.path().join("after-2")).unwrap();
    assert_eq!(so_far.loss, curves.loss[..2]);
    assert_eq!(so_far.accuracy, curves.validation_accuracy[..2]);
    assert!(so_far.title.contains("after epoch 2"), "{}", so_far.title);
    let png = dir.path().join("so-far.png");
    fer::plot::training_curves(&so_far, &png).unwrap();
    assert!(image::open(&png).is_ok());
    // A validated run's checkpoint is not continued without (or with other) validation crops.
    for other in [None, Some(&data)] {
        let err = fit_cnn_with_checkpoints(&data, other, 3, &params, &resume, &mut |_, _, _, _| {})
            .err()
            .expect("refused")
            .to_string();
        assert!(err.contains("other settings or data"), "{err}");
    }
    // Validation crops of a class the network does not have are refused.
    let mut four = patterns(2, 5);
    four.labels[0] = 3;
    let err = fit_cnn_with_checkpoints(
        &data,
        Some(&four),
        3,
        &params,
        &Checkpoints::default(),
        &mut |_, _, _, _| {},
    )
    .err()
    .expect("refused")
    .to_string();
    assert!(err.contains("validation labels"), "{err}");
}

#[test]
fn train_cnn_validation_split_records_a_curve_and_needs_a_training_split() {
    let dir = tempfile::tempdir().unwrap();
    let set = patterns(30, 12);
    let mut manifest =
        String::from("dataset,path,label_original,label_canonical,subject,split,note\n");
    for (i, (crop, &label)) in set.pixels.chunks(256).zip(&set.labels).enumerate() {
        let name = format!("{i:03}.png");
        image::GrayImage::from_raw(16, 16, crop.to_vec())
            .unwrap()
            .save(dir.path().join(&name))
            .unwrap();
        let class = ["angry", "happy", "sad"][label as usize];
        let split = if i % 5 == 0 { "val" } else { "train" };
        manifest += &format!("toy,{name},{class},{class},s{i},{split},\n");
    }
    let csv = dir.path().join("manifest.csv");
    std::fs::write(&csv, manifest).unwrap();
    let out = dir.path().join("cnn.safetensors");
    let run = |extra: &[&str]| {
        let mut c = train_cnn_command(&csv, &out);
        c.args(extra).stderr(std::process::Stdio::piped());
        let o = c.output().unwrap();
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (ok, err) = run(&["--validation-split", "val"]);
    assert!(!ok && err.contains("needs --split"), "{err}");
    let (ok, err) = run(&["--split", "train", "--validation-split", "train"]);
    assert!(!ok && err.contains("also a training --split"), "{err}");
    let (ok, err) = run(&["--split", "train", "--validation-split", "nowhere"]);
    assert!(
        !ok && err.contains("manifest.csv: no labelled images"),
        "{err}"
    );
    let (ok, err) = run(&["--split", "train", "--validation-split", "val"]);
    assert!(ok, "{err}");
    assert!(err.contains("18 validation crops"), "{err}");
    let t = CnnModel::load(&out).unwrap().header().training.clone();
    assert_eq!(t.samples, 72);
    assert_eq!(t.validation_samples, 18);
    assert_eq!(t.validation_accuracy.len(), t.loss.len());
    assert!(
        t.validation_sources.iter().any(|s| s.contains("val")),
        "{:?}",
        t.validation_sources
    );
}

#[test]
fn a_cnn_row_trains_on_each_folds_training_images_and_scores_its_test_images() {
    use fer::compare_cnn::cnn_row;
    use fer::rows::LabelledRows;
    let dir = tempfile::tempdir().unwrap();
    let set = patterns(20, 21);
    let classes: Vec<String> = ["angry", "happy", "sad"].map(String::from).to_vec();
    let mut samples = vec![];
    for (i, (crop, &label)) in set.pixels.chunks(256).zip(&set.labels).enumerate() {
        let path = dir.path().join(format!("{i:03}.png"));
        image::GrayImage::from_raw(16, 16, crop.to_vec())
            .unwrap()
            .save(&path)
            .unwrap();
        samples.push(dataset::Sample {
            path,
            label: classes[label as usize].clone(),
            subject: Some(format!("s{}", i % 10)),
            source: "toy".into(),
            set: None,
        });
    }
    // One unreadable image: skipped and counted, not fatal.
    let broken = dir.path().join("broken.png");
    std::fs::write(&broken, b"not a png").unwrap();
    samples.push(dataset::Sample {
        path: broken,
        label: "sad".into(),
        subject: Some("s0".into()),
        source: "toy".into(),
        set: None,
    });
    let n = samples.len();
    // A mirrored row of each image too, as fer compare makes them: the CNN must not
    // train on them twice (it flips crops itself) nor score them.
    let rows = LabelledRows {
        x: vec![vec![0.0]; 2 * n],
        y: samples
            .iter()
            .chain(&samples)
            .map(|s| classes.iter().position(|c| *c == s.label).unwrap() as u32)
            .collect(),
        groups: samples
            .iter()
            .chain(&samples)
            .map(|s| s.subject.clone().unwrap())
            .collect(),
        mirrored: (0..2 * n).map(|r| r >= n).collect(),
        sample: (0..2 * n).map(|r| r % n).collect(),
        teacher: None,
        votes: None,
        source: vec![0; 2 * n],
        sources: vec![],
        classes: classes.clone(),
        skipped: 0,
        sets: None,
    };
    let folds = fer::cross_validation::cv_folds(&rows, 3).unwrap();
    let mut pipeline = PipelineConfig::default();
    pipeline.detect.whole_image = true;
    let mut seen = vec![];
    let row = cnn_row(
        "cnn",
        &tiny(16, 8),
        &samples,
        &rows,
        &folds,
        &pipeline,
        "3 folds",
        &mut |f, acc| seen.push((f, acc)),
    )
    .unwrap();
    assert_eq!(seen.len(), 3);
    assert_eq!(
        row.fold_accuracy,
        seen.iter().map(|s| s.1).collect::<Vec<_>>()
    );
    assert_eq!(row.report.samples, 60, "every readable image scored once");
    assert_eq!(row.report.skipped, 1, "the broken image");
    assert!(
        row.accuracy > 0.8,
        "the patterns are learnt: {}",
        row.accuracy
    );
    assert!(row.train_seconds > 0.0 && row.us_per_face > 0.0 && row.size_bytes > 1000);
    assert_eq!(row.kind, "cnn");
}

/// The 16x16 crops of `set` as PNGs in class folders under `data`.
fn write_class_folders(data: &std::path::Path, set: &CropSet) {
    for (i, (crop, &label)) in set.pixels.chunks(256).zip(&set.labels).enumerate() {
        let class = data.join(["angry", "happy", "sad"][label as usize]);
        std::fs::create_dir_all(&class).unwrap();
        image::GrayImage::from_raw(16, 16, crop.to_vec())
            .unwrap()
            .save(class.join(format!("{i:03}.png")))
            .unwrap();
    }
}

/// `fer train-cnn` on `data` (a folder of class folders of 16x16 crops), writing `out`.
fn train_cnn_command(data: &std::path::Path, out: &std::path::Path) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_fer"));
    c.arg("train-cnn")
        .args(common::TINY_CNN_ARGS)
        .arg("--data")
        .arg(data)
        .arg("--out")
        .arg(out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    c
}

#[test]
fn vote_targets_teach_a_class_that_the_labels_never_name() {
    // Every crop of class 1 is labelled 0, but its votes say 1.
    let mut train = patterns(40, 21);
    let truth = train.labels.clone();
    train.targets = Some(smoothed_targets(&truth, 3, 0.0));
    for y in train.labels.iter_mut().filter(|y| **y == 1) {
        *y = 0;
    }
    let held_out = patterns(20, 22);
    let params = tiny(16, 8);
    let voted = model_of(&train, 3, &params);
    train.targets = None;
    let labelled = model_of(&train, 3, &params);
    let (r_voted, r_labelled) = (
        recall(&voted, &held_out, 1),
        recall(&labelled, &held_out, 1),
    );
    assert!(
        r_voted > 0.8 && r_labelled < 0.2,
        "class-1 recall: votes {r_voted}, labels {r_labelled}"
    );
    // Targets that do not match the crops are refused.
    train.targets = Some(vec![0.5; 7]);
    let err = fit_cnn(&train, 3, &params, &mut |_, _, _, _| {})
        .err()
        .unwrap();
    assert!(err.to_string().contains("7 targets for 120 crops"), "{err}");
}

#[test]
fn train_cnn_votes_learns_each_listed_images_votes_and_refuses_a_file_listing_none() {
    let dir = tempfile::tempdir().unwrap();
    let set = patterns(10, 31);
    let mut manifest =
        String::from("dataset,path,label_original,label_canonical,subject,split,note\n");
    let mut votes = String::from("path,anger,happiness,sadness\n");
    for (i, (crop, &label)) in set.pixels.chunks(256).zip(&set.labels).enumerate() {
        let name = format!("{i:03}.png");
        image::GrayImage::from_raw(16, 16, crop.to_vec())
            .unwrap()
            .save(dir.path().join(&name))
            .unwrap();
        let class = ["angry", "happy", "sad"][label as usize];
        manifest += &format!("toy,{name},{class},{class},s{i},train,\n");
        if i % 2 == 0 {
            let mut counts = [0; 3];
            counts[label as usize] = 8;
            counts[(label as usize + 1) % 3] = 2;
            votes += &format!("{name},{},{},{}\n", counts[0], counts[1], counts[2]);
        }
    }
    let csv = dir.path().join("manifest.csv");
    std::fs::write(&csv, manifest).unwrap();
    let votes_csv = dir.path().join("votes.csv");
    std::fs::write(&votes_csv, votes).unwrap();
    let out = dir.path().join("cnn.safetensors");
    let run = |votes: &std::path::Path| {
        let mut c = train_cnn_command(&csv, &out);
        c.arg("--votes")
            .arg(votes)
            .stderr(std::process::Stdio::piped());
        let o = c.output().unwrap();
        (
            o.status.success(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (ok, err) = run(&votes_csv);
    assert!(ok, "{err}");
    assert!(
        err.contains("15 crops learn their vote distribution, 15 keep their label"),
        "{err}"
    );
    let t = CnnModel::load(&out).unwrap().header().training.clone();
    assert_eq!(
        t.votes.as_deref(),
        Some(votes_csv.display().to_string().as_str())
    );
    // A vote file that lists none of the images.
    let elsewhere = dir.path().join("elsewhere.csv");
    std::fs::write(
        &elsewhere,
        "path,anger,happiness,sadness\nother/x.png,1,0,0\n",
    )
    .unwrap();
    let (ok, err) = run(&elsewhere);
    assert!(
        !ok && err.contains("none of the 30 training images has a vote"),
        "{err}"
    );
    assert!(err.contains("elsewhere.csv"), "{err}");
}

#[test]
fn train_cnn_with_candles_ops_follows_the_same_curve_as_with_ours() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("crops");
    write_class_folders(&data, &patterns(20, 41));
    let losses = |candle: &str| {
        let out = dir.path().join(format!("cnn-{candle}.safetensors"));
        let status = train_cnn_command(&data, &out)
            .env(fer::model::cpu_ops::CANDLE_OPS_ENV, candle)
            .status()
            .unwrap();
        assert!(status.success());
        CnnModel::load(&out).unwrap().header().training.loss.clone()
    };
    let (ours, candles) = (losses("0"), losses("1"));
    assert_eq!(ours.len(), 6);
    for (a, b) in ours.iter().zip(&candles) {
        assert!(
            (a - b).abs() < 1e-3,
            "losses per epoch: ours {ours:?}, candle's {candles:?}"
        );
    }
    assert_ne!(
        ours, candles,
        "the switch changed nothing: were the same ops run twice?"
    );
}

#[test]
fn train_cnn_killed_mid_run_and_resumed_writes_the_same_file_as_an_uninterrupted_run() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("crops");
    write_class_folders(&data, &patterns(150, 11));
    let whole = dir.path().join("whole.safetensors");
    assert!(train_cnn_command(&data, &whole).status().unwrap().success());
    let ckpt = dir.path().join("whole.safetensors.checkpoint");
    assert!(
        !ckpt.exists(),
        "the checkpoint is removed once the CNN is saved"
    );

    // SIGKILL as soon as the first checkpoint is there, then resume.
    let out = dir.path().join("cnn.safetensors");
    let ckpt = dir.path().join("cnn.safetensors.checkpoint");
    let mut child = train_cnn_command(&data, &out).spawn().unwrap();
    let start = std::time::Instant::now();
    while !ckpt.exists() {
        assert!(
            child.try_wait().unwrap().is_none(),
            "ended before it was killed"
        );
        assert!(
            start.elapsed().as_secs() < 120,
            "no checkpoint after 2 minutes"
        );
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(!out.exists(), "killed before the end, so no CNN yet");
    assert!(is_cnn_file(&whole));
    let status = train_cnn_command(&data, &out)
        .arg("--resume")
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(std::fs::read(&out).unwrap(), std::fs::read(&whole).unwrap());
    assert!(!ckpt.exists());

    // A checkpoint named on the command line must exist.
    let missing = dir.path().join("missing.checkpoint");
    let status = train_cnn_command(&data, &out)
        .arg("--resume")
        .arg(&missing)
        .status()
        .unwrap();
    assert!(!status.success());
}

#[test]
fn a_checkpoint_of_another_run_or_a_damaged_one_is_refused_naming_the_file() {
    let params = tiny(16, 3);
    let data = patterns(6, 8);
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("run.checkpoint");
    let save = Checkpoints {
        save_to: Some(ckpt.clone()),
        resume_from: None,
    };
    fit_cnn_with_checkpoints(&data, None, 3, &params, &save, &mut |_, _, _, _| {}).unwrap();
    let resume = |from: &std::path::Path, params: &ValidCnnParams, data: &CropSet| {
        let c = Checkpoints {
            save_to: None,
            resume_from: Some(from.to_path_buf()),
        };
        fit_cnn_with_checkpoints(data, None, 3, params, &c, &mut |_, _, _, _| {})
            .err()
            .expect("refused")
            .to_string()
    };
    // Other settings, other data.
    let other_seed = CnnParams {
        seed: 7,
        ..(*params).clone()
    }
    .check()
    .unwrap();
    for err in [
        resume(&ckpt, &other_seed, &data),
        resume(&ckpt, &params, &patterns(6, 9)),
    ] {
        assert!(
            err.contains("run.checkpoint") && err.contains("other settings or data"),
            "{err}"
        );
    }
    // Cut short, or not a checkpoint at all (a saved CNN).
    let bytes = std::fs::read(&ckpt).unwrap();
    let cut = dir.path().join("cut.checkpoint");
    std::fs::write(&cut, &bytes[..bytes.len() * 2 / 3]).unwrap();
    let err = resume(&cut, &params, &data);
    assert!(err.contains("cut.checkpoint"), "{err}");
    let model = model_of(&data, 3, &params);
    let cnn = dir.path().join("cnn.safetensors");
    model.save(&cnn).unwrap();
    let err = resume(&cnn, &params, &data);
    assert!(
        err.contains("cnn.safetensors") && err.contains("not a train-cnn checkpoint"),
        "{err}"
    );
}

#[test]
fn corrupt_and_foreign_files_are_refused_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.safetensors");
    std::fs::write(&junk, b"\x10\x00\x00\x00\x00\x00\x00\x00not json at all").unwrap();
    let err = CnnModel::load(&junk)
        .err()
        .expect("junk refused")
        .to_string();
    assert!(err.contains("junk.safetensors"), "{err}");
    assert!(!is_cnn_file(&junk));
    // A feature-model bundle is a fer file, but not a CNN.
    let bundle = common::root().join("models/fer-default.safetensors");
    assert!(!is_cnn_file(&bundle));
    let err = CnnModel::load(&bundle)
        .err()
        .expect("bundle refused")
        .to_string();
    assert!(err.contains("fer-default.safetensors"), "{err}");
    // A CNN whose weights were cut short.
    let model = model_of(&patterns(10, 3), 3, &tiny(16, 2));
    let good = dir.path().join("good.safetensors");
    model.save(&good).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let cut = dir.path().join("cut.safetensors");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let err = CnnModel::load(&cut)
        .err()
        .expect("truncated file refused")
        .to_string();
    assert!(err.contains("cut.safetensors"), "{err}");
}

#[test]
fn reads_held_out_ck_subjects_well_above_chance() {
    let Some(data) = common::shared_data("reads_held_out_ck_subjects_well_above_chance") else {
        return;
    };
    let filter = DataFilter {
        classes: vec!["happy".into(), "surprise".into(), "disgust".into()],
        ..Default::default()
    };
    let samples = dataset::load(&[data.join("ckplus48")], &filter).unwrap();
    let classes = dataset::classes_of(&samples);
    // Every fourth subject is held out: no subject is on both sides.
    let mut subjects: Vec<String> = samples.iter().filter_map(|s| s.subject.clone()).collect();
    subjects.sort();
    subjects.dedup();
    let test_subjects: Vec<&String> = subjects.iter().skip(3).step_by(4).collect();
    let (test, train): (Vec<_>, Vec<_>) = samples.into_iter().partition(|s| {
        s.subject
            .as_ref()
            .is_some_and(|x| test_subjects.contains(&x))
    });
    let pipeline = PipelineConfig {
        detect: fer::stages::detect::DetectConfig {
            whole_image: true,
            ..Default::default()
        },
        ..Default::default()
    };
    let side = 32;
    let (train_set, skipped) =
        crops_from_samples(&train, &classes, &pipeline, side, None, &|| {}).unwrap();
    assert_eq!(skipped, 0);
    let (test_set, _) = crops_from_samples(&test, &classes, &pipeline, side, None, &|| {}).unwrap();
    let params = CnnParams {
        arch: CnnArch {
            input_size: side,
            channels: vec![8, 16, 32],
            groups: 4,
        },
        epochs: 12,
        batch_size: 32,
        lr_per_256: 2e-2,
        warmup_epochs: 1,
        ..Default::default()
    }
    .check()
    .unwrap();
    let model = model_of(&train_set, classes.len(), &params);
    let acc = accuracy(&model, &test_set);
    eprintln!(
        "CK+ happy/surprise/disgust, {} held-out images of {} subjects: {:.1}%",
        test_set.len(),
        test_subjects.len(),
        100.0 * acc
    );
    assert!(acc > 0.6, "held-out accuracy {acc} (chance about 0.33)");
}
