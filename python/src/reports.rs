//! `evaluate`, `train` and `compare`: the library's reports as JSON text, which
//! the Python half turns into dicts and DataFrames. Data, recipe and detection
//! options become the same validated configs as the command line's flags.

use crate::detached::{self, Progress};
use crate::errors::{parameter, to_py};
use crate::options;
use fer::compare as comparison;
use fer::compare_job::{CompareJob, CompareProgress, DeepEntrant, Protocol};
use fer::data_selection::DataSelection;
use fer::model::load::load_face_model;
use fer::model::mlp::MlpParams;
use fer::model::{ModelKind, TreeParams};
use fer::pipeline::PipelineConfig;
use fer::train::FitOptions;
use fer::votes::Votes;
use fer::workers::PipelinePool;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde_json::{Map, Value};
use std::path::PathBuf;
use std::sync::atomic::Ordering;

fn json_object(text: Option<&str>, what: &str) -> PyResult<Map<String, Value>> {
    match text {
        None => Ok(Map::new()),
        Some(t) => match serde_json::from_str(t) {
            Ok(Value::Object(m)) => Ok(m),
            _ => Err(parameter(what, "expected a dict")),
        },
    }
}

fn to_json<T: serde::Serialize>(value: &T) -> PyResult<String> {
    serde_json::to_string(value).map_err(|e| parameter("report", e))
}

/// The recipe from its JSON parts: `stages` (fields of the pipeline config,
/// nested as in a bundle), `params` (network fields) and `trees` (tree fields).
fn recipe(
    kind: ModelKind,
    stages: Option<&str>,
    params: Option<&str>,
    trees: Option<&str>,
    detect: Option<&Bound<'_, PyDict>>,
    val_fraction: f32,
    sources: Vec<String>,
) -> PyResult<FitOptions> {
    let mut pipeline: PipelineConfig = options::overlay_nested(
        PipelineConfig::default(),
        &json_object(stages, "stages")?,
        "stage",
    )?;
    options::detect(detect)?
        .apply(&mut pipeline)
        .map_err(to_py)?;
    let params: MlpParams = options::overlay(
        MlpParams::default(),
        &json_object(params, "params")?,
        "network",
    )?;
    let trees: TreeParams =
        options::overlay(TreeParams::default(), &json_object(trees, "trees")?, "tree")?;
    FitOptions::new(kind, pipeline, params, trees, val_fraction, sources).map_err(to_py)
}

fn selection(
    data: Vec<PathBuf>,
    dataset: Vec<String>,
    split: Vec<String>,
    classes: Vec<String>,
) -> DataSelection {
    DataSelection {
        data,
        datasets: dataset,
        splits: split,
        classes,
    }
}

/// A model's report on labelled data (`fer eval --json`), as JSON.
#[pyfunction]
#[pyo3(signature = (data, model, dataset=vec![], split=vec![], classes=vec![], detect=None, device="auto", fp16=false, tta=None, threads=0, progress=None))]
#[allow(clippy::too_many_arguments)]
pub fn evaluate(
    py: Python<'_>,
    data: Vec<PathBuf>,
    model: &str,
    dataset: Vec<String>,
    split: Vec<String>,
    classes: Vec<String>,
    detect: Option<&Bound<'_, PyDict>>,
    device: &str,
    fp16: bool,
    tta: Option<&str>,
    threads: usize,
    progress: Option<PyObject>,
) -> PyResult<String> {
    let loaded = load_face_model(model, &options::load(device, fp16, tta)?).map_err(to_py)?;
    let mut cfg = loaded.pipeline();
    options::detect(detect)?.apply(&mut cfg).map_err(to_py)?;
    let pool = PipelinePool::new(cfg).map_err(to_py)?;
    let data = selection(data, dataset, split, classes);
    let report = detached::run(py, threads, progress.as_ref(), |p| {
        let samples = data.samples()?;
        p.set_total(samples.len());
        let protocol = format!("model {model} evaluated on {}", data.describe().join(" "));
        let only = data.filter()?.classes;
        let mut report =
            fer::evaluate::evaluate(&samples, &pool, loaded.as_ref(), &only, protocol, &|| {
                p.tick()
            })?;
        report.latent_transitions = loaded.latent_transitions()?;
        Ok(report)
    })?;
    to_json(&report)
}

/// Train a model of `kind` and save its bundle at `out` (`fer train`); returns
/// the bundle's header (kind, classes, pipeline, training record) as JSON.
#[pyfunction]
#[pyo3(signature = (data, out, kind="mlp", dataset=vec![], split=vec![], classes=vec![], detect=None, stages=None, params=None, trees=None, mirror=true, val_fraction=0.1, votes=None, threads=0, progress=None))]
#[allow(clippy::too_many_arguments)]
pub fn train(
    py: Python<'_>,
    data: Vec<PathBuf>,
    out: PathBuf,
    kind: &str,
    dataset: Vec<String>,
    split: Vec<String>,
    classes: Vec<String>,
    detect: Option<&Bound<'_, PyDict>>,
    stages: Option<&str>,
    params: Option<&str>,
    trees: Option<&str>,
    mirror: bool,
    val_fraction: f32,
    votes: Option<PathBuf>,
    threads: usize,
    progress: Option<PyObject>,
) -> PyResult<String> {
    let kind: ModelKind = kind.parse().map_err(to_py)?;
    let data = selection(data, dataset, split, classes);
    let sources = data
        .describe()
        .into_iter()
        .chain(votes.iter().map(|v| format!("votes={}", v.display())))
        .collect();
    let opts = recipe(kind, stages, params, trees, detect, val_fraction, sources)?;
    let header = detached::run(py, threads, progress.as_ref(), |p| {
        let votes = votes.as_deref().map(Votes::load).transpose()?;
        let samples = data.samples()?;
        p.set_total(samples.len());
        let mut rows = fer::rows::labelled_rows(&samples, opts.pipeline, mirror, &|| p.tick())?;
        if let Some(v) = &votes {
            rows.attach_votes(&samples, v)?;
        }
        let epochs = opts.params.epochs;
        p.done.store(0, Ordering::Relaxed);
        p.set_total(epochs);
        let all: Vec<usize> = (0..rows.x.len()).collect();
        let model = fer::train::fit(&rows, &all, &opts, &mut |epoch, _, _, _| {
            p.done.store(epoch, Ordering::Relaxed)
        })?;
        if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| fer::FerError::io(dir, e))?;
        }
        model.save(&out)?;
        Ok(serde_json::to_value(model.header()).unwrap_or_default())
    })?;
    to_json(&header)
}

/// [`CompareProgress`] onto the counters the waiting thread reports.
struct Counters<'a>(&'a Progress);

impl CompareProgress for Counters<'_> {
    fn images(&self, total: usize) {
        self.0.set_total(total);
    }
    fn image_done(&self) {
        self.0.tick();
    }
    fn fits(&self, total: usize) {
        self.0.done.store(0, Ordering::Relaxed);
        self.0.set_total(total);
    }
    fn fit_done(&self, _: usize, _: &str, _: f64) {
        self.0.tick();
    }
}

/// Model kinds (and deep models) side by side on the same folds (`fer compare`), as JSON.
#[pyfunction]
#[pyo3(signature = (data, cv=None, test=vec![], test_split=vec![], models=vec![], deep=vec![], dataset=vec![], split=vec![], classes=vec![], detect=None, stages=None, params=None, trees=None, mirror=true, val_fraction=0.1, votes=None, device="auto", fp16=false, tta=None, threads=0, progress=None))]
#[allow(clippy::too_many_arguments)]
pub fn compare(
    py: Python<'_>,
    data: Vec<PathBuf>,
    cv: Option<usize>,
    test: Vec<PathBuf>,
    test_split: Vec<String>,
    models: Vec<String>,
    deep: Vec<String>,
    dataset: Vec<String>,
    split: Vec<String>,
    classes: Vec<String>,
    detect: Option<&Bound<'_, PyDict>>,
    stages: Option<&str>,
    params: Option<&str>,
    trees: Option<&str>,
    mirror: bool,
    val_fraction: f32,
    votes: Option<PathBuf>,
    device: &str,
    fp16: bool,
    tta: Option<&str>,
    threads: usize,
    progress: Option<PyObject>,
) -> PyResult<String> {
    let data = selection(data, dataset, split, classes);
    let protocol = match (cv, test.is_empty()) {
        (Some(k), true) => Protocol::CrossValidate(k),
        (None, false) => Protocol::HeldOut(DataSelection {
            data: test,
            splits: test_split,
            ..data.clone()
        }),
        _ => return Err(parameter("cv", "give either cv=K or test=[PATH, ...]")),
    };
    let variants = if models.is_empty() {
        comparison::all_variants()
    } else {
        comparison::variants_named(&models).map_err(to_py)?
    };
    let sources = data
        .describe()
        .into_iter()
        .chain(votes.iter().map(|v| format!("votes={}", v.display())))
        .collect();
    let options = recipe(
        ModelKind::MLP,
        stages,
        params,
        trees,
        detect,
        val_fraction,
        sources,
    )?;
    let load = options::load(device, fp16, tta)?;
    let detect = options::detect(detect)?;
    let mut entrants = Vec::new();
    for name in &deep {
        let model = load_face_model(name, &load).map_err(to_py)?;
        let mut cfg = model.pipeline();
        detect.apply(&mut cfg).map_err(to_py)?;
        entrants.push(DeepEntrant {
            label: comparison::deep_label(name, tta),
            pool: PipelinePool::new(cfg).map_err(to_py)?,
            model,
        });
    }
    let cmp = detached::run(py, threads, progress.as_ref(), |p| {
        let job = CompareJob {
            data,
            protocol,
            variants,
            options,
            mirror,
            votes: votes.as_deref().map(Votes::load).transpose()?,
            deep: entrants,
        };
        job.run(&Counters(p))
    })?;
    to_json(&cmp)
}

/// The option names each part of a recipe takes: `detect`, `network` (the MLP
/// and optimiser fields) and `trees`, so that the Python half can sort keyword
/// arguments and name an unknown one.
#[pyfunction]
pub fn option_names() -> PyResult<std::collections::BTreeMap<&'static str, Vec<String>>> {
    fn fields<T: serde::Serialize>(v: T) -> Vec<String> {
        match serde_json::to_value(v) {
            Ok(Value::Object(m)) => m.keys().cloned().collect(),
            _ => vec![],
        }
    }
    Ok([
        (
            "detect",
            options::DETECT_KEYS.iter().map(|s| s.to_string()).collect(),
        ),
        ("network", fields(MlpParams::default())),
        ("trees", fields(TreeParams::default())),
    ]
    .into_iter()
    .collect())
}
