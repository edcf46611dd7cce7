//! Long work runs without the GIL, on rayon's threads, while the calling thread
//! wakes every [`POLL`] to report progress to a Python callback and to check
//! for Ctrl-C. On Ctrl-C (or an exception in the callback) the work is asked to
//! stop, and the exception is raised once it has. A panic in the work becomes a
//! `FerError`, never a Python `PanicException`.

use crate::errors::{to_py, FerError};
use pyo3::prelude::*;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

/// How often the waiting thread reports progress and checks for signals.
const POLL: Duration = Duration::from_millis(50);

/// What the work reports, and the flag that asks it to stop.
#[derive(Default)]
pub struct Progress {
    pub done: AtomicUsize,
    pub total: AtomicUsize,
    pub stop: AtomicBool,
}

impl Progress {
    pub fn tick(&self) {
        self.done.fetch_add(1, Ordering::Relaxed);
    }

    pub fn set_total(&self, n: usize) {
        self.total.store(n, Ordering::Relaxed);
    }

    fn report(&self, py: Python<'_>, callback: Option<&PyObject>) -> PyResult<()> {
        if let Some(cb) = callback {
            cb.call1(
                py,
                (
                    self.done.load(Ordering::Relaxed),
                    self.total.load(Ordering::Relaxed),
                ),
            )?;
        }
        Ok(())
    }
}

/// Run `work` on `threads` rayon threads (0: one per core) with the GIL
/// released; `callback(done, total)` is called from the calling thread.
pub fn run<T: Send>(
    py: Python<'_>,
    threads: usize,
    callback: Option<&PyObject>,
    work: impl FnOnce(&Progress) -> fer::Result<T> + Send,
) -> PyResult<T> {
    let progress = Progress::default();
    let workers = rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| FerError::new_err(format!("starting {threads} worker threads: {e}")))?;
    let (result, interrupted) = py.allow_threads(|| {
        std::thread::scope(|scope| {
            let job = scope
                .spawn(|| catch_unwind(AssertUnwindSafe(|| workers.install(|| work(&progress)))));
            let mut interrupted: Option<PyErr> = None;
            while !job.is_finished() {
                std::thread::sleep(POLL);
                if interrupted.is_some() {
                    continue;
                }
                let checked = Python::with_gil(|py| {
                    py.check_signals()?;
                    progress.report(py, callback)
                });
                if let Err(e) = checked {
                    progress.stop.store(true, Ordering::Relaxed);
                    interrupted = Some(e);
                }
            }
            (job.join(), interrupted)
        })
    });
    if let Some(e) = interrupted {
        return Err(e);
    }
    let result = match result {
        Ok(Ok(r)) => r,
        Ok(Err(panic)) | Err(panic) => return Err(internal_error(panic)),
    };
    let value = result.map_err(to_py)?;
    progress.report(py, callback)?;
    Ok(value)
}

/// A panic's payload as a `FerError`.
fn internal_error(panic: Box<dyn std::any::Any + Send>) -> PyErr {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    FerError::new_err(format!(
        "internal error (a bug in fer, please report it): {what}"
    ))
}

/// Run short work on the calling thread with the GIL released; a panic becomes a `FerError`.
pub fn short<T: Send>(py: Python<'_>, work: impl FnOnce() -> fer::Result<T> + Send) -> PyResult<T> {
    py.allow_threads(|| catch_unwind(AssertUnwindSafe(work)))
        .map_err(internal_error)?
        .map_err(to_py)
}
