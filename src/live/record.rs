//! One face of one frame of `fer live`: a line of the `--jsonl` timeline, a row
//! of the `--parquet` one.

use serde::{Deserialize, Serialize};

/// One face of one frame: a JSONL line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaceRecord {
    /// Seconds (the video's timestamp for files, since the start for live sources).
    pub t: f64,
    pub frame: u64,
    pub track: u64,
    pub bbox: [i32; 4],
    pub label: String,
    pub pooled_label: String,
    /// Per-frame probabilities, by class.
    pub raw: Vec<f32>,
    /// The track's pooled probabilities.
    pub pooled: Vec<f32>,
    /// The class of each probability (absent from timelines written before it was added).
    #[serde(default)]
    pub classes: Vec<String>,
}
