//! Face and eye detection on real images.

mod common;

use fer::stages::decode::{decode_file, DecodeConfig};
use fer::stages::denoise::{denoise, DenoiseConfig};
use fer::stages::detect::{DetectConfig, Detector, EyeSearch, Search};
use fer::GrayImage;
use std::collections::BTreeMap;
use std::path::Path;

fn prepared(path: &Path) -> GrayImage {
    let img = decode_file(path, &DecodeConfig::default()).unwrap();
    // The pipeline detects on the denoised image (see `pipeline.rs`).
    denoise(&img, &DenoiseConfig::default()).unwrap()
}

#[test]
fn finds_the_one_face_in_justin_with_both_eyes() {
    let mut det = Detector::new(DetectConfig::default()).unwrap();
    let faces = det
        .detect(&prepared(&common::sample("justin.jpg")))
        .unwrap();
    assert_eq!(faces.len(), 1, "{faces:?}");
    let [x, y, w, h] = faces[0].bbox;
    // The face spans roughly x 90..285, y 80..275 in this 381x384 photo.
    assert!(
        (70..=110).contains(&x) && (60..=100).contains(&y),
        "box {:?}",
        faces[0].bbox
    );
    assert!(
        (160..=230).contains(&w) && w == h,
        "box {:?}",
        faces[0].bbox
    );
    let [l, r] = faces[0].eyes.expect("both eyes found");
    assert!(l[0] < r[0], "left eye is left of right eye");
    assert!(
        (l[1] - r[1]).abs() < 0.1 * w as f32,
        "eyes level: {l:?} {r:?}"
    );
    assert!(
        l[1] > y as f32 && l[1] < (y + h / 2) as f32,
        "eyes in the upper half"
    );
}

#[test]
fn eye_searches_are_checked_and_boxes_off_the_frame_find_no_eyes() {
    let img = prepared(&common::sample("justin.jpg"));
    let mut det = Detector::new(DetectConfig::default()).unwrap();
    let bbox = det.detect_boxes(&img).unwrap()[0];
    let default = EyeSearch::default();
    assert_eq!(
        det.find_eyes_with(&img, bbox, &default).unwrap(),
        det.find_eyes(&img, bbox).unwrap()
    );
    for bad in [
        EyeSearch {
            size: (0.4, 0.1),
            ..default
        },
        EyeSearch {
            size: (0.0, 0.4),
            ..default
        },
        EyeSearch {
            size: (0.1, 1.5),
            ..default
        },
        EyeSearch {
            width: 30,
            ..default
        }, // largest eye under the 20-pixel window
        EyeSearch {
            band: (0.6, 0.12),
            ..default
        },
        EyeSearch {
            band: (-0.1, 0.6),
            ..default
        },
        EyeSearch {
            min_neighbors: -1,
            ..default
        },
    ] {
        let err = det.find_eyes_with(&img, bbox, &bad).unwrap_err();
        assert!(err.to_string().contains("eye_search"), "{bad:?}: {err}");
    }
    let (w, h) = (img.width() as i32, img.height() as i32);
    for outside in [
        [-20, 10, 100, 100],
        [10, -40, 100, 100],
        [w - 50, 10, 100, 100],
        [10, h - 20, 100, 100],
    ] {
        assert_eq!(det.find_eyes(&img, outside).unwrap(), None, "{outside:?}");
    }
}

#[test]
fn finds_no_face_where_there_is_none() {
    let mut det = Detector::new(DetectConfig::default()).unwrap();
    for name in ["no-faces.jpg", "chelsea.png"] {
        let faces = det.detect(&prepared(&common::sample(name))).unwrap();
        assert!(faces.is_empty(), "{name}: {faces:?}");
    }
}

#[test]
fn whole_image_mode_returns_the_image_as_one_face() {
    let cfg = DetectConfig {
        whole_image: true,
        ..Default::default()
    };
    let mut det = Detector::new(cfg).unwrap();
    let img = prepared(&common::sample("chelsea.png"));
    let faces = det.detect(&img).unwrap();
    assert_eq!(faces.len(), 1);
    assert_eq!(
        faces[0].bbox,
        [0, 0, img.width() as i32, img.height() as i32]
    );
}

#[test]
fn downscaled_detection_finds_the_same_face() {
    let img = prepared(&common::sample("justin.jpg"));
    let full = Detector::new(DetectConfig::default())
        .unwrap()
        .detect_boxes(&img)
        .unwrap();
    let cfg = DetectConfig {
        max_side: 200,
        min_size: 80,
        ..Default::default()
    };
    let small = Detector::new(cfg).unwrap().detect_boxes(&img).unwrap();
    assert_eq!(small.len(), 1);
    assert!(
        common::iou(full[0], small[0]) > 0.7,
        "{full:?} vs {small:?}"
    );
}

#[test]
fn downscaling_keeps_the_minimum_face_size_in_original_pixels() {
    // Messi's face is 37 px wide in a 548x342 photo. Shrinking the photo to 200 px
    // would make it 13 px, below the 24 px cascade window; the detector shrinks only
    // as far as a 30 px face stays findable.
    let img = prepared(&common::sample("messi5.jpg"));
    let cfg = DetectConfig {
        max_side: 200,
        ..Default::default()
    };
    let faces = Detector::new(cfg).unwrap().detect_boxes(&img).unwrap();
    assert_eq!(faces.len(), 1, "{faces:?}");
    assert!((30..=48).contains(&faces[0][2]), "{faces:?}");
}

#[test]
fn invalid_detection_parameters_are_refused() {
    for cfg in [
        DetectConfig {
            scale_factor: 1.0,
            ..Default::default()
        },
        DetectConfig {
            min_size: 5,
            ..Default::default()
        },
        DetectConfig {
            max_size: 40,
            min_size: 50,
            ..Default::default()
        },
        DetectConfig {
            min_neighbors: -1,
            ..Default::default()
        },
    ] {
        assert!(Detector::new(cfg).is_err(), "{cfg:?}");
    }
}

/// Faces found among the 43 ground-truth boxes of the 9 group photos, and false hits.
fn group_photo_recall(data: &Path, cfg: DetectConfig) -> (usize, usize) {
    let dir = data.join("detection/dlib-faces");
    let mut truth: BTreeMap<String, Vec<[i32; 4]>> = BTreeMap::new();
    for xml in ["training.xml", "testing.xml"] {
        for (file, b) in common::dlib_boxes(&dir.join(xml)) {
            truth.entry(file).or_default().push(b);
        }
    }
    let total: usize = truth.values().map(Vec::len).sum();
    assert_eq!(total, 43);
    let mut det = Detector::new(cfg).unwrap();
    let (mut found, mut false_hits) = (0, 0);
    for (file, boxes) in &truth {
        let faces = det.detect_boxes(&prepared(&dir.join(file))).unwrap();
        let (f, h) = common::found_and_false_hits(boxes, &faces);
        found += f;
        false_hits += h;
    }
    (found, false_hits)
}

#[test]
fn group_photos_recall_matches_bare_haar() {
    let Some(data) = common::shared_data("group_photos_recall_matches_bare_haar") else {
        return;
    };
    let full = group_photo_recall(
        &data,
        DetectConfig {
            search: Search::Full,
            ..Default::default()
        },
    );
    let proposal = group_photo_recall(&data, DetectConfig::default());
    eprintln!("group photos (found of 43, false hits): full search {full:?}, proposal search {proposal:?}");
    // Bare full-resolution Haar finds 38 with 2 false hits (shared data README);
    // on the denoised image the full search finds 38 with 0, and so must the
    // coarse-to-fine search that the pipeline uses by default.
    assert!(full.0 >= 36 && full.1 <= 2, "full search {full:?}");
    assert!(
        proposal.0 >= full.0,
        "the proposal search found {} faces, the full search {}",
        proposal.0,
        full.0
    );
    assert!(
        proposal.1 <= full.1,
        "the proposal search made {} false hits, the full search {}",
        proposal.1,
        full.1
    );
}

#[test]
fn proposal_search_finds_the_yale_faces_the_full_search_finds() {
    let Some(data) =
        common::shared_data("proposal_search_finds_the_yale_faces_the_full_search_finds")
    else {
        return;
    };
    let mut full = Detector::new(DetectConfig {
        search: Search::Full,
        ..Default::default()
    })
    .unwrap();
    let mut proposal = Detector::new(DetectConfig::default()).unwrap();
    let (mut frames, mut same) = (0, 0);
    for entry in walkdir::WalkDir::new(data.join("yalefaces")).sort_by_file_name() {
        let path = entry.unwrap().into_path();
        if !path.is_file() {
            continue;
        }
        let img = prepared(&path);
        let (a, b) = (
            full.detect_boxes(&img).unwrap(),
            proposal.detect_boxes(&img).unwrap(),
        );
        frames += 1;
        // The same faces: as many, each overlapping its counterpart well.
        if a.len() == b.len()
            && a.iter()
                .all(|x| b.iter().any(|y| common::iou(*x, *y) > 0.6))
        {
            same += 1;
        }
    }
    eprintln!("yale: the two searches agree on {same} of {frames} frames");
    assert_eq!(frames, 164);
    assert!(
        same >= frames - 2,
        "the searches agree on only {same} of {frames} frames"
    );
}

#[test]
fn the_search_is_named_on_the_command_line() {
    assert_eq!("full".parse::<Search>().unwrap(), Search::Full);
    assert_eq!("proposal".parse::<Search>().unwrap(), Search::Proposal);
    assert!("fast"
        .parse::<Search>()
        .unwrap_err()
        .to_string()
        .contains("proposal, full"));
}
