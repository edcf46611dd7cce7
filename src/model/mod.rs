//! Classifiers and the model bundle.
pub mod boost;
pub mod bundle;
pub mod cnn;
pub mod cnn_params;
pub mod cnn_train;
pub mod dndt;
pub mod ensemble;
pub mod forest;
pub mod kinds;
pub mod learner;
pub mod load;
pub mod mlp;
pub mod ndf;
pub mod net;
pub mod net_params;
pub mod onnx;
pub mod params;
pub mod soft_tree;
pub mod tta;
pub mod weighted;

pub use bundle::{Model, ModelHeader, TrainingSummary};
pub use kinds::ModelKind;
pub use params::{Teacher, TreeParams};

use crate::error::Result;
use crate::gray::GrayImage;
use crate::pipeline::{ImageReading, PipelineConfig};

/// Anything that reads the expressions of the faces the pipeline found: a
/// bundle (from each face's features) or a deep model (from each face's pixels).
pub trait FaceModel: Sync {
    /// Output classes, in output order.
    fn classes(&self) -> &[String];
    /// The pipeline configuration the model was made for.
    fn pipeline(&self) -> PipelineConfig;
    /// Class probabilities of every face of `reading`, which was read from the grey `frame`.
    fn classify_faces(&self, frame: &GrayImage, reading: &ImageReading) -> Result<Vec<Vec<f32>>>;

    /// Whether the model reads each face's pixels (from its box in the frame), so that
    /// a mirrored frame with mirrored boxes shows it the mirrored face
    /// ([`tta::FlipAveraged`]). A feature bundle reads the features already computed.
    fn reads_pixels(&self) -> bool {
        false
    }

    /// Bytes of the model's files on disk (0 when unknown).
    fn bytes_on_disk(&self) -> u64 {
        0
    }
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
}
