//! What `--model` names, turned into a [`FaceModel`]: a bundle from `fer train`,
//! a CNN from `fer train-cnn`, an ONNX sidecar (`.json`), an ensemble sidecar
//! (`.json` of format `fer-ensemble`), the name of a shipped model
//! (`mini-xception` is `models/mini-xception.json`), or an inline weighted
//! ensemble `A@0.9+B@0.1` of any of these. `--tta flip` wraps the result in
//! mirror averaging ([`crate::model::tta`]).

use crate::error::{FerError, Result};
use crate::model::cnn::{is_cnn_file, CnnModel};
use crate::model::onnx::{in_own_folder, DnnDevice, OnnxModel, ONNX_FORMAT};
use crate::model::tta::Tta;
use crate::model::weighted::{Member, WeightedEnsemble};
use crate::model::{FaceModel, Model};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The model a command reads faces with when `--model` is not given: our CNN of the
/// FER+ votes, by its shipped name (`models/cnn-ferplus.json`). It reads every test
/// set it never trained on better than the feature model, and faster through
/// detection, since it needs no eye search (README, "Accuracy of the shipped model").
pub const DEFAULT_MODEL: &str = "cnn-ferplus";
/// The shipped feature model (the MLP on points and HOG, the default before
/// 2026-12-03; `fer explain` and `fer train`'s recipes read features like it),
/// relative to the repository.
pub const FEATURE_MODEL: &str = "models/fer-default.safetensors";
/// The `format` field of an ensemble sidecar.
pub const ENSEMBLE_FORMAT: &str = "fer-ensemble";
/// Sidecars larger than this are refused before reading.
const MAX_SIDECAR_BYTES: u64 = 1 << 20;
/// Separates the members of an inline ensemble (`A@0.9+B@0.1`).
const MEMBER_SEPARATOR: char = '+';
/// Separates a member from its weight.
const WEIGHT_SEPARATOR: char = '@';

/// How deep models run and are read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoadOptions {
    pub device: DnnDevice,
    /// Half precision on CUDA.
    pub fp16: bool,
    /// Test-time augmentation; `None` keeps what an ensemble sidecar asks for (none otherwise).
    pub tta: Option<Tta>,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            device: DnnDevice::Auto,
            fp16: false,
            tta: None,
        }
    }
}

/// An ensemble sidecar: members (paths relative to the sidecar, or shipped names) and weights.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnsembleSpec {
    /// Always [`ENSEMBLE_FORMAT`].
    pub format: String,
    pub members: Vec<MemberSpec>,
    /// Test-time augmentation the weights were chosen with (`none` or `flip`).
    #[serde(default)]
    pub tta: Option<String>,
    /// How the weights were chosen, for model cards.
    #[serde(default)]
    pub description: String,
}

/// One member of an ensemble sidecar.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MemberSpec {
    pub model: String,
    pub weight: f32,
}

/// The model path: as given, or the shipped feature model found from the working
/// directory or the source tree this library was built from.
pub fn resolve_model(path: &Path) -> PathBuf {
    if path.exists() || path != Path::new(FEATURE_MODEL) {
        return path.to_path_buf();
    }
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR")).join(FEATURE_MODEL);
    if built_from.exists() {
        built_from
    } else {
        path.to_path_buf()
    }
}

/// A shipped sidecar by name (`mini-xception` is `models/mini-xception.json`),
/// from the working directory or the source tree this library was built from.
pub fn shipped_sidecar(name: &Path) -> Option<PathBuf> {
    let file = format!("models/{}.json", name.to_str()?);
    [
        PathBuf::from(&file),
        Path::new(env!("CARGO_MANIFEST_DIR")).join(&file),
    ]
    .into_iter()
    .find(|p| p.exists())
}

/// The sidecar `path` names: a `.json` file, or a shipped model's name.
pub fn deep_sidecar(path: &Path) -> Option<PathBuf> {
    if path.extension().is_some_and(|e| e == "json") {
        Some(path.to_path_buf())
    } else {
        shipped_sidecar(path)
    }
}

/// Whether `spec` is an inline ensemble (`A@w+B@w`) rather than one model.
pub fn is_inline_ensemble(spec: &str) -> bool {
    !Path::new(spec).exists() && spec.contains([MEMBER_SEPARATOR, WEIGHT_SEPARATOR])
}

/// Load what `spec` names (see the module doc), with `opts.tta` applied.
pub fn load_face_model(spec: &str, opts: &LoadOptions) -> Result<Box<dyn FaceModel>> {
    let (model, own_tta) = if is_inline_ensemble(spec) {
        (inline_ensemble(spec, opts)?, None)
    } else {
        load_one(Path::new(spec), opts, true)?
    };
    opts.tta.or(own_tta).unwrap_or_default().apply(model, spec)
}

/// `A@0.9+B@0.1` (a member without `@` weighs 1).
fn inline_ensemble(spec: &str, opts: &LoadOptions) -> Result<Box<dyn FaceModel>> {
    let mut members = Vec::new();
    for part in spec.split(MEMBER_SEPARATOR) {
        let (name, weight) = match part.rsplit_once(WEIGHT_SEPARATOR) {
            Some((n, w)) => {
                let weight = w.trim().parse::<f32>().map_err(|_| {
                    FerError::param(
                        "model",
                        format!("`{part}` in `{spec}`: the weight after @ is not a number"),
                    )
                })?;
                (n.trim(), weight)
            }
            None => (part.trim(), 1.0),
        };
        if name.is_empty() {
            return Err(FerError::param(
                "model",
                format!("`{spec}`: an ensemble member has no name (write A@0.9+B@0.1)"),
            ));
        }
        let (model, _) = load_one(Path::new(name), opts, false)?;
        members.push(Member {
            model,
            weight,
            name: name.to_string(),
        });
    }
    Ok(Box::new(WeightedEnsemble::new(members)?))
}

/// One model (no inline ensemble), and the test-time augmentation an ensemble
/// sidecar asks for. Ensemble sidecars are read only when `ensembles` (their
/// members may not be ensembles themselves).
fn load_one(
    path: &Path,
    opts: &LoadOptions,
    ensembles: bool,
) -> Result<(Box<dyn FaceModel>, Option<Tta>)> {
    // An existing file that is not a sidecar is a bundle or a CNN, whatever its name.
    let is_file = path.exists() && path.extension().is_none_or(|e| e != "json");
    if is_file {
        if is_cnn_file(path) {
            if opts.device == DnnDevice::Cuda {
                tracing::warn!(
                    "{}: our CNN runs on the CPU (this build has no candle cuda feature)",
                    path.display()
                );
            }
            return Ok((Box::new(CnnModel::load(path)?), None));
        }
        return Ok((Box::new(Model::load(path)?), None));
    }
    let Some(json) = deep_sidecar(path) else {
        return Ok((Box::new(Model::load(&resolve_model(path))?), None));
    };
    match sidecar_format(&json)?.as_str() {
        ENSEMBLE_FORMAT if ensembles => {
            let (model, tta) = ensemble_sidecar(&json, opts)?;
            Ok((model, tta))
        }
        ENSEMBLE_FORMAT => Err(FerError::model(
            &json,
            "an ensemble cannot be a member of another ensemble",
        )),
        ONNX_FORMAT => Ok((
            Box::new(OnnxModel::load(&json, opts.device, opts.fp16)?),
            None,
        )),
        other => Err(FerError::model(
            &json,
            format!("sidecar format is `{other}`, expected `{ONNX_FORMAT}` or `{ENSEMBLE_FORMAT}`"),
        )),
    }
}

fn read_sidecar(path: &Path) -> Result<String> {
    let meta = std::fs::metadata(path).map_err(|e| FerError::model(path, e.to_string()))?;
    if meta.len() > MAX_SIDECAR_BYTES {
        return Err(FerError::model(path, "sidecar too large"));
    }
    std::fs::read_to_string(path).map_err(|e| FerError::model(path, e.to_string()))
}

/// The `format` field of a JSON sidecar.
fn sidecar_format(path: &Path) -> Result<String> {
    #[derive(Deserialize)]
    struct Format {
        format: String,
    }
    let f: Format = serde_json::from_str(&read_sidecar(path)?)
        .map_err(|e| FerError::model(path, format!("not a fer sidecar ({e})")))?;
    Ok(f.format)
}

fn ensemble_sidecar(path: &Path, opts: &LoadOptions) -> Result<(Box<dyn FaceModel>, Option<Tta>)> {
    let spec: EnsembleSpec = serde_json::from_str(&read_sidecar(path)?)
        .map_err(|e| FerError::model(path, format!("not a fer-ensemble sidecar ({e})")))?;
    if spec.members.is_empty() {
        return Err(FerError::model(path, "the ensemble has no members"));
    }
    let tta = spec
        .tta
        .as_deref()
        .map(str::parse::<Tta>)
        .transpose()
        .map_err(|e| FerError::model(path, e.to_string()))?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut members = Vec::new();
    for m in &spec.members {
        // A member is a file beside the sidecar, or a shipped model's name.
        if !in_own_folder(&m.model) {
            return Err(FerError::model(
                path,
                format!(
                    "member `{}` must name a file in the sidecar's own folder, or a shipped model",
                    m.model
                ),
            ));
        }
        let beside = dir.join(&m.model);
        let target = if beside.exists() {
            beside
        } else {
            PathBuf::from(&m.model)
        };
        let (model, _) = load_one(&target, opts, false)
            .map_err(|e| FerError::model(path, format!("member {}: {e}", m.model)))?;
        members.push(Member {
            model,
            weight: m.weight,
            name: m.model.clone(),
        });
    }
    let ensemble =
        WeightedEnsemble::new(members).map_err(|e| FerError::model(path, e.to_string()))?;
    Ok((Box::new(ensemble), tta))
}
