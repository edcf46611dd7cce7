//! Test-time augmentation: `--tta flip` reads each face as it is and mirrored
//! left-right, and averages the two probability vectors (mirror averaging, as
//! in most FER papers' test protocols).
//!
//! The mirrored face is made by mirroring the frame (`cv::flip(frame, 1)`) and
//! each box with it (`x' = width - x - w`), so a model that crops its face from
//! the frame by the box sees exactly the mirrored crop. That holds for models
//! that read pixels (ONNX networks, our CNN); a feature bundle reads the
//! features the pipeline already computed, so it is refused here rather than
//! averaged with itself.

use crate::error::{FerError, Result};
use crate::gray::GrayImage;
use crate::model::FaceModel;
use crate::pipeline::{ImageReading, PipelineConfig};

/// Test-time augmentation of a model's reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tta {
    /// The face as it is.
    #[default]
    None,
    /// The mean of the face's and its mirror image's probabilities.
    Flip,
}

impl std::str::FromStr for Tta {
    type Err = FerError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "none" => Ok(Tta::None),
            "flip" => Ok(Tta::Flip),
            _ => Err(FerError::param(
                "tta",
                format!("`{s}` is not one of none, flip"),
            )),
        }
    }
}

impl Tta {
    /// The name `--tta` takes.
    pub fn name(self) -> &'static str {
        match self {
            Tta::None => "none",
            Tta::Flip => "flip",
        }
    }

    /// `model` with this augmentation applied; `what` names the model in errors.
    pub fn apply(self, model: Box<dyn FaceModel>, what: &str) -> Result<Box<dyn FaceModel>> {
        match self {
            Tta::None => Ok(model),
            Tta::Flip => Ok(Box::new(FlipAveraged::new(model, what)?)),
        }
    }
}

/// A pixel-reading model whose probabilities are averaged over the face and its mirror image.
pub struct FlipAveraged {
    inner: Box<dyn FaceModel>,
}

impl FlipAveraged {
    /// Wrap `inner`; refused when it does not read pixels.
    pub fn new(inner: Box<dyn FaceModel>, what: &str) -> Result<Self> {
        if !inner.reads_pixels() {
            return Err(FerError::param(
                "tta",
                format!("{what} classifies the pipeline's features, not the face's pixels, so a mirrored face would give it the same features: --tta flip is for deep models (ONNX sidecars, shipped deep models, ensembles of them, CNNs from train-cnn)"),
            ));
        }
        Ok(FlipAveraged { inner })
    }
}

/// `reading` with every face box mirrored left-right in a frame `width` pixels wide.
pub fn mirror_boxes(reading: &ImageReading, width: u32) -> ImageReading {
    let mut out = reading.clone();
    for f in &mut out.faces {
        f.bbox[0] = width as i32 - f.bbox[0] - f.bbox[2];
    }
    out
}

impl FaceModel for FlipAveraged {
    fn classes(&self) -> &[String] {
        self.inner.classes()
    }

    fn pipeline(&self) -> PipelineConfig {
        self.inner.pipeline()
    }

    fn classify_faces(&self, frame: &GrayImage, reading: &ImageReading) -> Result<Vec<Vec<f32>>> {
        if reading.faces.is_empty() {
            return Ok(Vec::new());
        }
        let plain = self.inner.classify_faces(frame, reading)?;
        let mirrored = self
            .inner
            .classify_faces(&frame.mirrored()?, &mirror_boxes(reading, frame.width()))?;
        Ok(plain
            .into_iter()
            .zip(mirrored)
            .map(|(a, b)| a.iter().zip(&b).map(|(x, y)| 0.5 * (x + y)).collect())
            .collect())
    }

    fn reads_pixels(&self) -> bool {
        true
    }

    fn bytes_on_disk(&self) -> u64 {
        self.inner.bytes_on_disk()
    }
}
