//! The pipeline's stages, one module each, in pipeline order.
pub mod decode;
pub mod denoise;
pub mod enhance;
pub mod detect;
pub mod align;
pub mod landmarks;
pub mod features;
