//! `evaluate`, `train` and `compare`: the library's reports as JSON text, which
//! the Python half turns into dicts and DataFrames. Data, recipe and detection
//! options become the same validated configs as the command line's flags.

use crate::detached::{self, Progress};
use crate::errors::{parameter, to_py};
use crate::options;
use fer::compare as comparison;
use fer::compare_cnn;
use fer::compare_job::{CompareJob, CompareProgress, DeepEntrant, Protocol};
use fer::data_selection::DataSelection;
use fer::model::cnn_train::CnnParams;
use fer::model::load::load_face_model;
use fer::model::mlp::MlpParams;
use fer::model::{ModelKind, TreeParams};
use fer::pipeline::PipelineConfig;
use fer::run_options::DetectOptions;
use fer::sets::SetBy;
use fer::train::FitOptions;
use fer::votes::Votes;
use fer::workers::PipelinePool;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde::Deserialize;
use serde_json::{Map, Value};
use std::path::PathBuf;
use std::sync::atomic::Ordering;

fn to_json<T: serde::Serialize>(value: &T) -> PyResult<String> {
    serde_json::to_string(value).map_err(|e| parameter("report", e))
}

/// What `train` and `compare` share, as the Python half sends it (JSON): the
/// data and its filters, and the recipe's parts: `stages` (fields of the
/// pipeline config, nested as in a bundle), `network` (the MLP and optimiser
/// fields) and `trees` (the tree fields), each a partial object over the defaults.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RecipeSpec {
    data: Vec<PathBuf>,
    dataset: Vec<String>,
    split: Vec<String>,
    classes: Vec<String>,
    stages: Map<String, Value>,
    network: Map<String, Value>,
    trees: Map<String, Value>,
    mirror: bool,
    val_fraction: f32,
    votes: Option<PathBuf>,
    /// Frames that form one set (`--set-by`): `sequence` or a manifest column.
    #[serde(default)]
    set_by: Option<String>,
}

impl RecipeSpec {
    fn parse(text: &str) -> PyResult<Self> {
        serde_json::from_str(text).map_err(|e| parameter("recipe", e))
    }

    fn selection(&self) -> PyResult<DataSelection> {
        selection(
            self.data.clone(),
            self.dataset.clone(),
            self.split.clone(),
            self.classes.clone(),
            self.set_by.as_deref(),
        )
    }

    /// Validated options for `kind`, with `detect` applied to the pipeline.
    fn options(&self, kind: ModelKind, detect: &DetectOptions) -> PyResult<FitOptions> {
        let mut pipeline: PipelineConfig =
            options::overlay_nested(PipelineConfig::default(), &self.stages, "stage")?;
        detect.apply(&mut pipeline).map_err(to_py)?;
        let params: MlpParams = options::overlay(MlpParams::default(), &self.network, "network")?;
        let trees: TreeParams = options::overlay(TreeParams::default(), &self.trees, "tree")?;
        let sources = self
            .selection()?
            .describe()
            .into_iter()
            .chain(self.votes.iter().map(|v| format!("votes={}", v.display())))
            .collect();
        FitOptions::new(kind, pipeline, params, trees, self.val_fraction, sources).map_err(to_py)
    }

    fn votes(&self) -> fer::Result<Option<Votes>> {
        self.votes.as_deref().map(Votes::load).transpose()
    }
}

fn selection(
    data: Vec<PathBuf>,
    dataset: Vec<String>,
    split: Vec<String>,
    classes: Vec<String>,
    set_by: Option<&str>,
) -> PyResult<DataSelection> {
    Ok(DataSelection {
        data,
        datasets: dataset,
        splits: split,
        classes,
        set_by: set_by.map(str::parse::<SetBy>).transpose().map_err(to_py)?,
    })
}

/// A model's report on labelled data (`fer eval --json`), as JSON.
#[pyfunction]
#[pyo3(signature = (data, model, dataset=vec![], split=vec![], classes=vec![], detect=None, device="auto", fp16=false, tta=None, threads=0, progress=None, set_by=None))]
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
    set_by: Option<&str>,
) -> PyResult<String> {
    let loaded = load_face_model(model, &options::load(device, fp16, tta)?).map_err(to_py)?;
    let cfg = loaded
        .run_pipeline(&options::detect(detect)?)
        .map_err(to_py)?;
    let pool = PipelinePool::new(cfg).map_err(to_py)?;
    let data = selection(data, dataset, split, classes, set_by)?;
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

/// Train a model of `kind` on `recipe` (a [`RecipeSpec`]) and save its bundle
/// at `out` (`fer train`); returns the bundle's header (kind, classes, pipeline,
/// training record) as JSON.
#[pyfunction]
#[pyo3(signature = (out, kind, recipe, detect=None, threads=0, progress=None))]
pub fn train(
    py: Python<'_>,
    out: PathBuf,
    kind: &str,
    recipe: &str,
    detect: Option<&Bound<'_, PyDict>>,
    threads: usize,
    progress: Option<PyObject>,
) -> PyResult<String> {
    let kind: ModelKind = kind.parse().map_err(to_py)?;
    let recipe = RecipeSpec::parse(recipe)?;
    fer::train::check_set_by(kind, recipe.set_by.is_some()).map_err(to_py)?;
    let opts = recipe.options(kind, &options::detect(detect)?)?;
    let data = recipe.selection()?;
    let header = detached::run(py, threads, progress.as_ref(), |p| {
        let votes = recipe.votes()?;
        let samples = data.samples()?;
        p.set_total(samples.len());
        let mut rows =
            fer::rows::labelled_rows(&samples, opts.pipeline, recipe.mirror, &|| p.tick())?;
        if let Some(v) = &votes {
            rows.attach_votes(&samples, v)?;
        }
        p.done.store(0, Ordering::Relaxed);
        p.set_total(opts.params.epochs);
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

/// Model kinds (and deep models) side by side on the same folds (`fer
/// compare`), trained with `recipe` (a [`RecipeSpec`]), as JSON.
#[pyfunction]
#[pyo3(signature = (recipe, cv=None, test=vec![], test_split=vec![], models=vec![], deep=vec![], detect=None, device="auto", fp16=false, tta=None, threads=0, progress=None, cnn_epochs=None))]
#[allow(clippy::too_many_arguments)]
pub fn compare(
    py: Python<'_>,
    recipe: &str,
    cv: Option<usize>,
    test: Vec<PathBuf>,
    test_split: Vec<String>,
    models: Vec<String>,
    deep: Vec<String>,
    detect: Option<&Bound<'_, PyDict>>,
    device: &str,
    fp16: bool,
    tta: Option<&str>,
    threads: usize,
    progress: Option<PyObject>,
    cnn_epochs: Option<usize>,
) -> PyResult<String> {
    let recipe = RecipeSpec::parse(recipe)?;
    let data = recipe.selection()?;
    let cnn = cnn_epochs
        .map(|epochs| {
            compare_cnn::row_params(epochs, CnnParams::default().arch.channels, recipe.mirror)
        })
        .transpose()
        .map_err(to_py)?;
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
        comparison::all_variants(data.set_by.is_some())
    } else {
        comparison::variants_named(&models).map_err(to_py)?
    };
    let detect = options::detect(detect)?;
    let options = recipe.options(ModelKind::MLP, &detect)?;
    let load = options::load(device, fp16, tta)?;
    let mut entrants = Vec::new();
    for name in &deep {
        let model = load_face_model(name, &load).map_err(to_py)?;
        let cfg = model.run_pipeline(&detect).map_err(to_py)?;
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
            mirror: recipe.mirror,
            votes: recipe.votes()?,
            deep: entrants,
            cnn,
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
