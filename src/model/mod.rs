//! Classifiers and the model bundle.
pub mod bundle;
pub mod mlp;

pub use bundle::{Model, ModelHeader, TrainingSummary};
