//! Every model kind: learning a separable problem, save/load round trips,
//! refusing empty and single-class training sets, explanations, and (with
//! `../shared/data`) accuracy on CK+ well above chance.

mod common;

use fer::cross_validation;
use fer::explain::{drawing, explain};
use fer::metrics::argmax;
use fer::model::dndt::Dndt;
use fer::model::forest::FOREST_TENSOR;
use fer::model::learner::bytes_tensor;
use fer::model::{Model, ModelKind, Teacher};
use fer::rows::{self, LabelledRows};
use fer::train::{fit, FitOptions};
use fer::PipelineConfig;

/// Geometric features only (210 of them), so that the tree models train quickly.
fn geometry_only() -> PipelineConfig {
    let mut cfg = PipelineConfig::default();
    cfg.features.hog = false;
    cfg
}

/// What `kind` trains on: [`geometry_only`], with the point part for the graph
/// network (which `fer train --model gnn` turns on).
fn config(kind: ModelKind) -> PipelineConfig {
    let mut cfg = geometry_only();
    cfg.features.points = kind.reads_points();
    cfg
}

fn options(kind: ModelKind) -> FitOptions {
    common::options(kind, config(kind))
}

fn blobs(n_per_class: usize, seed: u64) -> LabelledRows {
    common::blobs(&geometry_only(), n_per_class, 3, seed)
}

/// Blobs in the feature layout `kind` trains on.
fn blobs_for(kind: ModelKind, n_per_class: usize, seed: u64) -> LabelledRows {
    common::blobs(&config(kind), n_per_class, 3, seed)
}

fn all(rows: &LabelledRows) -> Vec<usize> {
    (0..rows.x.len()).collect()
}

#[test]
fn every_kind_learns_a_separable_problem_and_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    for kind in ModelKind::all() {
        let (train_rows, test_rows) = (blobs_for(kind, 60, 1), blobs_for(kind, 30, 2));
        let model = fit(
            &train_rows,
            &all(&train_rows),
            &options(kind),
            &mut |_, _, _, _| {},
        )
        .unwrap();
        assert_eq!(model.kind(), kind);
        let acc = common::accuracy(&model, &test_rows);
        assert!(acc >= 0.95, "{kind}: held-out accuracy {acc}");
        for p in model.predict(&test_rows.x[..5]).unwrap() {
            assert_eq!(p.len(), 3, "{kind}");
            assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-4, "{kind}: {p:?}");
        }
        let path = dir.path().join(format!("{kind}.safetensors"));
        model.save(&path).unwrap();
        let loaded = Model::load(&path).unwrap();
        assert_eq!(loaded.header(), model.header(), "{kind}");
        assert_eq!(
            loaded.predict(&test_rows.x).unwrap(),
            model.predict(&test_rows.x).unwrap(),
            "{kind}: outputs changed on reload"
        );
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            model.size_on_disk().unwrap(),
            "{kind}"
        );
    }
}

#[test]
fn a_distilled_soft_tree_learns_from_its_teacher() {
    let (train_rows, test_rows) = (blobs(60, 3), blobs(30, 4));
    for teacher in [Teacher::Mlp, Teacher::Ensemble] {
        let mut opts = options(ModelKind::SOFT_TREE);
        opts.trees = opts.trees.with_distill(Some(teacher));
        let model = fit(&train_rows, &all(&train_rows), &opts, &mut |_, _, _, _| {}).unwrap();
        assert_eq!(model.header().trees.distill, Some(teacher));
        let acc = common::accuracy(&model, &test_rows);
        assert!(
            acc >= 0.95,
            "distilled from {teacher:?}: held-out accuracy {acc}"
        );
    }
}

#[test]
fn the_linfa_baselines_learn_through_pca_and_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let (train_rows, test_rows) = (blobs(60, 6), blobs(30, 7));
    for kind in [ModelKind::LOGISTIC, ModelKind::SVM] {
        let mut opts = options(kind);
        opts.trees = opts.trees.with_pca(8);
        let model = fit(&train_rows, &all(&train_rows), &opts, &mut |_, _, _, _| {}).unwrap();
        assert_eq!(model.header().trees.pca, 8);
        let acc = common::accuracy(&model, &test_rows);
        assert!(
            acc >= 0.95,
            "{kind} through 8 components: held-out accuracy {acc}"
        );
        let path = dir.path().join(format!("{kind}-pca.safetensors"));
        model.save(&path).unwrap();
        let loaded = Model::load(&path).unwrap();
        assert_eq!(
            loaded.predict(&test_rows.x).unwrap(),
            model.predict(&test_rows.x).unwrap(),
            "{kind}: outputs changed on reload"
        );
        // The projection is part of the model: without it the rows do not fit.
        let plain = fit(
            &train_rows,
            &all(&train_rows),
            &options(kind),
            &mut |_, _, _, _| {},
        )
        .unwrap();
        assert_ne!(
            plain.predict(&test_rows.x[..3]).unwrap(),
            model.predict(&test_rows.x[..3]).unwrap()
        );
        // A bundle whose PCA was swapped for one of another width gives an error, not a panic.
        let grid = ndarray::Array2::from_shape_fn((20, 5), |(i, j)| ((i * 7 + j * 3) % 11) as f64);
        let other = fer::model::reduction::Reduction::fit(&grid, 2).unwrap();
        let mut tensors = candle_core::safetensors::load(&path, &candle_core::Device::Cpu).unwrap();
        tensors.insert(
            fer::model::reduction::PCA_TENSOR.to_string(),
            bytes_tensor(other.to_bytes().unwrap()).unwrap(),
        );
        let swapped = Model::from_tensors(model.header().clone(), tensors).unwrap();
        let err = swapped.predict(&test_rows.x[..2]).unwrap_err();
        assert!(err.to_string().contains("PCA"), "{kind}: {err}");
        // More components than rows or features is refused, naming the option.
        opts.trees = opts.trees.with_pca(4000);
        let err = fit(&train_rows, &all(&train_rows), &opts, &mut |_, _, _, _| {}).unwrap_err();
        assert!(err.to_string().contains("pca"), "{kind}: {err}");
    }
}

#[test]
fn empty_and_single_class_training_sets_are_refused_by_every_kind() {
    let one_class: Vec<usize> = (0..10).collect();
    for kind in ModelKind::all() {
        let rows = blobs_for(kind, 10, 5);
        let err = fit(&rows, &[], &options(kind), &mut |_, _, _, _| {}).unwrap_err();
        assert!(
            err.to_string().contains("no training samples"),
            "{kind}: {err}"
        );
        let err = fit(&rows, &one_class, &options(kind), &mut |_, _, _, _| {}).unwrap_err();
        assert!(err.to_string().contains("only 1 class"), "{kind}: {err}");
    }
}

#[test]
fn a_forest_with_garbage_trees_is_an_error_not_a_crash() {
    let rows = blobs(20, 6);
    let model = fit(
        &rows,
        &all(&rows),
        &options(ModelKind::FOREST),
        &mut |_, _, _, _| {},
    )
    .unwrap();
    let mut tensors = std::collections::HashMap::new();
    let (mean, std) = model.norm().unwrap();
    let dim = mean.len();
    let dev = candle_core::Device::Cpu;
    tensors.insert(
        "norm.mean".to_string(),
        candle_core::Tensor::from_vec(mean, dim, &dev).unwrap(),
    );
    tensors.insert(
        "norm.std".to_string(),
        candle_core::Tensor::from_vec(std, dim, &dev).unwrap(),
    );
    tensors.insert(
        FOREST_TENSOR.to_string(),
        bytes_tensor(b"[{\"trees\": 7}]".to_vec()).unwrap(),
    );
    let err = Model::from_tensors(model.header().clone(), tensors).unwrap_err();
    assert!(err.to_string().contains("forest unreadable"), "{err}");
}

#[test]
fn explanations_follow_the_tree() {
    let rows = blobs(60, 7);
    let dir = tempfile::tempdir().unwrap();
    // Soft tree: one node per level from root to a leaf, a distribution at the leaf.
    let tree = fit(
        &rows,
        &all(&rows),
        &options(ModelKind::SOFT_TREE),
        &mut |_, _, _, _| {},
    )
    .unwrap();
    let e = explain(&tree, &rows.x[0]).unwrap();
    let depth = tree.header().trees.depth;
    assert_eq!(e.nodes.len(), depth);
    assert_eq!(e.nodes[0].node, 0);
    for pair in e.nodes.windows(2) {
        let child = if pair[0].went == "right" {
            2 * pair[0].node + 2
        } else {
            2 * pair[0].node + 1
        };
        assert_eq!(
            pair[1].node, child,
            "path does not follow the branches taken"
        );
    }
    for n in &e.nodes {
        assert_eq!(n.went == "right", n.p_right >= 0.5, "{n:?}");
        assert!(n.features[0].name.contains("inter-ocular"), "{n:?}");
    }
    assert!((e.leaf_distribution.iter().map(|(_, p)| p).sum::<f32>() - 1.0).abs() < 1e-4);
    assert_eq!(e.predicted, "angry", "first row is of class 0");
    // The path is drawn in red (#d62728).
    let svg = dir.path().join("tree.svg");
    fer::plot::explanation(&drawing(&tree, &e).unwrap(), &e, &svg).unwrap();
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert!(svg.contains("<svg") && svg.contains("#D62728"), "{svg}");

    // DNDT: one bin per selected feature; cut points in feature units, inside the data's range.
    let dndt = fit(
        &rows,
        &all(&rows),
        &options(ModelKind::DNDT),
        &mut |_, _, _, _| {},
    )
    .unwrap();
    let e = explain(&dndt, &rows.x[0]).unwrap();
    assert_eq!(e.bins.len(), dndt.header().trees.dndt_features);
    let d = dndt
        .classifier()
        .as_any()
        .downcast_ref::<Dndt>()
        .expect("a dndt");
    for (b, &f) in e.bins.iter().zip(d.features()) {
        let (lo, hi) = rows
            .x
            .iter()
            .map(|r| r[f])
            .fold((f32::MAX, f32::MIN), |(a, b), v| (a.min(v), b.max(v)));
        assert!(
            b.cuts.iter().all(|&c| c > lo && c < hi),
            "cut {:?} outside [{lo}, {hi}] of {}",
            b.cuts,
            b.feature
        );
        assert_eq!(
            b.bin,
            b.cuts.iter().filter(|&&c| rows.x[0][f] > c).count(),
            "{b:?}"
        );
    }
    let svg = dir.path().join("bins.svg");
    fer::plot::explanation(&drawing(&dndt, &e).unwrap(), &e, &svg).unwrap();
    assert!(std::fs::read_to_string(&svg).unwrap().contains("<circle"));

    // Kinds without a single path are refused with the reason.
    let forest = fit(
        &rows,
        &all(&rows),
        &options(ModelKind::FOREST),
        &mut |_, _, _, _| {},
    )
    .unwrap();
    let err = explain(&forest, &rows.x[0]).unwrap_err().to_string();
    assert!(err.contains("soft-tree, dndt and gnn"), "{err}");
}

#[test]
fn a_graph_network_weighs_every_point_and_draws_the_graph() {
    let rows = blobs_for(ModelKind::GNN, 60, 7);
    let gnn = fit(
        &rows,
        &all(&rows),
        &options(ModelKind::GNN),
        &mut |_, _, _, _| {},
    )
    .unwrap();
    let e = explain(&gnn, &rows.x[0]).unwrap();
    assert_eq!(e.predicted, "angry", "first row is of class 0");
    assert_eq!(e.points.len(), fer::stages::landmarks::NUM_POINTS);
    assert!(e.points.windows(2).all(|p| p[0].weight >= p[1].weight));
    // The weights are gradient x input: they sum to the predicted logit's change
    // from the all-zero (training mean) input, to first order; here only check
    // that they are not all alike.
    assert!(e.points[0].weight > e.points[20].weight, "{:?}", e.points);
    // Positions come from the unstandardised point part of the vector.
    let layout = config(ModelKind::GNN).features.layout(96);
    let start = layout.points.unwrap().start;
    let first = e.points.iter().find(|p| p.name == "l_brow_outer").unwrap();
    assert_eq!((first.x, first.y), (rows.x[0][start], rows.x[0][start + 1]));
    let text = e.to_text();
    assert!(
        text.contains("points, by weight for angry") && !text.contains("leaf 0"),
        "{text}"
    );
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("gnn.svg");
    fer::plot::explanation(&drawing(&gnn, &e).unwrap(), &e, &svg).unwrap();
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert_eq!(svg.matches("<circle").count(), 21, "one disc per point");
    assert!(
        svg.contains("<polyline") || svg.contains("<path"),
        "the edges"
    );
}

#[test]
fn a_graph_network_needs_the_point_features() {
    let rows = blobs(20, 8);
    let err = fit(
        &rows,
        &all(&rows),
        &common::options(ModelKind::GNN, geometry_only()),
        &mut |_, _, _, _| {},
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("--point-features"), "{err}");
}

/// `fer compare` extracts the point part once for gnn; every other kind reads
/// the columns before it and so learns exactly what it learns without them.
#[test]
fn kinds_without_points_read_the_columns_before_them() {
    let with_points = blobs_for(ModelKind::GNN, 30, 9);
    let mut prefix = blobs_for(ModelKind::GNN, 30, 9);
    let len = geometry_only().features.len(96);
    prefix.x.iter_mut().for_each(|x| x.truncate(len));
    let rows: Vec<usize> = all(&prefix);
    let opts = options(ModelKind::MLP);
    let a = fit(&with_points, &rows, &opts, &mut |_, _, _, _| {}).unwrap();
    let b = fit(&prefix, &rows, &opts, &mut |_, _, _, _| {}).unwrap();
    assert_eq!(a.header().feature_dim, len);
    assert_eq!(
        cross_validation::predict_rows(&a, &with_points, &rows).unwrap(),
        cross_validation::predict_rows(&b, &prefix, &rows).unwrap()
    );
    assert_eq!(a.predict(&prefix.x).unwrap(), b.predict(&prefix.x).unwrap());
}

#[test]
fn tree_models_read_ckplus_well_above_chance() {
    let Some(data) = common::shared_data("tree_models_read_ckplus_well_above_chance") else {
        return;
    };
    let mut cfg = PipelineConfig::default();
    cfg.detect.whole_image = true;
    let samples = fer::dataset::load(&[data.join("ckplus48")], &Default::default()).unwrap();
    let pool = fer::workers::PipelinePool::new(cfg).unwrap();
    let feats = rows::extract_features(&samples, &pool, false, &|| {});
    let classes = fer::dataset::classes_of(&samples);
    let rows = LabelledRows::new(&samples, feats, classes);
    // 7 classes; the largest (surprise) is about a quarter of CK+48.
    let folds = cross_validation::cv_folds(&rows, 3).unwrap();
    for kind in [ModelKind::FOREST, ModelKind::SOFT_TREE, ModelKind::DNDT] {
        let mut opts = common::options(kind, cfg);
        opts.params = fer::model::mlp::MlpParams::default().check().unwrap();
        opts.trees = fer::model::TreeParams {
            forest_trees: 30,
            ..Default::default()
        }
        .check()
        .unwrap();
        let mut ok = 0;
        let mut n = 0;
        for (train_rows, test_rows) in &folds {
            let model = fit(&rows, train_rows, &opts, &mut |_, _, _, _| {}).unwrap();
            let (t, p) = cross_validation::predict_rows(&model, &rows, test_rows).unwrap();
            ok += t.iter().zip(&p).filter(|(a, b)| a == b).count();
            n += t.len();
        }
        let acc = ok as f64 / n as f64;
        eprintln!("{kind}: 3-fold accuracy by subject on CK+48 {acc:.3}");
        assert!(acc > 0.5, "{kind}: 3-fold accuracy {acc}");
    }
}

#[test]
fn with_a_deep_teacher_the_networks_learn_its_probabilities_not_the_labels() {
    let (mut train_rows, test_rows) = (blobs(60, 8), blobs(30, 9));
    // A teacher that is sure every face is the *next* class: students that follow it disagree with the labels.
    let teacher: Vec<Vec<f32>> = train_rows
        .y
        .iter()
        .map(|&y| {
            (0..3)
                .map(|c| {
                    if c == (y as usize + 1) % 3 {
                        0.98
                    } else {
                        0.01
                    }
                })
                .collect()
        })
        .collect();
    let mut opts = options(ModelKind::MLP);
    opts.trees = opts.trees.with_distill(Some(Teacher::Deep));
    // Early stopping scores the labels, which this teacher contradicts: keep the last epoch.
    opts.val_fraction = 0.0;
    let err = fit(&train_rows, &all(&train_rows), &opts, &mut |_, _, _, _| {}).unwrap_err();
    assert!(err.to_string().contains("--teacher"), "{err}");
    train_rows.teacher = Some(teacher);
    for kind in [ModelKind::MLP, ModelKind::SOFT_TREE] {
        opts.kind = kind;
        let model = fit(&train_rows, &all(&train_rows), &opts, &mut |_, _, _, _| {}).unwrap();
        let probs = model.predict(&test_rows.x).unwrap();
        let follows = probs
            .iter()
            .zip(&test_rows.y)
            .filter(|(p, &y)| argmax(p, None) == (y as usize + 1) % 3)
            .count();
        assert!(
            follows as f64 / test_rows.y.len() as f64 > 0.9,
            "{kind}: {follows} of {} follow the teacher",
            test_rows.y.len()
        );
    }
}
