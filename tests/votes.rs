//! Crowd votes as training targets (`--votes`): reading vote files, matching
//! images by path, refusing files with nothing to learn, and networks learning
//! the vote distribution instead of the label.

mod common;

use fer::dataset::Sample;
use fer::model::ModelKind;
use fer::train::fit;
use fer::votes::{VoteCoverage, Votes};
use fer::PipelineConfig;
use std::path::{Path, PathBuf};

/// The header of ../shared/data/ferplus/votes.csv.
const FERPLUS_HEADER: &str = "path,split,fer2013_label,fer2013_csv_row,duplicate_ambiguous,neutral,happiness,surprise,sadness,anger,disgust,fear,contempt,unknown,NF";

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn classes(names: &[&str]) -> Vec<String> {
    names.iter().map(|s| s.to_string()).collect()
}

fn sample(path: &str, label: &str) -> Sample {
    Sample {
        path: PathBuf::from(path),
        label: label.into(),
        subject: None,
        source: "votes-test".into(),
        set: None,
    }
}

#[test]
fn reads_ferplus_votes_without_unknown_and_not_a_face() {
    let dir = tempfile::tempdir().unwrap();
    let file = write(
        dir.path(),
        "votes.csv",
        &format!(
            "{FERPLUS_HEADER}\n\
             fer2013/test/angry/a.jpg,PrivateTest,angry,1,False,2,1,2,0,4,0,0,0,1,0\n\
             fer2013/train/happy/b.jpg,Training,happy,2,False,0,0,0,0,0,0,0,0,9,1\n\
             fer2013/train/sad/c.jpg,Training,sad,3,False,,,,,,,,,,\n"
        ),
    );
    let votes = Votes::load(&file).unwrap();
    assert_eq!(votes.len(), 3);
    // Any folder above the listed path matches; unknown and NF votes leave the distribution.
    let all = classes(&[
        "angry", "disgust", "fear", "happy", "sad", "surprise", "neutral",
    ]);
    let d = votes
        .distribution(Path::new("../shared/data/fer2013/test/angry/a.jpg"), &all)
        .unwrap()
        .unwrap();
    let expected = [4.0, 0.0, 0.0, 1.0, 0.0, 2.0, 2.0].map(|v: f32| v / 9.0);
    for (a, b) in d.iter().zip(expected) {
        assert!((a - b).abs() < 1e-6, "{d:?}");
    }
    // Restricted to fewer classes, the rest is renormalised.
    let two = votes
        .distribution(
            Path::new("/x/fer2013/test/angry/a.jpg"),
            &classes(&["angry", "happy"]),
        )
        .unwrap()
        .unwrap();
    assert!((two[0] - 0.8).abs() < 1e-6 && (two[1] - 0.2).abs() < 1e-6);
    // Only unknown / not-a-face votes, or empty cells: listed, but nothing to learn.
    assert_eq!(
        votes.distribution(Path::new("fer2013/train/happy/b.jpg"), &all),
        Some(None)
    );
    assert_eq!(
        votes.distribution(Path::new("fer2013/train/sad/c.jpg"), &all),
        Some(None)
    );
    // A path the file does not list.
    assert_eq!(
        votes.distribution(Path::new("fer2013/train/sad/zzz.jpg"), &all),
        None
    );

    // Targets: votes where there are some, the label's one-hot elsewhere.
    let samples = [
        sample("data/fer2013/test/angry/a.jpg", "angry"),
        sample("data/fer2013/train/happy/b.jpg", "happy"),
        sample("elsewhere/d.jpg", "sad"),
    ];
    let mut coverage = VoteCoverage::default();
    let t: Vec<Vec<f32>> = samples
        .iter()
        .map(|s| votes.target(s, &all, &mut coverage))
        .collect();
    assert_eq!(
        coverage,
        VoteCoverage {
            voted: 1,
            unlisted: 1,
            empty: 1
        }
    );
    assert_eq!(t[0], d);
    assert_eq!(t[1], vec![0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0]);
    assert_eq!(t[2], vec![0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0]);
}

#[test]
fn vote_files_with_nothing_to_learn_are_refused_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "zero.csv",
            format!("{FERPLUS_HEADER}\na.jpg,Training,angry,1,False,0,0,0,0,0,0,0,0,3,7\n"),
            "every vote count is zero",
        ),
        (
            "nopath.csv",
            "file,anger,happiness\na.jpg,1,2\n".to_string(),
            "no `path` column",
        ),
        (
            "noclass.csv",
            "path,unknown,NF\na.jpg,1,2\n".to_string(),
            "no vote column",
        ),
        (
            "text.csv",
            "path,anger\na.jpg,lots\n".to_string(),
            "row 2: vote count `lots` is not a number",
        ),
        (
            "negative.csv",
            "path,anger\na.jpg,-1\n".to_string(),
            "negative",
        ),
    ];
    for (name, text, reason) in cases {
        let file = write(dir.path(), name, &text);
        let err = Votes::load(&file).unwrap_err().to_string();
        assert!(err.contains(name) && err.contains(reason), "{name}: {err}");
    }
    let missing = Votes::load(&dir.path().join("absent.csv"))
        .unwrap_err()
        .to_string();
    assert!(missing.contains("absent.csv"), "{missing}");
}

/// Gaussian blobs whose labels are all wrong (the next class), with votes for the true class.
fn mislabelled_blobs(
    seed: u64,
) -> (
    fer::rows::LabelledRows,
    Vec<Sample>,
    Votes,
    tempfile::TempDir,
) {
    let cfg = PipelineConfig::default();
    let mut rows = common::blobs(&cfg, 40, 3, seed);
    let truth = rows.y.clone();
    let k = rows.classes.len() as u32;
    rows.y.iter_mut().for_each(|y| *y = (*y + 1) % k);
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("path,anger,happiness,sadness,unknown\n");
    let mut samples = Vec::new();
    for (i, &t) in truth.iter().enumerate() {
        let mut counts = [0u32; 3];
        counts[t as usize] = 8;
        counts[((t + 2) % k) as usize] = 2;
        csv += &format!("img/{i}.png,{},{},{},5\n", counts[0], counts[1], counts[2]);
        samples.push(Sample {
            path: PathBuf::from(format!("/data/img/{i}.png")),
            label: rows.classes[rows.y[i] as usize].clone(),
            subject: None,
            source: "votes-test".into(),
            set: None,
        });
    }
    let votes = Votes::load(&write(dir.path(), "votes.csv", &csv)).unwrap();
    (rows, samples, votes, dir)
}

#[test]
fn every_network_learns_the_votes_instead_of_the_labels() {
    for kind in [ModelKind::MLP, ModelKind::SOFT_TREE, ModelKind::NDF] {
        let (mut rows, samples, votes, _dir) = mislabelled_blobs(11);
        let truth: Vec<u32> = rows.y.iter().map(|y| (y + 2) % 3).collect();
        let all: Vec<usize> = (0..rows.x.len()).collect();
        let mut opts = common::options(kind, PipelineConfig::default());
        opts.val_fraction = 0.0; // no early stopping on the (wrong) labels: the last epoch is kept
        let x = rows.x.clone();
        let agree = |model: &fer::model::Model, target: &[u32]| {
            let probs = model.predict(&x).unwrap();
            probs
                .iter()
                .zip(target)
                .filter(|(p, t)| fer::metrics::argmax(p, None) == **t as usize)
                .count() as f64
                / target.len() as f64
        };
        let on_labels = fit(&rows, &all, &opts, &mut |_, _, _, _| {}).unwrap();
        let coverage = rows.attach_votes(&samples, &votes).unwrap();
        assert_eq!(coverage.voted, samples.len());
        let on_votes = fit(&rows, &all, &opts, &mut |_, _, _, _| {}).unwrap();
        let (a, b) = (agree(&on_labels, &truth), agree(&on_votes, &truth));
        assert!(
            a < 0.2,
            "{kind}: trained on wrong labels, still agrees with the truth on {a}"
        );
        assert!(
            b > 0.9,
            "{kind}: trained on votes, agrees with the truth on only {b}"
        );
    }
}

#[test]
fn votes_that_cover_no_training_image_are_refused() {
    let (mut rows, samples, _, dir) = mislabelled_blobs(12);
    let other = Votes::load(&write(
        dir.path(),
        "other.csv",
        "path,anger\nnot/these.png,3\n",
    ))
    .unwrap();
    let err = rows.attach_votes(&samples, &other).unwrap_err().to_string();
    assert!(
        err.contains("other.csv") && err.contains("none of the 120 training images has a vote"),
        "{err}"
    );
}
