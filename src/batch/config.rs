//! What a batch is asked to do ([`BatchConfig`], checked once) and what it did
//! ([`BatchSummary`]).

use super::output::OutputFormat;
use super::shard::Shard;
use crate::error::{FerError, Result};
use std::path::PathBuf;

/// A validated batch job.
#[derive(Debug, Clone)]
pub struct BatchConfig {
    /// Files and folders (folders are walked recursively for image files).
    pub inputs: Vec<PathBuf>,
    /// Row format.
    pub format: OutputFormat,
    /// Output file; stdout when `None`.
    pub out: Option<PathBuf>,
    /// Keep the rows already in `<out>.partial` (or `<out>`) and skip their files.
    pub resume: bool,
    /// Write annotated images into this folder.
    pub annotate: Option<PathBuf>,
    /// Include the fiducial points in each row.
    pub landmarks: bool,
    /// Videos: read every N-th frame (1: every frame).
    pub every: u64,
    /// Videos: a full face search at least once every this many frames, and in
    /// between a search near the faces of the frame before ([`crate::tracked`]);
    /// 1: a full search on every frame.
    pub search_every: u64,
    /// Paths listed in this file (a plain list or a manifest CSV) are inputs too.
    pub files_from: Option<PathBuf>,
    /// Process only this shard of the inputs, writing `OUT.shard-I-of-N`.
    pub shard: Option<ShardChoice>,
    /// Sharded runs: videos are cut into ranges of this many frames.
    pub video_chunk: u64,
    /// The model as given (a path or a shipped name), for the run record.
    pub model: PathBuf,
}

/// Which shard a task processes, and who said so (for the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardChoice {
    pub shard: Shard,
    pub from_slurm: bool,
}

impl BatchConfig {
    /// Validate the combination of options.
    pub fn check(&self) -> Result<()> {
        if self.inputs.is_empty() && self.files_from.is_none() {
            return Err(FerError::param(
                "inputs",
                "give at least one file or folder, or --files-from LIST",
            ));
        }
        if self.shard.is_some() && self.out.is_none() {
            return Err(FerError::param(
                "shard",
                "a sharded run writes OUT.shard-I-of-N: give --out OUT",
            ));
        }
        if self.format == OutputFormat::Parquet && self.out.is_none() {
            return Err(FerError::param(
                "format",
                "Parquet is written to a file: give --out FILE",
            ));
        }
        if self.video_chunk == 0 {
            return Err(FerError::param("video_chunk", "must be at least 1"));
        }
        if self.every == 0 {
            return Err(FerError::param("every", "must be at least 1"));
        }
        if self.search_every == 0 {
            return Err(FerError::param(
                "search_every",
                "must be at least 1 (1: the whole frame on every frame)",
            ));
        }
        if self.shard.is_some() && !self.video_chunk.is_multiple_of(self.search_every.max(1)) {
            tracing::warn!(
                "--video-chunk {} is not a multiple of --search-every {}: a video's rows may differ a little from reading it unsharded (each range starts with a full search)",
                self.video_chunk,
                self.search_every
            );
        }
        if self.resume && self.out.is_none() {
            return Err(FerError::param("resume", "--resume needs --out FILE"));
        }
        Ok(())
    }
}

/// Counts at the end of a batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchSummary {
    pub files: usize,
    pub resumed: usize,
    pub faces: usize,
    pub no_face: usize,
    /// Files that failed: in this run, and among the rows a resumed run carried
    /// over (so that the exit status describes the whole output).
    pub errors: usize,
}

impl BatchSummary {
    /// One line for the end of a run.
    pub fn to_text(&self) -> String {
        format!(
            "{} files ({} resumed): {} faces, {} without a face, {} failed",
            self.files + self.resumed,
            self.resumed,
            self.faces,
            self.no_face,
            self.errors
        )
    }
}
