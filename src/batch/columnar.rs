//! `--format parquet`: batch rows as typed columns (arrow arrays written by the
//! parquet crate), and read back.
//!
//! Columns follow the CSV's names and order: `file`, `status`, `frame` (u64),
//! `t` (f64), `faces` and `face` (u32), `x y w h` (i32), `eyes_found` (bool),
//! `label`, `confidence` and one `p_<class>` per class (f32), one `ms_<stage>`
//! per stage (f64), `landmarks` (a list of `[x, y]` f32 pairs, with
//! `--landmarks`) and `error`. Empty CSV fields are nulls. The run's settings
//! are the file's metadata (key `fer.settings`, JSON; `fer.classes`).

use super::output::{Row, Status};
use crate::error::{FerError, Result};
use crate::parquet_io::{
    booleans, box_columns, close_writer, create_writer, numbers, open_reader,
    parquet_error as perr, texts, wrong_type, OpenParquet, CLASSES_KEY,
};
use crate::pipeline::StageTimes;
use arrow_array::builder::{
    BooleanBuilder, FixedSizeListBuilder, Float32Builder, Float64Builder, Int32Builder,
    ListBuilder, StringBuilder, UInt32Builder, UInt64Builder,
};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, UInt32Type, UInt64Type};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{Field, Schema};
use parquet::arrow::ArrowWriter;
use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

/// Rows per record batch (and row group chunk) when writing.
pub const BATCH_ROWS: usize = 8192;

/// Metadata key of the run's settings (JSON).
pub const SETTINGS_KEY: &str = "fer.settings";

/// One record batch of `rows`.
pub fn to_batch(
    rows: &[Row],
    classes: &[String],
    landmarks: bool,
    metadata: &HashMap<String, String>,
) -> Result<RecordBatch> {
    let mut file = StringBuilder::new();
    let mut status = StringBuilder::new();
    let mut frame = UInt64Builder::new();
    let mut t = Float64Builder::new();
    let mut faces = UInt32Builder::new();
    let mut face = UInt32Builder::new();
    let mut bbox: [Int32Builder; 4] = std::array::from_fn(|_| Int32Builder::new());
    let mut eyes = BooleanBuilder::new();
    let mut label = StringBuilder::new();
    let mut confidence = Float32Builder::new();
    let mut probs: Vec<Float32Builder> = classes.iter().map(|_| Float32Builder::new()).collect();
    let stages = StageTimes::default().named();
    let mut ms: Vec<Float64Builder> = stages.iter().map(|_| Float64Builder::new()).collect();
    let mut points = ListBuilder::new(FixedSizeListBuilder::new(Float32Builder::new(), 2));
    let mut error = StringBuilder::new();
    for r in rows {
        file.append_value(&r.file);
        status.append_value(r.status.as_str());
        frame.append_option(r.frame);
        t.append_option(r.t);
        faces.append_value(r.faces as u32);
        face.append_option(r.face.map(|f| f as u32));
        for (k, b) in bbox.iter_mut().enumerate() {
            b.append_option(r.bbox.map(|b| b[k]));
        }
        eyes.append_option(r.bbox.map(|_| r.eyes_found));
        label.append_option(r.label.as_deref());
        confidence.append_option(r.confidence);
        for (k, b) in probs.iter_mut().enumerate() {
            b.append_option(r.probabilities.get(k).copied());
        }
        for (b, (_, v)) in ms.iter_mut().zip(r.times.named()) {
            b.append_value(v);
        }
        if landmarks {
            match &r.landmarks {
                Some(l) => {
                    for p in l {
                        points.values().values().append_slice(p);
                        points.values().append(true);
                    }
                    points.append(true);
                }
                None => points.append(false),
            }
        }
        error.append_option(r.error.as_deref());
    }
    let mut columns: Vec<(String, ArrayRef)> = vec![
        ("file".into(), Arc::new(file.finish())),
        ("status".into(), Arc::new(status.finish())),
        ("frame".into(), Arc::new(frame.finish())),
        ("t".into(), Arc::new(t.finish())),
        ("faces".into(), Arc::new(faces.finish())),
        ("face".into(), Arc::new(face.finish())),
    ];
    for (name, mut b) in ["x", "y", "w", "h"].into_iter().zip(bbox) {
        columns.push((name.into(), Arc::new(b.finish())));
    }
    columns.push(("eyes_found".into(), Arc::new(eyes.finish())));
    columns.push(("label".into(), Arc::new(label.finish())));
    columns.push(("confidence".into(), Arc::new(confidence.finish())));
    for (c, mut b) in classes.iter().zip(probs) {
        columns.push((format!("p_{c}"), Arc::new(b.finish())));
    }
    for ((name, _), mut b) in stages.iter().zip(ms) {
        columns.push((format!("ms_{name}"), Arc::new(b.finish())));
    }
    if landmarks {
        columns.push(("landmarks".into(), Arc::new(points.finish())));
    }
    columns.push(("error".into(), Arc::new(error.finish())));
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, a)| Field::new(n, a.data_type().clone(), nullable(n)))
        .collect();
    let schema = Schema::new_with_metadata(fields, metadata.clone());
    RecordBatch::try_new(
        Arc::new(schema),
        columns.into_iter().map(|(_, a)| a).collect(),
    )
    .map_err(|e| FerError::param("parquet", e.to_string()))
}

/// Whether a column may hold nulls (so that every batch of a file has one schema).
fn nullable(name: &str) -> bool {
    !matches!(name, "file" | "status" | "faces") && !name.starts_with("ms_")
}

/// Write `rows` to `path` (not atomically: callers write a temporary file and rename it).
pub fn write_rows(
    path: &Path,
    rows: impl IntoIterator<Item = Row>,
    classes: &[String],
    landmarks: bool,
    metadata: &HashMap<String, String>,
) -> Result<usize> {
    let mut metadata = metadata.clone();
    metadata.insert(
        CLASSES_KEY.into(),
        serde_json::to_string(classes).unwrap_or_default(),
    );
    let schema = to_batch(&[], classes, landmarks, &metadata)?.schema();
    let mut writer = create_writer(path, schema)?;
    let mut chunk: Vec<Row> = Vec::with_capacity(BATCH_ROWS);
    let mut n = 0;
    let flush = |chunk: &mut Vec<Row>, writer: &mut ArrowWriter<std::fs::File>| -> Result<()> {
        let batch = to_batch(chunk, classes, landmarks, &metadata)?;
        writer.write(&batch).map_err(|e| perr(path, e))?;
        chunk.clear();
        Ok(())
    };
    for r in rows {
        chunk.push(r);
        n += 1;
        if chunk.len() == BATCH_ROWS {
            flush(&mut chunk, &mut writer)?;
        }
    }
    if !chunk.is_empty() {
        flush(&mut chunk, &mut writer)?;
    }
    close_writer(writer, path)?;
    Ok(n)
}

/// A Parquet file of rows: the rows, the classes and the file's metadata.
pub struct ParquetRows {
    pub rows: Vec<Row>,
    pub classes: Vec<String>,
    pub landmarks: bool,
    pub metadata: HashMap<String, String>,
}

/// Read a file written by [`write_rows`].
pub fn read_rows(path: &Path) -> Result<ParquetRows> {
    let OpenParquet {
        reader: builder,
        metadata,
        classes,
    } = open_reader(path)?;
    let classes = classes.ok_or_else(|| {
        perr(
            path,
            format!("no `{CLASSES_KEY}` metadata: not written by fer"),
        )
    })?;
    let landmarks = builder.schema().field_with_name("landmarks").is_ok();
    let reader = builder.build().map_err(|e| perr(path, e))?;
    let mut rows = Vec::new();
    for batch in reader {
        let batch = batch.map_err(|e| perr(path, e))?;
        rows.extend(from_batch(&batch, &classes).map_err(|e| perr(path, e))?);
    }
    Ok(ParquetRows {
        rows,
        classes,
        landmarks,
        metadata,
    })
}

/// The rows of a record batch.
pub fn from_batch(
    batch: &RecordBatch,
    classes: &[String],
) -> std::result::Result<Vec<Row>, String> {
    let (file, status, label, error) = (
        texts(batch, "file")?,
        texts(batch, "status")?,
        texts(batch, "label")?,
        texts(batch, "error")?,
    );
    let frame = numbers::<UInt64Type>(batch, "frame")?;
    let t = numbers::<Float64Type>(batch, "t")?;
    let faces = numbers::<UInt32Type>(batch, "faces")?;
    let face = numbers::<UInt32Type>(batch, "face")?;
    let bbox = box_columns(batch)?;
    let eyes = booleans(batch, "eyes_found")?;
    let confidence = numbers::<Float32Type>(batch, "confidence")?;
    let probs: Vec<_> = classes
        .iter()
        .map(|c| numbers::<Float32Type>(batch, &format!("p_{c}")))
        .collect::<std::result::Result<_, String>>()?;
    let stages = StageTimes::default().named();
    let ms: Vec<_> = stages
        .iter()
        .map(|(n, _)| numbers::<Float64Type>(batch, &format!("ms_{n}")))
        .collect::<std::result::Result<_, String>>()?;
    let points = match batch.column_by_name("landmarks") {
        Some(c) => Some(
            c.as_list_opt::<i32>()
                .cloned()
                .ok_or_else(|| wrong_type("landmarks"))?,
        ),
        None => None,
    };
    let get = |a: &dyn Array, i: usize| a.is_valid(i);
    let mut rows = Vec::with_capacity(batch.num_rows());
    for i in 0..batch.num_rows() {
        let status = match status.value(i) {
            "ok" => Status::Ok,
            "no_face" => Status::NoFace,
            "error" => Status::Error,
            s => return Err(format!("row {i}: unknown status `{s}`")),
        };
        let mut times = StageTimes::default();
        for ((name, _), a) in stages.iter().zip(&ms) {
            times.set(name, a.value(i));
        }
        let landmarks = match &points {
            Some(l) if l.is_valid(i) => {
                let pairs = l.value(i);
                let pairs = pairs
                    .as_fixed_size_list_opt()
                    .ok_or_else(|| wrong_type("landmarks"))?;
                let xs = pairs
                    .values()
                    .as_primitive_opt::<Float32Type>()
                    .ok_or_else(|| wrong_type("landmarks"))?;
                Some(
                    (0..pairs.len())
                        .map(|k| [xs.value(2 * k), xs.value(2 * k + 1)])
                        .collect(),
                )
            }
            _ => None,
        };
        rows.push(Row {
            file: file.value(i).to_string(),
            status,
            frame: get(&frame, i).then(|| frame.value(i)),
            t: get(&t, i).then(|| t.value(i)),
            faces: faces.value(i) as usize,
            face: get(&face, i).then(|| face.value(i) as usize),
            bbox: get(&bbox[0], i).then(|| std::array::from_fn(|k| bbox[k].value(i))),
            eyes_found: get(&eyes, i) && eyes.value(i),
            label: get(&label, i).then(|| label.value(i).to_string()),
            confidence: get(&confidence, i).then(|| confidence.value(i)),
            probabilities: probs
                .iter()
                .filter(|p| p.is_valid(i))
                .map(|p| p.value(i))
                .collect(),
            landmarks,
            times,
            error: get(&error, i).then(|| error.value(i).to_string()),
        });
    }
    Ok(rows)
}
