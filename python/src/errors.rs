//! The module's exceptions: `FerError` and one subclass per kind of library
//! error, so that Python code can catch a bad image apart from a bad model.
//! Every message names the file (or the parameter) and the reason, as the CLI's do.

use fer::error::FerError as LibError;
use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(fer_rs, FerError, PyException, "Any error of fer_rs.");
create_exception!(
    fer_rs,
    ImageError,
    FerError,
    "An image that cannot be read: unreadable, not an image, truncated, or over the pixel limit."
);
create_exception!(
    fer_rs,
    ModelError,
    FerError,
    "A model file that is missing, corrupt, or of another format."
);
create_exception!(
    fer_rs,
    DatasetError,
    FerError,
    "A dataset folder or manifest that cannot be used."
);
create_exception!(
    fer_rs,
    ParameterError,
    FerError,
    "An option out of its valid range."
);
create_exception!(
    fer_rs,
    TrainingError,
    FerError,
    "Training that cannot proceed (too few samples, one class, ...)."
);

/// Add the exception classes to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("FerError", py.get_type::<FerError>())?;
    m.add("ImageError", py.get_type::<ImageError>())?;
    m.add("ModelError", py.get_type::<ModelError>())?;
    m.add("DatasetError", py.get_type::<DatasetError>())?;
    m.add("ParameterError", py.get_type::<ParameterError>())?;
    m.add("TrainingError", py.get_type::<TrainingError>())?;
    Ok(())
}

/// The exception for a library error, with the library's message.
pub fn to_py(e: LibError) -> PyErr {
    let message = e.to_string();
    match e {
        LibError::Decode { .. } | LibError::TooLarge { .. } => ImageError::new_err(message),
        LibError::Model { .. } => ModelError::new_err(message),
        LibError::Dataset { .. } => DatasetError::new_err(message),
        LibError::InvalidParam { .. } => ParameterError::new_err(message),
        LibError::Training(_) => TrainingError::new_err(message),
        _ => FerError::new_err(message),
    }
}

/// A `ParameterError` about the keyword argument `name`.
pub fn parameter(name: &str, reason: impl std::fmt::Display) -> PyErr {
    ParameterError::new_err(format!("invalid parameter `{name}`: {reason}"))
}
