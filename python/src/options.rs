//! Keyword arguments into the library's validated configs: the same
//! [`DetectOptions`], [`LoadOptions`] and parameter structs the command line
//! fills from its flags, checked by the same code.

use crate::errors::{parameter, to_py};
use fer::model::load::LoadOptions;
use fer::run_options::DetectOptions;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// The detection keyword arguments (the CLI's flags, with `_` for `-`).
pub const DETECT_KEYS: [&str; 10] = [
    "no_detect",
    "min_face",
    "max_face",
    "scale_factor",
    "min_neighbors",
    "detect_max_side",
    "search",
    "eyes",
    "eye_finder",
    "max_pixels",
];

fn get<'py, T: FromPyObject<'py>>(d: &Bound<'py, PyDict>, key: &str) -> PyResult<Option<T>> {
    match d.get_item(key)? {
        Some(v) if !v.is_none() => v.extract().map(Some).map_err(|e| parameter(key, e)),
        _ => Ok(None),
    }
}

/// Refuse keys that are not in `known`, naming them.
pub fn only_known(d: &Bound<'_, PyDict>, known: &[&str], what: &str) -> PyResult<()> {
    for key in d.keys() {
        let key: String = key.extract()?;
        if !known.contains(&key.as_str()) {
            return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                "unknown {what} option `{key}` (known: {})",
                known.join(", ")
            )));
        }
    }
    Ok(())
}

/// [`DetectOptions`] from a dict of [`DETECT_KEYS`] (missing or None: the model's own).
pub fn detect(d: Option<&Bound<'_, PyDict>>) -> PyResult<DetectOptions> {
    let Some(d) = d else {
        return Ok(DetectOptions::default());
    };
    only_known(d, &DETECT_KEYS, "detection")?;
    Ok(DetectOptions {
        no_detect: get(d, "no_detect")?.unwrap_or(false),
        min_face: get(d, "min_face")?,
        max_face: get(d, "max_face")?,
        scale_factor: get(d, "scale_factor")?,
        min_neighbors: get(d, "min_neighbors")?,
        detect_max_side: get(d, "detect_max_side")?,
        search: get(d, "search")?,
        no_eyes: !get(d, "eyes")?.unwrap_or(true),
        eye_finder: get(d, "eye_finder")?,
        max_pixels: get(d, "max_pixels")?,
    })
}

/// How deep models run: `device` (cpu, cuda, auto), `fp16`, `tta` (none, flip).
pub fn load(device: &str, fp16: bool, tta: Option<&str>) -> PyResult<LoadOptions> {
    Ok(LoadOptions {
        device: device.parse().map_err(to_py)?,
        fp16,
        tta: tta.map(str::parse).transpose().map_err(to_py)?,
    })
}

/// `base` with the fields named in the JSON object `overrides` replaced; a
/// field `base` does not have is refused, naming it.
pub fn overlay<T: Serialize + DeserializeOwned>(
    base: T,
    overrides: &serde_json::Map<String, serde_json::Value>,
    what: &str,
) -> PyResult<T> {
    let mut value = serde_json::to_value(base).map_err(|e| parameter(what, e))?;
    let Some(fields) = value.as_object_mut() else {
        return Err(parameter(what, "not a set of fields"));
    };
    for (k, v) in overrides {
        if !fields.contains_key(k) {
            let mut known: Vec<&String> = fields.keys().collect();
            known.sort();
            return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                "unknown {what} option `{k}` (known: {})",
                known
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        fields.insert(k.clone(), v.clone());
    }
    serde_json::from_value(value).map_err(|e| parameter(what, e))
}

/// [`overlay`] that merges nested objects field by field (for the pipeline
/// config, whose stages are objects): `{"denoise": {"kernel": 5}}` changes one field.
pub fn overlay_nested<T: Serialize + DeserializeOwned>(
    base: T,
    overrides: &serde_json::Map<String, serde_json::Value>,
    what: &str,
) -> PyResult<T> {
    fn merge(
        into: &mut serde_json::Value,
        from: &serde_json::Map<String, serde_json::Value>,
        path: &str,
        what: &str,
    ) -> PyResult<()> {
        let Some(fields) = into.as_object_mut() else {
            return Err(parameter(
                what,
                format!("`{path}` is not a group of fields"),
            ));
        };
        for (k, v) in from {
            let here = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            let Some(slot) = fields.get_mut(k) else {
                let mut known: Vec<&str> = fields.keys().map(String::as_str).collect();
                known.sort();
                return Err(pyo3::exceptions::PyTypeError::new_err(format!(
                    "unknown {what} option `{here}` (known: {})",
                    known.join(", ")
                )));
            };
            match (slot.is_object(), v.as_object()) {
                (true, Some(inner)) => merge(slot, inner, &here, what)?,
                _ => *slot = v.clone(),
            }
        }
        Ok(())
    }
    let mut value = serde_json::to_value(base).map_err(|e| parameter(what, e))?;
    merge(&mut value, overrides, "", what)?;
    serde_json::from_value(value).map_err(|e| parameter(what, e))
}
