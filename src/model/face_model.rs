//! The one interface of every model that reads faces, whatever it reads them from.

use crate::error::Result;
use crate::gray::GrayImage;
use crate::metrics::SourceTransition;
use crate::pipeline::{ImageReading, PipelineConfig};

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
