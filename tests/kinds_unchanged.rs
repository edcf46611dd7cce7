//! Every model kind, trained with fixed seeds on fixed synthetic rows, gives the
//! probabilities recorded in `tests/fixtures/kinds-golden.json`: a refactor of the
//! learners (the one `Learner` trait and its registry) must not change what any
//! kind learns. The file was written by this test with `FER_BLESS_GOLDEN=1`
//! before the learners moved behind the trait; rewrite it only when a kind's
//! behaviour is meant to change, and say so in the commit.

mod common;

use fer::model::{ModelKind, Teacher, TreeParams};
use fer::train::fit;
use fer::PipelineConfig;
use std::collections::BTreeMap;

/// Test rows whose probabilities are recorded per kind.
const RECORDED_ROWS: usize = 12;
/// Largest difference allowed between a recorded and a fresh probability: far above
/// float noise, far below any change in what a model learned.
const TOLERANCE: f64 = 1e-4;

/// What one kind predicts: accuracy on the test rows and the probabilities of the first rows.
fn predictions(kind: ModelKind, distill: Option<Teacher>) -> (f64, Vec<Vec<f64>>) {
    let mut cfg = PipelineConfig::default();
    // The graph network reads the point part (the other kinds' rows are unchanged).
    cfg.features.points = kind.reads_points();
    let train = common::blobs(&cfg, 30, 3, 11);
    let test = common::blobs(&cfg, 10, 3, 12);
    let mut opts = common::options(kind, cfg);
    if distill.is_some() {
        opts.trees = TreeParams {
            distill,
            ..(*opts.trees).clone()
        }
        .check()
        .unwrap();
    }
    let all: Vec<usize> = (0..train.x.len()).collect();
    let model = fit(&train, &all, &opts, &mut |_, _, _, _| {}).unwrap();
    let probs = model.predict(&test.x).unwrap();
    let right = probs
        .iter()
        .zip(&test.y)
        .filter(|(p, y)| {
            let best = (0..p.len()).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap();
            best == **y as usize
        })
        .count();
    let first = probs
        .iter()
        .take(RECORDED_ROWS)
        .map(|p| p.iter().map(|&v| (v as f64 * 1e6).round() / 1e6).collect())
        .collect();
    (right as f64 / test.y.len() as f64, first)
}

#[test]
fn every_kind_learns_what_it_learned_before() {
    let mut fresh: BTreeMap<String, (f64, Vec<Vec<f64>>)> = BTreeMap::new();
    for kind in ModelKind::names() {
        let kind: ModelKind = kind.parse().unwrap();
        fresh.insert(kind.name().to_string(), predictions(kind, None));
    }
    fresh.insert(
        "soft-tree-distilled".into(),
        predictions("soft-tree".parse().unwrap(), Some(Teacher::Mlp)),
    );
    let path = common::root().join("tests/fixtures/kinds-golden.json");
    if std::env::var_os("FER_BLESS_GOLDEN").is_some() {
        std::fs::write(&path, serde_json::to_string_pretty(&fresh).unwrap()).unwrap();
        return;
    }
    let recorded: BTreeMap<String, (f64, Vec<Vec<f64>>)> =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("the golden file"))
            .expect("golden JSON");
    assert_eq!(
        recorded.keys().collect::<Vec<_>>(),
        fresh.keys().collect::<Vec<_>>(),
        "the kinds"
    );
    for (kind, (acc, probs)) in &recorded {
        let (new_acc, new_probs) = &fresh[kind];
        assert_eq!(acc, new_acc, "{kind}: accuracy");
        for (r, (a, b)) in probs.iter().zip(new_probs).enumerate() {
            for (c, (x, y)) in a.iter().zip(b).enumerate() {
                assert!(
                    (x - y).abs() <= TOLERANCE,
                    "{kind}: row {r} class {c}: recorded {x}, now {y}"
                );
            }
        }
    }
}
