//! `Reader`: a model and its pipeline, reading one image (a path or a numpy
//! array), or many files and videos in parallel into batch rows.

use crate::columns::{self, Column};
use crate::detached;
use crate::errors::{parameter, to_py};
use crate::options;
use fer::batch::{self, BatchConfig, OutputFormat, Row};
use fer::gray::{ChannelOrder, GrayImage};
use fer::model::load::load_face_model;
use fer::model::FaceModel;
use fer::stages::decode::{decode_file, decode_file_with_colour};
use fer::workers::PipelinePool;
use numpy::{PyArray1, PyArray2, PyArray3, PyArrayMethods, PyReadonlyArray2, PyReadonlyArray3};
use opencv::prelude::*;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use std::path::PathBuf;
use std::time::Instant;

/// Reads the facial expression of every face, with one model and one pipeline.
#[pyclass(module = "fer_rs._native", frozen)]
pub struct Reader {
    model: Box<dyn FaceModel>,
    pool: PipelinePool,
    spec: String,
}

impl Reader {
    /// The rows of every face of a grey image (none without a face).
    fn rows_of(&self, file: &str, img: &GrayImage, decode_ms: f64) -> fer::Result<Vec<Row>> {
        let reading = self.pool.with(|p| p.read_image(img))??;
        let rows = batch::rows_of_reading(file, img, &reading, decode_ms, self.model.as_ref())?;
        Ok(rows
            .into_iter()
            .filter(|r| r.status == batch::Status::Ok)
            .collect())
    }

    fn faces(&self, py: Python<'_>, rows: Vec<Row>) -> PyResult<Vec<PyObject>> {
        rows.iter()
            .map(|r| face_dict(py, r, self.model.classes()))
            .collect()
    }
}

#[pymethods]
impl Reader {
    /// `model` is a path or a shipped model's file; `detect` holds detection
    /// options (see `options::DETECT_KEYS`); `device`, `fp16` and `tta` say how
    /// deep models run.
    #[new]
    #[pyo3(signature = (model, detect=None, device="auto", fp16=false, tta=None))]
    fn new(
        py: Python<'_>,
        model: &str,
        detect: Option<&Bound<'_, PyDict>>,
        device: &str,
        fp16: bool,
        tta: Option<&str>,
    ) -> PyResult<Self> {
        let load = options::load(device, fp16, tta)?;
        let detect = options::detect(detect)?;
        let (loaded, pool) = detached::short(py, || {
            let loaded = load_face_model(model, &load)?;
            let pool = PipelinePool::new(loaded.run_pipeline(&detect)?)?;
            Ok((loaded, pool))
        })?;
        Ok(Reader {
            model: loaded,
            pool,
            spec: model.to_string(),
        })
    }

    /// The model's classes, in probability order.
    #[getter]
    fn classes(&self) -> Vec<String> {
        self.model.classes().to_vec()
    }

    /// The pipeline in use (the model's, with the detection options applied), as JSON.
    #[getter]
    fn pipeline(&self) -> PyResult<String> {
        serde_json::to_string(self.pool.config()).map_err(|e| parameter("pipeline", e))
    }

    /// Every face of the image file at `path`.
    fn read_path(&self, py: Python<'_>, path: PathBuf) -> PyResult<Vec<PyObject>> {
        let file = path.to_string_lossy().into_owned();
        let rows = detached::short(py, || {
            let t = Instant::now();
            let img = decode_file(&path, &self.pool.config().decode)?;
            self.rows_of(&file, &img, t.elapsed().as_secs_f64() * 1e3)
        })?;
        self.faces(py, rows)
    }

    /// Every face of a grey image (a C-contiguous uint8 array, height x width).
    fn read_grey(
        &self,
        py: Python<'_>,
        pixels: PyReadonlyArray2<'_, u8>,
    ) -> PyResult<Vec<PyObject>> {
        let (h, w) = pixels.as_array().dim();
        let slice = pixels
            .as_slice()
            .map_err(|_| parameter("image", "the array must be C-contiguous"))?;
        let t = Instant::now();
        let img = GrayImage::from_pixels(w as u32, h as u32, slice).map_err(to_py)?;
        let ms = t.elapsed().as_secs_f64() * 1e3;
        let rows = detached::short(py, || self.rows_of("<array>", &img, ms))?;
        self.faces(py, rows)
    }

    /// Every face of a colour image (a C-contiguous uint8 array, height x width
    /// x 3 or 4) whose channels are in `order` (`bgr`, as cv2 gives, or `rgb`).
    fn read_colour(
        &self,
        py: Python<'_>,
        pixels: PyReadonlyArray3<'_, u8>,
        order: &str,
    ) -> PyResult<Vec<PyObject>> {
        let order = match order {
            "bgr" => ChannelOrder::Bgr,
            "rgb" => ChannelOrder::Rgb,
            other => return Err(parameter("order", format!("`{other}` is not bgr or rgb"))),
        };
        let (h, w, c) = pixels.as_array().dim();
        let slice = pixels
            .as_slice()
            .map_err(|_| parameter("image", "the array must be C-contiguous"))?;
        let t = Instant::now();
        let img = GrayImage::from_colour(w as u32, h as u32, c, order, slice).map_err(to_py)?;
        let ms = t.elapsed().as_secs_f64() * 1e3;
        let rows = detached::short(py, || self.rows_of("<array>", &img, ms))?;
        self.faces(py, rows)
    }

    /// Every face of every image and video under `paths` (folders searched
    /// recursively), on `threads` threads (0: one per core), as the columns of
    /// `fer batch`'s rows in input order: a list of (name, kind, values, mask).
    #[pyo3(signature = (paths, threads=0, every=1, landmarks=false, progress=None, search_every=fer::tracked::DEFAULT_SEARCH_EVERY))]
    #[allow(clippy::too_many_arguments)] // Python keyword arguments
    fn read_many(
        &self,
        py: Python<'_>,
        paths: Vec<PathBuf>,
        threads: usize,
        every: u64,
        landmarks: bool,
        progress: Option<PyObject>,
        search_every: u64,
    ) -> PyResult<Vec<Column>> {
        let job = BatchConfig {
            inputs: paths,
            format: OutputFormat::Csv,
            out: None,
            resume: false,
            annotate: None,
            landmarks,
            every,
            search_every,
            files_from: None,
            shard: None,
            video_chunk: batch::shard::VIDEO_CHUNK_FRAMES,
            model: PathBuf::from(&self.spec),
        };
        let rows = detached::run(py, threads, progress.as_ref(), |p| {
            batch::rows_in_memory(
                &job,
                &self.pool,
                self.model.as_ref(),
                &|| p.tick(),
                &|n| p.set_total(n),
                &p.stop,
            )
        })?;
        columns::of_rows(py, &rows, self.model.classes(), landmarks)
    }
}

/// One face as a dict: box, eyes_found, label, confidence, probabilities
/// (class -> p), landmarks (21 x 2, image coordinates) and times (stage -> ms).
fn face_dict(py: Python<'_>, r: &Row, classes: &[String]) -> PyResult<PyObject> {
    let d = PyDict::new(py);
    d.set_item("box", r.bbox.map(|b| (b[0], b[1], b[2], b[3])))?;
    d.set_item("eyes_found", r.eyes_found)?;
    d.set_item("label", &r.label)?;
    d.set_item("confidence", r.confidence)?;
    let probs = PyDict::new(py);
    for (c, p) in classes.iter().zip(&r.probabilities) {
        probs.set_item(c, p)?;
    }
    d.set_item("probabilities", probs)?;
    let points: Vec<Vec<f32>> = r.landmarks.iter().flatten().map(|p| p.to_vec()).collect();
    d.set_item(
        "landmarks",
        PyArray2::from_vec2(py, &points).map_err(|e| parameter("landmarks", e))?,
    )?;
    let times = PyDict::new(py);
    for (stage, ms) in r.times.named() {
        times.set_item(stage, ms)?;
    }
    d.set_item("times", times)?;
    Ok(d.into_any().unbind())
}

/// Decode an image file as fer does: grey (height x width), or with `colour`
/// BGR (height x width x 3; grey files repeated in each channel).
#[pyfunction]
#[pyo3(signature = (path, colour=false, max_pixels=None))]
pub fn imread(
    py: Python<'_>,
    path: PathBuf,
    colour: bool,
    max_pixels: Option<u64>,
) -> PyResult<PyObject> {
    let mut cfg = fer::stages::decode::DecodeConfig::default();
    if let Some(m) = max_pixels {
        cfg.max_pixels = m;
    }
    cfg.check().map_err(to_py)?;
    if !colour {
        let img = detached::short(py, || decode_file(&path, &cfg))?;
        let (w, h) = (img.width() as usize, img.height() as usize);
        let flat = PyArray1::from_slice(py, img.pixels());
        return Ok(flat.reshape([h, w])?.into_any().unbind());
    }
    let (grey, bgr) = detached::short(py, || decode_file_with_colour(&path, &cfg))?;
    let (w, h) = (grey.width() as usize, grey.height() as usize);
    let bytes = bgr
        .data_bytes()
        .map_err(|e| to_py(fer::FerError::from(e)))?;
    let flat = PyArray1::from_slice(py, bytes);
    let arr: Bound<'_, PyArray3<u8>> = flat.reshape([h, w, 3])?;
    Ok(arr.into_any().unbind())
}
