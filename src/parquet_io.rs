//! What the two Parquet writers (`fer batch --format parquet`, in
//! `batch::columnar`, and `fer live --parquet`, in `live::columns`) share:
//! opening a file for writing and for reading, typed column look-ups, and the
//! class-list metadata key.

use crate::error::{FerError, Result};
use arrow_array::cast::AsArray;
use arrow_array::types::ArrowPrimitiveType;
use arrow_array::{BooleanArray, PrimitiveArray, RecordBatch, StringArray};
use arrow_schema::SchemaRef;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use std::collections::HashMap;
use std::fs::File;
use std::path::Path;

/// Metadata key of the class list (a JSON array) in every Parquet file fer writes.
pub const CLASSES_KEY: &str = "fer.classes";

/// A Parquet error, naming the file.
pub fn parquet_error(path: &Path, e: impl std::fmt::Display) -> FerError {
    FerError::Dataset {
        path: path.to_path_buf(),
        reason: format!("parquet: {e}"),
    }
}

/// A Snappy-compressed writer of `schema` into a new file at `path`.
pub fn create_writer(path: &Path, schema: SchemaRef) -> Result<ArrowWriter<File>> {
    let file = File::create(path).map_err(|e| FerError::io(path, e))?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    ArrowWriter::try_new(file, schema, Some(props)).map_err(|e| parquet_error(path, e))
}

/// Close `writer` and flush the file to disk.
pub fn close_writer(writer: ArrowWriter<File>, path: &Path) -> Result<()> {
    let file = writer.into_inner().map_err(|e| parquet_error(path, e))?;
    file.sync_all().map_err(|e| FerError::io(path, e))
}

/// A Parquet file opened for reading.
pub struct OpenParquet {
    pub reader: ParquetRecordBatchReaderBuilder<File>,
    /// The file's key-value metadata.
    pub metadata: HashMap<String, String>,
    /// Its class list (`None` when the file has none: not written by fer).
    pub classes: Option<Vec<String>>,
}

/// Open `path` for reading.
pub fn open_reader(path: &Path) -> Result<OpenParquet> {
    let file = File::open(path).map_err(|e| FerError::io(path, e))?;
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| parquet_error(path, e))?;
    let metadata: HashMap<String, String> = builder
        .schema()
        .metadata
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let classes = metadata
        .get(CLASSES_KEY)
        .and_then(|c| serde_json::from_str(c).ok());
    Ok(OpenParquet {
        reader: builder,
        metadata,
        classes,
    })
}

/// The error of a column `name` that is there but of another type.
pub fn wrong_type(name: &str) -> String {
    format!("column `{name}` has the wrong type")
}

fn column<'a>(
    batch: &'a RecordBatch,
    name: &str,
) -> std::result::Result<&'a arrow_array::ArrayRef, String> {
    batch
        .column_by_name(name)
        .ok_or_else(|| format!("no column `{name}`"))
}

/// The column `name` of `batch` as numbers of type `T`.
pub fn numbers<T: ArrowPrimitiveType>(
    batch: &RecordBatch,
    name: &str,
) -> std::result::Result<PrimitiveArray<T>, String> {
    column(batch, name)?
        .as_primitive_opt::<T>()
        .cloned()
        .ok_or_else(|| wrong_type(name))
}

/// The column `name` of `batch` as text.
pub fn texts(batch: &RecordBatch, name: &str) -> std::result::Result<StringArray, String> {
    column(batch, name)?
        .as_string_opt::<i32>()
        .cloned()
        .ok_or_else(|| wrong_type(name))
}

/// The column `name` of `batch` as booleans.
pub fn booleans(batch: &RecordBatch, name: &str) -> std::result::Result<BooleanArray, String> {
    column(batch, name)?
        .as_boolean_opt()
        .cloned()
        .ok_or_else(|| wrong_type(name))
}

/// The box columns `x`, `y`, `w` and `h` of `batch`.
pub fn box_columns(
    batch: &RecordBatch,
) -> std::result::Result<[PrimitiveArray<arrow_array::types::Int32Type>; 4], String> {
    Ok([
        numbers(batch, "x")?,
        numbers(batch, "y")?,
        numbers(batch, "w")?,
        numbers(batch, "h")?,
    ])
}
