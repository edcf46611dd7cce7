//! The pipeline's stages, one module each, in pipeline order.
pub mod align;
pub mod decode;
pub mod denoise;
pub mod detect;
pub mod enhance;
pub mod eyes;
pub mod features;
pub mod landmarks;
