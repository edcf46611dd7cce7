//! A weighted ensemble of face models: the weighted mean of the members'
//! probabilities over the union of their classes (in canonical order).
//!
//! A member without a class gives it probability 0, so an ensemble of a
//! 7-class and an 8-class model can still name the eighth class, but only
//! with the weight of the members that know it. The weights are normalised to
//! sum to one. Members must share the pipeline configuration (they read the
//! same faces); the shipped deep models all use the default one.

use crate::dataset::CANONICAL_CLASSES;
use crate::error::{FerError, Result};
use crate::gray::GrayImage;
use crate::model::FaceModel;
use crate::pipeline::{ImageReading, PipelineConfig};

/// One member: the model, its weight and a name for errors and descriptions.
pub struct Member {
    pub model: Box<dyn FaceModel>,
    pub weight: f32,
    pub name: String,
}

/// The weighted mean of several models' probabilities.
pub struct WeightedEnsemble {
    members: Vec<Member>,
    /// For each member, the ensemble class index of each of its outputs.
    to_union: Vec<Vec<usize>>,
    classes: Vec<String>,
    pipeline: PipelineConfig,
}

impl WeightedEnsemble {
    /// Check the weights (finite, positive) and that the members share one pipeline.
    pub fn new(mut members: Vec<Member>) -> Result<Self> {
        let first = members
            .first()
            .ok_or_else(|| FerError::param("model", "an ensemble needs at least one member"))?;
        let pipeline = first.model.pipeline();
        let first_name = first.name.clone();
        for m in &members {
            if !(m.weight.is_finite() && m.weight > 0.0) {
                return Err(FerError::param(
                    "model",
                    format!(
                        "ensemble member {}: weight {} must be a positive number",
                        m.name, m.weight
                    ),
                ));
            }
            if m.model.pipeline() != pipeline {
                return Err(FerError::param(
                    "model",
                    format!(
                        "ensemble members {} and {} were made for different pipeline settings; they must read the same faces",
                        first_name, m.name
                    ),
                ));
            }
        }
        let total: f32 = members.iter().map(|m| m.weight).sum();
        members.iter_mut().for_each(|m| m.weight /= total);
        let classes: Vec<String> = CANONICAL_CLASSES
            .iter()
            .filter(|c| {
                members
                    .iter()
                    .any(|m| m.model.classes().iter().any(|k| k == *c))
            })
            .map(|c| c.to_string())
            .collect();
        let to_union = members
            .iter()
            .map(|m| {
                m.model
                    .classes()
                    .iter()
                    .map(|c| classes.iter().position(|u| u == c).unwrap_or(0))
                    .collect()
            })
            .collect();
        Ok(WeightedEnsemble {
            members,
            to_union,
            classes,
            pipeline,
        })
    }

    /// Members' names and normalised weights.
    pub fn weights(&self) -> Vec<(String, f32)> {
        self.members
            .iter()
            .map(|m| (m.name.clone(), m.weight))
            .collect()
    }
}

impl FaceModel for WeightedEnsemble {
    fn classes(&self) -> &[String] {
        &self.classes
    }

    fn pipeline(&self) -> PipelineConfig {
        self.pipeline
    }

    fn classify_faces(&self, frame: &GrayImage, reading: &ImageReading) -> Result<Vec<Vec<f32>>> {
        let mut out = vec![vec![0f32; self.classes.len()]; reading.faces.len()];
        for (m, map) in self.members.iter().zip(&self.to_union) {
            let probs = m.model.classify_faces(frame, reading)?;
            if probs.len() != out.len() {
                return Err(FerError::param(
                    "model",
                    format!(
                        "ensemble member {} gave {} readings for {} faces",
                        m.name,
                        probs.len(),
                        out.len()
                    ),
                ));
            }
            for (acc, p) in out.iter_mut().zip(probs) {
                for (&j, v) in map.iter().zip(p) {
                    acc[j] += m.weight * v;
                }
            }
        }
        Ok(out)
    }

    fn reads_pixels(&self) -> bool {
        self.members.iter().all(|m| m.model.reads_pixels())
    }

    fn bytes_on_disk(&self) -> u64 {
        self.members.iter().map(|m| m.model.bytes_on_disk()).sum()
    }
}
