//! Labelled feature rows: the features of every sample's largest face (in
//! parallel, with mirrored copies for training), the rows they make with their
//! classes, subjects and annotation sources, and the targets that can replace a
//! label (a deep teacher's probabilities, crowd votes). Also the class
//! probabilities of samples under any face model, for evaluation.

use crate::dataset::{self, Sample};
use crate::error::{FerError, Result};
use crate::gray::GrayImage;
use crate::model::FaceModel;
use crate::pipeline::{Pipeline, PipelineConfig};
use crate::sets;
use crate::stages::decode::decode_file;
use crate::votes::{VoteCoverage, Votes};
use crate::workers::PipelinePool;
use rayon::prelude::*;
use std::collections::HashMap;

/// Features of one sample's largest face, and of its left-right mirror image when asked.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleFeatures {
    /// The image as it is.
    pub original: Vec<f32>,
    /// The mirrored image (training augmentation).
    pub mirrored: Option<Vec<f32>>,
}

/// Features of the largest face of each sample, or why there are none. With
/// `mirror`, each image is also read mirrored (a second face for training).
pub fn extract_features(
    samples: &[Sample],
    pool: &PipelinePool,
    mirror: bool,
    on_done: &(dyn Fn() + Sync),
) -> Vec<std::result::Result<SampleFeatures, String>> {
    let largest = |p: &mut Pipeline,
                   img: &GrayImage,
                   path: &std::path::Path|
     -> std::result::Result<Vec<f32>, String> {
        let reading = p
            .read_image(img)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        reading
            .faces
            .into_iter()
            .next()
            .map(|f| f.features)
            .ok_or_else(|| format!("{}: no face found", path.display()))
    };
    samples
        .par_iter()
        .map(|s| {
            let r = decode_file(&s.path, &pool.config().decode)
                .map_err(|e| e.to_string())
                .and_then(|img| {
                    pool.with(|p| {
                        let original = largest(p, &img, &s.path)?;
                        let mirrored = if mirror {
                            let flipped = img.mirrored().map_err(|e| e.to_string())?;
                            largest(p, &flipped, &s.path).ok()
                        } else {
                            None
                        };
                        Ok(SampleFeatures { original, mirrored })
                    })
                    .map_err(|e| e.to_string())?
                });
            on_done();
            r
        })
        .collect()
}

/// What a face model made of a sample's largest face.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceOutput {
    /// Class probabilities, in the model's class order.
    pub probabilities: Vec<f32>,
    /// The face's feature row, kept for a model that pools sets of frames from
    /// their features ([`FaceModel::pools_sets`]); none for the others.
    pub features: Option<Vec<f32>>,
}

/// Class probabilities of the largest face of each sample under any face model,
/// or why there are none (evaluation of models that read pixels, such as ONNX).
pub fn classify_samples(
    samples: &[Sample],
    pool: &PipelinePool,
    model: &dyn crate::model::FaceModel,
    on_done: &(dyn Fn() + Sync),
) -> Vec<std::result::Result<FaceOutput, String>> {
    let keep_features = model.pools_sets();
    samples
        .par_iter()
        .map(|s| {
            let r = decode_file(&s.path, &pool.config().decode)
                .map_err(|e| e.to_string())
                .and_then(|img| {
                    let mut reading = pool
                        .with(|p| p.read_image(&img))
                        .map_err(|e| e.to_string())?
                        .map_err(|e| format!("{}: {e}", s.path.display()))?;
                    reading.faces.truncate(1); // faces come largest first
                    if reading.faces.is_empty() {
                        return Err(format!("{}: no face found", s.path.display()));
                    }
                    let probs = model
                        .classify_faces(&img, &reading)
                        .map_err(|e| format!("{}: {e}", s.path.display()))?;
                    let probabilities = probs
                        .into_iter()
                        .next()
                        .ok_or_else(|| format!("{}: no output", s.path.display()))?;
                    let features = keep_features.then(|| reading.faces.swap_remove(0).features);
                    Ok(FaceOutput {
                        probabilities,
                        features,
                    })
                });
            on_done();
            r
        })
        .collect()
}

/// Feature rows with labels and groups, ready to fit.
pub struct LabelledRows {
    /// Feature vectors.
    pub x: Vec<Vec<f32>>,
    /// Class index into `classes`.
    pub y: Vec<u32>,
    /// Group of each row (subject, or the file itself when unknown).
    pub groups: Vec<String>,
    /// Whether a row comes from a mirrored image (used for training only, never scored).
    pub mirrored: Vec<bool>,
    /// Index of the sample each row was made from.
    pub sample: Vec<usize>,
    /// A deep teacher's class probabilities per row (in `classes` order), for `--distill deep`.
    pub teacher: Option<Vec<Vec<f32>>>,
    /// Crowd vote distributions per row (in `classes` order), for `--votes`.
    pub votes: Option<Vec<Vec<f32>>>,
    /// Annotation source of each row, an index into `sources`.
    pub source: Vec<u32>,
    /// Annotation source names (see [`Sample::source`]); one unnamed source when empty.
    pub sources: Vec<String>,
    /// Class names.
    pub classes: Vec<String>,
    /// Samples dropped because no features could be made.
    pub skipped: usize,
    /// The set key of each row ([`crate::sets::row_key`]), when the samples have
    /// sets (`--set-by`).
    pub sets: Option<Vec<String>>,
}

impl LabelledRows {
    /// Pair samples with their extracted features; drops failures. A mirrored
    /// copy shares its original's group, so it never lands on the other side of a split.
    pub fn new(
        samples: &[Sample],
        features: Vec<std::result::Result<SampleFeatures, String>>,
        classes: Vec<String>,
    ) -> Self {
        let mut rows = LabelledRows::empty(classes);
        let with_sets = samples.iter().any(|s| s.set.is_some());
        let mut keys = Vec::new();
        for (i, (s, f)) in samples.iter().zip(features).enumerate() {
            let (Ok(f), Some(c)) = (f, rows.classes.iter().position(|c| *c == s.label)) else {
                rows.skipped += 1;
                continue;
            };
            let group = s
                .subject
                .clone()
                .unwrap_or_else(|| s.path.to_string_lossy().into_owned());
            let source = match rows.sources.iter().position(|n| *n == s.source) {
                Some(k) => k,
                None => {
                    rows.sources.push(s.source.clone());
                    rows.sources.len() - 1
                }
            } as u32;
            for (x, mirrored) in
                std::iter::once((f.original, false)).chain(f.mirrored.map(|m| (m, true)))
            {
                rows.push(x, c as u32, group.clone(), mirrored, i);
                *rows.source.last_mut().expect("just pushed") = source;
                if with_sets {
                    keys.push(sets::row_key(s.set.as_deref(), &s.path, c as u32, mirrored));
                }
            }
        }
        rows.sets = with_sets.then_some(keys);
        rows
    }

    /// No rows yet, over `classes`.
    pub fn empty(classes: Vec<String>) -> Self {
        LabelledRows {
            x: vec![],
            y: vec![],
            groups: vec![],
            mirrored: vec![],
            sample: vec![],
            teacher: None,
            votes: None,
            source: vec![],
            sources: vec![],
            classes,
            skipped: 0,
            sets: None,
        }
    }

    /// Add one row: features, class index, group, whether it is a mirrored copy, and its sample.
    /// The row's source is the first one (see [`LabelledRows::source`]).
    pub fn push(&mut self, x: Vec<f32>, y: u32, group: String, mirrored: bool, sample: usize) {
        self.source.push(0);
        self.x.push(x);
        self.y.push(y);
        self.groups.push(group);
        self.mirrored.push(mirrored);
        self.sample.push(sample);
    }

    /// Give every row its sample's vote distribution (a mirrored copy its
    /// original's; a sample without votes a one-hot on its label) as the
    /// networks' training target.
    pub fn attach_votes(&mut self, samples: &[Sample], votes: &Votes) -> Result<VoteCoverage> {
        let mut coverage = VoteCoverage::default();
        let mut per_sample: HashMap<usize, Vec<f32>> = HashMap::new();
        for &i in &self.sample {
            per_sample
                .entry(i)
                .or_insert_with(|| votes.target(&samples[i], &self.classes, &mut coverage));
        }
        votes.accept(coverage, &self.classes, "images")?;
        self.votes = Some(self.sample.iter().map(|i| per_sample[i].clone()).collect());
        Ok(coverage)
    }

    /// The source index of row `r` (rows built without sources are all of source 0).
    pub fn source_of(&self, r: usize) -> usize {
        self.source.get(r).copied().unwrap_or(0) as usize
    }

    /// The name of source `s` (`data` when the rows name no sources).
    pub fn source_name(&self, s: usize) -> String {
        self.sources
            .get(s)
            .cloned()
            .unwrap_or_else(|| "data".to_string())
    }

    /// Rows from original (not mirrored) images.
    pub fn originals(&self) -> usize {
        self.mirrored.iter().filter(|m| !**m).count()
    }
}

/// The labelled rows of `samples` under `cfg`: the features of each sample's
/// largest face (and of its mirror image with `mirror`), over the samples' classes.
/// Samples without features are counted in `skipped` and the first failure logged.
pub fn labelled_rows(
    samples: &[Sample],
    cfg: PipelineConfig,
    mirror: bool,
    on_image: &(dyn Fn() + Sync),
) -> Result<LabelledRows> {
    let classes = dataset::classes_of(samples);
    let pool = PipelinePool::new(cfg)?;
    let feats = extract_features(samples, &pool, mirror, on_image);
    let failures: Vec<&String> = feats.iter().filter_map(|f| f.as_ref().err()).collect();
    if let Some(first) = failures.first() {
        tracing::warn!(
            "{} of {} images gave no features; first: {first}",
            failures.len(),
            samples.len(),
        );
    }
    let rows = LabelledRows::new(samples, feats, classes);
    tracing::info!(
        "{} images with features ({} rows with mirrored copies), {} classes: {}",
        rows.originals(),
        rows.x.len(),
        rows.classes.len(),
        rows.classes.join(", ")
    );
    Ok(rows)
}

/// For `--distill deep`: give every row the teacher's probabilities for its sample
/// (mirrored rows take their original's), in the rows' class order. A sample the
/// teacher cannot read keeps its label as a one-hot target. The teacher must read
/// pixels (an ONNX or CNN model): a feature bundle would teach what the students
/// already see.
pub fn attach_teacher(
    rows: &mut LabelledRows,
    samples: &[Sample],
    teacher: &dyn FaceModel,
    pool: &PipelinePool,
    on_image: &(dyn Fn() + Sync),
) -> Result<()> {
    if !teacher.reads_pixels() {
        return Err(FerError::param(
            "teacher",
            "a feature bundle cannot teach here (use --distill mlp or ensemble); give an ONNX sidecar, a shipped deep model, an ensemble of them, or a CNN from train-cnn",
        ));
    }
    let probs = classify_samples(samples, pool, teacher, on_image);
    let to_rows: Vec<Option<usize>> = teacher
        .classes()
        .iter()
        .map(|c| rows.classes.iter().position(|d| d == c))
        .collect();
    let per_sample: Vec<Option<Vec<f32>>> = probs
        .into_iter()
        .map(|p| {
            let p = p.ok()?.probabilities;
            let mut out = vec![0f32; rows.classes.len()];
            for (i, v) in p.iter().enumerate() {
                if let Some(Some(j)) = to_rows.get(i) {
                    out[*j] += v;
                }
            }
            let sum: f32 = out.iter().sum();
            (sum > 0.0).then(|| out.iter().map(|v| v / sum).collect())
        })
        .collect();
    let missing = per_sample.iter().filter(|p| p.is_none()).count();
    if missing > 0 {
        tracing::warn!(
            "the teacher gave no probabilities for {missing} of {} images; they keep one-hot targets",
            samples.len()
        );
    }
    let teacher = (0..rows.x.len())
        .map(|r| {
            per_sample[rows.sample[r]].clone().unwrap_or_else(|| {
                let mut one_hot = vec![0f32; rows.classes.len()];
                one_hot[rows.y[r] as usize] = 1.0;
                one_hot
            })
        })
        .collect();
    rows.teacher = Some(teacher);
    Ok(())
}
