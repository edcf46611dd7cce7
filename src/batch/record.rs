//! The run record beside each shard's output (`OUT.shard-I-of-N.json`): which
//! run the shard belongs to, under which settings, and whether it is complete.
//! It is written (atomically) when the shard starts and again when it ends;
//! `--resume` refuses a partial output from another run, and `fer merge`
//! refuses shards that are missing, incomplete, doubled or from another run.

use crate::error::{FerError, Result};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// 64-bit FNV-1a: a hash that is the same in every build and on every machine
/// (std's `DefaultHasher` promises neither), for fingerprints of settings and plans.
#[derive(Debug, Clone, Copy)]
pub struct Fnv(u64);

impl Fnv {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    pub fn new() -> Fnv {
        Fnv(Self::OFFSET)
    }

    pub fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= *b as u64;
            self.0 = self.0.wrapping_mul(Self::PRIME);
        }
    }

    pub fn finish(&self) -> u64 {
        self.0
    }
}

impl Default for Fnv {
    fn default() -> Self {
        Fnv::new()
    }
}

/// Hash of a file's bytes (`None` when it cannot be read, for example a shipped model's name).
pub fn file_fingerprint(path: &Path) -> Option<u64> {
    let bytes = std::fs::read(path).ok()?;
    let mut h = Fnv::new();
    h.write(&bytes);
    Some(h.finish())
}

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
        crate::model::bundle::write_atomic(path, (text + "\n").as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_its_reference_values() {
        // Published FNV-1a 64 test vectors.
        let h = |s: &str| {
            let mut f = Fnv::new();
            f.write(s.as_bytes());
            f.finish()
        };
        assert_eq!(h(""), 0xcbf29ce484222325);
        assert_eq!(h("a"), 0xaf63dc4c8601ec8c);
        assert_eq!(h("foobar"), 0x85944171f73967e8);
    }
}
