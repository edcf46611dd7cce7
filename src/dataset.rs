//! Labelled datasets: folder-per-class trees and manifests in the layout of
//! `../shared/data/MANIFEST.csv` (`dataset,path,label_original,label_canonical,subject,split,note`,
//! paths relative to the manifest). Folder names are normalised to the canonical
//! classes (anger -> angry, sadness -> sad, surprised -> surprise, normal -> neutral, ...).

use crate::error::{FerError, Result};
use crate::sets::SetBy;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Canonical classes, in the order models list them.
pub const CANONICAL_CLASSES: [&str; 8] = [
    "angry", "disgust", "fear", "happy", "sad", "surprise", "neutral", "contempt",
];

/// File extensions read when walking folders.
pub const IMAGE_EXTENSIONS: [&str; 10] = [
    "png", "jpg", "jpeg", "gif", "tif", "tiff", "bmp", "webp", "pgm", "ppm",
];

/// Map a folder or label name to its canonical class.
pub fn normalise_label(name: &str) -> Option<&'static str> {
    let n = name.trim().to_ascii_lowercase();
    Some(match n.as_str() {
        "angry" | "anger" | "mad" => "angry",
        "disgust" | "disgusted" | "disgusting" => "disgust",
        "fear" | "fearful" | "afraid" | "scared" => "fear",
        "happy" | "happiness" | "joy" | "smile" | "smiling" => "happy",
        "sad" | "sadness" | "unhappy" => "sad",
        "surprise" | "surprised" | "surprising" => "surprise",
        "neutral" | "normal" | "calm" => "neutral",
        "contempt" | "contemptuous" => "contempt",
        _ => return None,
    })
}

/// Whether `path` has an image extension.
/// File extensions read as videos by `fer batch` (lower case).
pub const VIDEO_EXTENSIONS: [&str; 8] = ["avi", "mp4", "mkv", "mov", "webm", "mpg", "mpeg", "m4v"];

/// Whether `path` has a video extension.
pub fn is_video_path(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| VIDEO_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Whether `path` has an image extension.
pub fn is_image_path(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .map(|e| IMAGE_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
        .unwrap_or(false)
}

/// The subject a file shows, from its name: CK+ (`S010_004_00000017.png` -> `S010`) or
/// Yale (`subject02.happy.gif` -> `subject02`).
pub fn subject_from_name(path: &Path) -> Option<String> {
    let name = path.file_name()?.to_str()?;
    let b = name.as_bytes();
    if b.len() > 5 && b[0] == b'S' && b[1..4].iter().all(u8::is_ascii_digit) && b[4] == b'_' {
        return Some(name[..4].to_string());
    }
    if let Some(rest) = name.strip_prefix("subject") {
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if !digits.is_empty() {
            return Some(format!("subject{digits}"));
        }
    }
    None
}

/// One labelled image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sample {
    /// Image file.
    pub path: PathBuf,
    /// Canonical class.
    pub label: String,
    /// Subject, when known (for grouped splits).
    pub subject: Option<String>,
    /// The annotation source: `NAME` of a `--data NAME=PATH`, else a manifest row's
    /// `dataset` (the manifest's path when it has none), else the folder as given.
    /// Partial labels and latent truth learn per source.
    pub source: String,
    /// The set of frames it belongs to, under `--set-by` ([`crate::sets`]); none
    /// when no set was asked for or the sample has no value (a set of its own).
    pub set: Option<String>,
}

/// Separates a source's name from its path in `--data NAME=PATH`.
pub const SOURCE_SEPARATOR: char = '=';

/// `NAME=PATH` as (Some(NAME), PATH); anything else (an existing path, or no `=` before
/// the first `/`) as (None, path).
pub fn split_source(spec: &Path) -> (Option<String>, PathBuf) {
    if spec.exists() {
        return (None, spec.to_path_buf());
    }
    let text = spec.to_string_lossy();
    match text.split_once(SOURCE_SEPARATOR) {
        Some((name, path)) if !name.is_empty() && !name.contains('/') && !path.is_empty() => {
            (Some(name.to_string()), PathBuf::from(path))
        }
        _ => (None, spec.to_path_buf()),
    }
}

/// Which rows of the sources to use.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DataFilter {
    /// Manifest `dataset` values to keep (all when empty).
    pub datasets: Vec<String>,
    /// Manifest `split` values to keep (all when empty).
    pub splits: Vec<String>,
    /// Classes to keep (all when empty).
    pub classes: Vec<String>,
    /// Where each sample's set of frames comes from (`--set-by`); none: no sets.
    pub set_by: Option<SetBy>,
}

/// Load every source: a directory is read as folder-per-class, a `.csv` file as a manifest.
pub fn load(sources: &[PathBuf], filter: &DataFilter) -> Result<Vec<Sample>> {
    let mut out = Vec::new();
    let mut present = std::collections::BTreeSet::new();
    for spec in sources {
        let (name, src) = split_source(spec);
        let src = &src;
        let mut samples = if src.is_dir() {
            let mut samples = load_folder(src)?;
            match &filter.set_by {
                Some(SetBy::Column(c)) => {
                    return Err(FerError::Dataset {
                        path: src.clone(),
                        reason: format!("--set-by {c} reads a manifest column; a folder has none (--set-by sequence reads CK+ file names)"),
                    })
                }
                Some(by) => samples
                    .iter_mut()
                    .for_each(|s| s.set = by.value(&s.path, "")),
                None => {}
            }
            samples
        } else if src
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("csv"))
        {
            load_manifest(src, filter)?
        } else {
            return Err(FerError::Dataset {
                path: src.clone(),
                reason: "neither a folder nor a .csv manifest".into(),
            });
        };
        if samples.is_empty() {
            return Err(FerError::Dataset {
                path: src.clone(),
                reason: "no labelled images found (after the dataset and split filters)".into(),
            });
        }
        if let Some(name) = &name {
            samples.iter_mut().for_each(|s| s.source = name.clone());
        }
        present.extend(samples.iter().map(|s| s.label.clone()));
        if !filter.classes.is_empty() {
            samples.retain(|s| filter.classes.contains(&s.label));
            if samples.is_empty() {
                tracing::info!(
                    "{}: no images of the classes {}",
                    src.display(),
                    filter.classes.join(", ")
                );
            }
        }
        out.extend(samples);
    }
    if let Some(absent) = filter.classes.iter().find(|c| !present.contains(*c)) {
        let have: Vec<&str> = CANONICAL_CLASSES
            .iter()
            .copied()
            .filter(|c| present.contains(*c))
            .collect();
        return Err(FerError::Dataset {
            path: sources.first().cloned().unwrap_or_default(),
            reason: format!(
                "no source has the class `{absent}` (the sources have {})",
                have.join(", ")
            ),
        });
    }
    if out.is_empty() {
        let path = sources.first().cloned().unwrap_or_default();
        return Err(FerError::Dataset {
            path,
            reason: format!("no images of the classes {}", filter.classes.join(", ")),
        });
    }
    Ok(out)
}

/// Folder-per-class: every immediate sub-folder whose name is a known class; images below it.
pub fn load_folder(dir: &Path) -> Result<Vec<Sample>> {
    let err = |reason: String| FerError::Dataset {
        path: dir.to_path_buf(),
        reason,
    };
    let entries = std::fs::read_dir(dir).map_err(|e| err(e.to_string()))?;
    let mut class_dirs: Vec<(PathBuf, &'static str)> = Vec::new();
    let mut unknown = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| err(e.to_string()))?;
        if !entry.path().is_dir() {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        match normalise_label(&name) {
            Some(label) => class_dirs.push((entry.path(), label)),
            None => unknown.push(name),
        }
    }
    if class_dirs.is_empty() {
        return Err(err(format!("no class folders (angry, disgust, fear, happy, sad, surprise, neutral, contempt or their synonyms); found {unknown:?}")));
    }
    if !unknown.is_empty() {
        tracing::info!(
            "{}: ignoring folders that are no class: {}",
            dir.display(),
            unknown.join(", ")
        );
    }
    class_dirs.sort();
    let mut out = Vec::new();
    for (class_dir, label) in class_dirs {
        let mut files: Vec<PathBuf> = walkdir::WalkDir::new(&class_dir)
            .follow_links(true)
            .into_iter()
            .filter_map(|e| match e {
                Ok(e) => Some(e),
                Err(e) => {
                    tracing::warn!("{}: {e}", class_dir.display());
                    None
                }
            })
            .filter(|e| e.file_type().is_file() && is_image_path(e.path()))
            .map(|e| e.into_path())
            .collect();
        files.sort();
        out.extend(files.into_iter().map(|path| Sample {
            subject: subject_from_name(&path),
            path,
            label: label.to_string(),
            source: dir.display().to_string(),
            set: None,
        }));
    }
    Ok(out)
}

/// A manifest CSV with at least `path` and `label_canonical` (or `label`) columns;
/// optional `dataset`, `subject`, `split`.
pub fn load_manifest(path: &Path, filter: &DataFilter) -> Result<Vec<Sample>> {
    let err = |reason: String| FerError::Dataset {
        path: path.to_path_buf(),
        reason,
    };
    let base = path.parent().unwrap_or(Path::new("."));
    let mut rdr = csv::Reader::from_path(path).map_err(|e| err(e.to_string()))?;
    let headers = rdr.headers().map_err(|e| err(e.to_string()))?.clone();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let path_col = col("path").ok_or_else(|| err("no `path` column".into()))?;
    let label_col = col("label_canonical")
        .or_else(|| col("label"))
        .ok_or_else(|| err("no `label_canonical` or `label` column".into()))?;
    let (dataset_col, subject_col, split_col) = (col("dataset"), col("subject"), col("split"));
    let set_col = match &filter.set_by {
        Some(SetBy::Column(c)) => Some(col(c).ok_or_else(|| {
            err(format!(
                "no `{c}` column for --set-by (the columns are {})",
                headers.iter().collect::<Vec<_>>().join(", ")
            ))
        })?),
        Some(by) => col(by.column()),
        None => None,
    };
    let field = |rec: &csv::StringRecord, c: Option<usize>| {
        c.and_then(|c| rec.get(c)).unwrap_or("").to_string()
    };
    let mut out = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| err(format!("row {}: {e}", i + 2)))?;
        let raw_label = field(&rec, Some(label_col));
        if raw_label.is_empty() {
            continue; // unlabelled rows (Yale lighting conditions, ...)
        }
        if !filter.datasets.is_empty() && !filter.datasets.contains(&field(&rec, dataset_col)) {
            continue;
        }
        if !filter.splits.is_empty() && !filter.splits.contains(&field(&rec, split_col)) {
            continue;
        }
        let label = normalise_label(&raw_label)
            .ok_or_else(|| err(format!("row {}: unknown label `{raw_label}`", i + 2)))?;
        let subject = Some(field(&rec, subject_col)).filter(|s| !s.is_empty());
        let dataset = field(&rec, dataset_col);
        let sample_path = base.join(field(&rec, Some(path_col)));
        let set = filter
            .set_by
            .as_ref()
            .and_then(|by| by.value(&sample_path, &field(&rec, set_col)));
        out.push(Sample {
            set,
            path: sample_path,
            label: label.to_string(),
            subject,
            source: if dataset.is_empty() {
                path.display().to_string()
            } else {
                dataset
            },
        });
    }
    Ok(out)
}

/// Classes present in `samples`, in canonical order.
pub fn classes_of(samples: &[Sample]) -> Vec<String> {
    CANONICAL_CLASSES
        .iter()
        .filter(|c| samples.iter().any(|s| s.label == **c))
        .map(|c| c.to_string())
        .collect()
}

/// Count per class.
pub fn count_per_class(labels: impl IntoIterator<Item = String>) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for l in labels {
        *m.entry(l).or_insert(0) += 1;
    }
    m
}
