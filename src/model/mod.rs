//! Classifiers and the model bundle.
pub mod boost;
pub mod bundle;
pub mod classifier;
pub mod dndt;
pub mod forest;
pub mod mlp;
pub mod ndf;
pub mod net;
pub mod params;
pub mod soft_tree;

pub use bundle::{Model, ModelHeader, TrainingSummary};
pub use params::{ModelKind, Teacher, TreeParams};
