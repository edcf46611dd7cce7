//! `fer batch`: every face of every image under the given paths, in parallel, as
//! CSV or JSONL rows. Output written to a file goes first to `<out>.partial`, one
//! whole file's rows at a time, and is renamed to `<out>` only when the batch is
//! complete: a crash or Ctrl-C never leaves a corrupt output, and `--resume` picks
//! up the partial file, keeping the files whose rows are all there.

use crate::dataset::{is_image_path, is_video_path};
use crate::error::{FerError, Result};
use crate::gray::GrayImage;
use crate::model::bundle::tmp_path;
use crate::model::FaceModel;
use crate::pipeline::{ImageReading, StageTimes};
use crate::plot::{annotate, safe_file_name, FaceMark};
use crate::stages::decode::{decode_file, decode_file_with_colour};
use crate::stages::landmarks::POINT_NAMES;
use crate::workers::PipelinePool;
use rayon::prelude::*;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Csv,
    Jsonl,
}

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

/// Outcome of one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Ok,
    NoFace,
    Error,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::NoFace => "no_face",
            Status::Error => "error",
        }
    }
}

/// One output row: a face, or a file without faces, or a file that failed.
#[derive(Debug, Clone)]
pub struct Row {
    pub file: String,
    pub status: Status,
    /// Videos: the frame number, and its time in seconds (frame over frame rate).
    pub frame: Option<u64>,
    pub t: Option<f64>,
    pub faces: usize,
    pub face: Option<usize>,
    pub bbox: Option<[i32; 4]>,
    pub eyes_found: bool,
    pub label: Option<String>,
    pub confidence: Option<f32>,
    pub probabilities: Vec<f32>,
    pub landmarks: Option<Vec<[f32; 2]>>,
    pub times: StageTimes,
    pub error: Option<String>,
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

/// CSV header for a model's classes.
pub fn csv_header(classes: &[String], landmarks: bool) -> Vec<String> {
    let mut h: Vec<String> = [
        "file",
        "status",
        "frame",
        "t",
        "faces",
        "face",
        "x",
        "y",
        "w",
        "h",
        "eyes_found",
        "label",
        "confidence",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    h.extend(classes.iter().map(|c| format!("p_{c}")));
    h.extend(
        StageTimes::default()
            .named()
            .iter()
            .map(|(n, _)| format!("ms_{n}")),
    );
    if landmarks {
        h.push("landmarks".into());
    }
    h.push("error".into());
    h
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

/// Serialise rows of one file as CSV records (no header) or JSON lines.
pub fn format_rows(
    rows: &[Row],
    classes: &[String],
    format: OutputFormat,
    landmarks: bool,
) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    match format {
        OutputFormat::Csv => {
            let mut w = csv::WriterBuilder::new()
                .has_headers(false)
                .from_writer(&mut out);
            for r in rows {
                let b = r.bbox;
                let mut rec = vec![
                    r.file.clone(),
                    r.status.as_str().into(),
                    opt(r.frame),
                    opt(r.t.map(|t| format!("{t:.3}"))),
                    r.faces.to_string(),
                    opt(r.face),
                    opt(b.map(|b| b[0])),
                    opt(b.map(|b| b[1])),
                    opt(b.map(|b| b[2])),
                    opt(b.map(|b| b[3])),
                    if r.bbox.is_some() {
                        r.eyes_found.to_string()
                    } else {
                        String::new()
                    },
                    r.label.clone().unwrap_or_default(),
                    opt(r.confidence.map(|c| format!("{c:.4}"))),
                ];
                rec.extend((0..classes.len()).map(|i| {
                    r.probabilities
                        .get(i)
                        .map(|p| format!("{p:.4}"))
                        .unwrap_or_default()
                }));
                rec.extend(r.times.named().iter().map(|(_, v)| format!("{v:.3}")));
                if landmarks {
                    rec.push(
                        r.landmarks
                            .as_ref()
                            .map(|l| {
                                l.iter()
                                    .map(|p| format!("{:.1} {:.1}", p[0], p[1]))
                                    .collect::<Vec<_>>()
                                    .join(";")
                            })
                            .unwrap_or_default(),
                    );
                }
                rec.push(r.error.clone().unwrap_or_default());
                w.write_record(&rec)
                    .map_err(|e| FerError::param("csv", e.to_string()))?;
            }
            w.flush().map_err(|e| FerError::io("<csv>", e))?;
        }
        OutputFormat::Jsonl => {
            for r in rows {
                let mut o = Map::new();
                o.insert("file".into(), json!(r.file));
                o.insert("status".into(), json!(r.status.as_str()));
                if let (Some(frame), Some(t)) = (r.frame, r.t) {
                    o.insert("frame".into(), json!(frame));
                    o.insert("t".into(), json!(t));
                }
                o.insert("faces".into(), json!(r.faces));
                if let (Some(i), Some(b)) = (r.face, r.bbox) {
                    o.insert("face".into(), json!(i));
                    o.insert(
                        "box".into(),
                        json!({"x": b[0], "y": b[1], "w": b[2], "h": b[3]}),
                    );
                    o.insert("eyes_found".into(), json!(r.eyes_found));
                    o.insert("label".into(), json!(r.label));
                    o.insert("confidence".into(), json!(r.confidence));
                    let probs: Map<String, Value> = classes
                        .iter()
                        .zip(&r.probabilities)
                        .map(|(c, p)| (c.clone(), json!(p)))
                        .collect();
                    o.insert("probabilities".into(), Value::Object(probs));
                }
                if let Some(l) = &r.landmarks {
                    let pts: Map<String, Value> = POINT_NAMES
                        .iter()
                        .zip(l)
                        .map(|(n, p)| (n.to_string(), json!([p[0], p[1]])))
                        .collect();
                    o.insert("landmarks".into(), Value::Object(pts));
                }
                let ms: Map<String, Value> = r
                    .times
                    .named()
                    .iter()
                    .map(|(n, v)| (n.to_string(), json!((v * 1e3).round() / 1e3)))
                    .collect();
                o.insert("ms".into(), Value::Object(ms));
                if let Some(e) = &r.error {
                    o.insert("error".into(), json!(e));
                }
                serde_json::to_writer(&mut out, &Value::Object(o))
                    .map_err(|e| FerError::param("jsonl", e.to_string()))?;
                out.push(b'\n');
            }
        }
    }
    Ok(out)
}

/// What a previous output already holds: complete image files, and complete
/// frames of videos.
#[derive(Debug, Default)]
pub struct Previous {
    pub files: HashSet<String>,
    pub frames: HashSet<(String, u64)>,
    /// Its complete lines (header included), to carry over.
    pub kept: Vec<u8>,
}

/// Read a previous output. A trailing half-written line and the rows of a file
/// or video frame not all of whose rows were written are dropped.
pub fn read_previous(path: &Path, format: OutputFormat) -> Result<Previous> {
    let file = std::fs::File::open(path).map_err(|e| FerError::io(path, e))?;
    let mut lines: Vec<String> = Vec::new();
    let mut reader = std::io::BufReader::new(file);
    loop {
        let mut buf = Vec::new();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| FerError::io(path, e))?;
        if n == 0 || !buf.ends_with(b"\n") {
            break; // end, or a line cut off by a crash
        }
        lines.push(String::from_utf8_lossy(&buf).into_owned());
    }
    let header = match format {
        OutputFormat::Csv if !lines.is_empty() => Some(lines.remove(0)),
        _ => None,
    };
    // (file, video frame) -> (faces it announced, rows seen, its lines)
    type FileRows = (usize, usize, Vec<String>);
    let mut per_key: BTreeMap<(String, Option<u64>), FileRows> = BTreeMap::new();
    for line in lines {
        let Some((file, frame, faces)) = parse_key(&line, format) else {
            continue;
        };
        let e = per_key
            .entry((file, frame))
            .or_insert((faces, 0, Vec::new()));
        e.1 += 1;
        e.2.push(line);
    }
    let mut prev = Previous {
        kept: header.map(|h| h.into_bytes()).unwrap_or_default(),
        ..Default::default()
    };
    for ((file, frame), (faces, seen, lines)) in per_key {
        if seen == faces.max(1) {
            match frame {
                Some(f) => prev.frames.insert((file, f)),
                None => prev.files.insert(file),
            };
            for l in lines {
                prev.kept.extend_from_slice(l.as_bytes());
            }
        }
    }
    Ok(prev)
}

/// A row's file, video frame (if any) and the faces it announces.
fn parse_key(line: &str, format: OutputFormat) -> Option<(String, Option<u64>, usize)> {
    match format {
        OutputFormat::Csv => {
            let mut r = csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(line.as_bytes());
            let rec = r.records().next()?.ok()?;
            Some((
                rec.get(0)?.to_string(),
                rec.get(2)?.parse::<u64>().ok(),
                rec.get(4)?.parse().ok()?,
            ))
        }
        OutputFormat::Jsonl => {
            let v: Value = serde_json::from_str(line).ok()?;
            Some((
                v.get("file")?.as_str()?.to_string(),
                v.get("frame").and_then(Value::as_u64),
                v.get("faces")?.as_u64()? as usize,
            ))
        }
    }
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
