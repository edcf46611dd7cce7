//! `fer`: facial expression recognition with a staged classical pipeline.
//!
//! decode -> denoise -> Haar face (and eye) detection -> alignment -> CLAHE of the
//! aligned face -> fiducial points (Sobel + Shi-Tomasi) -> scale-free distances
//! (+ HOG) -> a classifier (MLP, random forest, gradient boosting, soft decision
//! tree, neural decision forest, neural decision tree, or an ensemble).
//! See `README.md` for the commands and `models/` for the shipped model.

pub mod atomic_file;
pub mod batch;
pub mod bench;
pub mod compare;
pub mod compare_cnn;
pub mod compare_job;
pub mod cross_validation;
pub mod data_selection;
pub mod dataset;
pub mod error;
pub mod evaluate;
pub mod explain;
pub mod fingerprint;
pub mod gray;
pub mod live;
pub mod metrics;
pub mod model;
pub mod parquet_io;
pub mod pipeline;
pub mod plot;
pub mod rows;
pub mod run_options;
pub mod sets;
pub mod stages;
pub mod timeline;
pub mod tracked;
pub mod train;
pub mod votes;
pub mod workers;

pub use error::{FerError, Result};
pub use gray::GrayImage;
pub use pipeline::{Pipeline, PipelineConfig};
