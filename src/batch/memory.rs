//! A batch's rows kept in memory, in input order, for callers that want the
//! values rather than a file (the Python binding's `read_many` and
//! `read_video`). The rows are those `fer batch` writes for the same job: the
//! same [`process_unit`] makes them; only the order differs (`fer batch` writes
//! each file's rows as it completes).

use super::config::BatchConfig;
use super::files_from::read_file_list;
use super::output::Row;
use super::read::{collect_inputs, process_unit};
use super::shard::whole_units;
use crate::error::{FerError, Result};
use crate::model::FaceModel;
use crate::workers::PipelinePool;
use rayon::prelude::*;
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};

/// Every unit of `cfg`'s inputs read in parallel (on the current rayon pool),
/// rows in input order. `on_total` is called once with the number of files,
/// `on_file` after each. Once `stop` is set, the files not yet started are
/// skipped and the call fails with an error that says so.
pub fn rows_in_memory(
    cfg: &BatchConfig,
    pool: &PipelinePool,
    model: &dyn FaceModel,
    on_file: &(dyn Fn() + Sync),
    on_total: &dyn Fn(usize),
    stop: &AtomicBool,
) -> Result<Vec<Row>> {
    cfg.check()?;
    if cfg.out.is_some() || cfg.shard.is_some() || cfg.resume {
        return Err(FerError::param(
            "out",
            "rows kept in memory are not written to a file, sharded or resumed",
        ));
    }
    if let Some(dir) = &cfg.annotate {
        std::fs::create_dir_all(dir).map_err(|e| FerError::io(dir, e))?;
    }
    let mut paths = cfg.inputs.clone();
    if let Some(list) = &cfg.files_from {
        paths.extend(read_file_list(list)?);
    }
    let units = whole_units(collect_inputs(&paths));
    on_total(units.len());
    let done = HashSet::new();
    let per_unit: Vec<Option<Vec<Row>>> = units
        .par_iter()
        .map(|unit| {
            if stop.load(Ordering::Relaxed) {
                return None;
            }
            let rows = process_unit(unit, pool, model, cfg, &done);
            on_file();
            Some(rows)
        })
        .collect();
    if stop.load(Ordering::Relaxed) {
        return Err(FerError::param(
            "read",
            "interrupted before every file was read",
        ));
    }
    Ok(per_unit.into_iter().flatten().flatten().collect())
}
