//! `fer live` on videos made inside the tests from real face images: tracks keep
//! their IDs, pooled labels follow the expressions, the timeline and the
//! recording are written whole; sources that cannot be opened are refused.

mod common;

use fer::live::capture::Source;
use fer::live::track::{Pooling, TrackerConfig};
use fer::live::{run, FaceRecord, LiveConfig};
use fer::model::Model;
use fer::workers::PipelinePool;
use opencv::core::{Mat, Vector};
use opencv::prelude::*;
use std::path::Path;
use std::sync::atomic::AtomicBool;

fn side_by_side(a: &Mat, b: &Mat) -> Mat {
    let mut out = Mat::default();
    opencv::core::hconcat(&Vector::<Mat>::from_iter([a.clone(), b.clone()]), &mut out).unwrap();
    out
}

/// A 40-frame video of Yale subjects 3 and 10 side by side: happy for frames
/// 0-19, surprised for 20-39.
fn happy_then_surprised(data: &Path, video: &Path) {
    let yale = |s: &str| common::read_bgr(&data.join("yalefaces").join(s));
    let happy = side_by_side(
        &yale("happy/subject03.happy.gif"),
        &yale("happy/subject10.happy.gif"),
    );
    let surprised = side_by_side(
        &yale("surprised/subject03.surprised.gif"),
        &yale("surprised/subject10.surprised.gif"),
    );
    let frames: Vec<Mat> = (0..40)
        .map(|i| {
            if i < 20 {
                happy.clone()
            } else {
                surprised.clone()
            }
        })
        .collect();
    common::write_video(video, &frames);
}

/// In [`happy_then_surprised`]'s timeline, once the 8-frame window holds one
/// expression only, every track's pooled label is that expression.
fn pooled_labels_follow_the_expressions(lines: &[FaceRecord]) {
    for r in lines {
        let expect = match r.frame {
            8..=19 => "happy",
            28..=39 => "surprise",
            _ => continue,
        };
        assert_eq!(
            r.pooled_label, expect,
            "frame {} track {}: {r:?}",
            r.frame, r.track
        );
    }
}

fn shipped_model() -> (Model, PipelinePool) {
    let model = Model::load(&common::root().join("models/fer-default.safetensors")).unwrap();
    // The shipped model was trained on pre-cropped faces; video frames need detection.
    let mut cfg = model.header().pipeline;
    cfg.detect.whole_image = false;
    let pool = PipelinePool::new(cfg).unwrap();
    (model, pool)
}

fn config(source: &Path, jsonl: Option<&Path>, record: Option<&Path>) -> LiveConfig {
    LiveConfig {
        source: Source::Path(source.to_string_lossy().into_owned()),
        tracker: TrackerConfig {
            window: 8,
            pooling: Pooling::Mean,
            ..Default::default()
        },
        jsonl: jsonl.map(Path::to_path_buf),
        parquet: None,
        record: record.map(Path::to_path_buf),
        max_frames: None,
        search_every: fer::tracked::DEFAULT_SEARCH_EVERY,
        stall_timeout: fer::live::capture::DEFAULT_STALL_TIMEOUT,
        reconnects: 0,
        window: false,
    }
}

#[test]
fn two_faces_keep_their_tracks_and_pooled_labels_follow_the_expressions() {
    let Some(data) =
        common::shared_data("two_faces_keep_their_tracks_and_pooled_labels_follow_the_expressions")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (video, jsonl, record) = (
        dir.path().join("in.avi"),
        dir.path().join("t.jsonl"),
        dir.path().join("out.avi"),
    );
    happy_then_surprised(&data, &video);
    let (model, pool) = shipped_model();
    let summary = run(
        &config(&video, Some(&jsonl), Some(&record)),
        &pool,
        &model,
        &AtomicBool::new(false),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(summary.frames, 40);
    assert_eq!(summary.dropped, 0, "a file is read frame by frame");
    let lines: Vec<FaceRecord> = std::fs::read_to_string(&jsonl)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 80, "two faces in each of 40 frames");
    assert!(!dir.path().join("t.jsonl.partial").exists());
    // Each side keeps one track ID the whole time.
    for (side, left) in [("left", true), ("right", false)] {
        let ids: std::collections::BTreeSet<u64> = lines
            .iter()
            .filter(|r| (r.bbox[0] < 320) == left)
            .map(|r| r.track)
            .collect();
        assert_eq!(ids.len(), 1, "{side} face changed track: {ids:?}");
    }
    assert_eq!(summary.tracks.len(), 2);
    // Pooled labels once the window has filled: happy, then surprise.
    pooled_labels_follow_the_expressions(&lines);
    for r in &lines {
        assert!(
            (r.t - r.frame as f64 / 25.0).abs() < 1e-6,
            "timestamps from the frame rate"
        );
    }
    for t in &summary.tracks {
        let share = |c: &str| {
            t.share
                .iter()
                .find(|(n, _)| n == c)
                .map_or(0.0, |(_, v)| *v)
        };
        assert!(share("happy") > 0.4 && share("surprise") > 0.3, "{t:?}");
    }
    // The recording has every frame.
    let mut cap = opencv::videoio::VideoCapture::from_file(
        record.to_str().unwrap(),
        opencv::videoio::CAP_ANY,
    )
    .unwrap();
    let n = cap.get(opencv::videoio::CAP_PROP_FRAME_COUNT).unwrap();
    assert_eq!(n as u64, 40);
    let mut first = Mat::default();
    assert!(cap.read(&mut first).unwrap() && first.cols() == 640);
}

#[test]
fn a_still_face_is_one_track_and_frames_without_faces_keep_it_alive() {
    // 10 frames of the face, 5 empty frames, 10 of the face again.
    let frames = common::justin_frames(25, 10..15);
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("still.avi");
    common::write_video(&video, &frames);
    let (model, pool) = shipped_model();
    let mut seen = Vec::new();
    let summary = run(
        &config(&video, None, None),
        &pool,
        &model,
        &AtomicBool::new(false),
        &mut |r| seen.push(r.faces.len()),
    )
    .unwrap();
    assert_eq!(seen, [vec![1; 10], vec![0; 5], vec![1; 10]].concat());
    assert_eq!(summary.tracks.len(), 1, "{:?}", summary.tracks);
    assert_eq!(summary.tracks[0].frames, 20);
    // max_frames stops early; a set stop flag stops at once.
    let mut cfg = config(&video, None, None);
    cfg.max_frames = Some(3);
    assert_eq!(
        run(&cfg, &pool, &model, &AtomicBool::new(false), &mut |_| {})
            .unwrap()
            .frames,
        3
    );
    assert_eq!(
        run(
            &config(&video, None, None),
            &pool,
            &model,
            &AtomicBool::new(true),
            &mut |_| {}
        )
        .unwrap()
        .frames,
        0
    );
}

#[test]
fn sources_that_cannot_be_opened_are_named_in_the_error() {
    let (model, pool) = shipped_model();
    let dir = tempfile::tempdir().unwrap();
    let error_of = |cfg: &LiveConfig| {
        run(cfg, &pool, &model, &AtomicBool::new(false), &mut |_| {})
            .unwrap_err()
            .to_string()
    };
    let missing = dir.path().join("missing.avi");
    let err = error_of(&config(&missing, None, None));
    assert!(
        err.contains("missing.avi") && err.contains("cannot open"),
        "{err}"
    );
    let not_video = dir.path().join("notes.avi");
    std::fs::write(&not_video, b"this is not a video").unwrap();
    let err = error_of(&config(&not_video, None, None));
    assert!(err.contains("notes.avi"), "{err}");
    let mut cfg = config(&missing, None, None);
    cfg.source = Source::Camera(97);
    let err = error_of(&cfg);
    assert!(err.contains("camera 97"), "{err}");
}

#[test]
fn the_parquet_timeline_holds_the_jsonl_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let (video, jsonl, parquet) = (
        dir.path().join("in.avi"),
        dir.path().join("t.jsonl"),
        dir.path().join("t.parquet"),
    );
    common::write_video(&video, &common::justin_frames(12, 4..6));
    let (model, pool) = shipped_model();
    let mut cfg = config(&video, Some(&jsonl), None);
    cfg.parquet = Some(parquet.clone());
    run(&cfg, &pool, &model, &AtomicBool::new(false), &mut |_| {}).unwrap();
    let lines: Vec<FaceRecord> = std::fs::read_to_string(&jsonl)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 10, "Justin in 10 of 12 frames");
    let columns = fer::live::columns::read_timeline(&parquet)
        .unwrap()
        .unwrap();
    assert_eq!(columns, lines);
    assert!(!dir.path().join("t.parquet.partial").exists());
    // `fer plot` reads it as it reads the JSONL.
    let a = fer::timeline::Timeline::load(&jsonl).unwrap();
    let b = fer::timeline::Timeline::load(&parquet).unwrap();
    assert_eq!(a, b);
}

#[test]
fn learned_pooling_reads_each_track_with_a_set_model() {
    let Some(data) = common::shared_data("learned_pooling_reads_each_track_with_a_set_model")
    else {
        return;
    };
    // A set model of happy and surprised Yale faces, without the two subjects of the video.
    let filter = fer::dataset::DataFilter {
        datasets: vec!["yalefaces".into()],
        classes: vec!["happy".into(), "surprise".into()],
        set_by: Some(fer::sets::SetBy::Column("subject".into())),
        ..Default::default()
    };
    let mut samples = fer::dataset::load(&[data.join("MANIFEST.csv")], &filter).unwrap();
    samples.retain(|s| !matches!(s.subject.as_deref(), Some("subject03" | "subject10")));
    let (model, pool) = shipped_model();
    let cfg = *pool.config();
    let rows = fer::rows::labelled_rows(&samples, cfg, true, &|| {}).unwrap();
    let opts = fer::train::FitOptions::new(
        "set-mean".parse().unwrap(),
        cfg,
        fer::model::mlp::MlpParams::default(),
        fer::model::TreeParams::default(),
        0.1,
        vec!["yalefaces".into()],
    )
    .unwrap();
    let all: Vec<usize> = (0..rows.x.len()).collect();
    let set_model = fer::train::fit(&rows, &all, &opts, &mut |_, _, _, _| {}).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (video, jsonl) = (dir.path().join("in.avi"), dir.path().join("t.jsonl"));
    happy_then_surprised(&data, &video);
    let mut cfg = config(&video, Some(&jsonl), None);
    cfg.tracker.pooling = Pooling::Learned;
    // A model that does not pool sets is refused, naming what is needed.
    let err = run(&cfg, &pool, &model, &AtomicBool::new(false), &mut |_| {}).unwrap_err();
    assert!(err.to_string().contains("set model"), "{err}");
    let summary = run(
        &cfg,
        &pool,
        &set_model,
        &AtomicBool::new(false),
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(summary.frames, 40);
    let lines: Vec<FaceRecord> = std::fs::read_to_string(&jsonl)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 80, "two faces in each of 40 frames");
    // Once the window holds one expression only, the set reads it.
    pooled_labels_follow_the_expressions(&lines);
    // The set's reading is not the mean of the frames' probabilities.
    let differs = lines.iter().filter(|r| r.frame >= 20).any(|r| {
        r.pooled
            .iter()
            .zip(&r.raw)
            .any(|(p, q)| (p - q).abs() > 1e-3)
    });
    assert!(differs, "pooled equals raw in every mixed window");
}
