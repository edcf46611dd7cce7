//! Reading one unit of a batch (an image, or a range of a video's frames)
//! through the pipeline and model into rows, with its annotated pictures.

use super::config::BatchConfig;
use super::output::{Row, Status};
use super::shard::{Input, Unit};
use crate::dataset::{is_image_path, is_video_path};
use crate::error::{FerError, Result};
use crate::gray::GrayImage;
use crate::model::FaceModel;
use crate::pipeline::{ImageReading, StageTimes};
use crate::plot::{annotate, safe_file_name, FaceMark};
use crate::stages::decode::{decode_file, decode_file_with_colour};
use crate::tracked::TrackedSearch;
use crate::workers::PipelinePool;
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

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

/// A failure's row. Line breaks in the reason become spaces, so that every row
/// is one line (which `--resume` and `fer merge` rely on).
fn error_row(file: String, reason: String) -> Row {
    let reason = reason.replace(['\r', '\n'], " ");
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

/// Read one unit through the pipeline and model; never fails, errors become a row.
/// A video gives rows per sampled frame of its range; its frames in `done` (from
/// a resumed run) are skipped.
pub fn process_unit(
    unit: &Unit,
    pool: &PipelinePool,
    model: &dyn FaceModel,
    cfg: &BatchConfig,
    done: &HashSet<(String, u64)>,
) -> Vec<Row> {
    let path = unit.path();
    let file = path.to_string_lossy().into_owned();
    let result = match unit {
        Unit::Frames { start, end, .. } => read_video(path, *start, *end, pool, model, cfg, done),
        Unit::File(_) => read_and_classify(path, pool, model, cfg),
        // Listing already failed (an unreadable folder, a link loop): the reason is the row.
        Unit::Unlisted(_, why) => return vec![error_row(file, why.clone())],
    };
    match result {
        Ok(rows) => rows,
        Err(e) => vec![error_row(file, e.to_string())],
    }
}

/// A video's frame count and frame size in pixels, from its container (for
/// weighing shards; `None` when it cannot be opened).
pub fn video_frames(path: &Path) -> Option<(u64, u64)> {
    use crate::live::capture::{declared, Source};
    use opencv::videoio;
    // Only its header is read here: the pixel limit applies when its frames are.
    let cap = Source::Path(path.to_string_lossy().into_owned())
        .open(u64::MAX)
        .ok()?;
    let get = |p| declared(&cap, p);
    let frames = get(videoio::CAP_PROP_FRAME_COUNT)? as u64;
    let pixels =
        (get(videoio::CAP_PROP_FRAME_WIDTH)? * get(videoio::CAP_PROP_FRAME_HEIGHT)?) as u64;
    Some((frames, pixels))
}

/// Open `path` positioned at frame `start`: a seek, checked, or when the
/// container cannot seek exactly, a reopen and `start` frames grabbed and dropped.
fn open_at(
    path: &Path,
    start: u64,
    max_pixels: u64,
) -> Result<(opencv::videoio::VideoCapture, u64)> {
    use opencv::prelude::*;
    use opencv::videoio::CAP_PROP_POS_FRAMES;
    let source = crate::live::capture::Source::Path(path.to_string_lossy().into_owned());
    let mut cap = source.open(max_pixels)?;
    if start == 0 {
        return Ok((cap, 0));
    }
    let seeked = cap.set(CAP_PROP_POS_FRAMES, start as f64).unwrap_or(false)
        && cap.get(CAP_PROP_POS_FRAMES).ok().map(|p| p.round() as u64) == Some(start);
    if seeked {
        return Ok((cap, start));
    }
    tracing::debug!(
        "{}: no exact seek to frame {start}; reading up to it",
        path.display()
    );
    let mut cap = source.open(max_pixels)?;
    let mut index = 0;
    while index < start && cap.grab().unwrap_or(false) {
        index += 1;
    }
    Ok((cap, index))
}

/// Every `cfg.every`-th frame of frames `start..end` of a video through the pipeline and model.
fn read_video(
    path: &Path,
    start: u64,
    end: Option<u64>,
    pool: &PipelinePool,
    model: &dyn FaceModel,
    cfg: &BatchConfig,
    done: &HashSet<(String, u64)>,
) -> Result<Vec<Row>> {
    use opencv::prelude::*;
    use opencv::videoio;
    let file = path.to_string_lossy().into_owned();
    let max_pixels = pool.config().decode.max_pixels;
    let (mut cap, mut index) = open_at(path, start, max_pixels)?;
    let source = crate::live::capture::Source::Path(file.clone());
    let fps = cap
        .get(videoio::CAP_PROP_FPS)
        .ok()
        .filter(|f| f.is_finite() && *f > 0.0);
    let mut rows = Vec::new();
    let mut search = TrackedSearch::new(cfg.search_every);
    let mut colour = opencv::core::Mat::default();
    while end.is_none_or(|e| index < e) && cap.read(&mut colour).unwrap_or(false) && !colour.empty()
    {
        let frame = index;
        index += 1;
        source.check_frame(&colour, max_pixels)?;
        if !frame.is_multiple_of(cfg.every) {
            continue;
        }
        // A resumed run keeps this frame's rows. If frames of its search block are
        // still to be read, it is searched again (no rows) so that they are searched
        // as in an uninterrupted run.
        let rows_kept = done.contains(&(file.clone(), frame));
        if rows_kept
            && !search.block_has(frame, cfg.every, end, |f| {
                !done.contains(&(file.clone(), f))
            })
        {
            continue;
        }
        let t = Instant::now();
        let gray = crate::live::capture::to_gray(&colour)?;
        let decode_ms = t.elapsed().as_secs_f64() * 1e3;
        let near = search.hints(frame);
        let full = near.is_none();
        let reading: ImageReading = pool.with(|p| p.read_image_near(&gray, near))??;
        search.observe(frame, reading.detected(), full);
        if rows_kept {
            continue;
        }
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
    // Only a video without a single frame fails; a range that starts past the end
    // (a container that overstated its length) is merely empty.
    if index == 0 {
        return Err(FerError::param(
            "video",
            format!("{file}: no frame could be read"),
        ));
    }
    Ok(rows)
}

/// Rows for the faces of one reading (or one `no_face` row), landmarks included.
pub fn rows_of_reading(
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
                eyes_found: face.eyes.is_some(),
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
