//! Every picture fer draws (plotters, PNG or SVG by extension) opens, has the size
//! its layout gives, and shows more than a blank page: the confusion and transition
//! matrices, the comparison chart, training curves, an expression timeline, and
//! `fer explain`'s soft-tree and DNDT pictures.

mod common;

use fer::compare::{CompareRow, Comparison};
use fer::metrics::{Report, SourceTransition};
use fer::model::ModelKind;
use fer::plot::{self, Curves};
use fer::timeline::Timeline;
use fer::train::fit;
use fer::PipelineConfig;
use std::path::Path;

/// A PNG that opens at `size`, with at least `colours` distinct colours and at
/// least `ink` of its pixels not white.
fn assert_png(path: &Path, size: (u32, u32), colours: usize, ink: f64) {
    let img = image::open(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .to_rgb8();
    assert_eq!(img.dimensions(), size, "{}", path.display());
    let distinct: std::collections::HashSet<[u8; 3]> = img.pixels().map(|p| p.0).collect();
    assert!(
        distinct.len() >= colours,
        "{}: {} colours",
        path.display(),
        distinct.len()
    );
    let inked = img.pixels().filter(|p| p.0 != [255, 255, 255]).count() as f64;
    let share = inked / (size.0 * size.1) as f64;
    assert!(
        share >= ink,
        "{}: {:.3} of the pixels inked",
        path.display(),
        share
    );
}

/// An SVG of `size` that writes every one of `words`.
fn assert_svg(path: &Path, size: (u32, u32), words: &[&str]) {
    let svg = std::fs::read_to_string(path).unwrap();
    assert!(svg.contains("<svg"), "{}", path.display());
    assert!(
        svg.contains(&format!("width=\"{}\"", size.0))
            && svg.contains(&format!("height=\"{}\"", size.1)),
        "{}: not {size:?}",
        path.display()
    );
    for w in words {
        assert!(svg.contains(w), "{}: no `{w}`", path.display());
    }
}

fn classes(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn confusion_and_transition_matrices() {
    let tmp = tempfile::tempdir().unwrap();
    let c = classes(&["happy", "sad", "surprise"]);
    let report = Report::new(
        "test".into(),
        c.clone(),
        &[0, 0, 1, 1, 2, 2, 2],
        &[0, 1, 1, 1, 2, 2, 0],
        0,
    );
    // 110 px of row names + 3 cells of 64 + 20, unless the title is wider; 90 + 3 x 64 + 20 high.
    let title_w = format!(
        "accuracy {:.1}%   macro-F1 {:.3}   n = 7",
        100.0 * report.accuracy,
        report.macro_f1
    )
    .chars()
    .count() as u32
        * 9
        + 20;
    let size = ((110 + 3 * 64 + 20).max(title_w), 90 + 3 * 64 + 20);
    plot::confusion(&report, &tmp.path().join("cm.png")).unwrap();
    assert_png(&tmp.path().join("cm.png"), size, 20, 0.1);
    plot::confusion(&report, &tmp.path().join("cm.svg")).unwrap();
    assert_svg(
        &tmp.path().join("cm.svg"),
        size,
        &["happy", "surprise", "67%"],
    );
    let t = SourceTransition {
        source: "fer2013".into(),
        classes: c,
        matrix: vec![
            vec![0.9, 0.05, 0.05],
            vec![0.1, 0.8, 0.1],
            vec![0.3, 0.0, 0.7],
        ],
    };
    plot::transition(&t, &tmp.path().join("t.svg")).unwrap();
    let title_w = "source fer2013: p(label | latent truth)".chars().count() as u32 * 9 + 20;
    assert_svg(
        &tmp.path().join("t.svg"),
        ((110 + 3 * 64 + 20).max(title_w), 302),
        &["source fer2013", "90%", "70%"],
    );
    // Anything but PNG and SVG is refused with the file named.
    let e = plot::transition(&t, &tmp.path().join("t.bmp"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("t.bmp") && e.contains(".png or .svg"), "{e}");
}

#[test]
fn comparison_bars_show_each_folds_spread_and_the_whole_protocol() {
    let tmp = tempfile::tempdir().unwrap();
    let c = classes(&["happy", "sad"]);
    let row = |name: &str, folds: Vec<f64>| CompareRow {
        name: name.into(),
        kind: name.into(),
        accuracy: folds.iter().sum::<f64>() / folds.len() as f64,
        macro_f1: 0.6,
        fold_accuracy: folds,
        train_seconds: 1.0,
        us_per_face: 10.0,
        size_bytes: 1000,
        set_accuracy: None,
        report: Report::new("x".into(), c.clone(), &[0, 1], &[0, 1], 0),
    };
    let protocol = "10-fold cross-validation grouped by subject on ../shared/data/ckplus48 ../shared/data/ckplus48-neutral, a protocol long enough to need a second line of caption";
    let cmp = Comparison {
        protocol: protocol.into(),
        rows: vec![
            row("mlp", vec![0.8, 0.9]),
            row("soft-tree-distilled", vec![0.6, 0.7]),
        ],
    };
    let png = tmp.path().join("cmp.png");
    plot::comparison(&cmp, &png).unwrap();
    // 90 px + 46 a row + 16 a caption line (two here) + 20.
    assert_png(&png, (900, 90 + 2 * 46 + 2 * 16 + 20), 20, 0.05);
    let svg = tmp.path().join("cmp.svg");
    plot::comparison(&cmp, &svg).unwrap();
    // The caption is wrapped, not cut: its last word is there.
    assert_svg(
        &svg,
        (900, 234),
        &["soft-tree-distilled", "85.0%", "caption"],
    );
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(
        !text.contains("whole sets") && !text.contains("sets "),
        "no sets, no tick"
    );
    // Whole sets scored (--set-by): a tick and its figure on the rows that have one.
    let mut with_sets = cmp.clone();
    with_sets.rows[0].set_accuracy = Some(0.925);
    plot::comparison(&with_sets, &svg).unwrap();
    assert_svg(&svg, (900, 234), &["tick: whole sets", "sets 92.5%"]);
}

#[test]
fn training_curves_of_a_bundle_and_none_for_a_forest() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = PipelineConfig::default();
    let rows = common::blobs(&cfg, 30, 3, 5);
    let all: Vec<usize> = (0..rows.x.len()).collect();
    let mlp = fit(
        &rows,
        &all,
        &common::options(ModelKind::MLP, cfg),
        &mut |_, _, _, _| {},
    )
    .unwrap();
    let curves = Curves::of_bundle(&mlp, "blobs");
    assert!(curves.loss.len() > 1 && curves.loss.len() == curves.accuracy.len());
    assert_eq!(curves.accuracy_name, "validation accuracy");
    let png = tmp.path().join("curves.png");
    plot::training_curves(&curves, &png).unwrap();
    assert_png(&png, (800, 480), 20, 0.05);
    let forest = fit(
        &rows,
        &all,
        &common::options(ModelKind::FOREST, cfg),
        &mut |_, _, _, _| {},
    )
    .unwrap();
    let e = plot::training_curves(&Curves::of_bundle(&forest, "forest"), &png)
        .unwrap_err()
        .to_string();
    assert!(e.contains("one pass"), "{e}");
}

#[test]
fn a_timeline_from_live_jsonl_and_from_batch_rows() {
    let tmp = tempfile::tempdir().unwrap();
    // Two tracks over 40 frames: track 1 turns from neutral to happy.
    let mut jsonl = String::new();
    for f in 0..40u64 {
        let happy = f as f32 / 40.0;
        for (track, p) in [(1u64, [happy, 0.0, 1.0 - happy]), (2, [0.1, 0.8, 0.1])] {
            jsonl.push_str(
                &serde_json::json!({
                    "t": f as f64 * 0.04, "frame": f, "track": track, "bbox": [0, 0, 10, 10],
                    "label": "x", "pooled_label": "x", "raw": p, "pooled": p,
                    "classes": ["happy", "sad", "neutral"],
                })
                .to_string(),
            );
            jsonl.push('\n');
        }
    }
    let path = tmp.path().join("t.jsonl");
    std::fs::write(&path, jsonl).unwrap();
    let timeline = Timeline::load(&path).unwrap();
    assert_eq!(timeline.classes, classes(&["happy", "sad", "neutral"]));
    assert_eq!(timeline.tracks.len(), 2);
    assert_eq!(timeline.tracks[0].points.len(), 40);
    let png = tmp.path().join("t.png");
    plot::timeline(&timeline, "t.jsonl", &png).unwrap();
    assert_png(&png, (1000, 40 + 2 * 240), 20, 0.1);
    let svg = tmp.path().join("t.svg");
    plot::timeline(&timeline, "t.jsonl", &svg).unwrap();
    // The strip names the dominant expression where it holds: neutral, then happy.
    assert_svg(
        &svg,
        (1000, 520),
        &["track 1", "track 2", "neutral", "happy"],
    );

    // fer batch CSV rows of a video: a face index per file stands in for a track.
    let csv =
        "file,status,frame,t,faces,face,x,y,w,h,eyes_found,label,confidence,p_happy,p_sad,error\n\
               clip.avi,ok,1,0.04,1,1,0,0,9,9,true,happy,0.9,0.9,0.1,\n\
               clip.avi,no_face,2,0.08,0,,,,,,false,,,,,\n\
               clip.avi,ok,3,0.12,1,1,0,0,9,9,true,sad,0.7,0.3,0.7,\n";
    let path = tmp.path().join("rows.csv");
    std::fs::write(&path, csv).unwrap();
    let timeline = Timeline::load(&path).unwrap();
    assert_eq!(timeline.classes, classes(&["happy", "sad"]));
    assert_eq!(timeline.tracks.len(), 1);
    assert_eq!(timeline.tracks[0].name, "clip.avi face 1");
    assert_eq!(timeline.tracks[0].points.len(), 2);
    // Rows of still images make no timeline, and say so.
    std::fs::write(
        &path,
        "file,status,frame,t,faces,face,p_happy\na.jpg,ok,,,1,1,0.5\n",
    )
    .unwrap();
    let e = Timeline::load(&path).unwrap_err().to_string();
    assert!(
        e.contains("rows.csv") && e.contains("no face over time"),
        "{e}"
    );
}

#[test]
fn explain_draws_a_soft_tree_and_dndt_bins() {
    let tmp = tempfile::tempdir().unwrap();
    let cfg = PipelineConfig::default();
    let rows = common::blobs(&cfg, 30, 3, 6);
    let all: Vec<usize> = (0..rows.x.len()).collect();
    for (kind, size, word) in [
        // depth 3: 8 leaves of 150 px; 4 levels of 90 + 60.
        (
            ModelKind::SOFT_TREE,
            (8 * 150, 4 * 90 + 60),
            "soft tree, depth 3",
        ),
        // 6 features of 60 px + 50; 360 + 600 + 20 wide.
        (ModelKind::DNDT, (980, 50 + 6 * 60), "DNDT bins"),
    ] {
        let model = fit(
            &rows,
            &all,
            &common::options(kind, cfg),
            &mut |_, _, _, _| {},
        )
        .unwrap();
        let e = fer::explain::explain(&model, &rows.x[0]).unwrap();
        let drawing = fer::explain::drawing(&model, &e).unwrap();
        let png = tmp.path().join(format!("{kind}.png"));
        plot::explanation(&drawing, &e, &png).unwrap();
        assert_png(&png, size, 10, 0.02);
        let svg = tmp.path().join(format!("{kind}.svg"));
        plot::explanation(&drawing, &e, &svg).unwrap();
        assert_svg(&svg, size, &[word, &e.predicted]);
    }
}
