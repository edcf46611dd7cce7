//! Per-worker state for parallel work: a [`WorkerPool`] lends each rayon task one
//! value (a pipeline with its cascades, an ONNX network), building one only when
//! none is idle, so that at most one exists per running worker.

use crate::error::Result;
use crate::pipeline::{Pipeline, PipelineConfig};
use std::sync::Mutex;

/// Per-worker state (cascades and the like) for parallel work: each task borrows
/// one value, so at most one exists per concurrently running worker.
pub struct WorkerPool<T> {
    idle: Mutex<Vec<T>>,
}

impl<T> Default for WorkerPool<T> {
    fn default() -> Self {
        WorkerPool {
            idle: Mutex::new(Vec::new()),
        }
    }
}

impl<T> WorkerPool<T> {
    /// Run `f` with a value borrowed from the pool, built by `make` when none is idle.
    pub fn with<R>(
        &self,
        make: impl FnOnce() -> Result<T>,
        f: impl FnOnce(&mut T) -> R,
    ) -> Result<R> {
        let taken = self.idle.lock().ok().and_then(|mut v| v.pop());
        let mut value = match taken {
            Some(v) => v,
            None => make()?,
        };
        let r = f(&mut value);
        if let Ok(mut v) = self.idle.lock() {
            v.push(value);
        }
        Ok(r)
    }
}

/// Pipelines for worker threads (one set of cascades per worker).
pub struct PipelinePool {
    cfg: PipelineConfig,
    workers: WorkerPool<Pipeline>,
}

impl PipelinePool {
    /// Validate `cfg` once; pipelines are built on first use.
    pub fn new(cfg: PipelineConfig) -> Result<Self> {
        cfg.check()?;
        Ok(PipelinePool {
            cfg,
            workers: WorkerPool::default(),
        })
    }

    /// The configuration every pipeline uses.
    pub fn config(&self) -> &PipelineConfig {
        &self.cfg
    }

    /// Run `f` with a pipeline borrowed from the pool.
    pub fn with<R>(&self, f: impl FnOnce(&mut Pipeline) -> R) -> Result<R> {
        self.workers.with(|| Pipeline::new(self.cfg), f)
    }
}

/// Leave parallelism to rayon, across images: OpenCV's own threads inside each
/// call would oversubscribe the cores. Every entry point that reads faces in
/// parallel (the CLI, the Python module) calls this once.
pub fn opencv_single_threaded() -> Result<()> {
    opencv::core::set_num_threads(1)?;
    Ok(())
}
