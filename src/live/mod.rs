//! `fer live`: expression readout from a camera or any video source. Capture
//! runs on its own thread ([`capture`]); each frame goes through the pipeline
//! and the model; faces keep their identity across frames and each track's
//! readout pools its recent frames ([`track`]). Outputs: a JSONL timeline (one
//! line per face per frame), an annotated video, and a per-track summary at
//! the end.

pub mod capture;
pub mod columns;
mod record;
pub mod recording;
pub mod track;
pub mod tui;
pub mod window;

pub use record::FaceRecord;

use crate::atomic_file::tmp_path;
use crate::batch::classify;
use crate::bench::percentile;
use crate::error::{FerError, Result};
use crate::metrics::argmax;
use crate::model::FaceModel;
use crate::pipeline::StageTimes;
use crate::tracked::TrackedSearch;
use crate::workers::PipelinePool;
use capture::{Capture, Source};
use opencv::core::{Mat, Point, Rect, Scalar};
use opencv::imgproc;
use opencv::prelude::*;
use recording::Recording;
pub use recording::DEFAULT_RECORD_FPS;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use track::{Pooling, Tracker, TrackerConfig};

/// What `fer live` does.
#[derive(Debug, Clone)]
pub struct LiveConfig {
    pub source: Source,
    pub tracker: TrackerConfig,
    /// Timeline output (JSONL), written atomically at the end.
    pub jsonl: Option<PathBuf>,
    /// The same timeline as Parquet columns ([`columns`]), written atomically at the end.
    pub parquet: Option<PathBuf>,
    /// Annotated video output (codec from the extension: .avi is MJPG, .mp4 mp4v).
    pub record: Option<PathBuf>,
    /// Stop after this many frames.
    pub max_frames: Option<u64>,
    /// A full face search at least once every this many frames, and in between a
    /// search near the faces of the frame before ([`crate::tracked`]); 1: a full
    /// search on every frame.
    pub search_every: u64,
    /// Reopen attempts for a lost camera or stream.
    pub reconnects: u32,
    /// Longest wait for the source to open, and for each frame.
    pub stall_timeout: std::time::Duration,
    /// Show the annotated frames in a window (cargo feature `window`).
    pub window: bool,
}

/// What a frame produced, for the readout.
pub struct FrameReport<'a> {
    pub frame: u64,
    pub faces: &'a [FaceRecord],
    pub times: &'a StageTimes,
    /// Frames per second so far (processing rate).
    pub fps: f64,
    pub classes: &'a [String],
}

impl FrameReport<'_> {
    /// The readout as one log line (for logs, and terminals without the UI).
    pub fn status_line(&self) -> String {
        let faces: Vec<String> = self
            .faces
            .iter()
            .map(|f| {
                let p = f.pooled.iter().cloned().fold(0.0f32, f32::max);
                format!(
                    "#{} {} {:.0}% (frame: {})",
                    f.track,
                    f.pooled_label,
                    100.0 * p,
                    f.label
                )
            })
            .collect();
        let t = self.times;
        format!(
            "frame {} | {:.1} fps | detect {:.1} ms, face stages {:.1} ms, classify {:.1} ms | {}",
            self.frame,
            self.fps,
            t.denoise_ms + t.detect_ms,
            t.align_ms + t.clahe_ms + t.landmarks_ms + t.features_ms,
            t.classify_ms,
            if faces.is_empty() {
                "no face".to_string()
            } else {
                faces.join("  ")
            }
        )
    }
}

/// The end-of-stream summary of one track.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackSummary {
    pub track: u64,
    pub frames: usize,
    pub first_t: f64,
    pub last_t: f64,
    /// The pooled label it showed most often.
    pub dominant: String,
    /// Share of its frames per pooled label.
    pub share: Vec<(String, f64)>,
}

/// The end-of-stream summary.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveSummary {
    pub frames: u64,
    /// Frames replaced before they were read (live sources only).
    pub dropped: u64,
    /// Frames processed per second.
    pub fps: f64,
    /// Capture-to-readout latency, milliseconds.
    pub latency_p50_ms: f64,
    pub latency_p95_ms: f64,
    /// Frames whose whole picture was searched for faces; the others were searched
    /// only near the faces of the frame before (`--search-every`, [`crate::tracked`]).
    pub whole_frame_searches: u64,
    pub tracks: Vec<TrackSummary>,
}

/// Run until the source ends, `stop` is set (Ctrl-C) or `max_frames` is reached;
/// outputs are flushed and closed in every case.
pub fn run(
    cfg: &LiveConfig,
    pool: &PipelinePool,
    model: &dyn FaceModel,
    stop: &AtomicBool,
    on_frame: &mut dyn FnMut(&FrameReport),
) -> Result<LiveSummary> {
    let learned = cfg.tracker.pooling == Pooling::Learned;
    if learned && !model.pools_sets() {
        return Err(FerError::param(
            "pooling",
            "learned pooling needs a set model: train one with fer train --model set-max, set-mean or set-attention and --set-by",
        ));
    }
    let mut window = if cfg.window {
        Some(window::Window::open()?)
    } else {
        None
    };
    let capture = Capture::start(
        cfg.source.clone(),
        cfg.reconnects,
        cfg.stall_timeout,
        pool.config().decode.max_pixels,
    )?;
    let classes = model.classes().to_vec();
    let mut tracker = Tracker::new(cfg.tracker);
    let mut search = TrackedSearch::new(cfg.search_every);
    let mut timeline = match &cfg.jsonl {
        Some(p) => Some((
            p.clone(),
            std::io::BufWriter::new(
                std::fs::File::create(tmp_path(p)).map_err(|e| FerError::io(p, e))?,
            ),
        )),
        None => None,
    };
    let mut columns = match &cfg.parquet {
        Some(p) => {
            let mut meta = std::collections::HashMap::new();
            meta.insert("fer.source".to_string(), cfg.source.to_string());
            Some(columns::TimelineWriter::create(p, &classes, meta)?)
        }
        None => None,
    };
    let mut recording = cfg
        .record
        .as_deref()
        .map(|p| Recording::new(p, capture.fps));
    let started = Instant::now();
    let mut latencies = Vec::new();
    let mut frames = 0u64;
    let mut whole_frame_searches = 0u64;
    let result = (|| -> Result<()> {
        while !stop.load(Ordering::Relaxed) && cfg.max_frames.is_none_or(|m| frames < m) {
            let Some(frame) = capture.next()? else { break };
            // One bad frame is logged and skipped; the stream goes on.
            let near = search.hints(frame.index);
            let full = near.is_none();
            let read = pool
                .with(|p| p.read_image_near(&frame.gray, near))
                .and_then(|r| r)
                .and_then(|reading| {
                    let (probs, ms) = if reading.faces.is_empty() {
                        (vec![], 0.0)
                    } else {
                        classify(model, &frame.gray, &reading)?
                    };
                    Ok((reading, probs, ms))
                });
            let (reading, probs, classify_ms) = match read {
                Ok(r) => r,
                Err(e) => {
                    tracing::warn!("frame {} skipped: {e}", frame.index);
                    continue;
                }
            };
            let boxes: Vec<[i32; 4]> = reading.faces.iter().map(|f| f.bbox).collect();
            search.observe(frame.index, reading.detected(), full);
            whole_frame_searches += full as u64;
            let assigned = if learned {
                let features: Vec<Vec<f32>> =
                    reading.faces.iter().map(|f| f.features.clone()).collect();
                tracker.update(
                    &boxes,
                    &probs,
                    &features,
                    frame.t,
                    Some(&|f: &[Vec<f32>]| model.set_probabilities(f)),
                )?
            } else {
                tracker.update(&boxes, &probs, &[], frame.t, None)?
            };
            let records: Vec<FaceRecord> = assigned
                .iter()
                .map(|a| FaceRecord {
                    t: frame.t,
                    frame: frame.index,
                    track: a.track,
                    bbox: boxes[a.face],
                    label: classes[argmax(&probs[a.face], None)].clone(),
                    pooled_label: classes[argmax(&a.pooled, None)].clone(),
                    raw: probs[a.face].clone(),
                    pooled: a.pooled.clone(),
                    classes: classes.to_vec(),
                })
                .collect();
            if let Some((path, w)) = &mut timeline {
                for r in &records {
                    let line = serde_json::to_string(r)
                        .map_err(|e| FerError::param("jsonl", e.to_string()))?;
                    writeln!(w, "{line}").map_err(|e| FerError::io(path.as_path(), e))?;
                }
                // One write per frame: killed at any moment, the partial timeline
                // ends with whole lines, those of the last frame read.
                w.flush().map_err(|e| FerError::io(path.as_path(), e))?;
            }
            if let Some(c) = &mut columns {
                c.push(&records)?;
            }
            if cfg.record.is_some() || window.is_some() {
                let drawn = draw(&frame.colour, &records)?;
                if let Some(r) = &mut recording {
                    r.write(&drawn)?;
                }
                if let Some(win) = &mut window {
                    if win.show(&drawn)? {
                        stop.store(true, Ordering::Relaxed); // q or Esc in the window
                    }
                }
            }
            frames += 1;
            latencies.push(frame.grabbed.elapsed().as_secs_f64() * 1e3);
            // Image stages once, face stages summed over the frame's faces (CLAHE already is).
            let mut times = reading.times;
            for f in &reading.faces {
                times.align_ms += f.times.align_ms;
                times.landmarks_ms += f.times.landmarks_ms;
                times.features_ms += f.times.features_ms;
            }
            times.classify_ms = classify_ms;
            let fps = frames as f64 / started.elapsed().as_secs_f64().max(1e-9);
            on_frame(&FrameReport {
                frame: frame.index,
                faces: &records,
                times: &times,
                fps,
                classes: &classes,
            });
        }
        Ok(())
    })();
    // Close the outputs whatever happened, then report.
    if let Some((path, mut w)) = timeline {
        w.flush().map_err(|e| FerError::io(&path, e))?;
        drop(w);
        std::fs::rename(tmp_path(&path), &path).map_err(|e| FerError::io(&path, e))?;
    }
    if let Some(c) = columns {
        c.finish()?;
    }
    if let Some(r) = recording {
        r.finish()?;
    }
    result?;
    latencies.sort_by(|a, b| a.total_cmp(b));
    let tracks = tracker
        .all_tracks()
        .iter()
        .map(|t| {
            let total = t.label_frames.iter().sum::<usize>().max(1) as f64;
            TrackSummary {
                track: t.id,
                frames: t.frames,
                first_t: t.first_t,
                last_t: t.last_t,
                dominant: classes[(0..t.label_frames.len())
                    .max_by_key(|&i| t.label_frames[i])
                    .unwrap_or(0)]
                .clone(),
                share: classes
                    .iter()
                    .cloned()
                    .zip(t.label_frames.iter().map(|&n| n as f64 / total))
                    .collect(),
            }
        })
        .collect();
    Ok(LiveSummary {
        frames,
        dropped: capture.dropped(),
        fps: frames as f64 / started.elapsed().as_secs_f64().max(1e-9),
        latency_p50_ms: percentile(&latencies, 0.5),
        latency_p95_ms: percentile(&latencies, 0.95),
        whole_frame_searches,
        tracks,
    })
}

/// The frame with each face's box, track ID and pooled label drawn.
pub fn draw(frame: &Mat, faces: &[FaceRecord]) -> Result<Mat> {
    let mut out = frame.try_clone()?;
    let green = Scalar::new(60.0, 220.0, 60.0, 0.0);
    for f in faces {
        let [x, y, w, h] = f.bbox;
        imgproc::rectangle(
            &mut out,
            Rect::new(x, y, w, h),
            green,
            2,
            imgproc::LINE_AA,
            0,
        )?;
        let p = f
            .pooled
            .get(argmax(&f.pooled, None))
            .copied()
            .unwrap_or(0.0);
        let caption = format!("#{} {} {:.0}%", f.track, f.pooled_label, 100.0 * p);
        imgproc::put_text(
            &mut out,
            &caption,
            Point::new(x, (y - 6).max(12)),
            imgproc::FONT_HERSHEY_SIMPLEX,
            0.5,
            green,
            1,
            imgproc::LINE_AA,
            false,
        )?;
    }
    Ok(out)
}

impl LiveSummary {
    /// Per-track summary as text.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "{} frames ({} dropped, {} searched whole), {:.1} frames/s, capture-to-readout latency p50 {:.1} ms, p95 {:.1} ms\n",
            self.frames,
            self.dropped,
            self.whole_frame_searches,
            self.fps,
            self.latency_p50_ms,
            self.latency_p95_ms
        );
        for t in &self.tracks {
            let mut share: Vec<&(String, f64)> = t.share.iter().filter(|(_, v)| *v > 0.0).collect();
            share.sort_by(|a, b| b.1.total_cmp(&a.1));
            let parts: Vec<String> = share
                .iter()
                .map(|(c, v)| format!("{c} {:.0}%", 100.0 * v))
                .collect();
            s += &format!(
                "track {}: {} frames, {:.2}-{:.2} s, mostly {} ({})\n",
                t.track,
                t.frames,
                t.first_t,
                t.last_t,
                t.dominant,
                parts.join(", ")
            );
        }
        s
    }
}
