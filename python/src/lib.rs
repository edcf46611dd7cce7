//! `fer_rs._native`: the Rust half of the Python module `fer_rs` (PyO3). The
//! Python half (`python/fer_rs/__init__.py`) turns what this returns into
//! DataFrames and resolves the shipped models' names.
//!
//! - `errors`: the exception classes, and library errors mapped onto them
//! - `detached`: running work without the GIL, with progress and Ctrl-C
//! - `options`: keyword arguments into the library's validated configs
//! - `reader`: the `Reader` class (one image, many files, a video)
//! - `columns`: batch rows as typed columns
//! - `reports`: `evaluate`, `train` and `compare`

mod columns;
mod detached;
mod errors;
mod options;
mod reader;
mod reports;

use pyo3::prelude::*;

#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    fer::workers::opencv_single_threaded().map_err(errors::to_py)?;
    errors::register(m)?;
    m.add_class::<reader::Reader>()?;
    m.add_function(wrap_pyfunction!(reader::imread, m)?)?;
    m.add_function(wrap_pyfunction!(reports::evaluate, m)?)?;
    m.add_function(wrap_pyfunction!(reports::train, m)?)?;
    m.add_function(wrap_pyfunction!(reports::compare, m)?)?;
    m.add_function(wrap_pyfunction!(reports::option_names, m)?)?;
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add("model_kinds", fer::model::ModelKind::names().to_vec())?;
    Ok(())
}
