//! Frame capture on its own thread, with OpenCV's `VideoCapture`: a camera
//! index, a device path, a video file, an image sequence pattern
//! (`frames/%04d.png`) or a stream URL. Frames reach the reader through a
//! one-frame mailbox: from a live source (camera, device, stream) a new frame
//! replaces one not yet taken, so the reader always gets the newest frame and
//! never a backlog (the replaced ones are counted as dropped); from a file or
//! an image sequence nothing is dropped, the capture waits for the reader.
//!
//! OpenCV's open and read calls can block for good (a FIFO no one writes, a
//! stream that accepts and then sends nothing). Both happen on the capture
//! thread, and the reader waits for each at most the stall timeout: past it the
//! run ends with an error naming the source, and the blocked thread is left
//! behind rather than joined.

use crate::error::{FerError, Result};
use crate::gray::GrayImage;
use crate::stages::decode::{check_size, name_file};
use opencv::core::Mat;
use opencv::imgproc;
use opencv::prelude::*;
use opencv::videoio::{self, VideoCapture};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Pause between reconnect attempts to a camera or stream.
pub const RECONNECT_PAUSE: Duration = Duration::from_millis(500);
/// Default longest wait for a source to open, and for its next frame.
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(10);

/// A property an opened capture declares (`CAP_PROP_*`), when it is a positive
/// number: backends answer 0, -1 or NaN for what they do not know.
pub fn declared(cap: &VideoCapture, property: i32) -> Option<f64> {
    cap.get(property).ok().filter(|v| v.is_finite() && *v > 0.0)
}

/// Where frames come from.
#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    /// A camera by index.
    Camera(i32),
    /// A file, image sequence pattern, device path or URL.
    Path(String),
}

impl Source {
    /// A number is a camera index; anything else a path or URL.
    pub fn parse(s: &str) -> Source {
        s.parse::<i32>()
            .map(Source::Camera)
            .unwrap_or_else(|_| Source::Path(s.to_string()))
    }

    /// Cameras, devices and streams are live: stale frames are dropped and a lost
    /// source is reopened. Files and image sequences are read frame by frame.
    pub fn is_live(&self) -> bool {
        match self {
            Source::Camera(_) => true,
            Source::Path(p) => p.contains("://") || p.starts_with("/dev/"),
        }
    }

    /// Open it with `VideoCapture`, or say why not (naming the source). A source
    /// whose frames are declared larger than `max_pixels` is refused here, before
    /// a frame is read (a 5 MB MJPEG file of 12000 x 12000 frames took 3.5 GB to
    /// read); frames larger than declared are refused by [`Source::check_frame`].
    pub fn open(&self, max_pixels: u64) -> Result<VideoCapture> {
        // A plain path that does not exist is refused here, before OpenCV's backends
        // each print their own complaint about it.
        if let Source::Path(p) = self {
            if !p.contains('%') && !p.contains("://") && !std::path::Path::new(p).exists() {
                return Err(self.err("cannot open: no such file or device".into()));
            }
        }
        let cap = match self {
            Source::Camera(i) => VideoCapture::new(*i, videoio::CAP_ANY),
            Source::Path(p) => VideoCapture::from_file(p, videoio::CAP_ANY),
        };
        let cap = cap.map_err(|e| self.err(format!("cannot open ({e})")))?;
        if !cap.is_opened().unwrap_or(false) {
            return Err(
                self.err("cannot open: no such camera, file or stream, or no codec for it".into())
            );
        }
        if let (Some(w), Some(h)) = (
            declared(&cap, videoio::CAP_PROP_FRAME_WIDTH),
            declared(&cap, videoio::CAP_PROP_FRAME_HEIGHT),
        ) {
            self.check_size(w as u64, h as u64, max_pixels)?;
        }
        Ok(cap)
    }

    /// Refuse a frame of more than `max_pixels` (one larger than its source declared).
    pub fn check_frame(&self, frame: &Mat, max_pixels: u64) -> Result<()> {
        self.check_size(frame.cols() as u64, frame.rows() as u64, max_pixels)
    }

    fn check_size(&self, width: u64, height: u64, max_pixels: u64) -> Result<()> {
        check_size(width, height, max_pixels)
            .map_err(|e| name_file(e, std::path::Path::new(&self.to_string())))
    }

    fn err(&self, reason: String) -> FerError {
        FerError::param("source", format!("{self}: {reason}"))
    }
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Camera(i) => write!(f, "camera {i}"),
            Source::Path(p) => f.write_str(p),
        }
    }
}

/// One captured frame.
pub struct Frame {
    /// Position in the stream (0-based, counting dropped frames).
    pub index: u64,
    /// Seconds: frame number over frame rate for files, time since the start for live sources (and files without a frame rate).
    pub t: f64,
    /// When it was read from a live source, or taken by the reader from a file (whose
    /// frames wait for the reader by design), for the capture-to-readout latency.
    pub grabbed: Instant,
    /// Grey frame (colour sources are converted).
    pub gray: GrayImage,
    /// The frame as read (colour when the source is), for drawing.
    pub colour: Mat,
}

#[derive(Default)]
struct Mailbox {
    frame: Option<Frame>,
    /// Set when the capture thread ends: how (an error is handed to the reader once).
    ended: Option<Result<()>>,
}

/// The reading side of a capture thread.
pub struct Capture {
    shared: Arc<(Mutex<Mailbox>, Condvar)>,
    stop: Arc<AtomicBool>,
    dropped: Arc<AtomicU64>,
    live: bool,
    /// Frames per second the source reports (0 when unknown).
    pub fps: f64,
    /// Frame size the source reports.
    pub size: (i32, i32),
    /// The source, for messages.
    name: String,
    /// Longest wait for a frame.
    stall: Duration,
    thread: Option<JoinHandle<()>>,
}

/// What the capture thread reports once it has opened its source.
type Opened = Result<(f64, (i32, i32))>;

impl Capture {
    /// Open `source` on the capture thread and start reading it; fails here if it
    /// cannot be opened, does not open within `stall`, or declares frames of more
    /// than `max_pixels`.
    pub fn start(
        source: Source,
        reconnects: u32,
        stall: Duration,
        max_pixels: u64,
    ) -> Result<Capture> {
        let name = source.to_string();
        let shared = Arc::new((Mutex::new(Mailbox::default()), Condvar::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let dropped = Arc::new(AtomicU64::new(0));
        let live = source.is_live();
        let (sh, st, dr) = (shared.clone(), stop.clone(), dropped.clone());
        let (opened_tx, opened_rx) = std::sync::mpsc::channel::<Opened>();
        let thread = std::thread::spawn(move || {
            let mut cap = match source.open(max_pixels) {
                Ok(cap) => cap,
                Err(e) => {
                    let _ = opened_tx.send(Err(e));
                    return;
                }
            };
            let fps = cap.get(videoio::CAP_PROP_FPS).unwrap_or(0.0);
            let size = (
                cap.get(videoio::CAP_PROP_FRAME_WIDTH).unwrap_or(0.0) as i32,
                cap.get(videoio::CAP_PROP_FRAME_HEIGHT).unwrap_or(0.0) as i32,
            );
            if opened_tx.send(Ok((fps, size))).is_err() {
                return; // the reader gave up waiting
            }
            let result = read_loop(&mut cap, &source, reconnects, max_pixels, &sh, &st, &dr);
            let (lock, cv) = &*sh;
            if let Ok(mut m) = lock.lock() {
                m.ended = Some(result);
            }
            cv.notify_all();
        });
        let (fps, size) = match opened_rx.recv_timeout(stall) {
            Ok(Ok(opened)) => opened,
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(e);
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                stop.store(true, Ordering::Relaxed);
                return Err(stalled(&name, "did not open", stall));
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                return Err(FerError::param(
                    "source",
                    format!("{name}: capture thread failed"),
                ));
            }
        };
        Ok(Capture {
            shared,
            stop,
            dropped,
            live,
            fps: if fps.is_finite() { fps } else { 0.0 },
            size,
            name,
            stall,
            thread: Some(thread),
        })
    }

    /// The next frame, waiting for it; `Ok(None)` when the source has ended.
    /// Waiting longer than the stall timeout is an error naming the source.
    pub fn next(&self) -> Result<Option<Frame>> {
        let (lock, cv) = &*self.shared;
        let mut m = lock
            .lock()
            .map_err(|_| FerError::param("source", "capture thread failed"))?;
        let since = Instant::now();
        loop {
            if let Some(mut f) = m.frame.take() {
                cv.notify_all();
                if !self.live {
                    f.grabbed = Instant::now();
                }
                return Ok(Some(f));
            }
            match m.ended.as_mut() {
                Some(Ok(())) => return Ok(None),
                Some(ended) => return std::mem::replace(ended, Ok(())).map(|()| None),
                None => {}
            }
            let left = self.stall.saturating_sub(since.elapsed());
            if left.is_zero() {
                return Err(stalled(&self.name, "sent no frame", self.stall));
            }
            m = cv
                .wait_timeout(m, left)
                .map_err(|_| FerError::param("source", "capture thread failed"))?
                .0;
        }
    }

    /// Frames replaced before they were read.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// The end of a file or image sequence after `read` frames: an error when not one
/// frame could be read; a warning when its container declared more (a video
/// corrupt from some point on, or one that overstates its length, which some do).
fn file_ended(cap: &VideoCapture, source: &Source, read: u64) -> Result<()> {
    if read == 0 {
        return Err(source.err("no frame could be read".into()));
    }
    let declared = cap.get(videoio::CAP_PROP_FRAME_COUNT).unwrap_or(0.0);
    if declared.is_finite() && declared > read as f64 {
        tracing::warn!(
            "{source}: ended after {read} of the {declared} frames its container declares (the rest did not decode)"
        );
    }
    Ok(())
}

/// The error for a source that kept the reader waiting past `stall`.
fn stalled(name: &str, what: &str, stall: Duration) -> FerError {
    FerError::param(
        "source",
        format!(
            "{name}: {what} within {} s (--stall-timeout); a FIFO no one writes, or a stream that stopped sending?",
            stall.as_secs_f64()
        ),
    )
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.shared.1.notify_all();
        if let Some(t) = self.thread.take() {
            // A thread stuck inside OpenCV's read is left behind, not waited for;
            // one that is between frames sees `stop` and ends at once.
            let waited = Instant::now();
            while !t.is_finished() && waited.elapsed() < JOIN_WAIT {
                std::thread::sleep(Duration::from_millis(5));
            }
            if t.is_finished() {
                let _ = t.join();
            }
        }
    }
}

/// How long dropping a capture waits for its thread to end.
const JOIN_WAIT: Duration = Duration::from_secs(2);

/// A grey copy of a frame as `VideoCapture` reads it (grey, BGR or BGRA).
pub fn to_gray(frame: &Mat) -> Result<GrayImage> {
    if frame.channels() == 1 {
        return GrayImage::from_mat(frame.try_clone()?);
    }
    let mut g = Mat::default();
    let code = if frame.channels() == 4 {
        imgproc::COLOR_BGRA2GRAY
    } else {
        imgproc::COLOR_BGR2GRAY
    };
    imgproc::cvt_color_def(frame, &mut g, code)?;
    GrayImage::from_mat(g)
}

fn read_loop(
    cap: &mut VideoCapture,
    source: &Source,
    reconnects: u32,
    max_pixels: u64,
    shared: &(Mutex<Mailbox>, Condvar),
    stop: &AtomicBool,
    dropped: &AtomicU64,
) -> Result<()> {
    let live = source.is_live();
    let fps = cap
        .get(videoio::CAP_PROP_FPS)
        .ok()
        .filter(|f| f.is_finite())
        .unwrap_or(0.0);
    let started = Instant::now();
    let mut index = 0u64;
    let mut attempts = 0u32;
    let (lock, cv) = shared;
    while !stop.load(Ordering::Relaxed) {
        let mut colour = Mat::default();
        let ok = cap.read(&mut colour).unwrap_or(false) && !colour.empty();
        if !ok {
            if !live {
                return file_ended(cap, source, index);
            }
            if attempts >= reconnects {
                return Err(source.err(format!("lost, and {reconnects} reconnect attempts failed")));
            }
            attempts += 1;
            tracing::warn!("{source}: no frame; reconnecting ({attempts} of {reconnects})");
            std::thread::sleep(RECONNECT_PAUSE);
            if let Ok(c) = source.open(max_pixels) {
                *cap = c;
            }
            continue;
        }
        attempts = 0;
        source.check_frame(&colour, max_pixels)?;
        let grabbed = Instant::now();
        // A file's time is its frame number over its frame rate (OpenCV's
        // CAP_PROP_POS_MSEC read 0 on the last frames of Megamind.avi).
        let t = if live || fps <= 0.0 {
            started.elapsed().as_secs_f64()
        } else {
            index as f64 / fps
        };
        let gray = to_gray(&colour)?;
        let frame = Frame {
            index,
            t,
            grabbed,
            gray,
            colour,
        };
        index += 1;
        let mut m = lock
            .lock()
            .map_err(|_| FerError::param("source", "reader failed"))?;
        if live {
            if m.frame.replace(frame).is_some() {
                dropped.fetch_add(1, Ordering::Relaxed);
            }
        } else {
            while m.frame.is_some() && !stop.load(Ordering::Relaxed) {
                m = cv
                    .wait(m)
                    .map_err(|_| FerError::param("source", "reader failed"))?;
            }
            m.frame = Some(frame);
        }
        cv.notify_all();
    }
    Ok(())
}
