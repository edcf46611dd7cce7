//! Frame capture on its own thread, with OpenCV's `VideoCapture`: a camera
//! index, a device path, a video file, an image sequence pattern
//! (`frames/%04d.png`) or a stream URL. Frames reach the reader through a
//! one-frame mailbox: from a live source (camera, device, stream) a new frame
//! replaces one not yet taken, so the reader always gets the newest frame and
//! never a backlog (the replaced ones are counted as dropped); from a file or
//! an image sequence nothing is dropped, the capture waits for the reader.

use crate::error::{FerError, Result};
use crate::gray::GrayImage;
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

    /// Open it with `VideoCapture`, or say why not (naming the source).
    pub fn open(&self) -> Result<VideoCapture> {
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
        Ok(cap)
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
    ended: Option<std::result::Result<(), String>>,
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
    thread: Option<JoinHandle<()>>,
}

impl Capture {
    /// Open `source` (failing here if it cannot be opened) and start reading it.
    pub fn start(source: Source, reconnects: u32) -> Result<Capture> {
        let mut cap = source.open()?;
        let fps = cap.get(videoio::CAP_PROP_FPS).unwrap_or(0.0);
        let size = (
            cap.get(videoio::CAP_PROP_FRAME_WIDTH).unwrap_or(0.0) as i32,
            cap.get(videoio::CAP_PROP_FRAME_HEIGHT).unwrap_or(0.0) as i32,
        );
        let shared = Arc::new((Mutex::new(Mailbox::default()), Condvar::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let dropped = Arc::new(AtomicU64::new(0));
        let live = source.is_live();
        let (sh, st, dr) = (shared.clone(), stop.clone(), dropped.clone());
        let thread = std::thread::spawn(move || {
            let result = read_loop(&mut cap, &source, reconnects, &sh, &st, &dr);
            let (lock, cv) = &*sh;
            if let Ok(mut m) = lock.lock() {
                m.ended = Some(result.map_err(|e| e.to_string()));
            }
            cv.notify_all();
        });
        Ok(Capture {
            shared,
            stop,
            dropped,
            live,
            fps: if fps.is_finite() { fps } else { 0.0 },
            size,
            thread: Some(thread),
        })
    }

    /// The next frame, waiting for it; `Ok(None)` when the source has ended.
    pub fn next(&self) -> Result<Option<Frame>> {
        let (lock, cv) = &*self.shared;
        let mut m = lock
            .lock()
            .map_err(|_| FerError::param("source", "capture thread failed"))?;
        loop {
            if let Some(mut f) = m.frame.take() {
                cv.notify_all();
                if !self.live {
                    f.grabbed = Instant::now();
                }
                return Ok(Some(f));
            }
            match &m.ended {
                Some(Ok(())) => return Ok(None),
                Some(Err(e)) => return Err(FerError::param("source", e.clone())),
                None => {}
            }
            m = cv
                .wait(m)
                .map_err(|_| FerError::param("source", "capture thread failed"))?;
        }
    }

    /// Frames replaced before they were read.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        self.shared.1.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

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
                return Ok(()); // end of the file or sequence
            }
            if attempts >= reconnects {
                return Err(source.err(format!("lost, and {reconnects} reconnect attempts failed")));
            }
            attempts += 1;
            tracing::warn!("{source}: no frame; reconnecting ({attempts} of {reconnects})");
            std::thread::sleep(RECONNECT_PAUSE);
            if let Ok(c) = source.open() {
                *cap = c;
            }
            continue;
        }
        attempts = 0;
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
