//! Batch rows as typed columns for a DataFrame: the columns of `fer batch`'s
//! Parquet output (made by the same [`fer::batch::columnar::to_batch`], so they
//! have the CSV's names and order), each turned into numpy arrays. A column is
//! `(name, kind, values, mask)`:
//! - `int`: int64 values and a bool mask (True: missing), for pandas' nullable `Int64`
//! - `bool`: bool values and mask, for pandas' nullable `boolean`
//! - `float`: float32 or float64 values, NaN where missing; no mask
//! - `str`: a list of str or None; no mask
//! - `points`: a list of (21, 2) float32 arrays or None; no mask

use crate::errors::{parameter, to_py};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, Int32Type, UInt32Type, UInt64Type};
use arrow_array::{Array, ArrayRef, ArrowPrimitiveType};
use arrow_schema::DataType;
use fer::batch::columnar::to_batch;
use fer::batch::Row;
use numpy::{PyArray1, PyArray2};
use pyo3::prelude::*;
use std::collections::HashMap;

/// One column: name, kind, values, mask.
pub type Column = (String, &'static str, PyObject, Option<PyObject>);

/// The columns of `rows`.
pub fn of_rows(
    py: Python<'_>,
    rows: &[Row],
    classes: &[String],
    landmarks: bool,
) -> PyResult<Vec<Column>> {
    let batch = to_batch(rows, classes, landmarks, &HashMap::new()).map_err(to_py)?;
    let schema = batch.schema();
    schema
        .fields()
        .iter()
        .zip(batch.columns())
        .map(|(field, array)| column(py, field.name(), array))
        .collect()
}

fn mask(py: Python<'_>, a: &dyn Array) -> PyObject {
    let m: Vec<bool> = (0..a.len()).map(|i| a.is_null(i)).collect();
    PyArray1::from_vec(py, m).into_any().unbind()
}

fn ints<T: ArrowPrimitiveType>(py: Python<'_>, a: &ArrayRef) -> (PyObject, PyObject)
where
    T::Native: Into<i64>,
{
    let p = a.as_primitive::<T>();
    let v: Vec<i64> = p.values().iter().map(|&x| x.into()).collect();
    (PyArray1::from_vec(py, v).into_any().unbind(), mask(py, a))
}

fn column(py: Python<'_>, name: &str, a: &ArrayRef) -> PyResult<Column> {
    let name = name.to_string();
    Ok(match a.data_type() {
        DataType::UInt64 => {
            let p = a.as_primitive::<UInt64Type>();
            // Frame numbers fit an i64 (a video of 2^63 frames cannot be read).
            let v: Vec<i64> = p.values().iter().map(|&x| x as i64).collect();
            let values = PyArray1::from_vec(py, v).into_any().unbind();
            (name, "int", values, Some(mask(py, a)))
        }
        DataType::UInt32 => {
            let (v, m) = ints::<UInt32Type>(py, a);
            (name, "int", v, Some(m))
        }
        DataType::Int32 => {
            let (v, m) = ints::<Int32Type>(py, a);
            (name, "int", v, Some(m))
        }
        DataType::Float32 => {
            let p = a.as_primitive::<Float32Type>();
            let v: Vec<f32> = (0..p.len())
                .map(|i| if p.is_null(i) { f32::NAN } else { p.value(i) })
                .collect();
            (
                name,
                "float",
                PyArray1::from_vec(py, v).into_any().unbind(),
                None,
            )
        }
        DataType::Float64 => {
            let p = a.as_primitive::<Float64Type>();
            let v: Vec<f64> = (0..p.len())
                .map(|i| if p.is_null(i) { f64::NAN } else { p.value(i) })
                .collect();
            (
                name,
                "float",
                PyArray1::from_vec(py, v).into_any().unbind(),
                None,
            )
        }
        DataType::Boolean => {
            let b = a.as_boolean();
            let v: Vec<bool> = (0..b.len()).map(|i| !b.is_null(i) && b.value(i)).collect();
            (
                name,
                "bool",
                PyArray1::from_vec(py, v).into_any().unbind(),
                Some(mask(py, a)),
            )
        }
        DataType::Utf8 => {
            let s = a.as_string::<i32>();
            let v: Vec<Option<&str>> = s.iter().collect();
            (name, "str", v.into_pyobject(py)?.into_any().unbind(), None)
        }
        DataType::List(_) => {
            let list = a.as_list::<i32>();
            let mut out: Vec<Option<PyObject>> = Vec::with_capacity(list.len());
            for i in 0..list.len() {
                if list.is_null(i) {
                    out.push(None);
                    continue;
                }
                let pairs = list.value(i);
                let pairs = pairs.as_fixed_size_list();
                let values = pairs.values().as_primitive::<Float32Type>();
                let rows: Vec<Vec<f32>> = values.values().chunks(2).map(<[f32]>::to_vec).collect();
                let arr = PyArray2::from_vec2(py, &rows).map_err(|e| parameter("landmarks", e))?;
                out.push(Some(arr.into_any().unbind()));
            }
            (
                name,
                "points",
                out.into_pyobject(py)?.into_any().unbind(),
                None,
            )
        }
        other => {
            return Err(parameter(
                "columns",
                format!("column {name} has the unexpected type {other}"),
            ))
        }
    })
}
