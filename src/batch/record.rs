//! The run record beside each shard's output (`OUT.shard-I-of-N.json`): which
//! run the shard belongs to, under which settings, and whether it is complete.
//! It is written (atomically) when the shard starts and again when it ends;
//! `--resume` refuses a partial output from another run, and `fer merge`
//! refuses shards that are missing, incomplete, doubled or from another run.

use crate::error::{FerError, Result};
use crate::fingerprint::Fnv;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What a shard's output depends on, besides its inputs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    /// The model as given, and a hash of its file (`None` for a name).
    pub model: String,
    pub model_hash: Option<String>,
    pub classes: Vec<String>,
    /// Every stage's configuration (`PipelineConfig`, as JSON).
    pub pipeline: serde_json::Value,
    pub format: String,
    pub landmarks: bool,
    pub every: u64,
    pub fer_version: String,
}

impl Settings {
    /// A fingerprint of the settings.
    pub fn hash(&self) -> String {
        let mut h = Fnv::new();
        h.write(serde_json::to_string(self).unwrap_or_default().as_bytes());
        format!("{:016x}", h.finish())
    }
}

/// The record of one shard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// Same for every shard of one run: a hash of the settings, the whole plan and N.
    pub run_id: String,
    pub settings_hash: String,
    pub shard: usize,
    pub shards: usize,
    /// Work units of this shard, and of the whole run.
    pub units: usize,
    pub units_total: usize,
    /// False until the shard's output is complete and in place.
    pub complete: bool,
    /// Rows in the output (set when complete).
    pub rows: Option<usize>,
    /// The Slurm job that wrote it, when there was one (for the log; not checked).
    pub slurm_job: Option<String>,
    pub settings: Settings,
}

impl RunRecord {
    /// Where the record of the shard output `shard_out` lives.
    pub fn path_for(shard_out: &Path) -> PathBuf {
        let mut s = shard_out.as_os_str().to_owned();
        s.push(".json");
        PathBuf::from(s)
    }

    /// The run id of a run: its settings, its plan and its shard count.
    pub fn run_id(settings_hash: &str, plan_fingerprint: u64, shards: usize) -> String {
        let mut h = Fnv::new();
        h.write(settings_hash.as_bytes());
        h.write(&plan_fingerprint.to_le_bytes());
        h.write(&(shards as u64).to_le_bytes());
        format!("{:016x}", h.finish())
    }

    pub fn read(path: &Path) -> Result<RunRecord> {
        let text = std::fs::read_to_string(path).map_err(|e| FerError::io(path, e))?;
        serde_json::from_str(&text).map_err(|e| FerError::Dataset {
            path: path.to_path_buf(),
            reason: format!("not a fer shard record: {e}"),
        })
    }

    /// Write atomically (a temporary file renamed over the old record).
    pub fn write(&self, path: &Path) -> Result<()> {
        let text = serde_json::to_string_pretty(self)
            .map_err(|e| FerError::param("record", e.to_string()))?;
        crate::atomic_file::write_atomic(path, (text + "\n").as_bytes())
    }
}
