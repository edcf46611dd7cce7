//! Set models over frames (GaitSet): a set is read the same in any order,
//! pooling finds what single frames lack, cross-validation scores whole sets,
//! a set model without sets is refused, where sets come from, and (with
//! `../shared/data`) CK+ sequences read by `fer train` and `fer eval`.

mod common;

use fer::cross_validation;
use fer::dataset::{self, DataFilter};
use fer::model::{Model, ModelKind};
use fer::rows::LabelledRows;
use fer::sets::SetBy;
use fer::train::fit;
use fer::PipelineConfig;
use rand::{Rng, SeedableRng};

fn set_kinds() -> Vec<ModelKind> {
    ModelKind::all().filter(|k| k.needs_sets()).collect()
}

/// Geometric features only (210 of them), so that training is quick.
fn geometry_only() -> PipelineConfig {
    let mut cfg = PipelineConfig::default();
    cfg.features.hog = false;
    cfg
}

fn all(rows: &LabelledRows) -> Vec<usize> {
    (0..rows.x.len()).collect()
}

/// A model of `kind` trained on every row, with the quick test options.
fn trained(kind: ModelKind, rows: &LabelledRows) -> fer::Result<Model> {
    fit(
        rows,
        &all(rows),
        &common::options(kind, geometry_only()),
        &mut |_, _, _, _| {},
    )
}

#[test]
fn the_three_set_kinds_are_registered() {
    let names: Vec<&str> = set_kinds().iter().map(|k| k.name()).collect();
    assert_eq!(names, ["set-max", "set-mean", "set-attention"]);
}

#[test]
fn a_set_is_read_the_same_in_any_order_and_one_frame_is_a_set_of_one() {
    let rows = common::blobs(&geometry_only(), 60, 3, 21);
    for kind in set_kinds().into_iter().chain([ModelKind::MLP]) {
        let model = trained(kind, &rows).unwrap();
        let frames: Vec<Vec<f32>> = rows.x[..4].to_vec();
        let reversed: Vec<Vec<f32>> = frames.iter().rev().cloned().collect();
        let (a, b) = (
            model.predict_set(&frames).unwrap(),
            model.predict_set(&reversed).unwrap(),
        );
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-5, "{kind}: {a:?} vs {b:?}");
        }
        assert!((a.iter().sum::<f32>() - 1.0).abs() < 1e-4, "{kind}: {a:?}");
        let single = model.predict_set(&frames[..1]).unwrap();
        let frame = &model.predict(&frames[..1]).unwrap()[0];
        for (x, y) in single.iter().zip(frame) {
            assert!((x - y).abs() < 1e-5, "{kind}: {single:?} vs {frame:?}");
        }
        assert_eq!(
            model.classifier().pools_sets(),
            kind.needs_sets(),
            "{kind}: a set model pools features, the others average probabilities"
        );
        assert!(model.predict_set(&[]).is_err(), "{kind}: an empty set");
    }
}

/// Two classes in sets of four frames: a `happy` set has one frame that shows
/// it (features 0..20 raised by 3), its other frames look like `sad` ones.
fn one_telling_frame(sets_per_class: usize, seed: u64) -> LabelledRows {
    let cfg = geometry_only();
    let dim = cfg.features.names(cfg.align.size).len();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut rows = LabelledRows::empty(vec!["happy".into(), "sad".into()]);
    let mut keys = Vec::new();
    for c in 0..2u32 {
        for s in 0..sets_per_class {
            for f in 0..4 {
                let telling = c == 0 && f == 0;
                let x = (0..dim)
                    .map(|j| {
                        rng.random_range(-1.0..1.0) + if telling && j < 20 { 3.0 } else { 0.0 }
                    })
                    .collect();
                let sample = rows.x.len();
                rows.push(x, c, format!("s{}", s % 20), false, sample);
                keys.push(format!("{c}-{s}"));
            }
        }
    }
    rows.sets = Some(keys);
    rows
}

#[test]
fn set_pooling_reads_what_single_frames_lack() {
    let (train_rows, test_rows) = (one_telling_frame(80, 31), one_telling_frame(40, 32));
    let test_sets = fer::sets::group(test_rows.sets.as_ref().unwrap(), &all(&test_rows));
    let mlp = trained(ModelKind::MLP, &train_rows).unwrap();
    let (t, p) = cross_validation::predict_rows(&mlp, &test_rows, &all(&test_rows)).unwrap();
    let per_frame = cross_validation::accuracy_of(&t, &p);
    assert!(
        per_frame < 0.8,
        "three frames in four cannot be told apart: {per_frame}"
    );
    for kind in set_kinds() {
        let model = trained(kind, &train_rows).unwrap();
        let (t, p) = cross_validation::predict_sets(&model, &test_rows, &test_sets).unwrap();
        let per_set = cross_validation::accuracy_of(&t, &p);
        eprintln!("{kind}: per-set {per_set:.3}, the MLP per frame {per_frame:.3}");
        assert!(per_set >= 0.9, "{kind}: per-set accuracy {per_set}");
    }
}

#[test]
fn cross_validation_scores_whole_sets_beside_frames() {
    let rows = common::blobs(&geometry_only(), 30, 3, 41);
    let distinct: std::collections::BTreeSet<&String> =
        rows.sets.as_ref().unwrap().iter().collect();
    for kind in [ModelKind::MLP, "set-attention".parse().unwrap()] {
        let report = cross_validation::cross_validate(
            &rows,
            5,
            &common::options(kind, geometry_only()),
            &mut |_, _| {},
        )
        .unwrap();
        let sets = report.per_set.as_ref().expect("a per-set score");
        assert_eq!(sets.sets, distinct.len(), "{kind}");
        assert_eq!(sets.fold_accuracy.len(), 5, "{kind}");
        assert!(sets.accuracy >= 0.9, "{kind}: {}", sets.accuracy);
        let learned = kind.needs_sets();
        assert_eq!(
            sets.pooling.contains("learned"),
            learned,
            "{}",
            sets.pooling
        );
        assert!(report.to_text().contains("per-set accuracy"), "{kind}");
    }
    let mut plain = rows;
    plain.sets = None;
    let report = cross_validation::cross_validate(
        &plain,
        5,
        &common::options(ModelKind::MLP, geometry_only()),
        &mut |_, _| {},
    )
    .unwrap();
    assert!(report.per_set.is_none());
}

#[test]
fn a_set_model_without_sets_is_refused_and_says_how_to_give_them() {
    let mut rows = common::blobs(&geometry_only(), 20, 3, 51);
    rows.sets = None;
    for kind in set_kinds() {
        let err = trained(kind, &rows).unwrap_err().to_string();
        assert!(err.contains("--set-by"), "{kind}: {err}");
    }
    // Votes are targets the set models do not learn: refused, not ignored.
    let mut rows = common::blobs(&geometry_only(), 20, 3, 52);
    rows.votes = Some(
        rows.y
            .iter()
            .map(|&y| (0..3).map(|c| if c == y { 1.0 } else { 0.0 }).collect())
            .collect(),
    );
    let err = trained("set-max".parse().unwrap(), &rows)
        .unwrap_err()
        .to_string();
    assert!(err.contains("--votes"), "{err}");
}

#[test]
fn sets_come_from_the_sequence_or_a_manifest_column() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("m.csv");
    std::fs::write(
        &manifest,
        "path,label_canonical,subject,note,clip\n\
         happy/S010_004_00000017.png,happy,S010,seq=S010_004,c1\n\
         happy/S010_004_00000018.png,happy,S010,,c1\n\
         sad/x.png,sad,S011,,\n",
    )
    .unwrap();
    let load = |by: Option<SetBy>| {
        dataset::load(
            std::slice::from_ref(&manifest),
            &DataFilter {
                set_by: by,
                ..Default::default()
            },
        )
    };
    let sets = |s: Vec<dataset::Sample>| s.into_iter().map(|s| s.set).collect::<Vec<_>>();
    assert_eq!(sets(load(None).unwrap()), vec![None, None, None]);
    assert_eq!(
        sets(load(Some(SetBy::Sequence)).unwrap()),
        vec![Some("S010_004".into()), Some("S010_004".into()), None],
        "from the note, else the CK+ file name"
    );
    assert_eq!(
        sets(load(Some(SetBy::Column("clip".into()))).unwrap()),
        vec![Some("c1".into()), Some("c1".into()), None]
    );
    let err = load(Some(SetBy::Column("take".into())))
        .unwrap_err()
        .to_string();
    assert!(err.contains("m.csv") && err.contains("`take`"), "{err}");
    // A folder has no columns.
    let folder = dir.path().join("faces");
    std::fs::create_dir_all(folder.join("happy")).unwrap();
    std::fs::write(folder.join("happy/S010_004_00000017.png"), b"").unwrap();
    let filter = |by| DataFilter {
        set_by: Some(by),
        ..Default::default()
    };
    let err = dataset::load(
        std::slice::from_ref(&folder),
        &filter(SetBy::Column("clip".into())),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("faces") && err.contains("column"), "{err}");
    let samples = dataset::load(std::slice::from_ref(&folder), &filter(SetBy::Sequence)).unwrap();
    assert_eq!(samples[0].set.as_deref(), Some("S010_004"));
}

#[test]
fn the_command_line_refuses_a_set_model_without_sets_and_sets_without_a_set_model() {
    let dir = tempfile::tempdir().unwrap();
    for (class, image) in [("happy", "justin.jpg"), ("sad", "messi5.jpg")] {
        std::fs::create_dir_all(dir.path().join("faces").join(class)).unwrap();
        std::fs::copy(
            common::sample(image),
            dir.path().join("faces").join(class).join(image),
        )
        .unwrap();
    }
    let out = common::fer_in(dir.path())
        .args([
            "train",
            "--model",
            "set-max",
            "--no-detect",
            "--data",
            "faces",
        ])
        .args(["--out", "m.safetensors"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("--set-by sequence"), "{stderr}");
    assert!(!dir.path().join("m.safetensors").exists());
    // Nor sets for a per-frame kind, which would learn the same without them.
    let out = common::fer_in(dir.path())
        .args(["train", "--model", "mlp", "--no-detect", "--data", "faces"])
        .args(["--set-by", "sequence", "--out", "m.safetensors"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("frame by frame"), "{stderr}");
    assert!(!dir.path().join("m.safetensors").exists());
}

/// The CK+48 rows of the manifest, every fifth subject (sorted) held out as
/// `split=test`, the others `split=train`, with absolute paths.
fn ck_split_manifest(data: &std::path::Path, out: &std::path::Path) {
    let text = std::fs::read_to_string(data.join("MANIFEST.csv")).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let rows: Vec<Vec<&str>> = lines
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|f| f[0] == "ckplus48")
        .collect();
    let subjects: std::collections::BTreeSet<&str> = rows.iter().map(|f| f[4]).collect();
    let held: Vec<&str> = subjects.iter().copied().skip(4).step_by(5).collect();
    let mut csv = format!("{header}\n");
    for f in rows {
        let split = if held.contains(&f[4]) {
            "test"
        } else {
            "train"
        };
        csv += &format!(
            "{},{},{},{},{},{split},{}\n",
            f[0],
            data.join(f[1]).display(),
            f[2],
            f[3],
            f[4],
            f[6]
        );
    }
    std::fs::write(out, csv).unwrap();
}

#[test]
fn ckplus_sequences_train_a_set_model_and_eval_scores_them() {
    let Some(data) = common::shared_data("ckplus_sequences_train_a_set_model_and_eval_scores_them")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("ck.csv");
    ck_split_manifest(&data, &manifest);
    let fer = |args: &[&str]| {
        let out = common::fer_in(dir.path()).args(args).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    };
    fer(&[
        "train",
        "--model",
        "set-max",
        "--no-detect",
        "--set-by",
        "sequence",
        "--data",
        "ck.csv",
        "--split",
        "train",
        "--out",
        "set.safetensors",
    ]);
    let model = Model::load(&dir.path().join("set.safetensors")).unwrap();
    assert_eq!(model.kind().name(), "set-max");
    let out = fer(&[
        "eval",
        "--model",
        "set.safetensors",
        "--no-detect",
        "--set-by",
        "sequence",
        "--data",
        "ck.csv",
        "--split",
        "test",
        "--json",
        "--plot",
        "c.png",
    ]);
    let report: fer::metrics::Report = serde_json::from_slice(&out.stdout).unwrap();
    let sets = report.per_set.expect("per-set accuracy");
    // Each held-out sequence has three frames.
    assert_eq!(sets.sets * 3, report.samples, "{sets:?}");
    assert!(sets.pooling.contains("learned"), "{}", sets.pooling);
    // Seven classes: chance is about 14%.
    assert!(sets.accuracy > 0.6, "per-set accuracy {}", sets.accuracy);
    assert!(
        report.accuracy > 0.6,
        "per-frame accuracy {}",
        report.accuracy
    );
}
