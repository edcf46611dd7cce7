//! `fer batch`: every face of every image under the given paths, in parallel, as
//! CSV or JSONL rows. Output written to a file goes first to `<out>.partial`, one
//! whole file's rows at a time, and is renamed to `<out>` only when the batch is
//! complete: a crash or Ctrl-C never leaves a corrupt output, and `--resume` picks
//! up the partial file, keeping the files whose rows are all there.
//!
//! Longer than 500 lines because reading a video and reading an image share the
//! row building, annotation and resume bookkeeping that sit between them.

mod output;
mod resume;

pub use output::{csv_header, format_rows, OutputFormat, Row, Status};
pub use resume::{read_previous, Previous};

use crate::dataset::{is_image_path, is_video_path};
use crate::error::{FerError, Result};
use crate::gray::GrayImage;
use crate::model::bundle::tmp_path;
use crate::model::FaceModel;
use crate::pipeline::{ImageReading, StageTimes};
use crate::plot::{annotate, safe_file_name, FaceMark};
use crate::stages::decode::{decode_file, decode_file_with_colour};
use crate::workers::PipelinePool;
use rayon::prelude::*;
use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// A validated batch job.
#[derive(Debug, Clone)]
pub struct BatchConfig {
    /// Files and folders (folders are walked recursively for image files).
    pub inputs: Vec<PathBuf>,
    /// Row format.
    pub format: OutputFormat,
    /// Output file; stdout when `None`.
    pub out: Option<PathBuf>,
    /// Keep the rows already in `<out>.partial` (or `<out>`) and skip their files.
    pub resume: bool,
    /// Write annotated images into this folder.
    pub annotate: Option<PathBuf>,
    /// Include the fiducial points in each row.
    pub landmarks: bool,
    /// Videos: read every N-th frame (1: every frame).
    pub every: u64,
}

impl BatchConfig {
    /// Validate the combination of options.
    pub fn check(&self) -> Result<()> {
        if self.inputs.is_empty() {
            return Err(FerError::param(
                "inputs",
                "give at least one file or folder",
            ));
        }
        if self.every == 0 {
            return Err(FerError::param("every", "must be at least 1"));
        }
        if self.resume && self.out.is_none() {
            return Err(FerError::param("resume", "--resume needs --out FILE"));
        }
        Ok(())
    }
}

/// Counts at the end of a batch.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BatchSummary {
    pub files: usize,
    pub resumed: usize,
    pub faces: usize,
    pub no_face: usize,
    pub errors: usize,
}

impl BatchSummary {
    /// One line for the end of a run.
    pub fn to_text(&self) -> String {
        format!(
            "{} files ({} resumed): {} faces, {} without a face, {} failed",
            self.files + self.resumed,
            self.resumed,
            self.faces,
            self.no_face,
            self.errors
        )
    }
}

/// A file to read, or a path that could not be listed.
pub type Input = std::result::Result<PathBuf, (PathBuf, String)>;

/// Expand folders into their image and video files (recursively, following
/// links, reporting loops and unreadable folders as failures); explicit files
/// are kept whatever their extension.
pub fn collect_inputs(paths: &[PathBuf]) -> Vec<Input> {
    let mut out = Vec::new();
    for p in paths {
        if p.is_dir() {
            let mut files = Vec::new();
            for entry in walkdir::WalkDir::new(p)
                .follow_links(true)
                .sort_by_file_name()
            {
                match entry {
                    Ok(e)
                        if e.file_type().is_file()
                            && (is_image_path(e.path()) || is_video_path(e.path())) =>
                    {
                        files.push(Ok(e.into_path()))
                    }
                    Ok(_) => {}
                    Err(e) => {
                        let at = e.path().unwrap_or(p).to_path_buf();
                        let reason = if e.loop_ancestor().is_some() {
                            "symbolic link loop".to_string()
                        } else {
                            e.io_error()
                                .map(|io| io.to_string())
                                .unwrap_or_else(|| e.to_string())
                        };
                        files.push(Err((at, reason)));
                    }
                }
            }
            out.extend(files);
        } else {
            out.push(Ok(p.clone()));
        }
    }
    out
}

/// Name of the annotated image for `file`: its path with separators as `__`, and
/// its extension, unless it is `.png`, kept as `_ext` so that `a.jpg` and `a.png`
/// side by side do not overwrite each other (`data/justin.jpg` gives
/// `data__justin_jpg.png`, `data/astronaut.png` gives `data__astronaut.png`).
pub fn annotated_name(file: &Path) -> String {
    let file = match file.extension().and_then(|e| e.to_str()) {
        Some(ext) if ext.eq_ignore_ascii_case("png") => file.with_extension(""),
        Some(ext) => {
            let stem = file.file_stem().unwrap_or_default().to_string_lossy();
            file.with_file_name(format!("{stem}_{ext}"))
        }
        None => file.to_path_buf(),
    };
    let s: String = file
        .components()
        .filter_map(|c| match c {
            std::path::Component::Normal(n) => Some(n.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("__");
    format!("{}.png", safe_file_name(&s))
}

fn error_row(file: String, reason: String) -> Row {
    Row {
        file,
        frame: None,
        t: None,
        status: Status::Error,
        faces: 0,
        face: None,
        bbox: None,
        eyes_found: false,
        label: None,
        confidence: None,
        probabilities: vec![],
        landmarks: None,
        times: StageTimes::default(),
        error: Some(reason),
    }
}

/// Read one file through the pipeline and model; never fails, errors become a row.
/// A video gives rows per sampled frame; its frames in `done` (from a resumed
/// run) are skipped.
pub fn process_file(
    path: &Path,
    pool: &PipelinePool,
    model: &dyn FaceModel,
    cfg: &BatchConfig,
    done: &HashSet<(String, u64)>,
) -> Vec<Row> {
    let file = path.to_string_lossy().into_owned();
    let result = if is_video_path(path) {
        read_video(path, pool, model, cfg, done)
    } else {
        read_and_classify(path, pool, model, cfg)
    };
    match result {
        Ok(rows) => rows,
        Err(e) => vec![error_row(file, e.to_string())],
    }
}

/// Every `cfg.every`-th frame of a video through the pipeline and model.
fn read_video(
    path: &Path,
    pool: &PipelinePool,
    model: &dyn FaceModel,
    cfg: &BatchConfig,
    done: &HashSet<(String, u64)>,
) -> Result<Vec<Row>> {
    use opencv::prelude::*;
    use opencv::videoio;
    let file = path.to_string_lossy().into_owned();
    let mut cap = crate::live::capture::Source::Path(file.clone()).open()?;
    let fps = cap
        .get(videoio::CAP_PROP_FPS)
        .ok()
        .filter(|f| f.is_finite() && *f > 0.0);
    let mut rows = Vec::new();
    let mut colour = opencv::core::Mat::default();
    let mut index = 0u64;
    while cap.read(&mut colour).unwrap_or(false) && !colour.empty() {
        let frame = index;
        index += 1;
        if !frame.is_multiple_of(cfg.every) || done.contains(&(file.clone(), frame)) {
            continue;
        }
        let t = Instant::now();
        let gray = crate::live::capture::to_gray(&colour)?;
        let decode_ms = t.elapsed().as_secs_f64() * 1e3;
        let reading: ImageReading = pool.with(|p| p.read_image(&gray))??;
        let mut frame_rows = rows_of_reading(&file, &gray, &reading, decode_ms, model)?;
        if let Some(dir) = &cfg.annotate {
            let name = annotated_name(path).trim_end_matches(".png").to_string();
            annotate_reading(
                &colour,
                &reading,
                &frame_rows,
                &dir.join(format!("{name}__frame{frame:06}.png")),
            )?;
        }
        for r in &mut frame_rows {
            r.frame = Some(frame);
            r.t = Some(fps.map_or(0.0, |f| frame as f64 / f));
            r.landmarks = r.landmarks.take().filter(|_| cfg.landmarks);
        }
        rows.extend(frame_rows);
    }
    if index == 0 {
        return Err(FerError::param(
            "video",
            format!("{file}: no frame could be read"),
        ));
    }
    Ok(rows)
}

/// Rows for the faces of one reading (or one `no_face` row), landmarks included.
fn rows_of_reading(
    file: &str,
    frame: &GrayImage,
    reading: &ImageReading,
    decode_ms: f64,
    model: &dyn FaceModel,
) -> Result<Vec<Row>> {
    let mut base = reading.times;
    base.decode_ms = decode_ms;
    if reading.faces.is_empty() {
        let mut row = error_row(file.to_string(), String::new());
        row.status = Status::NoFace;
        row.error = None;
        row.times = base;
        return Ok(vec![row]);
    }
    let (probs, classify_ms) = classify(model, frame, reading)?;
    let n = reading.faces.len();
    Ok(reading
        .faces
        .iter()
        .zip(probs)
        .enumerate()
        .map(|(i, (face, p))| {
            let best = crate::metrics::argmax(&p, None);
            Row {
                file: file.to_string(),
                frame: None,
                t: None,
                status: Status::Ok,
                faces: n,
                face: Some(i),
                bbox: Some(face.bbox),
                eyes_found: face.eyes_found,
                label: Some(model.classes()[best].clone()),
                confidence: Some(p[best]),
                probabilities: p,
                landmarks: Some(face.landmarks.to_vec()),
                // The face's own stages, and the image-level ones it shares with its image.
                times: StageTimes {
                    decode_ms: base.decode_ms,
                    denoise_ms: base.denoise_ms,
                    detect_ms: base.detect_ms,
                    classify_ms,
                    ..face.times
                },
                error: None,
            }
        })
        .collect())
}

fn read_and_classify(
    path: &Path,
    pool: &PipelinePool,
    model: &dyn FaceModel,
    cfg: &BatchConfig,
) -> Result<Vec<Row>> {
    let file = path.to_string_lossy().into_owned();
    let t = Instant::now();
    // With --annotate the file is decoded once to grey and colour.
    let (img, colour) = match cfg.annotate {
        Some(_) => {
            decode_file_with_colour(path, &pool.config().decode).map(|(g, c)| (g, Some(c)))?
        }
        None => (decode_file(path, &pool.config().decode)?, None),
    };
    let decode_ms = t.elapsed().as_secs_f64() * 1e3;
    let reading: ImageReading = pool.with(|p| p.read_image(&img))??;
    let mut rows = rows_of_reading(&file, &img, &reading, decode_ms, model)?;
    if let (Some(dir), Some(colour)) = (&cfg.annotate, &colour) {
        annotate_reading(colour, &reading, &rows, &dir.join(annotated_name(path)))?;
    }
    for r in &mut rows {
        r.landmarks = r.landmarks.take().filter(|_| cfg.landmarks);
    }
    Ok(rows)
}

/// Draw each face of `reading` (box, points, label of its row) on `colour` and write it to `out`.
fn annotate_reading(
    colour: &opencv::core::Mat,
    reading: &ImageReading,
    rows: &[Row],
    out: &Path,
) -> Result<()> {
    let marks: Vec<FaceMark> = reading
        .faces
        .iter()
        .zip(rows)
        .map(|(f, r)| FaceMark {
            bbox: f.bbox,
            points: &f.landmarks,
            caption: format!(
                "{} {:.0}%",
                r.label.as_deref().unwrap_or(""),
                100.0 * r.confidence.unwrap_or(0.0)
            ),
        })
        .collect();
    annotate(colour, &marks, out)
}

/// Class probabilities of every face of `reading` (read from `frame`), and the classification time per face (ms).
pub fn classify(
    model: &dyn FaceModel,
    frame: &GrayImage,
    reading: &ImageReading,
) -> Result<(Vec<Vec<f32>>, f64)> {
    let t = Instant::now();
    let probs = model.classify_faces(frame, reading)?;
    Ok((
        probs,
        t.elapsed().as_secs_f64() * 1e3 / reading.faces.len().max(1) as f64,
    ))
}

/// Run the batch, calling `on_file` after each file (for progress).
pub fn run(
    cfg: &BatchConfig,
    pool: &PipelinePool,
    model: &dyn FaceModel,
    on_file: &(dyn Fn() + Sync),
    on_total: &dyn Fn(usize),
) -> Result<BatchSummary> {
    cfg.check()?;
    if let Some(dir) = &cfg.annotate {
        std::fs::create_dir_all(dir).map_err(|e| FerError::io(dir, e))?;
    }
    let classes = model.classes().to_vec();
    let header = {
        let mut w = csv::WriterBuilder::new().from_writer(Vec::new());
        w.write_record(csv_header(&classes, cfg.landmarks))
            .map_err(|e| FerError::param("csv", e.to_string()))?;
        w.into_inner()
            .map_err(|e| FerError::param("csv", e.to_string()))?
    };
    let mut summary = BatchSummary::default();
    let mut inputs = collect_inputs(&cfg.inputs);
    if inputs.is_empty() {
        tracing::warn!(
            "no image files under {}",
            cfg.inputs
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    // Where rows go: a partial file renamed at the end, or stdout.
    let mut carried = Vec::new();
    let mut done_frames = HashSet::new();
    let (mut sink, partial): (Box<dyn Write>, Option<PathBuf>) = match &cfg.out {
        Some(out) => {
            let partial = tmp_path(out);
            if cfg.resume {
                if let Some(prev) = [&partial, out].into_iter().find(|p| p.exists()) {
                    let previous = read_previous(prev, cfg.format)?;
                    tracing::info!(
                        "resuming from {}: {} files and {} video frames already done",
                        prev.display(),
                        previous.files.len(),
                        previous.frames.len()
                    );
                    inputs.retain(|i| {
                        i.as_ref().map_or(true, |p| {
                            !previous.files.contains(p.to_string_lossy().as_ref())
                        })
                    });
                    summary.resumed = previous.files.len();
                    carried = previous.kept;
                    done_frames = previous.frames;
                }
            }
            let f = std::fs::File::create(&partial).map_err(|e| FerError::io(&partial, e))?;
            (Box::new(std::io::BufWriter::new(f)), Some(partial))
        }
        None => (Box::new(std::io::stdout().lock()), None),
    };
    if carried.is_empty() && cfg.format == OutputFormat::Csv {
        carried = header;
    }
    sink.write_all(&carried)
        .map_err(|e| FerError::io(partial.as_deref().unwrap_or(Path::new("<stdout>")), e))?;
    finish(
        cfg,
        pool,
        model,
        &classes,
        inputs,
        &done_frames,
        sink,
        partial,
        summary,
        on_file,
        on_total,
    )
}

#[allow(clippy::too_many_arguments)]
fn finish(
    cfg: &BatchConfig,
    pool: &PipelinePool,
    model: &dyn FaceModel,
    classes: &[String],
    inputs: Vec<Input>,
    done: &HashSet<(String, u64)>,
    mut sink: Box<dyn Write>,
    partial: Option<PathBuf>,
    mut summary: BatchSummary,
    on_file: &(dyn Fn() + Sync),
    on_total: &dyn Fn(usize),
) -> Result<BatchSummary> {
    on_total(inputs.len());
    let sink_name = partial
        .as_deref()
        .unwrap_or(Path::new("<stdout>"))
        .to_path_buf();
    let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Row>>(64);
    let write_result: Result<()> = std::thread::scope(|scope| {
        scope.spawn(move || {
            inputs.into_par_iter().for_each_with(tx, |tx, input| {
                let rows = match input {
                    Ok(path) => process_file(&path, pool, model, cfg, done),
                    Err((path, reason)) => {
                        vec![error_row(path.to_string_lossy().into_owned(), reason)]
                    }
                };
                // The receiver only hangs up on a write error, which is reported below.
                let _ = tx.send(rows);
            });
        });
        for rows in rx {
            summary.files += 1;
            for r in &rows {
                match r.status {
                    Status::Ok => summary.faces += 1,
                    Status::NoFace => summary.no_face += 1,
                    Status::Error => {
                        summary.errors += 1;
                        tracing::warn!("{}", r.error.as_deref().unwrap_or(""));
                    }
                }
            }
            let bytes = format_rows(&rows, classes, cfg.format, cfg.landmarks)?;
            sink.write_all(&bytes)
                .and_then(|_| sink.flush())
                .map_err(|e| FerError::io(&sink_name, e))?;
            on_file();
        }
        Ok(())
    });
    write_result?;
    drop(sink);
    if let (Some(partial), Some(out)) = (partial, &cfg.out) {
        std::fs::rename(&partial, out).map_err(|e| FerError::io(out, e))?;
    }
    Ok(summary)
}
