//! The staged pipeline: decode -> denoise -> detect (+ eyes) -> align -> CLAHE (on
//! each aligned face) -> landmarks -> features. Each stage is timed. Classification is done by a
//! [`crate::model::Model`] on the features this produces.

use crate::error::Result;
use crate::gray::GrayImage;
use crate::stages::align::{align, eyes_from_box, AlignConfig};
use crate::stages::decode::{decode_file, DecodeConfig};
use crate::stages::denoise::{denoise, DenoiseConfig};
use crate::stages::detect::{DetectConfig, Detector, Face, Near};
use crate::stages::enhance::{enhance, ClaheConfig};
use crate::stages::features::{geometric_features, FeatureConfig, HogExtractor};
use crate::stages::landmarks::{find_landmarks, NUM_POINTS};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;

/// Configuration of every stage.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct PipelineConfig {
    /// Decode limits.
    pub decode: DecodeConfig,
    /// Gaussian denoise.
    pub denoise: DenoiseConfig,
    /// CLAHE.
    pub clahe: ClaheConfig,
    /// Face and eye detection.
    pub detect: DetectConfig,
    /// Crop geometry.
    pub align: AlignConfig,
    /// Feature vector.
    pub features: FeatureConfig,
}

impl PipelineConfig {
    /// Validate every stage's parameters.
    pub fn check(&self) -> Result<()> {
        self.decode.check()?;
        self.denoise.check()?;
        self.clahe.check()?;
        self.detect.check()?;
        self.align.check()?;
        self.features.check(self.align.size)
    }
}

/// Milliseconds spent in each stage. Image-level stages are shared by the faces of an image.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct StageTimes {
    pub decode_ms: f64,
    pub denoise_ms: f64,
    pub clahe_ms: f64,
    pub detect_ms: f64,
    pub align_ms: f64,
    pub landmarks_ms: f64,
    pub features_ms: f64,
    pub classify_ms: f64,
}

impl StageTimes {
    /// Stage names and values, in pipeline order.
    pub fn named(&self) -> [(&'static str, f64); 8] {
        [
            ("decode", self.decode_ms),
            ("denoise", self.denoise_ms),
            ("detect", self.detect_ms),
            ("align", self.align_ms),
            ("clahe", self.clahe_ms),
            ("landmarks", self.landmarks_ms),
            ("features", self.features_ms),
            ("classify", self.classify_ms),
        ]
    }

    /// Set the stage named as in [`StageTimes::named`]; false for an unknown name.
    pub fn set(&mut self, name: &str, ms: f64) -> bool {
        let slot = match name {
            "decode" => &mut self.decode_ms,
            "denoise" => &mut self.denoise_ms,
            "detect" => &mut self.detect_ms,
            "align" => &mut self.align_ms,
            "clahe" => &mut self.clahe_ms,
            "landmarks" => &mut self.landmarks_ms,
            "features" => &mut self.features_ms,
            "classify" => &mut self.classify_ms,
            _ => return false,
        };
        *slot = ms;
        true
    }
}

/// One face through the pipeline.
#[derive(Debug, Clone, PartialEq)]
pub struct FaceReading {
    /// Box in original image coordinates: x, y, width, height.
    pub bbox: [i32; 4],
    /// The eye centres the face was aligned on, when both were found (image-left,
    /// image-right); otherwise the box-based estimate aligned the face.
    pub eyes: Option<[[f32; 2]; 2]>,
    /// Fiducial points in original image coordinates, in [`crate::stages::landmarks::POINT_NAMES`] order.
    pub landmarks: [[f32; 2]; NUM_POINTS],
    /// Landmark points in the aligned crop.
    pub crop_landmarks: [[f32; 2]; NUM_POINTS],
    /// Feature vector.
    pub features: Vec<f32>,
    /// Per-face stage times (align, clahe, landmarks, features).
    pub times: StageTimes,
}

/// Every face of one image.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageReading {
    /// Image width and height.
    pub size: [u32; 2],
    /// Faces, largest first.
    pub faces: Vec<FaceReading>,
    /// Image-level stage times (decode, denoise, detect; clahe summed over the faces).
    pub times: StageTimes,
}

impl ImageReading {
    /// The faces as detected (box and eyes), to guide the search of the next video frame.
    pub fn detected(&self) -> Vec<Face> {
        self.faces
            .iter()
            .map(|f| Face {
                bbox: f.bbox,
                eyes: f.eyes,
            })
            .collect()
    }
}

/// The pipeline with its per-worker state (cascades, HOG descriptor). Not `Sync`:
/// build one per worker thread.
pub struct Pipeline {
    cfg: PipelineConfig,
    detector: Detector,
    hog: HogExtractor,
}

fn ms(since: Instant) -> f64 {
    since.elapsed().as_secs_f64() * 1e3
}

impl Pipeline {
    /// Validate `cfg` and build the stages.
    pub fn new(cfg: PipelineConfig) -> Result<Self> {
        cfg.check()?;
        Ok(Pipeline {
            cfg,
            detector: Detector::new(cfg.detect)?,
            hog: HogExtractor::new(&cfg.features, cfg.align.size)?,
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &PipelineConfig {
        &self.cfg
    }

    /// Decode a file and run every stage on it.
    pub fn read_file(&mut self, path: &Path) -> Result<ImageReading> {
        let t = Instant::now();
        let img = decode_file(path, &self.cfg.decode)?;
        let decode_ms = ms(t);
        let mut reading = self.read_image(&img)?;
        reading.times.decode_ms = decode_ms;
        Ok(reading)
    }

    /// Run denoise and detection, then every per-face stage.
    pub fn read_image(&mut self, img: &GrayImage) -> Result<ImageReading> {
        self.read_image_near(img, None)
    }

    /// [`Pipeline::read_image`], with the face search limited to the neighbourhood of
    /// the faces in `near` when given (faces of the previous video frame; see
    /// [`crate::tracked::TrackedSearch`] and [`Detector::detect_near`]).
    pub fn read_image_near(&mut self, img: &GrayImage, near: Option<Near>) -> Result<ImageReading> {
        let mut times = StageTimes::default();
        let t = Instant::now();
        let smooth = denoise(img, &self.cfg.denoise)?;
        times.denoise_ms = ms(t);
        // Detection reads the denoised image, not a CLAHE one: on the group photos
        // of ../shared/data CLAHE raised Haar false hits from 0 to 5 at equal recall.
        let t = Instant::now();
        let detected = match near {
            None => self.detector.detect(&smooth)?,
            Some(near) => self.detector.detect_near(&smooth, &near)?,
        };
        times.detect_ms = ms(t);
        let mut faces = Vec::with_capacity(detected.len());
        for face in detected {
            let reading = self.read_face(&smooth, face.bbox, face.eyes)?;
            times.clahe_ms += reading.times.clahe_ms;
            faces.push(reading);
        }
        Ok(ImageReading {
            size: [img.width(), img.height()],
            faces,
            times,
        })
    }

    /// Align, equalise, place landmarks and compute features for one face of a
    /// denoised image. CLAHE runs on the aligned crop, not the frame, so that its
    /// tiles cover the same part of a face however the face was framed (a 48x48
    /// pre-cropped face and a face in a 640x480 frame alike).
    pub fn read_face(
        &mut self,
        smooth: &GrayImage,
        bbox: [i32; 4],
        eyes: Option<[[f32; 2]; 2]>,
    ) -> Result<FaceReading> {
        let mut times = StageTimes::default();
        let t = Instant::now();
        let (crop, to_crop) = align(
            smooth,
            eyes.unwrap_or_else(|| eyes_from_box(bbox)),
            &self.cfg.align,
        )?;
        times.align_ms = ms(t);
        let t = Instant::now();
        let crop = enhance(&crop, &self.cfg.clahe)?;
        times.clahe_ms = ms(t);
        let t = Instant::now();
        let crop_landmarks = find_landmarks(&crop)?;
        let to_image = to_crop.inverse();
        let landmarks = crop_landmarks.map(|p| to_image.apply(p));
        times.landmarks_ms = ms(t);
        let t = Instant::now();
        // The crop puts the eyes the face was aligned on this far apart.
        let iod = self.cfg.align.eye_distance * self.cfg.align.size as f32;
        let mut features = geometric_features(&crop_landmarks, iod);
        features.extend(self.hog.compute(&crop)?);
        features.extend(self.hog.compute_points(&crop, &crop_landmarks)?);
        times.features_ms = ms(t);
        Ok(FaceReading {
            bbox,
            eyes,
            landmarks,
            crop_landmarks,
            features,
            times,
        })
    }
}
