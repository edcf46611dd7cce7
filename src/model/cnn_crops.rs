//! The crops our CNN learns from: the largest face of each labelled image (or the
//! whole image), grey, resized to the network's input side, cut in parallel; and
//! where they came from, for the CNN's header.

use crate::dataset::Sample;
use crate::error::{FerError, Result};
use crate::model::cnn::box_pixels;
use crate::pipeline::PipelineConfig;
use crate::stages::decode::decode_file;
use crate::stages::denoise::denoise;
use crate::stages::detect::Detector;
use crate::votes::{VoteCoverage, Votes};
use crate::workers::WorkerPool;
use rayon::prelude::*;

/// Grey crops and their labels.
pub struct CropSet {
    /// `n * side * side` bytes, row-major.
    pub pixels: Vec<u8>,
    pub labels: Vec<u32>,
    pub side: usize,
    /// `n * classes` training targets, each crop's vote distribution (`train-cnn
    /// --votes`); `None`: a one-hot on each label.
    pub targets: Option<Vec<f32>>,
}

impl CropSet {
    /// Number of crops.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The pixels of crop `i`.
    pub(crate) fn crop(&self, i: usize) -> &[u8] {
        let n = self.side * self.side;
        &self.pixels[i * n..(i + 1) * n]
    }

    /// An error unless the pixels, labels and targets agree in count.
    pub(crate) fn check(&self, classes: usize) -> Result<()> {
        let bad = |what: String| Err(FerError::Training(format!("inconsistent crops: {what}")));
        if self.pixels.len() != self.len() * self.side * self.side {
            return bad(format!(
                "{} bytes for {} crops of side {}",
                self.pixels.len(),
                self.len(),
                self.side
            ));
        }
        if let Some(t) = &self.targets {
            if t.len() != self.len() * classes {
                return bad(format!(
                    "{} targets for {} crops of {classes} classes",
                    t.len(),
                    self.len()
                ));
            }
        }
        Ok(())
    }
}

/// The training crop of one labelled image: its largest face box (found on the
/// denoised frame, cut from the decoded one, as at inference), or the whole image
/// with `detect.whole_image`, resized to `side`.
fn sample_crop(
    detector: &mut Detector,
    pipeline: &PipelineConfig,
    path: &std::path::Path,
    side: usize,
) -> Result<Option<Vec<u8>>> {
    let frame = decode_file(path, &pipeline.decode)?;
    let smooth = denoise(&frame, &pipeline.denoise)?;
    let Some(bbox) = detector.detect_boxes(&smooth)?.first().copied() else {
        return Ok(None);
    };
    Ok(Some(box_pixels(&frame, bbox, side)?))
}

/// The crop of each of `samples` (its largest face, or the whole image with
/// `detect.whole_image`), in parallel, in order; `None` where the file cannot be read
/// or shows no face (logged, not fatal).
pub fn crop_each(
    samples: &[&Sample],
    pipeline: &PipelineConfig,
    side: usize,
    progress: &(dyn Fn() + Sync),
) -> Result<Vec<Option<Vec<u8>>>> {
    pipeline.check()?;
    let detectors = WorkerPool::<Detector>::default();
    Ok(samples
        .par_iter()
        .map(|s| {
            let crop = detectors.with(
                || Detector::new(pipeline.detect),
                |d| sample_crop(d, pipeline, &s.path, side),
            );
            progress();
            match crop {
                Ok(Ok(Some(c))) => Some(c),
                Ok(Ok(None)) => {
                    tracing::debug!("{}: no face found", s.path.display());
                    None
                }
                Ok(Err(e)) | Err(e) => {
                    tracing::warn!("{e}");
                    None
                }
            }
        })
        .collect())
}

/// Crops of `samples` for training, labelled by their index in `classes`, and how
/// many samples gave none (unreadable, no face, or a class not in `classes`).
pub fn crops_from_samples(
    samples: &[Sample],
    classes: &[String],
    pipeline: &PipelineConfig,
    side: usize,
    votes: Option<&Votes>,
    progress: &(dyn Fn() + Sync),
) -> Result<(CropSet, usize)> {
    let labelled: Vec<(&Sample, u32)> = samples
        .iter()
        .filter_map(|s| Some((s, classes.iter().position(|c| *c == s.label)? as u32)))
        .collect();
    let of: Vec<&Sample> = labelled.iter().map(|(s, _)| *s).collect();
    let crops = crop_each(&of, pipeline, side, progress)?;
    let mut set = CropSet {
        pixels: Vec::new(),
        labels: Vec::new(),
        side,
        targets: votes.map(|_| Vec::new()),
    };
    let mut coverage = VoteCoverage::default();
    for (crop, (sample, label)) in crops.into_iter().zip(&labelled) {
        if let Some(pixels) = crop {
            set.pixels.extend(pixels);
            set.labels.push(*label);
            if let (Some(v), Some(t)) = (votes, set.targets.as_mut()) {
                t.extend(v.target(sample, classes, &mut coverage));
            }
        }
    }
    if let Some(v) = votes {
        v.accept(coverage, classes, "crops")?;
    }
    let skipped = samples.len() - set.len();
    Ok((set, skipped))
}

/// The classes of `samples`, in order; an error unless there are at least two.
pub fn classes_to_learn(samples: &[Sample]) -> Result<Vec<String>> {
    let classes = crate::dataset::classes_of(samples);
    if classes.len() < 2 {
        return Err(FerError::Training(format!(
            "the training data has {} class(es); give at least 2",
            classes.len()
        )));
    }
    Ok(classes)
}

/// What the training crops are: the classes they are labelled with, the pipeline
/// that cut them, the datasets they came from, and how many images gave none.
pub struct CropOrigin {
    pub classes: Vec<String>,
    pub pipeline: PipelineConfig,
    pub sources: Vec<String>,
    pub skipped: usize,
    /// The vote file the targets came from, if any.
    pub votes: Option<String>,
}
