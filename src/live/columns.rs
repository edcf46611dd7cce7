//! `fer live --parquet FILE`: the timeline of `--jsonl` as typed columns, one
//! row per face per frame: `t` (f64), `frame` and `track` (u64), `x y w h`
//! (i32), `label` and `pooled_label`, then `raw_<class>` and `pooled_<class>`
//! (f32) for every class. The classes are the file's metadata (`fer.classes`).
//! Rows are written in record batches as the video plays, to a temporary file
//! that is renamed to FILE when the run ends.

use super::record::FaceRecord;
use crate::atomic_file::tmp_path;
use crate::error::{FerError, Result};
use crate::parquet_io::{
    box_columns, close_writer, create_writer, numbers, open_reader, parquet_error as perr, texts,
    OpenParquet, CLASSES_KEY,
};
use arrow_array::builder::{
    Float32Builder, Float64Builder, Int32Builder, StringBuilder, UInt64Builder,
};
use arrow_array::types::{Float32Type, Float64Type, UInt64Type};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Faces buffered before a record batch is written (about 10 s of one face at 30 fps).
const BATCH_FACES: usize = 300;

/// The columns of a batch of records, in schema order.
fn columns(records: &[FaceRecord], classes: &[String]) -> Vec<(String, ArrayRef)> {
    let mut t = Float64Builder::new();
    let mut frame = UInt64Builder::new();
    let mut track = UInt64Builder::new();
    let mut bbox: [Int32Builder; 4] = std::array::from_fn(|_| Int32Builder::new());
    let mut label = StringBuilder::new();
    let mut pooled_label = StringBuilder::new();
    let mut raw: Vec<Float32Builder> = classes.iter().map(|_| Float32Builder::new()).collect();
    let mut pooled: Vec<Float32Builder> = classes.iter().map(|_| Float32Builder::new()).collect();
    for r in records {
        t.append_value(r.t);
        frame.append_value(r.frame);
        track.append_value(r.track);
        for (k, b) in bbox.iter_mut().enumerate() {
            b.append_value(r.bbox[k]);
        }
        label.append_value(&r.label);
        pooled_label.append_value(&r.pooled_label);
        for (k, b) in raw.iter_mut().enumerate() {
            b.append_option(r.raw.get(k).copied());
        }
        for (k, b) in pooled.iter_mut().enumerate() {
            b.append_option(r.pooled.get(k).copied());
        }
    }
    let mut out: Vec<(String, ArrayRef)> = vec![
        ("t".into(), Arc::new(t.finish())),
        ("frame".into(), Arc::new(frame.finish())),
        ("track".into(), Arc::new(track.finish())),
    ];
    for (name, mut b) in ["x", "y", "w", "h"].into_iter().zip(bbox) {
        out.push((name.into(), Arc::new(b.finish())));
    }
    out.push(("label".into(), Arc::new(label.finish())));
    out.push(("pooled_label".into(), Arc::new(pooled_label.finish())));
    for (c, mut b) in classes.iter().zip(raw) {
        out.push((format!("raw_{c}"), Arc::new(b.finish())));
    }
    for (c, mut b) in classes.iter().zip(pooled) {
        out.push((format!("pooled_{c}"), Arc::new(b.finish())));
    }
    out
}

fn schema(classes: &[String], metadata: HashMap<String, String>) -> SchemaRef {
    let fields: Vec<Field> = columns(&[], classes)
        .iter()
        .map(|(n, a)| {
            Field::new(
                n,
                a.data_type().clone(),
                n.starts_with("raw_") || n.starts_with("pooled_"),
            )
        })
        .collect();
    Arc::new(Schema::new_with_metadata(fields, metadata))
}

/// A timeline being written.
pub struct TimelineWriter {
    path: PathBuf,
    tmp: PathBuf,
    classes: Vec<String>,
    schema: SchemaRef,
    writer: ArrowWriter<std::fs::File>,
    buffer: Vec<FaceRecord>,
}

impl TimelineWriter {
    /// Start writing `path` (through `path.partial`); `metadata` joins the class list.
    pub fn create(
        path: &Path,
        classes: &[String],
        metadata: HashMap<String, String>,
    ) -> Result<Self> {
        let tmp = tmp_path(path);
        let mut metadata = metadata;
        metadata.insert(
            CLASSES_KEY.into(),
            serde_json::to_string(classes).unwrap_or_default(),
        );
        let schema = schema(classes, metadata);
        let writer = create_writer(&tmp, schema.clone())?;
        Ok(TimelineWriter {
            path: path.to_path_buf(),
            tmp,
            classes: classes.to_vec(),
            schema,
            writer,
            buffer: Vec::with_capacity(BATCH_FACES),
        })
    }

    pub fn push(&mut self, records: &[FaceRecord]) -> Result<()> {
        self.buffer.extend_from_slice(records);
        if self.buffer.len() >= BATCH_FACES {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let cols = columns(&self.buffer, &self.classes);
        let batch = RecordBatch::try_new(
            self.schema.clone(),
            cols.into_iter().map(|(_, a)| a).collect(),
        )
        .map_err(|e| perr(&self.path, e))?;
        self.writer.write(&batch).map_err(|e| perr(&self.tmp, e))?;
        self.buffer.clear();
        Ok(())
    }

    /// Write what is buffered, close the file and move it into place.
    pub fn finish(mut self) -> Result<()> {
        self.flush()?;
        close_writer(self.writer, &self.tmp)?;
        std::fs::rename(&self.tmp, &self.path).map_err(|e| FerError::io(&self.path, e))
    }
}

/// The records of a timeline written by [`TimelineWriter`]; `None` when the
/// file is Parquet but not a live timeline (no `track` column).
pub fn read_timeline(path: &Path) -> Result<Option<Vec<FaceRecord>>> {
    let OpenParquet {
        reader: builder,
        classes,
        ..
    } = open_reader(path)?;
    if builder.schema().field_with_name("track").is_err() {
        return Ok(None);
    }
    let classes = classes.ok_or_else(|| {
        perr(
            path,
            format!("no `{CLASSES_KEY}` metadata: not written by fer live"),
        )
    })?;
    let mut out = Vec::new();
    for batch in builder.build().map_err(|e| perr(path, e))? {
        let batch = batch.map_err(|e| perr(path, e))?;
        out.extend(records_of(&batch, &classes).map_err(|e| perr(path, e))?);
    }
    Ok(Some(out))
}

fn records_of(
    batch: &RecordBatch,
    classes: &[String],
) -> std::result::Result<Vec<FaceRecord>, String> {
    let t = numbers::<Float64Type>(batch, "t")?;
    let frame = numbers::<UInt64Type>(batch, "frame")?;
    let track = numbers::<UInt64Type>(batch, "track")?;
    let bbox = box_columns(batch)?;
    let (label, pooled_label) = (texts(batch, "label")?, texts(batch, "pooled_label")?);
    let probs = |prefix: &str| -> std::result::Result<Vec<_>, String> {
        classes
            .iter()
            .map(|c| numbers::<Float32Type>(batch, &format!("{prefix}{c}")))
            .collect()
    };
    let (raw, pooled) = (probs("raw_")?, probs("pooled_")?);
    Ok((0..batch.num_rows())
        .map(|i| FaceRecord {
            t: t.value(i),
            frame: frame.value(i),
            track: track.value(i),
            bbox: std::array::from_fn(|k| bbox[k].value(i)),
            label: label.value(i).to_string(),
            pooled_label: pooled_label.value(i).to_string(),
            raw: raw.iter().map(|a| a.value(i)).collect(),
            pooled: pooled.iter().map(|a| a.value(i)).collect(),
            classes: classes.to_vec(),
        })
        .collect())
}
