//! `fer bench`: what each stage costs on the user's own images and machine. The
//! images are decoded once; the pipeline then runs over them `repeat` times, single
//! threaded for the per-stage statistics and with each requested thread count for
//! throughput. As a reference ceiling, OpenCV's bare `detectMultiScale` (same
//! cascade and parameters, one full-resolution search, no eyes) runs on the same frames.

use crate::batch::classify;
use crate::error::{FerError, Result};
use crate::gray::GrayImage;
use crate::model::FaceModel;
use crate::pipeline::StageTimes;
use crate::stages::decode::decode_file;
use crate::stages::detect::{DetectConfig, Detector, Search};
use crate::workers::{PipelinePool, WorkerPool};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Instant;

/// A validated benchmark job.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// Image files (folders already expanded).
    pub inputs: Vec<PathBuf>,
    /// Thread counts to measure throughput with.
    pub threads: Vec<usize>,
    /// Passes over the images for each measurement.
    pub repeat: usize,
}

impl BenchConfig {
    /// Validate the options.
    pub fn check(&self) -> Result<()> {
        if self.inputs.is_empty() {
            return Err(FerError::param("inputs", "no image files to benchmark"));
        }
        if self.threads.is_empty() || self.threads.contains(&0) {
            return Err(FerError::param(
                "threads",
                "give one or more thread counts >= 1",
            ));
        }
        if self.repeat == 0 {
            return Err(FerError::param("repeat", "must be >= 1"));
        }
        Ok(())
    }
}

/// Distribution of one stage's milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StageStats {
    pub stage: String,
    /// Per image for image-level stages, per face for face-level ones.
    pub per: String,
    pub p50_ms: f64,
    pub p95_ms: f64,
    pub max_ms: f64,
    /// Share of the total time spent in this stage.
    pub share: f64,
}

/// Throughput at one thread count.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Throughput {
    pub threads: usize,
    pub images_per_s: f64,
    pub faces_per_s: f64,
    /// Bare full-resolution Haar detection on the same frames and threads.
    pub bare_haar_images_per_s: f64,
    /// Pipeline throughput divided by bare detection throughput.
    pub ratio_to_bare_haar: f64,
    /// The other way to use the cores: one pipeline worker, with OpenCV's own
    /// threads (`cv::setNumThreads`) parallelising inside each call; `None` for 1 thread.
    pub opencv_threads_images_per_s: Option<f64>,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    pub images: usize,
    /// Files that could not be decoded (left out).
    pub unreadable: usize,
    /// Faces found per pass.
    pub faces: usize,
    /// Faces bare Haar detection finds per pass.
    pub bare_haar_faces: usize,
    pub repeat: usize,
    pub stages: Vec<StageStats>,
    pub throughput: Vec<Throughput>,
    /// Peak resident memory of the process (VmHWM), in MiB, when the OS reports it.
    pub peak_memory_mib: Option<f64>,
}

/// The `q` quantile (0..1) of already sorted values, by nearest rank; 0 when empty.
pub fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[((sorted.len() - 1) as f64 * q).round() as usize]
}

/// Peak resident set size from `/proc/self/status`, where there is one.
pub fn peak_memory_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Everything the pipeline does to one decoded frame, classification included.
fn read_frame(
    pool: &PipelinePool,
    model: &dyn FaceModel,
    img: &GrayImage,
) -> Result<(StageTimes, Vec<StageTimes>)> {
    let reading = pool.with(|p| p.read_image(img))??;
    let (_, per_face_classify) = classify(model, img, &reading)?;
    let faces = reading
        .faces
        .iter()
        .map(|f| StageTimes {
            classify_ms: per_face_classify,
            ..f.times
        })
        .collect();
    Ok((reading.times, faces))
}

fn thread_pool(threads: usize) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()
        .map_err(|e| FerError::param("threads", e.to_string()))
}

fn bare_haar(
    frames: &[GrayImage],
    cfg: DetectConfig,
    threads: usize,
    repeat: usize,
) -> Result<(f64, usize)> {
    let bare = DetectConfig {
        eyes: false,
        whole_image: false,
        max_side: 0,
        search: Search::Full,
        ..cfg
    };
    let pool = thread_pool(threads)?;
    let detectors = WorkerPool::<Detector>::default();
    let t = Instant::now();
    let counts: Vec<Result<usize>> = pool.install(|| {
        (0..repeat * frames.len())
            .into_par_iter()
            .map(|i| {
                detectors.with(
                    || Detector::new(bare),
                    |d| d.detect_boxes(&frames[i % frames.len()]).map(|b| b.len()),
                )?
            })
            .collect()
    });
    let secs = t.elapsed().as_secs_f64();
    let total: usize = counts.into_iter().collect::<Result<Vec<_>>>()?.iter().sum();
    Ok(((repeat * frames.len()) as f64 / secs, total / repeat))
}

/// Images and faces per second of the whole pipeline over `repeat` passes, with
/// `threads` workers.
fn pipeline_rate(
    frames: &[GrayImage],
    repeat: usize,
    threads: usize,
    pool: &PipelinePool,
    model: &dyn FaceModel,
) -> Result<(f64, f64)> {
    let tp = thread_pool(threads)?;
    let t = Instant::now();
    let results: Vec<Result<usize>> = tp.install(|| {
        (0..repeat * frames.len())
            .into_par_iter()
            .map(|i| read_frame(pool, model, &frames[i % frames.len()]).map(|r| r.1.len()))
            .collect()
    });
    let secs = t.elapsed().as_secs_f64();
    let faces: usize = results
        .into_iter()
        .collect::<Result<Vec<_>>>()?
        .iter()
        .sum();
    Ok(((repeat * frames.len()) as f64 / secs, faces as f64 / secs))
}

/// Decode the inputs once, then measure.
pub fn run(cfg: &BenchConfig, pool: &PipelinePool, model: &dyn FaceModel) -> Result<BenchReport> {
    cfg.check()?;
    let mut frames = Vec::new();
    let mut unreadable = 0;
    for path in &cfg.inputs {
        match decode_file(path, &pool.config().decode) {
            Ok(img) => frames.push(img),
            Err(e) => {
                tracing::warn!("{e}");
                unreadable += 1;
            }
        }
    }
    if frames.is_empty() {
        return Err(FerError::param(
            "inputs",
            "none of the files could be decoded",
        ));
    }
    // Per-stage statistics, one thread, so stages do not compete for cores.
    let mut image_times = Vec::new();
    let mut face_times = Vec::new();
    for _ in 0..cfg.repeat {
        for img in &frames {
            let (image, faces) = read_frame(pool, model, img)?;
            image_times.push(image);
            face_times.extend(faces);
        }
    }
    let faces_per_pass = face_times.len() / cfg.repeat;
    let total: f64 = image_times
        .iter()
        .map(|t| t.denoise_ms + t.detect_ms)
        .sum::<f64>()
        + face_times
            .iter()
            .map(|t| t.align_ms + t.clahe_ms + t.landmarks_ms + t.features_ms + t.classify_ms)
            .sum::<f64>();
    let mut stages = Vec::new();
    for (i, (name, _)) in StageTimes::default().named().iter().enumerate() {
        let (per, source) = match *name {
            "decode" => continue, // decoded once, before timing
            "denoise" | "detect" => ("image", &image_times),
            _ => ("face", &face_times),
        };
        let mut v: Vec<f64> = source.iter().map(|t| t.named()[i].1).collect();
        v.sort_by(|a, b| a.total_cmp(b));
        let sum: f64 = v.iter().sum();
        stages.push(StageStats {
            stage: name.to_string(),
            per: per.into(),
            p50_ms: percentile(&v, 0.5),
            p95_ms: percentile(&v, 0.95),
            max_ms: v.last().copied().unwrap_or(0.0),
            share: if total > 0.0 { sum / total } else { 0.0 },
        });
    }
    let mut throughput = Vec::new();
    let mut bare_faces = 0;
    for &threads in &cfg.threads {
        let (images_per_s, faces_per_s) = pipeline_rate(&frames, cfg.repeat, threads, pool, model)?;
        let (bare_rate, found) = bare_haar(&frames, pool.config().detect, threads, cfg.repeat)?;
        bare_faces = found;
        let opencv_threads_images_per_s = if threads > 1 {
            opencv::core::set_num_threads(threads as i32)?;
            let rate = pipeline_rate(&frames, cfg.repeat, 1, pool, model);
            // Back to one OpenCV thread per worker, the setting everything else runs with.
            opencv::core::set_num_threads(1)?;
            Some(rate?.0)
        } else {
            None
        };
        throughput.push(Throughput {
            threads,
            images_per_s,
            faces_per_s,
            bare_haar_images_per_s: bare_rate,
            ratio_to_bare_haar: images_per_s / bare_rate,
            opencv_threads_images_per_s,
        });
    }
    Ok(BenchReport {
        images: frames.len(),
        unreadable,
        faces: faces_per_pass,
        bare_haar_faces: bare_faces,
        repeat: cfg.repeat,
        stages,
        throughput,
        peak_memory_mib: peak_memory_mib(),
    })
}

impl BenchReport {
    /// A human-readable table.
    pub fn to_text(&self) -> String {
        let mut s = format!(
            "{} images ({} unreadable), {} faces per pass (bare Haar: {}), {} passes\n\n",
            self.images, self.unreadable, self.faces, self.bare_haar_faces, self.repeat
        );
        s += &format!(
            "{:<10} {:>6} {:>9} {:>9} {:>9} {:>7}\n",
            "stage", "per", "p50 ms", "p95 ms", "max ms", "share"
        );
        for st in &self.stages {
            s += &format!(
                "{:<10} {:>6} {:>9.3} {:>9.3} {:>9.3} {:>6.1}%\n",
                st.stage,
                st.per,
                st.p50_ms,
                st.p95_ms,
                st.max_ms,
                100.0 * st.share
            );
        }
        s += &format!(
            "\n{:>7} {:>10} {:>10} {:>14} {:>9} {:>17}\n",
            "threads", "images/s", "faces/s", "bare Haar im/s", "ratio", "OpenCV threads im/s"
        );
        for t in &self.throughput {
            let inner = t
                .opencv_threads_images_per_s
                .map_or("-".to_string(), |r| format!("{r:.1}"));
            s += &format!(
                "{:>7} {:>10.1} {:>10.1} {:>14.1} {:>9.2} {:>19}\n",
                t.threads,
                t.images_per_s,
                t.faces_per_s,
                t.bare_haar_images_per_s,
                t.ratio_to_bare_haar,
                inner
            );
        }
        if let Some(m) = self.peak_memory_mib {
            s += &format!("\npeak memory: {m:.1} MiB\n");
        }
        s
    }
}
