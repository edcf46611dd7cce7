//! `fer batch` over folders with bad files: every file gets a row, nothing stops
//! the batch, the output is whole, and an interrupted run resumes.

mod common;

use fer::batch::{self, BatchConfig, OutputFormat};
use fer::model::mlp::MlpParams;
use fer::model::{Model, ModelKind, TreeParams};
use fer::rows::LabelledRows;
use fer::train::{fit, FitOptions};
use fer::workers::PipelinePool;
use fer::PipelineConfig;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A small model with the default pipeline's feature layout (trained on noise:
/// these tests check the batch mechanics, not accuracy).
fn tiny_model() -> Model {
    let cfg = PipelineConfig::default();
    let dim = cfg.features.names(cfg.align.size).len();
    let rows = LabelledRows {
        x: (0..40)
            .map(|i| {
                (0..dim)
                    .map(|j| ((i * 31 + j * 17) % 13) as f32 + (i % 2) as f32)
                    .collect()
            })
            .collect(),
        y: (0..40).map(|i| (i % 2) as u32).collect(),
        groups: (0..40).map(|i| format!("g{i}")).collect(),
        mirrored: vec![false; 40],
        sample: (0..40).collect(),
        teacher: None,
        votes: None,
        source: vec![],
        sources: vec![],
        classes: vec!["happy".into(), "sad".into()],
        skipped: 0,
        sets: None,
    };
    let params = MlpParams {
        epochs: 2,
        hidden: vec![8],
        ..Default::default()
    }
    .check()
    .unwrap();
    let trees = TreeParams::default().check().unwrap();
    let opts = FitOptions {
        kind: ModelKind::MLP,
        params,
        trees,
        val_fraction: 0.0,
        pipeline: cfg,
        sources: vec![],
    };
    fit(
        &rows,
        &(0..40).collect::<Vec<_>>(),
        &opts,
        &mut |_, _, _, _| {},
    )
    .unwrap()
}

fn job(inputs: Vec<PathBuf>, out: Option<PathBuf>, format: OutputFormat) -> BatchConfig {
    BatchConfig {
        inputs,
        format,
        out,
        resume: false,
        annotate: None,
        landmarks: false,
        every: 1,
        search_every: fer::tracked::DEFAULT_SEARCH_EVERY,
        files_from: None,
        shard: None,
        video_chunk: fer::batch::shard::VIDEO_CHUNK_FRAMES,
        model: PathBuf::from("test-model"),
    }
}

fn run(cfg: &BatchConfig, model: &Model) -> batch::BatchSummary {
    let pool = PipelinePool::new(model.header().pipeline).unwrap();
    batch::run(cfg, &pool, model, &|| {}, &|_| {}).unwrap()
}

fn csv_rows(path: &Path) -> Vec<BTreeMap<String, String>> {
    let mut r = csv::Reader::from_path(path).unwrap();
    let headers = r.headers().unwrap().clone();
    r.records()
        .map(|rec| {
            headers
                .iter()
                .zip(rec.unwrap().iter())
                .map(|(h, v)| (h.to_string(), v.to_string()))
                .collect()
        })
        .collect()
}

/// A folder with two good photos and every kind of bad file.
fn messy_folder(dir: &Path) -> usize {
    let good = std::fs::read(common::sample("justin.jpg")).unwrap();
    std::fs::write(dir.join("good.jpg"), &good).unwrap();
    std::fs::copy(common::sample("no-faces.jpg"), dir.join("landscape.jpg")).unwrap();
    std::fs::write(dir.join("empty.png"), b"").unwrap();
    std::fs::write(dir.join("truncated.jpg"), &good[..good.len() / 3]).unwrap();
    let png = std::fs::read(common::sample("astronaut.png")).unwrap();
    std::fs::write(dir.join("truncated.png"), &png[..png.len() / 2]).unwrap();
    std::fs::write(dir.join("text.png"), b"not an image at all").unwrap();
    let mut one = Vec::new();
    image::DynamicImage::new_luma8(1, 1)
        .write_to(&mut std::io::Cursor::new(&mut one), image::ImageFormat::Png)
        .unwrap();
    std::fs::write(dir.join("one-pixel.png"), one).unwrap();
    std::fs::write(
        dir.join("huge.png"),
        common::png_header_only(100_000, 100_000),
    )
    .unwrap();
    std::fs::write(dir.join("readme.txt"), b"ignored: not an image extension").unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        let name = std::ffi::OsStr::from_bytes(b"caf\xe9-not-utf8.jpg");
        std::fs::write(dir.join(name), &good).unwrap();
        std::fs::create_dir(dir.join("nested")).unwrap();
        std::os::unix::fs::symlink("..", dir.join("nested/loop")).unwrap();
    }
    10 // image files, the loop's error included
}

#[test]
fn a_batch_goes_on_past_every_bad_file() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let expected_files = messy_folder(&input);
    let out = tmp.path().join("rows.csv");
    let model = tiny_model();
    let summary = run(
        &job(vec![input.clone()], Some(out.clone()), OutputFormat::Csv),
        &model,
    );
    assert!(out.exists() && !tmp.path().join("rows.csv.partial").exists());
    let rows = csv_rows(&out);
    let by_file = |suffix: &str| {
        rows.iter()
            .filter(|r| r["file"].ends_with(suffix))
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(summary.files, expected_files, "{rows:#?}");
    let ok = by_file("good.jpg");
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0]["status"], "ok");
    assert!(["happy", "sad"].contains(&ok[0]["label"].as_str()));
    assert_eq!(by_file("landscape.jpg")[0]["status"], "no_face");
    assert_eq!(by_file("one-pixel.png")[0]["status"], "no_face");
    for (file, reason) in [
        ("empty.png", "empty file"),
        ("truncated.jpg", "truncated JPEG"),
        ("truncated.png", "Png"),
        ("text.png", "not a recognised image format"),
        ("huge.png", "over the limit"),
    ] {
        let r = by_file(file);
        assert_eq!(r.len(), 1, "{file}");
        assert_eq!(r[0]["status"], "error", "{file}");
        assert!(
            r[0]["error"].contains(reason) && r[0]["error"].contains(file),
            "{file}: {}",
            r[0]["error"]
        );
    }
    assert!(
        by_file("readme.txt").is_empty(),
        "non-image files in folders are skipped"
    );
    #[cfg(unix)]
    {
        let odd = rows
            .iter()
            .find(|r| r["file"].contains("not-utf8"))
            .expect("non-UTF-8 name gets a row");
        assert_eq!(odd["status"], "ok");
        assert!(
            odd["file"].contains('\u{FFFD}'),
            "name shown lossily: {}",
            odd["file"]
        );
        let lp = rows
            .iter()
            .find(|r| r["file"].ends_with("loop"))
            .expect("symlink loop gets a row");
        assert_eq!(lp["status"], "error");
        assert!(lp["error"].contains("loop"), "{}", lp["error"]);
    }
    assert_eq!(summary.errors, 6, "5 bad files and the loop");
}

#[cfg(unix)]
#[test]
fn an_unreadable_folder_is_an_error_row_not_a_stop() {
    use std::os::unix::fs::PermissionsExt;
    let tmp = tempfile::tempdir().unwrap();
    std::fs::copy(common::sample("justin.jpg"), tmp.path().join("a.jpg")).unwrap();
    let locked = tmp.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::copy(common::sample("justin.jpg"), locked.join("b.jpg")).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    // Root reads a mode-000 folder; then link to a folder even root may not list.
    let mut unreadable = locked.clone();
    if std::fs::read_dir(&locked).is_ok() {
        std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::fs::remove_dir_all(&locked).unwrap();
        match ["/proc/1/map_files", "/proc/1/root"]
            .into_iter()
            .find(|p| std::fs::read_dir(p).is_err())
        {
            Some(target) => {
                unreadable = tmp.path().join("locked");
                std::os::unix::fs::symlink(target, &unreadable).unwrap();
            }
            None => {
                use std::io::Write;
                let _ = writeln!(std::io::stderr(), "SKIPPED an_unreadable_folder_is_an_error_row_not_a_stop: no folder here is unreadable to this user");
                return;
            }
        }
    }
    let out = tmp.path().join("rows.jsonl");
    let summary = run(
        &job(
            vec![tmp.path().to_path_buf()],
            Some(out.clone()),
            OutputFormat::Jsonl,
        ),
        &tiny_model(),
    );
    if unreadable.is_dir() && !unreadable.is_symlink() {
        std::fs::set_permissions(&unreadable, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let text = std::fs::read_to_string(&out).unwrap();
    let rows: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(rows
        .iter()
        .any(|r| r["file"].as_str().unwrap().ends_with("a.jpg") && r["status"] == "ok"));
    let err = rows
        .iter()
        .find(|r| r["status"] == "error")
        .expect("error row for the folder");
    assert!(err["file"].as_str().unwrap().contains("locked"), "{err}");
    assert!(
        err["error"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("permission"),
        "{err}"
    );
    assert_eq!(summary.errors, 1);
}

fn copies(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir).unwrap();
    let bytes = std::fs::read(common::sample("justin.jpg")).unwrap();
    let none = std::fs::read(common::sample("no-faces.jpg")).unwrap();
    for i in 0..n {
        std::fs::write(
            dir.join(format!("img{i:02}.jpg")),
            if i % 3 == 2 { &none } else { &bytes },
        )
        .unwrap();
    }
}

#[test]
fn an_interrupted_csv_batch_resumes_without_losing_or_repeating_rows() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    copies(&input, 9);
    let model = tiny_model();
    let full = tmp.path().join("full.csv");
    run(
        &job(vec![input.clone()], Some(full.clone()), OutputFormat::Csv),
        &model,
    );
    let full_text = std::fs::read_to_string(&full).unwrap();
    let lines: Vec<&str> = full_text.lines().collect();
    assert_eq!(lines.len(), 10, "header and 9 rows");
    // A crash after 4 rows, in the middle of the 5th.
    let out = tmp.path().join("out.csv");
    let mut partial = lines[..5].join("\n");
    partial.push('\n');
    partial.push_str(&lines[5][..lines[5].len() / 2]);
    std::fs::write(tmp.path().join("out.csv.partial"), partial).unwrap();
    let mut cfg = job(vec![input.clone()], Some(out.clone()), OutputFormat::Csv);
    cfg.resume = true;
    let summary = run(&cfg, &model);
    assert_eq!(summary.resumed, 4);
    assert_eq!(summary.files, 5);
    let rows = csv_rows(&out);
    let mut files: Vec<String> = rows.iter().map(|r| r["file"].clone()).collect();
    files.sort();
    files.dedup();
    assert_eq!(rows.len(), 9, "every file once");
    assert_eq!(files.len(), 9);
    assert!(!tmp.path().join("out.csv.partial").exists());
    // Resuming a finished output re-reads nothing.
    let summary = run(&cfg, &model);
    assert_eq!((summary.resumed, summary.files), (9, 0));
    assert_eq!(csv_rows(&out).len(), 9);
}

#[test]
fn resume_drops_a_file_whose_face_rows_were_cut_short() {
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    copies(&input, 3);
    let model = tiny_model();
    let out = tmp.path().join("out.jsonl");
    run(
        &job(vec![input.clone()], Some(out.clone()), OutputFormat::Jsonl),
        &model,
    );
    let text = std::fs::read_to_string(&out).unwrap();
    // Claim the first file had 2 faces while only 1 row was written: it must be redone.
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let mut first: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    first["faces"] = serde_json::json!(2);
    lines[0] = first.to_string();
    std::fs::write(
        tmp.path().join("out.jsonl.partial"),
        lines.join("\n") + "\n",
    )
    .unwrap();
    std::fs::remove_file(&out).unwrap();
    let mut cfg = job(vec![input], Some(out.clone()), OutputFormat::Jsonl);
    cfg.resume = true;
    let summary = run(&cfg, &model);
    assert_eq!((summary.resumed, summary.files), (2, 1));
    let rows: Vec<serde_json::Value> = std::fs::read_to_string(&out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|r| r["faces"].as_u64() != Some(2)));
}

#[test]
fn jsonl_rows_carry_boxes_probabilities_landmarks_and_timings_and_images_are_annotated() {
    let tmp = tempfile::tempdir().unwrap();
    let model = tiny_model();
    let mut cfg = job(
        vec![common::sample("justin.jpg"), common::sample("messi5.jpg")],
        Some(tmp.path().join("o.jsonl")),
        OutputFormat::Jsonl,
    );
    cfg.landmarks = true;
    cfg.annotate = Some(tmp.path().join("ann"));
    run(&cfg, &model);
    let text = std::fs::read_to_string(tmp.path().join("o.jsonl")).unwrap();
    let row: serde_json::Value = text
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|r| r["file"].as_str().unwrap().ends_with("justin.jpg"))
        .unwrap();
    assert_eq!(row["status"], "ok");
    assert_eq!(row["faces"], 1);
    assert!(row["box"]["w"].as_i64().unwrap() > 100);
    let probs = row["probabilities"].as_object().unwrap();
    assert_eq!(probs.len(), 2);
    assert!((probs.values().map(|v| v.as_f64().unwrap()).sum::<f64>() - 1.0).abs() < 1e-3);
    assert_eq!(row["landmarks"].as_object().unwrap().len(), 21);
    assert!(row["ms"]["detect"].as_f64().unwrap() > 0.0);
    let ann = |name: &str| {
        let p = std::fs::read_dir(tmp.path().join("ann"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().contains(name))
            .unwrap();
        image::open(p).unwrap().to_rgb8()
    };
    assert_eq!(ann("justin").dimensions(), (381, 384));
    // One extension per name: the source's own, unless PNG, becomes part of the stem.
    let names = common::file_names(&tmp.path().join("ann"));
    assert!(
        names
            .iter()
            .all(|n| n.ends_with("_jpg.png") && n.matches('.').count() == 1),
        "{names:?}"
    );
    assert_eq!(
        fer::batch::annotated_name(std::path::Path::new("data/astronaut.png")),
        "data__astronaut.png"
    );
    // A colour photo is annotated in colour: some pixels are far from grey.
    let messi = ann("messi5");
    assert!(
        messi
            .pixels()
            .filter(|p| (p[0] as i32 - p[2] as i32).abs() > 60)
            .count()
            > 1000
    );
}

#[test]
fn videos_give_rows_per_sampled_frame_and_resume_by_frame() {
    let tmp = tempfile::tempdir().unwrap();
    // 20 frames at 25 per second: the face, except frames 10-14.
    let frames = common::justin_frames(20, 10..15);
    let input = tmp.path().join("in");
    std::fs::create_dir_all(&input).unwrap();
    common::write_video(&input.join("clip.avi"), &frames);
    std::fs::write(input.join("broken.mp4"), b"not a video").unwrap();
    let model = tiny_model();
    let full = tmp.path().join("full.csv");
    let mut cfg = job(vec![input.clone()], Some(full.clone()), OutputFormat::Csv);
    cfg.every = 2;
    let summary = run(&cfg, &model);
    assert_eq!(
        (summary.files, summary.errors),
        (2, 1),
        "the folder's video and the broken one"
    );
    let rows = csv_rows(&full);
    let clip: Vec<&BTreeMap<String, String>> = rows
        .iter()
        .filter(|r| r["file"].ends_with("clip.avi"))
        .collect();
    let frames_seen: Vec<u64> = clip.iter().map(|r| r["frame"].parse().unwrap()).collect();
    assert_eq!(frames_seen, (0..20).step_by(2).collect::<Vec<u64>>());
    for r in &clip {
        let frame: u64 = r["frame"].parse().unwrap();
        let expect = if (10..15).contains(&frame) {
            "no_face"
        } else {
            "ok"
        };
        assert_eq!(r["status"], expect, "{r:?}");
        assert_eq!(r["t"], format!("{:.3}", frame as f64 / 25.0));
    }
    let broken = rows
        .iter()
        .find(|r| r["file"].ends_with("broken.mp4"))
        .unwrap();
    assert_eq!(broken["status"], "error");
    assert!(broken["error"].contains("broken.mp4"), "{broken:?}");

    // A crash partway through the video's rows: the header and its first 4 frames survive.
    let text = std::fs::read_to_string(&full).unwrap();
    let lines: Vec<&str> = text.lines().filter(|l| !l.contains("broken.mp4")).collect();
    let out = tmp.path().join("out.csv");
    std::fs::write(
        tmp.path().join("out.csv.partial"),
        format!("{}\n{}", lines[..5].join("\n"), &lines[5][..10]),
    )
    .unwrap();
    let mut cfg = job(
        vec![input.join("clip.avi")],
        Some(out.clone()),
        OutputFormat::Csv,
    );
    cfg.every = 2;
    cfg.resume = true;
    run(&cfg, &model);
    let rows = csv_rows(&out);
    let frames_after: Vec<u64> = rows.iter().map(|r| r["frame"].parse().unwrap()).collect();
    let mut sorted = frames_after.clone();
    sorted.sort();
    assert_eq!(sorted, frames_seen, "each sampled frame exactly once");
    assert_eq!(
        &frames_after[..4],
        &[0, 2, 4, 6],
        "the frames already written are kept, not redone"
    );
}

#[test]
fn resuming_a_finished_batch_repeats_no_failure_row() {
    // Failures of every origin: unreadable images, a folder loop found while
    // listing, and a video that cannot be opened.
    let tmp = tempfile::tempdir().unwrap();
    let input = tmp.path().join("in");
    std::fs::create_dir(&input).unwrap();
    messy_folder(&input);
    std::fs::write(input.join("broken.avi"), b"not a video").unwrap();
    let model = tiny_model();
    let out = tmp.path().join("out.csv");
    let mut cfg = job(vec![input.clone()], Some(out.clone()), OutputFormat::Csv);
    let first = run(&cfg, &model);
    let sorted = |mut rows: Vec<BTreeMap<String, String>>| {
        rows.sort();
        rows
    };
    let before = sorted(csv_rows(&out));
    assert!(before
        .iter()
        .any(|r| r["file"].ends_with("broken.avi") && r["status"] == "error"));
    assert!(before.iter().any(|r| r["error"].contains("loop")));
    cfg.resume = true;
    let again = run(&cfg, &model);
    assert_eq!(again.files, 0, "nothing read again");
    assert_eq!(
        again.errors, first.errors,
        "the failures carried over still count, so the exit status is the same"
    );
    assert_eq!(again.resumed, first.files);
    // Resume carries rows grouped by file, so only the order may change.
    assert_eq!(
        sorted(csv_rows(&out)),
        before,
        "the same rows, none repeated"
    );
}
