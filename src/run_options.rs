//! Per-run detection options, without clap: what `fer batch`, `eval`, `live`,
//! `bench` and the Python `Reader` let a user change in a model's pipeline.
//! The command line fills a [`DetectOptions`] from its flags and the Python
//! binding from its keyword arguments; both then go through [`DetectOptions::apply`]
//! and [`crate::pipeline::PipelineConfig::check`], so they accept and refuse the same values.

use crate::error::Result;
use crate::pipeline::PipelineConfig;

/// Detection overrides; `None` keeps the model's own value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DetectOptions {
    /// Treat each whole image as one face (pre-cropped faces such as CK+48 or FER2013).
    pub no_detect: bool,
    /// Smallest face side in pixels.
    pub min_face: Option<i32>,
    /// Largest face side in pixels (0: no limit).
    pub max_face: Option<i32>,
    /// Haar pyramid scale step.
    pub scale_factor: Option<f64>,
    /// Haar neighbours needed to keep a face.
    pub min_neighbors: Option<i32>,
    /// Detect on a copy downscaled to at most this many pixels on its longer side (0: full size).
    pub detect_max_side: Option<i32>,
    /// Face search by name (`proposal` or `full`, see [`crate::stages::detect::Search`]).
    pub search: Option<String>,
    /// Do not look for eyes; align faces from their boxes.
    pub no_eyes: bool,
    /// How eyes are found, by name (`cascade` or `gradients`, see
    /// [`crate::stages::detect::EyeFinder`]).
    pub eye_finder: Option<String>,
    /// Refuse images with more pixels than this (checked from the header).
    pub max_pixels: Option<u64>,
}

impl DetectOptions {
    /// Write the options given into `cfg`; the others keep `cfg`'s values.
    /// Out-of-range values are left for [`PipelineConfig::check`] to refuse.
    pub fn apply(&self, cfg: &mut PipelineConfig) -> Result<()> {
        let d = &mut cfg.detect;
        // Per run, not per model: a model trained on pre-cropped faces reads full frames too.
        d.whole_image = self.no_detect;
        d.eyes = !self.no_eyes;
        if let Some(v) = self.min_face {
            d.min_size = v;
        }
        if let Some(v) = self.max_face {
            d.max_size = v;
        }
        if let Some(v) = self.scale_factor {
            d.scale_factor = v;
        }
        if let Some(v) = self.min_neighbors {
            d.min_neighbors = v;
        }
        if let Some(v) = self.detect_max_side {
            d.max_side = v;
        }
        if let Some(v) = &self.search {
            d.search = v.parse()?;
        }
        if let Some(v) = &self.eye_finder {
            d.eye_finder = v.parse()?;
        }
        if let Some(v) = self.max_pixels {
            cfg.decode.max_pixels = v;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stages::detect::EyeFinder;

    #[test]
    fn options_left_out_keep_the_models_values() {
        let model = PipelineConfig::default();
        let mut cfg = model;
        DetectOptions::default().apply(&mut cfg).unwrap();
        assert_eq!(cfg, model);
        let mut cfg = model;
        DetectOptions {
            min_face: Some(50),
            no_eyes: true,
            max_pixels: Some(10),
            ..Default::default()
        }
        .apply(&mut cfg)
        .unwrap();
        assert_eq!(cfg.detect.min_size, 50);
        assert!(!cfg.detect.eyes);
        assert_eq!(cfg.decode.max_pixels, 10);
        assert_eq!(cfg.detect.scale_factor, model.detect.scale_factor);
    }

    #[test]
    fn an_unknown_search_is_refused() {
        let mut cfg = PipelineConfig::default();
        let opts = DetectOptions {
            search: Some("sideways".into()),
            ..Default::default()
        };
        assert!(opts.apply(&mut cfg).is_err());
    }

    #[test]
    fn the_eye_finder_is_set_by_name() {
        let mut cfg = PipelineConfig::default();
        let opts = |name: &str| DetectOptions {
            eye_finder: Some(name.into()),
            ..Default::default()
        };
        opts("gradients").apply(&mut cfg).unwrap();
        assert_eq!(cfg.detect.eye_finder, EyeFinder::Gradients);
        assert!(opts("haar").apply(&mut cfg).is_err());
    }
}
