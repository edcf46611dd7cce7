//! `fer live --record FILE`: the annotated frames as a video, written to
//! `STEM.partial.EXT` (OpenCV picks the container by the extension) and moved to
//! FILE only once it is closed and checked. OpenCV's writers report no write
//! error (a full disk gives a short file and success), so the check reopens the
//! file: it must declare at least the frames written, and its last frame must
//! read. A recording that fails the check is an error naming the file, and an
//! earlier FILE stays as it was.

use crate::error::{FerError, Result};
use opencv::core::{Mat, Size};
use opencv::prelude::*;
use opencv::videoio::{self, VideoCapture, VideoWriter};
use std::path::{Path, PathBuf};

/// Frames per second of a recording when the source does not say.
pub const DEFAULT_RECORD_FPS: f64 = 25.0;

/// A recording in progress.
pub struct Recording {
    path: PathBuf,
    tmp: PathBuf,
    fps: f64,
    writer: Option<VideoWriter>,
    frames: u64,
}

/// `STEM.partial.EXT` beside `path`.
pub fn partial_path(path: &Path) -> PathBuf {
    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
    match path.extension() {
        Some(ext) => path.with_file_name(format!("{stem}.partial.{}", ext.to_string_lossy())),
        None => path.with_file_name(format!("{stem}.partial")),
    }
}

impl Recording {
    /// A recording to `path` at `fps` (the source's; [`DEFAULT_RECORD_FPS`] when unknown).
    /// The file is opened at the first frame, whose size it takes.
    pub fn new(path: &Path, fps: f64) -> Self {
        Recording {
            path: path.to_path_buf(),
            tmp: partial_path(path),
            fps: if fps > 0.0 { fps } else { DEFAULT_RECORD_FPS },
            writer: None,
            frames: 0,
        }
    }

    /// Append one frame.
    pub fn write(&mut self, frame: &Mat) -> Result<()> {
        let w = match &mut self.writer {
            Some(w) => w,
            None => self.writer.insert(open_writer(&self.tmp, frame, self.fps)?),
        };
        w.write(frame)?;
        self.frames += 1;
        Ok(())
    }

    /// Close, check and move the recording into place (nothing happens without a frame).
    pub fn finish(self) -> Result<()> {
        let Some(mut w) = self.writer else {
            return Ok(());
        };
        w.release()?;
        drop(w);
        check(&self.tmp, self.frames)?;
        std::fs::rename(&self.tmp, &self.path).map_err(|e| FerError::io(&self.path, e))
    }
}

fn open_writer(path: &Path, first: &Mat, fps: f64) -> Result<VideoWriter> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("")
        .to_ascii_lowercase();
    let code = if ext == "mp4" {
        ['m', 'p', '4', 'v']
    } else {
        ['M', 'J', 'P', 'G']
    };
    let fourcc = VideoWriter::fourcc(code[0], code[1], code[2], code[3])?;
    let w = VideoWriter::new(
        path,
        fourcc,
        fps,
        Size::new(first.cols(), first.rows()),
        first.channels() == 3,
    )?;
    if !w.is_opened()? {
        return Err(FerError::param(
            "record",
            format!(
                "{}: cannot write a video there (no codec for .{ext}?)",
                path.display()
            ),
        ));
    }
    Ok(w)
}

/// The closed file at `path` declares at least `frames` frames and its last one reads.
fn check(path: &Path, frames: u64) -> Result<()> {
    let incomplete = |what: String| FerError::Io {
        path: path.to_path_buf(),
        error: std::io::Error::other(format!(
            "the recording is incomplete ({what}; out of disk?); the earlier file, if any, is kept"
        )),
    };
    let mut cap = VideoCapture::from_file(path, videoio::CAP_ANY)
        .map_err(|e| incomplete(format!("it does not open: {e}")))?;
    if !cap.is_opened()? {
        return Err(incomplete("it does not open".into()));
    }
    let declared = cap.get(videoio::CAP_PROP_FRAME_COUNT).unwrap_or(0.0);
    if declared.is_nan() || declared < frames as f64 {
        return Err(incomplete(format!(
            "it holds {declared} of the {frames} frames written"
        )));
    }
    let mut last = Mat::default();
    let readable = cap.set(videoio::CAP_PROP_POS_FRAMES, (frames - 1) as f64)?
        && cap.read(&mut last)?
        && !last.empty();
    if !readable {
        return Err(incomplete(format!(
            "frame {} of {frames} does not read",
            frames
        )));
    }
    Ok(())
}
