//! The MLP and the model bundle: learning, round trips, and refusing bad bundles.

mod common;

use fer::model::bundle::{HEADER_KEY, MODEL_SCHEMA_VERSION};
use fer::model::mlp::MlpParams;
use fer::model::{Model, ModelKind};
use fer::rows::LabelledRows;
use fer::train::{fit, FitOptions};
use fer::{FerError, PipelineConfig};

fn blobs(n_per_class: usize, classes: usize, seed: u64) -> LabelledRows {
    common::blobs(&PipelineConfig::default(), n_per_class, classes, seed)
}

fn options() -> FitOptions {
    common::options(ModelKind::MLP, PipelineConfig::default())
}

#[test]
fn learns_a_separable_problem_and_generalises() {
    let train = blobs(60, 3, 1);
    let test = blobs(30, 3, 2);
    let all: Vec<usize> = (0..train.x.len()).collect();
    let model = fit(&train, &all, &options(), &mut |_, _, _, _| {}).unwrap();
    let acc = common::accuracy(&model, &test);
    assert!(acc >= 0.95, "held-out accuracy {acc}");
    let h = model.header();
    assert_eq!(h.training.validation_split, "by subject");
    assert!(h.training.validation > 0 && h.training.train > h.training.validation);
    // Probabilities are a distribution over the model's classes.
    for p in model.predict(&test.x[..5]).unwrap() {
        assert_eq!(p.len(), 3);
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-4);
    }
}

#[test]
fn training_is_reproducible_for_a_seed() {
    let rows = blobs(20, 3, 3);
    let all: Vec<usize> = (0..rows.x.len()).collect();
    let a = fit(&rows, &all, &options(), &mut |_, _, _, _| {}).unwrap();
    let b = fit(&rows, &all, &options(), &mut |_, _, _, _| {}).unwrap();
    assert_eq!(
        a.predict(&rows.x[..4]).unwrap(),
        b.predict(&rows.x[..4]).unwrap()
    );
}

#[test]
fn save_and_load_give_identical_outputs() {
    let rows = blobs(20, 3, 4);
    let all: Vec<usize> = (0..rows.x.len()).collect();
    let model = fit(&rows, &all, &options(), &mut |_, _, _, _| {}).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    model.save(&path).unwrap();
    assert!(!dir.path().join("m.safetensors.partial").exists());
    let loaded = Model::load(&path).unwrap();
    assert_eq!(loaded.header(), model.header());
    assert_eq!(
        loaded.predict(&rows.x).unwrap(),
        model.predict(&rows.x).unwrap()
    );
}

#[test]
fn empty_and_single_class_training_sets_are_refused() {
    let rows = blobs(10, 2, 5);
    let err = fit(&rows, &[], &options(), &mut |_, _, _, _| {}).unwrap_err();
    assert!(matches!(err, FerError::Training(_)), "{err}");
    let one_class: Vec<usize> = (0..10).collect();
    let err = fit(&rows, &one_class, &options(), &mut |_, _, _, _| {}).unwrap_err();
    assert!(err.to_string().contains("only 1 class"), "{err}");
}

#[test]
fn invalid_hyperparameters_are_refused() {
    for p in [
        MlpParams {
            hidden: vec![],
            ..Default::default()
        },
        MlpParams {
            dropout: 1.0,
            ..Default::default()
        },
        MlpParams {
            learning_rate: 0.0,
            ..Default::default()
        },
        MlpParams {
            epochs: 0,
            ..Default::default()
        },
    ] {
        assert!(p.clone().check().is_err(), "{p:?}");
    }
}

fn saved_model(dir: &std::path::Path) -> (std::path::PathBuf, Vec<u8>) {
    let rows = blobs(10, 2, 6);
    let all: Vec<usize> = (0..rows.x.len()).collect();
    let model = fit(&rows, &all, &options(), &mut |_, _, _, _| {}).unwrap();
    let path = dir.join("good.safetensors");
    model.save(&path).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    (path, bytes)
}

fn load_err(dir: &std::path::Path, name: &str, bytes: &[u8]) -> String {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    match Model::load(&path) {
        Ok(_) => panic!("{name} loaded"),
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.contains(name), "error does not name the file: {msg}");
            msg
        }
    }
}

#[test]
fn corrupt_truncated_and_foreign_bundles_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (_, bytes) = saved_model(dir.path());
    assert!(load_err(dir.path(), "empty.safetensors", &[]).contains("not a valid safetensors"));
    assert!(load_err(
        dir.path(),
        "truncated.safetensors",
        &bytes[..bytes.len() / 2]
    )
    .contains("not a valid safetensors"));
    assert!(load_err(dir.path(), "header-cut.safetensors", &bytes[..20])
        .contains("not a valid safetensors"));
    let mut flipped = bytes.clone();
    flipped[10] ^= 0xFF; // inside the JSON header
    load_err(dir.path(), "flipped.safetensors", &flipped);
    load_err(dir.path(), "text.safetensors", b"this is not a model\n");
    // A valid safetensors file from some other tool.
    let t =
        candle_core::Tensor::zeros(4, candle_core::DType::F32, &candle_core::Device::Cpu).unwrap();
    let other = dir.path().join("other.safetensors");
    candle_core::safetensors::save(
        &std::collections::HashMap::from([("w".to_string(), t)]),
        &other,
    )
    .unwrap();
    let err = Model::load(&other).unwrap_err().to_string();
    assert!(err.contains("not a fer model bundle"), "{err}");
}

/// Rewrite the bundle's JSON header with `edit`.
fn with_header(bytes: &[u8], edit: impl Fn(&mut serde_json::Value)) -> Vec<u8> {
    let st = safetensors::SafeTensors::deserialize(bytes).unwrap();
    let (_, meta) = safetensors::SafeTensors::read_metadata(bytes).unwrap();
    let mut header: serde_json::Value =
        serde_json::from_str(&meta.metadata().as_ref().unwrap()[HEADER_KEY]).unwrap();
    edit(&mut header);
    let tensors: Vec<(String, safetensors::tensor::TensorView)> = st.tensors();
    let new_meta = std::collections::HashMap::from([(HEADER_KEY.to_string(), header.to_string())]);
    safetensors::serialize(tensors, Some(new_meta)).unwrap()
}

#[test]
fn bundles_of_another_schema_are_refused_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let (_, bytes) = saved_model(dir.path());
    let newer = with_header(&bytes, |h| {
        h["schema_version"] = serde_json::json!(MODEL_SCHEMA_VERSION + 1)
    });
    let err = load_err(dir.path(), "newer.safetensors", &newer);
    assert!(
        err.contains(&format!("schema version {}", MODEL_SCHEMA_VERSION + 1))
            && err.contains("retrain"),
        "{err}"
    );
    let features = with_header(&bytes, |h| {
        h["feature_schema_version"] = serde_json::json!(99)
    });
    let err = load_err(dir.path(), "features.safetensors", &features);
    assert!(err.contains("feature schema 99"), "{err}");
    let no_classes = with_header(&bytes, |h| h["classes"] = serde_json::json!(["happy"]));
    load_err(dir.path(), "classes.safetensors", &no_classes);
    let bad_dim = with_header(&bytes, |h| h["feature_dim"] = serde_json::json!(7));
    load_err(dir.path(), "dim.safetensors", &bad_dim);
}
