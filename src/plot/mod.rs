//! Pictures. The charts are drawn with plotters, as PNG or SVG by the file's
//! extension ([`canvas`]): the confusion and transition matrices ([`matrix`]), the
//! comparison of model kinds ([`bars`]), training curves ([`curves`]), expression
//! timelines ([`timeline`]) and `fer explain`'s trees ([`tree`]). Photos and video
//! frames annotated with boxes, fiducial points and labels are drawn onto the
//! frame itself with OpenCV's `imgproc`, as the frames are OpenCV images already.
//! Everything is written atomically.

pub mod annotate;
pub mod bars;
pub mod canvas;
pub mod curves;
pub mod matrix;
pub mod names;
pub mod timeline;
pub mod tree;

pub use annotate::{annotate, FaceMark};
pub use bars::comparison;
pub use curves::{training_curves, Curves};
pub use matrix::{confusion, transition};
pub use names::{safe_file_name, transition_picture_path};
pub use timeline::timeline;
pub use tree::explanation;
