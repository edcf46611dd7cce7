//! One error enum for the library. Variants carry the data a user needs to act
//! (which file, which parameter, what was expected).

use std::path::{Path, PathBuf};

/// Everything the `fer` library can fail with.
#[derive(Debug, thiserror::Error)]
pub enum FerError {
    /// A stage or training parameter is out of its valid range.
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParam { name: &'static str, reason: String },

    /// An image file could not be read or decoded.
    #[error("{path}: {reason}")]
    Decode { path: PathBuf, reason: String },

    /// An image header announces more pixels than the configured limit.
    #[error(
        "{path}: image is {width}x{height} ({pixels} pixels), over the limit of {limit} pixels"
    )]
    TooLarge {
        path: PathBuf,
        width: u64,
        height: u64,
        pixels: u64,
        limit: u64,
    },

    /// A model bundle is missing, corrupt, truncated or of another schema.
    #[error("model {path}: {reason}")]
    Model { path: PathBuf, reason: String },

    /// A dataset folder or manifest is unusable.
    #[error("dataset {path}: {reason}")]
    Dataset { path: PathBuf, reason: String },

    /// Training cannot proceed (too few samples, a single class, ...).
    #[error("training: {0}")]
    Training(String),

    // The wrapped errors are shown in the message and not chained as sources, so
    // that `{:#}` (anyhow) does not print them twice.
    /// OpenCV reported an error.
    #[error("opencv: {0}")]
    OpenCv(opencv::Error),

    /// candle reported an error.
    #[error("candle: {0}")]
    Candle(candle_core::Error),

    /// A picture could not be drawn or written.
    #[error("picture {}: {reason}", path.display())]
    Picture { path: PathBuf, reason: String },

    /// An I/O error outside the cases above.
    #[error("{}: {error}", path.display())]
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
}

impl From<opencv::Error> for FerError {
    fn from(e: opencv::Error) -> Self {
        FerError::OpenCv(e)
    }
}

impl From<candle_core::Error> for FerError {
    fn from(e: candle_core::Error) -> Self {
        FerError::Candle(e)
    }
}

/// Result alias for the library.
pub type Result<T> = std::result::Result<T, FerError>;

impl FerError {
    /// Build an [`FerError::InvalidParam`].
    pub fn param(name: &'static str, reason: impl Into<String>) -> Self {
        FerError::InvalidParam {
            name,
            reason: reason.into(),
        }
    }

    /// Build an [`FerError::Model`]: the model file at `path` is unusable, and why.
    pub fn model(path: &Path, reason: impl Into<String>) -> Self {
        FerError::Model {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }

    /// Build an [`FerError::Io`] naming the file.
    pub fn io(path: impl Into<PathBuf>, error: std::io::Error) -> Self {
        FerError::Io {
            path: path.into(),
            error,
        }
    }
}
