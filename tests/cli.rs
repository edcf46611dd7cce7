//! The `fer` binary as a user runs it: exit codes, stdout rows, stderr messages,
//! and training and evaluation on real data.

mod common;

use std::process::{Command, Output};

fn fer(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_fer"))
        .args(args)
        .current_dir(common::root())
        .output()
        .unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn help_lists_the_commands() {
    let out = fer(&["--help"]);
    assert!(out.status.success());
    let help = text(&out.stdout);
    for cmd in ["batch", "train", "eval", "bench", "compare", "explain"] {
        assert!(help.contains(cmd), "{help}");
    }
}

#[test]
fn batch_on_the_samples_labels_every_face_with_the_shipped_model() {
    let out = fer(&["batch", "data"]);
    let stdout = text(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let mut r = csv::Reader::from_reader(stdout.as_bytes());
    let headers = r.headers().unwrap().clone();
    assert!(headers.iter().any(|h| h == "p_happy") && headers.iter().any(|h| h == "ms_detect"));
    let rows: Vec<csv::StringRecord> = r.records().map(|x| x.unwrap()).collect();
    let status = |name: &str| {
        rows.iter()
            .filter(|r| r[0].ends_with(name))
            .map(|r| r[1].to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(status("justin.jpg"), ["ok"]);
    assert_eq!(status("messi5.jpg"), ["ok"]);
    assert_eq!(status("astronaut.png"), ["ok"]);
    assert_eq!(status("no-faces.jpg"), ["no_face"]);
    assert_eq!(status("chelsea.png"), ["no_face"]);
    // Justin smiles.
    let justin = rows.iter().find(|r| r[0].ends_with("justin.jpg")).unwrap();
    let label = headers.iter().position(|h| h == "label").unwrap();
    assert_eq!(&justin[label], "happy", "{justin:?}");
    assert!(text(&out.stderr).contains("5 files"), "summary on stderr");
}

#[test]
fn batch_exit_status_tells_that_a_file_failed() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(common::sample("justin.jpg"), tmp.path().join("ok.jpg")).unwrap();
    std::fs::write(tmp.path().join("bad.png"), b"garbage").unwrap();
    let out = fer(&["batch", tmp.path().to_str().unwrap(), "--format", "jsonl"]);
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert_eq!(stdout.lines().count(), 2);
    assert!(stdout.contains("\"status\":\"error\"") && stdout.contains("bad.png"));
    assert!(text(&out.stderr).contains("1 failed"));
}

#[test]
fn bad_model_files_stop_at_start_up_with_the_file_named() {
    let tmp = tempfile::tempdir().unwrap();
    let bad = tmp.path().join("broken.safetensors");
    std::fs::write(&bad, b"\x10\x00\x00\x00\x00\x00\x00\x00{\"a\":").unwrap();
    for model in [bad.to_str().unwrap(), "/nonexistent/model.safetensors"] {
        let out = fer(&["batch", "data", "--model", model]);
        assert_eq!(out.status.code(), Some(2));
        let err = text(&out.stderr);
        assert!(err.contains(model), "{err}");
        assert!(out.stdout.is_empty(), "no rows on a start-up error");
    }
}

#[test]
fn resume_without_an_output_file_is_a_usage_error() {
    let out = fer(&["batch", "data", "--resume"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("--out"));
}

#[test]
fn cross_validation_on_ck_plus_is_well_above_chance() {
    let Some(data) = common::shared_data("cross_validation_on_ck_plus_is_well_above_chance") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let plot = tmp.path().join("cm.png");
    let (a, b) = (data.join("ckplus48"), data.join("ckplus48-neutral"));
    let out = fer(&[
        "eval",
        "--cv",
        "3",
        "--group-by",
        "subject",
        "--no-detect",
        "--json",
        "--epochs",
        "30",
        "--classes",
        "happy,surprise,disgust",
        "--data",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--plot",
        plot.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    let acc = report["accuracy"].as_f64().unwrap();
    eprintln!("CK+ happy/surprise/disgust, 3-fold by subject: accuracy {acc:.3}");
    // Chance is 0.39 (the largest class, surprise); subjects never straddle folds.
    assert!(acc > 0.85, "accuracy {acc}");
    assert_eq!(report["samples"].as_u64(), Some(207 + 249 + 177));
    assert!(report["protocol"]
        .as_str()
        .unwrap()
        .contains("grouped by subject"));
    assert_eq!(report["fold_accuracy"].as_array().unwrap().len(), 3);
    assert!(image::open(&plot).is_ok(), "confusion matrix picture");
}

#[test]
fn train_then_eval_on_held_out_subjects() {
    let Some(data) = common::shared_data("train_then_eval_on_held_out_subjects") else {
        return;
    };
    // Manifests of our own, next to a link to the CK+ folder: subjects below S100
    // train, the others test.
    let tmp = tempfile::tempdir().unwrap();
    std::os::unix::fs::symlink(data.join("ckplus48"), tmp.path().join("ckplus48")).unwrap();
    let manifest = std::fs::read_to_string(data.join("MANIFEST.csv")).unwrap();
    let header = manifest.lines().next().unwrap();
    let (mut train, mut test) = (format!("{header}\n"), format!("{header}\n"));
    for line in manifest.lines().skip(1) {
        let f: Vec<&str> = line.split(',').collect();
        if f[0] != "ckplus48" || !["happy", "surprise", "sad"].contains(&f[3]) {
            continue;
        }
        let subject: u32 = f[4][1..].parse().unwrap();
        if subject < 100 { &mut train } else { &mut test }.push_str(&format!("{line}\n"));
    }
    let (train_csv, test_csv, model) = (
        tmp.path().join("train.csv"),
        tmp.path().join("test.csv"),
        tmp.path().join("m.safetensors"),
    );
    std::fs::write(&train_csv, train).unwrap();
    std::fs::write(&test_csv, test).unwrap();
    let curves = tmp.path().join("curves.svg");
    let out = fer(&[
        "train",
        "--no-detect",
        "--epochs",
        "40",
        "--data",
        train_csv.to_str().unwrap(),
        "--out",
        model.to_str().unwrap(),
        "--plot",
        curves.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("by subject"));
    let svg = std::fs::read_to_string(&curves).unwrap();
    assert!(svg.contains("validation accuracy") && svg.contains("kept: epoch"));
    let out = fer(&[
        "eval",
        "--no-detect",
        "--json",
        "--model",
        model.to_str().unwrap(),
        "--data",
        test_csv.to_str().unwrap(),
        "--plot",
        tmp.path().join("cm.png").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    let acc = report["accuracy"].as_f64().unwrap();
    eprintln!(
        "CK+ happy/sad/surprise, subjects >= S100 held out: accuracy {acc:.3} on {} faces",
        report["samples"]
    );
    assert_eq!(report["samples"].as_u64(), Some(189));
    assert!(acc > 0.8, "accuracy {acc}");
    // Without --model, eval reads the default model (cnn-ferplus), as batch does.
    let out = fer(&[
        "eval",
        "--no-detect",
        "--json",
        "--data",
        test_csv.to_str().unwrap(),
        "--plot",
        tmp.path().join("cm-default.png").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    assert!(
        report["protocol"]
            .as_str()
            .unwrap()
            .starts_with("model cnn-ferplus "),
        "{report}"
    );
    assert_eq!(report["samples"].as_u64(), Some(189));
}

#[test]
fn bench_reports_every_stage_and_throughput_against_bare_haar() {
    let out = fer(&[
        "bench",
        "data",
        "--threads",
        "1,2",
        "--repeat",
        "1",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let r: serde_json::Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    assert_eq!(r["images"], 5);
    assert_eq!(r["faces"], 3);
    assert_eq!(r["bare_haar_faces"], 3);
    let stages: Vec<&str> = r["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert_eq!(
        stages,
        [
            "denoise",
            "detect",
            "align",
            "clahe",
            "landmarks",
            "features",
            "classify"
        ]
    );
    let share: f64 = r["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["share"].as_f64().unwrap())
        .sum();
    assert!((share - 1.0).abs() < 1e-6, "shares sum to {share}");
    for s in r["stages"].as_array().unwrap() {
        assert!(s["p50_ms"].as_f64().unwrap() <= s["p95_ms"].as_f64().unwrap());
        assert!(s["p95_ms"].as_f64().unwrap() <= s["max_ms"].as_f64().unwrap());
    }
    let tp = r["throughput"].as_array().unwrap();
    assert_eq!(tp.len(), 2);
    assert!(tp.iter().all(|t| t["images_per_s"].as_f64().unwrap() > 0.0
        && t["ratio_to_bare_haar"].as_f64().unwrap() > 0.0));
    // OpenCV's own threads are measured for the thread counts above one only.
    assert!(tp[0]["opencv_threads_images_per_s"].is_null());
    assert!(tp[1]["opencv_threads_images_per_s"].as_f64().unwrap() > 0.0);
}

#[test]
fn compare_trains_every_kind_on_the_same_folds_and_explain_reads_a_soft_tree_and_a_gnn() {
    let Some(data) = common::shared_data(
        "compare_trains_every_kind_on_the_same_folds_and_explain_reads_a_soft_tree",
    ) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let (json, plot) = (tmp.path().join("cmp.json"), tmp.path().join("cmp.png"));
    let yale = data.join("yalefaces");
    let out = fer(&[
        "compare",
        "--cv",
        "3",
        "--data",
        yale.to_str().unwrap(),
        "--classes",
        "happy,surprise",
        "--forest-trees",
        "20",
        "--deep",
        "mini-xception",
        "--cnn",
        "--cnn-epochs",
        "4",
        "--cnn-channels",
        "8,16",
        "--json",
        json.to_str().unwrap(),
        "--plot",
        plot.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    let cmp: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let rows = cmp["rows"].as_array().unwrap();
    let names: Vec<&str> = rows.iter().map(|r| r["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "mlp",
            "forest",
            "boost",
            "soft-tree",
            "soft-tree-distilled",
            "ndf",
            "dndt",
            "ensemble",
            "logistic",
            "svm",
            "gnn",
            "cnn",
            "mini-xception"
        ]
    );
    for r in rows {
        let name = r["name"].as_str().unwrap();
        assert!(table.contains(name), "{table}");
        assert_eq!(r["fold_accuracy"].as_array().unwrap().len(), 3, "{name}");
        assert_eq!(
            r["report"]["samples"].as_u64(),
            Some(30),
            "{name}: 15 happy + 15 surprised faces"
        );
        assert!(
            r["size_bytes"].as_u64().unwrap() > 0 && r["us_per_face"].as_f64().unwrap() > 0.0,
            "{name}"
        );
        eprintln!("{name}: accuracy {}", r["accuracy"]);
    }
    // Happy against surprised on full frames: the MLP, the ensemble and the CNN are well above chance.
    for name in ["mlp", "ensemble", "mini-xception"] {
        let acc = rows.iter().find(|r| r["name"] == name).unwrap()["accuracy"]
            .as_f64()
            .unwrap();
        assert!(acc > 0.7, "{name}: {acc}");
    }
    assert!(image::open(&plot).is_ok(), "bar chart");

    // A soft tree trained on the same data explains a face of the samples.
    let model = tmp.path().join("tree.safetensors");
    let out = fer(&[
        "train",
        "--model",
        "soft-tree",
        "--depth",
        "3",
        "--data",
        yale.to_str().unwrap(),
        "--classes",
        "happy,surprise",
        "--out",
        model.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let svg = tmp.path().join("why.svg");
    let out = fer(&[
        "explain",
        "data/justin.jpg",
        "--model",
        model.to_str().unwrap(),
        "--picture",
        svg.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let why = text(&out.stdout);
    assert_eq!(why.matches("  node ").count(), 3, "{why}");
    assert!(
        why.contains("leaf") && why.contains("distribution"),
        "{why}"
    );
    assert!(std::fs::read_to_string(&svg).unwrap().starts_with("<svg"));
    // So does the graph network, by the weight of each point.
    let model = tmp.path().join("gnn.safetensors");
    let out = fer(&[
        "train",
        "--model",
        "gnn",
        "--data",
        yale.to_str().unwrap(),
        "--classes",
        "happy,surprise",
        "--out",
        model.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let png = tmp.path().join("why.png");
    let out = fer(&[
        "explain",
        "data/justin.jpg",
        "--model",
        model.to_str().unwrap(),
        "--picture",
        png.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let why = text(&out.stdout);
    assert!(why.contains("points, by weight"), "{why}");
    assert_eq!(why.matches(" of the crop").count(), 21, "{why}");
    assert!(image::open(&png).is_ok(), "the graph picture");
    // The shipped MLP has no path to show.
    let out = fer(&[
        "explain",
        "data/justin.jpg",
        "--model",
        "models/fer-default.safetensors",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("soft-tree, dndt and gnn"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn the_shipped_mini_xception_is_chosen_by_name_and_says_where_it_runs() {
    let out = fer(&[
        "batch",
        "data/justin.jpg",
        "--model",
        "mini-xception",
        "--device",
        "cuda",
        "--format",
        "jsonl",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let row: serde_json::Value =
        serde_json::from_str(text(&out.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(row["label"], "happy", "{row}");
    let stderr = text(&out.stderr);
    if !fer::model::onnx::cuda_available() {
        assert_eq!(
            stderr.matches("runs on the CPU").count(),
            1,
            "one fallback line: {stderr}"
        );
    }
    let out = fer(&["batch", "data/justin.jpg", "--model", "no-such-model"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no-such-model"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn live_reads_a_video_file_and_prints_a_summary_per_track() {
    let out = fer(&["live", "--source", "no/such/video.avi"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("no/such/video.avi: cannot open"),
        "{}",
        text(&out.stderr)
    );
    // The default build has no window: a clear answer, not a crash.
    let out = fer(&["live", "--source", "no/such/video.avi", "--window"]);
    assert_eq!(out.status.code(), Some(2));
    let err = text(&out.stderr);
    assert!(
        err.contains("`window` feature") || err.contains("no display"),
        "{err}"
    );
    let Some(data) = common::shared_data("live_reads_a_video_file_and_prints_a_summary_per_track")
    else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let jsonl = tmp.path().join("t.jsonl");
    let video = data.join("video/Megamind.avi");
    let out = fer(&[
        "live",
        "--source",
        video.to_str().unwrap(),
        "--max-frames",
        "30",
        "--json",
        "--jsonl",
        jsonl.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let summary: serde_json::Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    assert_eq!(summary["frames"], 30);
    let lines = std::fs::read_to_string(&jsonl).unwrap();
    for l in lines.lines() {
        let r: serde_json::Value = serde_json::from_str(l).unwrap();
        assert!(
            r["frame"].as_u64().unwrap() < 30 && r["track"].as_u64().unwrap() >= 1,
            "{r}"
        );
    }
    let frames_line = text(&out.stderr)
        .lines()
        .filter(|l| l.starts_with("frame "))
        .count();
    assert!(
        frames_line >= 1,
        "a readout line at least once a second: {}",
        text(&out.stderr)
    );
}

#[test]
fn live_reads_an_image_sequence_and_ctrl_c_flushes_the_outputs() {
    let tmp = tempfile::tempdir().unwrap();
    let justin = common::read_bgr(&common::sample("justin.jpg"));
    let seq = tmp.path().join("seq");
    std::fs::create_dir_all(&seq).unwrap();
    for i in 0..5 {
        opencv::imgcodecs::imwrite_def(seq.join(format!("{i:04}.png")).to_str().unwrap(), &justin)
            .unwrap();
    }
    let pattern = seq.join("%04d.png");
    let out = fer(&[
        "live",
        "--source",
        pattern.to_str().unwrap(),
        "--json",
        "--min-face",
        "30",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let summary: serde_json::Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    assert_eq!(summary["frames"], 5);
    assert_eq!(summary["tracks"].as_array().unwrap().len(), 1, "{summary}");

    // Ctrl-C in the middle of a long video: outputs closed, summary printed, exit 0.
    let video = tmp.path().join("long.avi");
    common::write_video(&video, &vec![justin.clone(); 400]);
    let jsonl = tmp.path().join("t.jsonl");
    let child = Command::new(env!("CARGO_BIN_EXE_fer"))
        .args([
            "live",
            "--source",
            video.to_str().unwrap(),
            "--jsonl",
            jsonl.to_str().unwrap(),
            "--min-face",
            "30",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let partial = tmp.path().join("t.jsonl.partial");
    let started = std::time::Instant::now();
    while std::fs::metadata(&partial).map_or(0, |m| m.len()) == 0
        && started.elapsed().as_secs() < 30
    {
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    std::thread::sleep(std::time::Duration::from_millis(500));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let frames: u64 = text(&out.stdout)
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        frames > 0 && frames < 400,
        "stopped early: {}",
        text(&out.stdout)
    );
    assert!(
        text(&out.stdout).contains("track 1"),
        "{}",
        text(&out.stdout)
    );
    assert!(!partial.exists(), "the timeline was renamed into place");
    let lines = std::fs::read_to_string(&jsonl).unwrap();
    assert_eq!(
        lines.lines().count() as u64,
        frames,
        "one face in every frame read"
    );
    assert!(lines.ends_with('\n'));
    for l in lines.lines() {
        serde_json::from_str::<serde_json::Value>(l).unwrap();
    }
}

/// Folder-per-class PNGs: `happy` faces are horizontal stripes, `sad` ones vertical.
fn stripe_folders(dir: &std::path::Path, per_class: usize, seed: u32) {
    for (class, horizontal) in [("happy", true), ("sad", false)] {
        std::fs::create_dir_all(dir.join(class)).unwrap();
        for i in 0..per_class {
            let phase = (i as u32 + seed) % 4;
            let img = image::GrayImage::from_fn(32, 32, |x, y| {
                let t = if horizontal { y } else { x };
                let noise = ((x * 7 + y * 13 + i as u32 * 31 + seed) % 40) as u8;
                image::Luma([if (t + phase) % 8 < 4 {
                    180 + noise
                } else {
                    40 + noise
                }])
            });
            img.save(dir.join(class).join(format!("{i}.png"))).unwrap();
        }
    }
}

#[test]
fn train_cnn_then_eval_and_batch_read_its_file() {
    let tmp = tempfile::tempdir().unwrap();
    let (train, test, model) = (
        tmp.path().join("train"),
        tmp.path().join("test"),
        tmp.path().join("cnn.safetensors"),
    );
    stripe_folders(&train, 40, 0);
    stripe_folders(&test, 10, 3);
    let mut args = vec![
        "train-cnn",
        "--data",
        train.to_str().unwrap(),
        "--out",
        model.to_str().unwrap(),
        "--lr",
        "0.02",
        "--git-loss",
        "0.01,0.01",
    ];
    args.extend(common::TINY_CNN_ARGS);
    let out = fer(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("80 crops of 2 classes"),
        "{}",
        text(&out.stderr)
    );
    let out = fer(&[
        "eval",
        "--no-detect",
        "--json",
        "--model",
        model.to_str().unwrap(),
        "--data",
        test.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_str(&text(&out.stdout)).unwrap();
    let acc = report["accuracy"].as_f64().unwrap();
    assert!(acc >= 0.9, "held-out accuracy {acc}");
    let out = fer(&[
        "batch",
        "--no-detect",
        "--model",
        model.to_str().unwrap(),
        test.join("sad").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let rows = text(&out.stdout);
    assert_eq!(rows.lines().count(), 11, "a header and 10 rows: {rows}");
    // Its training curves: loss and training accuracy per epoch.
    let curves = tmp.path().join("cnn-curves.svg");
    let out = fer(&[
        "plot",
        model.to_str().unwrap(),
        "--out",
        curves.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(std::fs::read_to_string(&curves)
        .unwrap()
        .contains("training accuracy"));
    // The CNN teaches an MLP on the same folders (--distill deep).
    let student = tmp.path().join("student.safetensors");
    let out = fer(&[
        "train",
        "--no-detect",
        "--data",
        train.to_str().unwrap(),
        "--out",
        student.to_str().unwrap(),
        "--epochs",
        "5",
        "--distill",
        "deep",
        "--teacher",
        model.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(student.exists());
    // Training settings that make no sense stop before any work, naming the setting;
    // Git loss takes exactly two weights.
    for (setting, named) in [
        (["--groups", "5"], "cnn.groups"),
        (["--git-loss", "0.01"], "--git-loss takes two weights"),
    ] {
        let mut args = vec![
            "train-cnn",
            "--no-detect",
            "--data",
            train.to_str().unwrap(),
            "--out",
            model.to_str().unwrap(),
        ];
        args.extend(setting);
        let out = fer(&args);
        assert_ne!(out.status.code(), Some(0), "{setting:?}");
        assert!(text(&out.stderr).contains(named), "{}", text(&out.stderr));
    }
}

/// Run `fer` with `args`, expect the start-up error exit (2), and return stderr.
fn refused(args: &[&str]) -> String {
    let out = fer(args);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
    stderr
}

#[test]
fn latent_truth_from_two_named_sources_is_saved_printed_and_drawn() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
    stripe_folders(&a, 12, 0);
    stripe_folders(&b, 12, 5);
    let model = tmp.path().join("latent.safetensors");
    let m = model.to_str().unwrap();
    let (pa, pb) = (
        format!("first={}", a.display()),
        format!("second={}", b.display()),
    );
    let a = a.to_str().unwrap();
    let train = ["train", "--no-detect", "--out", m, "--epochs", "3"];
    let out = fer(&[&train[..], &["--latent-truth", "--data", &pa, &pb]].concat());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let plot = tmp.path().join("c.png");
    let plot = plot.to_str().unwrap();
    let out = fer(&[
        "eval",
        "--no-detect",
        "--model",
        m,
        "--data",
        a,
        "--plot",
        plot,
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    for source in ["first", "second"] {
        assert!(
            stdout.contains(&format!("transition of source {source}")),
            "{stdout}"
        );
        let picture = tmp.path().join(format!("c-transition-{source}.png"));
        let img = image::open(&picture).unwrap();
        assert!(img.width() > 100 && img.height() > 100);
    }
    // One source is nonsense for latent truth.
    let e = refused(&[&train[..], &["--latent-truth", "--data", a]].concat());
    assert!(e.contains("needs two or more annotated sources"), "{e}");
    // Votes that are all zero are refused before any image is read.
    let votes = tmp.path().join("votes.csv");
    std::fs::write(
        &votes,
        "path,happiness,sadness,unknown\na/happy/0.png,0,0,10\n",
    )
    .unwrap();
    let e = refused(
        &[
            &train[..],
            &["--votes", votes.to_str().unwrap(), "--data", a],
        ]
        .concat(),
    );
    assert!(
        e.contains("votes.csv") && e.contains("every vote count is zero"),
        "{e}"
    );
    // A class that no source has.
    let e = refused(&[&train[..], &["--classes", "happy,contempt", "--data", a]].concat());
    assert!(e.contains("no source has the class `contempt`"), "{e}");
}

/// The first JSON row of `fer batch data/justin.jpg --model MODEL EXTRA...` (one smiling face).
fn first_row_on_a_smile(model: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "batch",
        "data/justin.jpg",
        "--model",
        model,
        "--format",
        "jsonl",
    ];
    args.extend_from_slice(extra);
    let out = fer(&args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let first = text(&out.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string();
    serde_json::from_str(&first).unwrap()
}

#[test]
fn the_shipped_deep_ensemble_reads_a_smile_and_flip_refuses_a_feature_bundle() {
    let row = first_row_on_a_smile("deep-ensemble-fer", &[]);
    assert_eq!(row["label"], "happy", "{row}");
    let e = refused(&[
        "batch",
        "data/justin.jpg",
        "--model",
        "models/fer-default.safetensors",
        "--tta",
        "flip",
    ]);
    assert!(e.contains("--tta flip is for deep models"), "{e}");
}

#[test]
fn the_shipped_ferplus_cnn_reads_a_smile_over_the_eight_ferplus_classes() {
    let row = first_row_on_a_smile("cnn-ferplus", &[]);
    assert_eq!(row["label"], "happy", "{row}");
    let probabilities = row["probabilities"].as_object().unwrap();
    assert_eq!(probabilities.len(), 8, "{row}");
    assert!(probabilities.contains_key("contempt"), "{row}");
}

#[test]
fn a_model_that_reads_the_box_skips_the_eye_search_and_answers_the_same() {
    // The CNN reads the face box, never the crop the eyes level: the eye search is
    // skipped unless an eye finder is named, and the answer does not move.
    let skipped = first_row_on_a_smile("cnn-ferplus", &[]);
    let searched = first_row_on_a_smile("cnn-ferplus", &["--eye-finder", "cascade"]);
    assert_eq!(skipped["eyes_found"], false, "{skipped}");
    assert_eq!(searched["eyes_found"], true, "{searched}");
    assert_eq!(skipped["probabilities"], searched["probabilities"]);
    assert_eq!(skipped["x"], searched["x"]);
    // The feature bundle aligns its crop on the eyes, so it still looks for them.
    let bundle = first_row_on_a_smile("models/fer-default.safetensors", &[]);
    assert_eq!(bundle["eyes_found"], true, "{bundle}");
}

#[test]
fn plot_draws_a_models_curves_a_timeline_and_a_comparison() {
    let tmp = tempfile::tempdir().unwrap();
    let picture = |args: &[&str], out: &std::path::Path| {
        let mut all = vec!["plot"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--out", out.to_str().unwrap()]);
        let o = fer(&all);
        assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
        image::open(out).unwrap().to_rgb8()
    };
    // The shipped model's training curves, by its name.
    let curves = picture(
        &["models/fer-default.safetensors"],
        &tmp.path().join("c.png"),
    );
    assert_eq!(curves.dimensions(), (800, 480));
    // The committed CK+ comparison.
    let bars = picture(
        &["models/eval/compare-ckplus-cv10.json"],
        &tmp.path().join("b.png"),
    );
    assert_eq!(bars.width(), 900);
    // A timeline: fer batch rows of a video, written by hand.
    let rows = tmp.path().join("rows.csv");
    std::fs::write(
        &rows,
        "file,status,frame,t,faces,face,p_happy,p_sad\nv.avi,ok,1,0.0,1,1,0.9,0.1\nv.avi,ok,2,0.5,1,1,0.2,0.8\n",
    )
    .unwrap();
    let timeline = picture(&[rows.to_str().unwrap()], &tmp.path().join("t.png"));
    assert_eq!(timeline.dimensions(), (1000, 40 + 240));
    // Something it cannot draw is named, with what it can.
    let e = refused(&["plot", "Cargo.toml"]);
    assert!(
        e.contains("Cargo.toml") && e.contains(".safetensors"),
        "{e}"
    );
    // A forest has no curves: train --plot says so before training.
    let e = refused(&[
        "train",
        "--model",
        "forest",
        "--data",
        "data",
        "--out",
        "x.safetensors",
        "--plot",
        "x.png",
    ]);
    assert!(e.contains("one pass"), "{e}");
}

#[test]
fn a_full_search_every_zero_frames_is_refused_by_batch_and_live() {
    let e = refused(&["batch", "data/justin.jpg", "--search-every", "0"]);
    assert!(
        e.contains("search_every") && e.contains("at least 1"),
        "{e}"
    );
    let e = refused(&["live", "--source", "none.avi", "--search-every", "0"]);
    assert!(e.contains("--search-every must be at least 1"), "{e}");
}
