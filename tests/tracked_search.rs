//! Searching less on video (`--search-every K`, `fer::tracked`): a face that enters
//! is found, within K frames when others are already in view and at once in an empty
//! picture; and on a video of moving faces the tracked search keeps the tracks and
//! pooled labels of a full search on every frame.

mod common;

use fer::live::capture::Source;
use fer::live::track::{Pooling, TrackerConfig};
use fer::live::{run, FaceRecord, LiveConfig};
use fer::model::Model;
use fer::workers::PipelinePool;
use opencv::core::{Mat, Rect, Scalar, Vector, CV_8UC3};
use opencv::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::AtomicBool;

/// `fer live` with the shipped model on `video`, a full search every `every` frames:
/// the timeline's lines.
fn timeline(video: &Path, every: u64) -> Vec<FaceRecord> {
    run_live(video, every).0
}

/// The timeline's lines, and how many frames were searched whole.
fn run_live(video: &Path, every: u64) -> (Vec<FaceRecord>, u64) {
    let model = Model::load(&common::root().join("models/fer-default.safetensors")).unwrap();
    let mut cfg = model.header().pipeline;
    cfg.detect.whole_image = false;
    let pool = PipelinePool::new(cfg).unwrap();
    let jsonl = video.with_extension(format!("every-{every}.jsonl"));
    let live = LiveConfig {
        source: Source::Path(video.to_string_lossy().into_owned()),
        tracker: TrackerConfig {
            window: 8,
            pooling: Pooling::Mean,
            ..Default::default()
        },
        jsonl: Some(jsonl.clone()),
        parquet: None,
        record: None,
        max_frames: None,
        search_every: every,
        stall_timeout: fer::live::capture::DEFAULT_STALL_TIMEOUT,
        reconnects: 0,
        window: false,
    };
    let summary = run(&live, &pool, &model, &AtomicBool::new(false), &mut |_| {}).unwrap();
    let lines = std::fs::read_to_string(&jsonl)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (lines, summary.whole_frame_searches)
}

/// A grey canvas of `w` x `h` with `faces` pasted at their (x, y).
fn canvas(w: i32, h: i32, faces: &[(&Mat, i32, i32)]) -> Mat {
    let mut out = Mat::new_rows_cols_with_default(h, w, CV_8UC3, Scalar::all(90.0)).unwrap();
    for (face, x, y) in faces {
        let mut roi = Mat::roi_mut(&mut out, Rect::new(*x, *y, face.cols(), face.rows())).unwrap();
        face.copy_to(&mut roi).unwrap();
    }
    out
}

/// The first frame with a face whose box starts right of `x`.
fn first_frame_right_of(lines: &[FaceRecord], x: i32) -> Option<u64> {
    lines
        .iter()
        .filter(|r| r.bbox[0] > x)
        .map(|r| r.frame)
        .min()
}

#[test]
fn a_face_entering_an_empty_picture_is_found_at_once() {
    // data/justin.jpg after 13 black frames.
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("enters.avi");
    common::write_video(&video, &common::justin_frames(40, 0..13));
    // Searched whole: the 13 empty frames, the first with the face, then the first
    // frame of each later block of `every`.
    for (every, whole) in [(1, 40), (10, 16), (25, 15)] {
        let (lines, searched) = run_live(&video, every);
        assert_eq!(searched, whole, "search every {every}");
        assert_eq!(
            lines.iter().map(|r| r.frame).min(),
            Some(13),
            "search every {every}"
        );
        assert_eq!(lines.len(), 40 - 13, "one face on each frame from 13 on");
    }
}

#[test]
fn a_face_joining_another_is_found_within_k_frames() {
    let Some(data) = common::shared_data("a_face_joining_another_is_found_within_k_frames") else {
        return;
    };
    let left = common::read_bgr(&data.join("yalefaces/happy/subject03.happy.gif"));
    let right = common::read_bgr(&data.join("yalefaces/happy/subject10.happy.gif"));
    // Subject 3 from the start, subject 10 beside it from frame 23.
    const JOINS: u64 = 23;
    let frames: Vec<Mat> = (0..60)
        .map(|i| {
            if i < JOINS {
                canvas(640, 243, &[(&left, 0, 0)])
            } else {
                canvas(640, 243, &[(&left, 0, 0), (&right, 320, 0)])
            }
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("joins.avi");
    common::write_video(&video, &frames);
    assert_eq!(first_frame_right_of(&timeline(&video, 1), 300), Some(JOINS));
    for every in [10, 25] {
        let found = first_frame_right_of(&timeline(&video, every), 300).unwrap();
        // The next full search: the first frame of the next block of `every` frames.
        assert_eq!(found, JOINS.div_ceil(every) * every, "search every {every}");
        assert!(found - JOINS < every);
    }
}

#[test]
fn on_moving_faces_the_tracked_search_keeps_the_full_searchs_tracks_and_labels() {
    let Some(data) = common::shared_data(
        "on_moving_faces_the_tracked_search_keeps_the_full_searchs_tracks_and_labels",
    ) else {
        return;
    };
    let yale = |s: &str| common::read_bgr(&data.join("yalefaces").join(s));
    let pair = |expression: &str| {
        let mut out = Mat::default();
        let faces = Vector::<Mat>::from_iter([
            yale(&format!("{expression}/subject03.{expression}.gif")),
            yale(&format!("{expression}/subject10.{expression}.gif")),
        ]);
        opencv::core::hconcat(&faces, &mut out).unwrap();
        out
    };
    let (happy, surprised) = (pair("happy"), pair("surprised"));
    // Both faces drift right and down by 2 px a frame across a larger canvas;
    // happy for frames 0-39, surprised for 40-79.
    let frames: Vec<Mat> = (0..80)
        .map(|i| {
            let shown = if i < 40 { &happy } else { &surprised };
            canvas(800, 420, &[(shown, 2 * i, i)])
        })
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let video = dir.path().join("moving.avi");
    common::write_video(&video, &frames);
    let full = timeline(&video, 1);
    let tracked = timeline(&video, fer::tracked::DEFAULT_SEARCH_EVERY);
    let by_frame = |lines: &[FaceRecord]| {
        let mut m: BTreeMap<u64, Vec<(u64, String)>> = BTreeMap::new();
        for r in lines {
            m.entry(r.frame)
                .or_default()
                .push((r.track, r.pooled_label.clone()));
        }
        m.values_mut().for_each(|v| v.sort()); // faces come largest first
        m
    };
    let tracks = |lines: &[FaceRecord]| lines.iter().map(|r| r.track).collect::<BTreeSet<_>>();
    assert_eq!(full.len(), 160, "both faces on every frame, full search");
    assert_eq!(
        tracked.len(),
        160,
        "both faces on every frame, tracked search"
    );
    assert_eq!(tracks(&full).len(), 2);
    assert_eq!(tracks(&tracked), tracks(&full), "the same two tracks");
    // The same track and pooled label for each face of each frame.
    assert_eq!(by_frame(&tracked), by_frame(&full));
}
