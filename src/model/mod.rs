//! Classifiers and the model bundle.
pub mod boost;
pub mod bundle;
pub mod cnn;
pub mod cnn_params;
pub mod cnn_train;
pub mod dndt;
pub mod ensemble;
pub mod face_model;
pub mod forest;
pub mod kinds;
pub mod learner;
pub mod load;
pub mod logistic;
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
pub use face_model::FaceModel;
pub use kinds::ModelKind;
pub use params::{Teacher, TreeParams};
