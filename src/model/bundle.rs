//! The model bundle: one safetensors file holding the classifier (network weights
//! under `mlp.`, `tree.`, `ndf.`, `dndt.`; forest and booster as JSON bytes in
//! `u8` tensors) and the feature normalisation (`norm.mean`, `norm.std`), with a
//! JSON header in the safetensors metadata under the key `fer`: model kind, class
//! list, feature schema version, pipeline config, hyperparameters, training
//! summary. A bundle of another schema, or
//! a corrupt or truncated file, is refused with an error naming the file.

use crate::atomic_file::write_atomic;
use crate::error::{FerError, Result};
use crate::gray::GrayImage;
use crate::metrics::SourceTransition;
use crate::model::face_model::FaceModel;
use crate::model::kinds::ModelKind;
use crate::model::learner::{Classify, LoadJob};
use crate::model::mlp::{MlpParams, TrainReport};
use crate::model::net::{transitions, LATENT_TENSOR};
use crate::model::params::TreeParams;
use crate::pipeline::ImageReading;
use crate::pipeline::PipelineConfig;
use crate::stages::features::FEATURE_SCHEMA_VERSION;
use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// The `format` field of every bundle header.
pub const MODEL_FORMAT: &str = "fer-model";
/// Version of the bundle layout this build reads and writes.
pub const MODEL_SCHEMA_VERSION: u32 = 1;
/// Metadata key holding the JSON header.
pub const HEADER_KEY: &str = "fer";
/// Bundles larger than this are refused before reading.
pub const MAX_MODEL_BYTES: u64 = 1 << 30;
/// Floor for feature standard deviations, so constant features do not divide by zero.
pub const MIN_STD: f32 = 1e-6;

/// What the model was trained on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainingSummary {
    /// `--data` sources and filters as given.
    pub sources: Vec<String>,
    /// Images with features, per class (mirrored copies not counted).
    pub per_class: BTreeMap<String, usize>,
    /// Samples skipped (unreadable, or no face found).
    pub skipped: usize,
    /// Training rows (mirrored copies included).
    pub train: usize,
    /// Of the training rows, mirrored copies of training images.
    #[serde(default)]
    pub mirrored: usize,
    /// Validation rows.
    pub validation: usize,
    /// How the validation split was drawn ("by subject" or "by image").
    pub validation_split: String,
    /// Training curves and the kept epoch.
    pub report: TrainReport,
}

impl TrainingSummary {
    /// One line: training rows, and the validation split with its best epoch.
    pub fn describe(&self) -> String {
        let how = if self.validation > 0 {
            format!(
                "{} validation ({}), best epoch {} of {}, validation accuracy {:.1}%",
                self.validation,
                self.validation_split,
                self.report.best_epoch,
                self.report.epochs_run,
                100.0 * self.report.val_accuracy
            )
        } else {
            "no validation split".to_string()
        };
        format!("{} train ({} mirrored) / {how}", self.train, self.mirrored)
    }
}

/// The JSON header of a bundle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelHeader {
    /// Always [`MODEL_FORMAT`].
    pub format: String,
    /// Bundle layout version.
    pub schema_version: u32,
    /// Model kind (`mlp`, `forest`, `boost`, `soft-tree`, `ndf`, `dndt`, `ensemble`).
    pub kind: String,
    /// Output classes, in output order.
    pub classes: Vec<String>,
    /// Feature layout version the model was trained on.
    pub feature_schema_version: u32,
    /// Input dimension.
    pub feature_dim: usize,
    /// Pipeline configuration used to make the training features.
    pub pipeline: PipelineConfig,
    /// Network hyperparameters (and optimiser settings of every network trained by gradient).
    pub mlp: MlpParams,
    /// Tree model hyperparameters (absent in bundles written before tree models existed).
    #[serde(default)]
    pub trees: TreeParams,
    /// With latent truth (`--latent-truth`): the annotation sources, in the order
    /// of the transition matrices stored under [`LATENT_TENSOR`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub latent_sources: Vec<String>,
    /// Training data summary.
    pub training: TrainingSummary,
    /// `fer` version that wrote the bundle.
    pub written_by: String,
}

/// A loaded or freshly trained model.
pub struct Model {
    header: ModelHeader,
    kind: ModelKind,
    classifier: Box<dyn Classify>,
    mean: Tensor,
    std: Tensor,
    tensors: HashMap<String, Tensor>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("kind", &self.header.kind)
            .field("classes", &self.header.classes)
            .finish_non_exhaustive()
    }
}

impl Model {
    /// Assemble from named tensors (the classifier's, `norm.mean`, `norm.std`) and a header.
    pub fn from_tensors(header: ModelHeader, tensors: HashMap<String, Tensor>) -> Result<Self> {
        let dim = header.feature_dim;
        let get = |name: &str| -> Result<Tensor> {
            let t = tensors
                .get(name)
                .ok_or_else(|| FerError::Training(format!("tensor {name} missing")))?;
            if t.dims() != [dim] {
                return Err(FerError::Training(format!(
                    "tensor {name} has shape {:?}, expected [{dim}]",
                    t.dims()
                )));
            }
            Ok(t.clone())
        };
        let (mean, std) = (get("norm.mean")?, get("norm.std")?);
        check_weights(&tensors)?;
        if std.to_vec1::<f32>()?.iter().any(|&s| s <= 0.0) {
            return Err(FerError::Training(
                "tensor norm.std holds a scale that is not positive".into(),
            ));
        }
        let kind: ModelKind = header.kind.parse()?;
        let classifier = kind.learner().load(&LoadJob {
            dim,
            classes: header.classes.len(),
            mlp: &header.mlp,
            trees: &header.trees,
            tensors: &tensors,
            layout: &header.pipeline.features.layout(header.pipeline.align.size),
        })?;
        let model = Model {
            header,
            kind,
            classifier,
            mean,
            std,
            tensors,
        };
        model.transitions()?; // a latent-truth bundle's matrices must match its sources and classes
        Ok(model)
    }

    /// The model kind.
    pub fn kind(&self) -> ModelKind {
        self.kind
    }

    /// The classifier (for explanations).
    pub fn classifier(&self) -> &dyn Classify {
        self.classifier.as_ref()
    }

    /// Standardise feature rows as the model was trained: `(x - mean) / std`, row-major.
    pub fn standardise(&self, rows: &[Vec<f32>]) -> Result<Vec<f32>> {
        let dim = self.header.feature_dim;
        let mean = self.mean.to_vec1::<f32>()?;
        let std = self.std.to_vec1::<f32>()?;
        let mut flat = Vec::with_capacity(rows.len() * dim);
        for r in rows {
            if r.len() != dim {
                return Err(FerError::param(
                    "features",
                    format!("model expects {dim} features, got {}", r.len()),
                ));
            }
            flat.extend(
                r.iter()
                    .zip(mean.iter().zip(&std))
                    .map(|(v, (m, s))| (v - m) / s),
            );
        }
        Ok(flat)
    }

    /// Feature means and standard deviations the model standardises with.
    pub fn norm(&self) -> Result<(Vec<f32>, Vec<f32>)> {
        Ok((self.mean.to_vec1::<f32>()?, self.std.to_vec1::<f32>()?))
    }

    /// Bytes the bundle takes on disk.
    pub fn size_on_disk(&self) -> Result<u64> {
        Ok(self.to_bytes(Path::new("model"))?.len() as u64)
    }

    /// The header.
    pub fn header(&self) -> &ModelHeader {
        &self.header
    }

    /// Output classes.
    pub fn classes(&self) -> &[String] {
        &self.header.classes
    }

    /// The latent-truth transition matrices `T_s[z][y] = p(source s says y | truth z)`,
    /// one per source, by source name; empty for a model trained without latent truth.
    pub fn transitions(&self) -> Result<Vec<(String, Vec<Vec<f32>>)>> {
        let Some(params) = self.tensors.get(LATENT_TENSOR) else {
            return Ok(vec![]);
        };
        let k = self.header.classes.len();
        let s = self.header.latent_sources.len();
        if params.dims() != [s, k, k] {
            return Err(FerError::Training(format!(
                "tensor {LATENT_TENSOR} has shape {:?}, expected [{s}, {k}, {k}]",
                params.dims()
            )));
        }
        Ok(self
            .header
            .latent_sources
            .iter()
            .cloned()
            .zip(transitions(params)?)
            .collect())
    }

    /// Class probabilities for each feature row.
    pub fn predict(&self, rows: &[Vec<f32>]) -> Result<Vec<Vec<f32>>> {
        if rows.is_empty() {
            return Ok(Vec::new());
        }
        let flat = self.standardise(rows)?;
        let probs = self
            .classifier
            .probabilities(&flat, rows.len(), self.header.feature_dim)?;
        check_finite(probs.iter().flatten())?;
        Ok(probs)
    }

    /// Class probabilities of one set of feature rows (the frames of one face):
    /// a set model pools the frames' features, any other model averages their
    /// probabilities ([`Classify::set_probabilities`]).
    pub fn predict_set(&self, rows: &[Vec<f32>]) -> Result<Vec<f32>> {
        let flat = self.standardise(rows)?;
        let probs =
            self.classifier
                .set_probabilities(&flat, rows.len(), self.header.feature_dim)?;
        check_finite(probs.iter())?;
        Ok(probs)
    }

    fn to_bytes(&self, path: &Path) -> Result<Vec<u8>> {
        let header = serde_json::to_string(&self.header)
            .map_err(|e| FerError::model(path, e.to_string()))?;
        let meta = HashMap::from([(HEADER_KEY.to_string(), header)]);
        let mut names: Vec<&String> = self.tensors.keys().collect();
        names.sort();
        let data: Vec<(&str, &Tensor)> = names
            .iter()
            .map(|n| (n.as_str(), &self.tensors[*n]))
            .collect();
        safetensors::serialize(data, Some(meta)).map_err(|e| FerError::model(path, e.to_string()))
    }

    /// Write the bundle atomically (temporary file, then rename).
    pub fn save(&self, path: &Path) -> Result<()> {
        write_atomic(path, &self.to_bytes(path)?)
    }

    /// Read and validate a bundle.
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = read_capped(path, MAX_MODEL_BYTES)?;
        let (_, st_meta) = safetensors::SafeTensors::read_metadata(&bytes)
            .map_err(|e| FerError::model(path, format!("not a valid safetensors bundle ({e})")))?;
        let header_json = st_meta
            .metadata()
            .as_ref()
            .and_then(|m| m.get(HEADER_KEY))
            .ok_or_else(|| {
                FerError::model(
                    path,
                    format!("no `{HEADER_KEY}` header: not a fer model bundle"),
                )
            })?;
        let value: serde_json::Value = serde_json::from_str(header_json)
            .map_err(|e| FerError::model(path, format!("header is not JSON ({e})")))?;
        let format = value.get("format").and_then(|v| v.as_str()).unwrap_or("");
        if format != MODEL_FORMAT {
            return Err(FerError::model(
                path,
                format!("header format is `{format}`, expected `{MODEL_FORMAT}`"),
            ));
        }
        let version = value
            .get("schema_version")
            .and_then(|v| v.as_u64())
            .unwrap_or(0);
        if version != MODEL_SCHEMA_VERSION as u64 {
            return Err(FerError::model(
                path,
                format!("bundle schema version {version}; this build of fer reads version {MODEL_SCHEMA_VERSION}: retrain with `fer train`"),
            ));
        }
        let header: ModelHeader = serde_json::from_value(value).map_err(|e| {
            FerError::model(
                path,
                format!("header does not match schema {MODEL_SCHEMA_VERSION} ({e})"),
            )
        })?;
        if header.feature_schema_version != FEATURE_SCHEMA_VERSION {
            return Err(FerError::model(
                path,
                format!(
                    "trained on feature schema {}; this build computes schema {FEATURE_SCHEMA_VERSION}: retrain with `fer train`",
                    header.feature_schema_version
                ),
            ));
        }
        header
            .pipeline
            .check()
            .map_err(|e| FerError::model(path, format!("pipeline config in header: {e}")))?;
        if header.classes.len() < 2 {
            return Err(FerError::model(path, "fewer than 2 classes"));
        }
        if header
            .pipeline
            .features
            .names(header.pipeline.align.size)
            .len()
            != header.feature_dim
        {
            return Err(FerError::model(
                path,
                "feature_dim does not match the pipeline's feature layout",
            ));
        }
        let tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu)
            .map_err(|e| FerError::model(path, format!("weights unreadable ({e})")))?;
        let tensors = tensors
            .into_iter()
            // Byte strings (forest, booster) stay bytes; weights of any float type become f32.
            .map(|(k, t)| {
                Ok((
                    k,
                    if t.dtype() == DType::U8 {
                        t
                    } else {
                        t.to_dtype(DType::F32)?
                    },
                ))
            })
            .collect::<Result<HashMap<_, _>>>()?;
        Model::from_tensors(header, tensors).map_err(|e| FerError::model(path, e.to_string()))
    }
}

/// The bytes of `path`, refused (with the file named) when it is larger than `max`.
pub fn read_capped(path: &Path, max: u64) -> Result<Vec<u8>> {
    let len = std::fs::metadata(path)
        .map_err(|e| FerError::model(path, e.to_string()))?
        .len();
    if len > max {
        return Err(FerError::model(
            path,
            format!("file is {len} bytes, over the {max}-byte limit"),
        ));
    }
    std::fs::read(path).map_err(|e| FerError::model(path, e.to_string()))
}

/// Every float tensor holds only finite numbers: a NaN or infinite weight (a damaged
/// file) would turn every probability into NaN, so it is refused at load instead.
fn check_weights(tensors: &HashMap<String, Tensor>) -> Result<()> {
    let mut names: Vec<&String> = tensors.keys().collect();
    names.sort();
    for name in names {
        let t = &tensors[name];
        if t.dtype() == DType::U8 {
            continue; // byte strings (serde JSON), checked by their own readers
        }
        let values = t.to_dtype(DType::F32)?.flatten_all()?.to_vec1::<f32>()?;
        if values.iter().any(|v| !v.is_finite()) {
            return Err(FerError::Training(format!(
                "tensor {name} holds NaN or infinite values"
            )));
        }
    }
    Ok(())
}

/// Finite weights can still overflow (a damaged file's huge values): an error,
/// never a NaN probability in someone's results.
fn check_finite<'a>(probs: impl IntoIterator<Item = &'a f32>) -> Result<()> {
    if probs.into_iter().any(|p| !p.is_finite()) {
        return Err(FerError::Training(
            "the model gave a probability that is not a finite number (damaged weights?)".into(),
        ));
    }
    Ok(())
}

impl FaceModel for Model {
    fn classes(&self) -> &[String] {
        Model::classes(self)
    }

    fn pipeline(&self) -> PipelineConfig {
        self.header().pipeline
    }

    fn classify_faces(&self, _frame: &GrayImage, reading: &ImageReading) -> Result<Vec<Vec<f32>>> {
        let features: Vec<Vec<f32>> = reading.faces.iter().map(|f| f.features.clone()).collect();
        self.predict(&features)
    }

    fn pools_sets(&self) -> bool {
        self.classifier.pools_sets()
    }

    fn set_probabilities(&self, features: &[Vec<f32>]) -> Result<Vec<f32>> {
        self.predict_set(features)
    }

    fn latent_transitions(&self) -> Result<Vec<SourceTransition>> {
        Ok(self
            .transitions()?
            .into_iter()
            .map(|(source, matrix)| SourceTransition {
                source,
                classes: self.classes().to_vec(),
                matrix,
            })
            .collect())
    }
}
