//! The one interface of every model that reads faces, whatever it reads them from.

use crate::error::Result;
use crate::gray::GrayImage;
use crate::metrics::SourceTransition;
use crate::pipeline::{ImageReading, PipelineConfig};
use crate::run_options::DetectOptions;

/// Anything that reads the expressions of the faces the pipeline found: a
/// bundle (from each face's features) or a deep model (from each face's pixels).
pub trait FaceModel: Send + Sync {
    /// Output classes, in output order.
    fn classes(&self) -> &[String];
    /// The pipeline configuration the model was made for.
    fn pipeline(&self) -> PipelineConfig;
    /// Class probabilities of every face of `reading`, which was read from the grey `frame`.
    fn classify_faces(&self, frame: &GrayImage, reading: &ImageReading) -> Result<Vec<Vec<f32>>>;

    /// Whether the model reads each face's pixels (from its box in the frame), so that
    /// a mirrored frame with mirrored boxes shows it the mirrored face
    /// ([`crate::model::tta::FlipAveraged`]). A feature bundle reads the features already computed.
    fn reads_pixels(&self) -> bool {
        false
    }

    /// The pipeline a run reads faces with: the model's own, with the run's options
    /// applied. A model that [`FaceModel::reads_pixels`] sees the face box, never the
    /// crop the eyes level, so the eye search (about 5 ms a face, BENCHMARKS.md) is
    /// skipped unless the run names an eye finder; the answers are the same either way
    /// (`tests/cli.rs`), only the rows' `eyes_found` says false.
    fn run_pipeline(&self, opts: &DetectOptions) -> Result<PipelineConfig> {
        let mut cfg = self.pipeline();
        opts.apply(&mut cfg)?;
        if self.reads_pixels() && opts.eye_finder.is_none() {
            cfg.detect.eyes = false;
        }
        Ok(cfg)
    }

    /// Whether the model reads a set of frames as one, from their features (a set
    /// model, `--model set-*`); other models' sets are the mean of their frames'
    /// probabilities.
    fn pools_sets(&self) -> bool {
        false
    }

    /// Class probabilities of one set of frames from their feature rows, for a
    /// model that [`FaceModel::pools_sets`].
    fn set_probabilities(&self, _features: &[Vec<f32>]) -> Result<Vec<f32>> {
        Err(crate::error::FerError::param(
            "model",
            "this model does not pool sets of frames (train one with --model set-max, set-mean or set-attention)",
        ))
    }

    /// Bytes of the model's files on disk (0 when unknown).
    fn bytes_on_disk(&self) -> u64 {
        0
    }

    /// The transition matrices a latent-truth model learned, by source (none for
    /// every other model).
    fn latent_transitions(&self) -> Result<Vec<SourceTransition>> {
        Ok(vec![])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A model that answers nothing, reading pixels or features as told.
    struct Reads(bool);

    impl FaceModel for Reads {
        fn classes(&self) -> &[String] {
            &[]
        }
        fn pipeline(&self) -> PipelineConfig {
            PipelineConfig::default()
        }
        fn classify_faces(&self, _: &GrayImage, _: &ImageReading) -> Result<Vec<Vec<f32>>> {
            Ok(vec![])
        }
        fn reads_pixels(&self) -> bool {
            self.0
        }
    }

    #[test]
    fn only_a_model_of_features_searches_eyes_unless_an_eye_finder_is_named() {
        let run = DetectOptions::default();
        assert!(Reads(false).run_pipeline(&run).unwrap().detect.eyes);
        assert!(!Reads(true).run_pipeline(&run).unwrap().detect.eyes);
        let named = DetectOptions {
            eye_finder: Some("cascade".into()),
            ..Default::default()
        };
        assert!(Reads(true).run_pipeline(&named).unwrap().detect.eyes);
        let none = DetectOptions {
            no_eyes: true,
            ..Default::default()
        };
        assert!(!Reads(false).run_pipeline(&none).unwrap().detect.eyes);
    }
}
