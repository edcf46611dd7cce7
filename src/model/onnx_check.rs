//! Checking an ONNX file before OpenCV reads it. OpenCV 4.6's ONNX importer
//! trusts the file: in `tests/onnx_mutations.rs` a network whose initializer name
//! had four bytes overwritten (so a node named an input that no longer existed)
//! crashed the process with SIGSEGV inside `readNetFromONNX`, where no error can
//! be caught. So the file is first decoded with `prost` (the protobuf wire format:
//! lengths within bounds, strings valid UTF-8) into the few ONNX messages below,
//! and the graph checked the way `onnx.checker` checks it: every node input is
//! defined before it is used, every graph output is defined, and every weight
//! tensor holds exactly the bytes its shape and type call for and none outside
//! the file.
//!
//! The messages declare only the fields the checks read, with the field numbers
//! of `onnx.proto` (onnx 1.14); prost skips the others.

use crate::error::{FerError, Result};
use prost::Message;
use std::collections::HashSet;
use std::path::Path;

/// Most elements one weight tensor may declare (2^31, 8 GB of f32: far more
/// than an expression network holds, far less than overflows a size).
const MAX_TENSOR_ELEMENTS: u64 = 1 << 31;
/// TensorProto's `data_location` value for weights in another file.
const EXTERNAL_DATA: i32 = 1;

#[derive(Clone, PartialEq, Message)]
struct ModelProto {
    #[prost(message, optional, tag = "7")]
    graph: Option<GraphProto>,
}

#[derive(Clone, PartialEq, Message)]
struct GraphProto {
    #[prost(message, repeated, tag = "1")]
    node: Vec<NodeProto>,
    #[prost(message, repeated, tag = "5")]
    initializer: Vec<TensorProto>,
    #[prost(message, repeated, tag = "11")]
    input: Vec<ValueInfoProto>,
    #[prost(message, repeated, tag = "12")]
    output: Vec<ValueInfoProto>,
}

#[derive(Clone, PartialEq, Message)]
struct NodeProto {
    #[prost(string, repeated, tag = "1")]
    input: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    output: Vec<String>,
    #[prost(string, tag = "4")]
    op_type: String,
    #[prost(message, repeated, tag = "5")]
    attribute: Vec<AttributeProto>,
}

#[derive(Clone, PartialEq, Message)]
struct AttributeProto {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(message, optional, tag = "5")]
    t: Option<TensorProto>,
    #[prost(message, repeated, tag = "10")]
    tensors: Vec<TensorProto>,
}

#[derive(Clone, PartialEq, Message)]
struct ValueInfoProto {
    #[prost(string, tag = "1")]
    name: String,
}

#[derive(Clone, PartialEq, Message)]
struct TensorProto {
    #[prost(int64, repeated, tag = "1")]
    dims: Vec<i64>,
    #[prost(int32, tag = "2")]
    data_type: i32,
    #[prost(float, repeated, tag = "4")]
    float_data: Vec<f32>,
    #[prost(int32, repeated, tag = "5")]
    int32_data: Vec<i32>,
    #[prost(int64, repeated, tag = "7")]
    int64_data: Vec<i64>,
    #[prost(string, tag = "8")]
    name: String,
    #[prost(bytes = "vec", tag = "9")]
    raw_data: Vec<u8>,
    #[prost(double, repeated, tag = "10")]
    double_data: Vec<f64>,
    #[prost(int32, tag = "14")]
    data_location: i32,
}

/// Bytes per element of an ONNX `TensorProto.DataType`, for the types a weight
/// tensor may have (strings and complex numbers are refused).
fn element_size(data_type: i32) -> Option<u64> {
    match data_type {
        2 | 3 | 9 => Some(1),       // UINT8, INT8, BOOL
        4 | 5 | 10 | 16 => Some(2), // UINT16, INT16, FLOAT16, BFLOAT16
        1 | 6 | 12 => Some(4),      // FLOAT, INT32, UINT32
        7 | 11 | 13 => Some(8),     // INT64, DOUBLE, UINT64
        _ => None,
    }
}

/// Check the bytes of the ONNX file at `path` as described in the module docs;
/// the error names the file and what is wrong.
pub fn check_network(bytes: &[u8], path: &Path) -> Result<()> {
    check_onnx(bytes)
        .map_err(|why| FerError::model(path, format!("not a valid ONNX network: {why}")))
}

/// Check ONNX bytes; the reason when they are not a well-formed network.
fn check_onnx(bytes: &[u8]) -> std::result::Result<(), String> {
    let model = ModelProto::decode(bytes).map_err(|e| format!("cannot decode it ({e})"))?;
    let graph = model.graph.ok_or("it holds no graph")?;
    if graph.node.is_empty() || graph.output.is_empty() {
        return Err("its graph has no nodes or no outputs".into());
    }
    let mut defined: HashSet<&str> = graph.input.iter().map(|v| v.name.as_str()).collect();
    for t in &graph.initializer {
        check_tensor(t)?;
        defined.insert(&t.name);
    }
    for (i, node) in graph.node.iter().enumerate() {
        for input in node.input.iter().filter(|n| !n.is_empty()) {
            if !defined.contains(input.as_str()) {
                return Err(format!(
                    "node {i} ({}) reads `{input}`, which nothing before it defines",
                    node.op_type
                ));
            }
        }
        for a in &node.attribute {
            for t in a.t.iter().chain(&a.tensors) {
                check_tensor(t).map_err(|e| format!("node {i}, attribute {}: {e}", a.name))?;
            }
        }
        defined.extend(node.output.iter().map(String::as_str));
    }
    if let Some(out) = graph
        .output
        .iter()
        .find(|o| !defined.contains(o.name.as_str()))
    {
        return Err(format!("graph output `{}` is not defined", out.name));
    }
    Ok(())
}

/// A weight tensor holds exactly what its shape and type call for, in this file.
fn check_tensor(t: &TensorProto) -> std::result::Result<(), String> {
    let name = &t.name;
    if t.data_location == EXTERNAL_DATA {
        return Err(format!("tensor `{name}` keeps its data in another file"));
    }
    let mut elements: u64 = 1;
    for &d in &t.dims {
        let d = u64::try_from(d).map_err(|_| format!("tensor `{name}` has dimension {d}"))?;
        elements = elements
            .checked_mul(d)
            .filter(|&n| n <= MAX_TENSOR_ELEMENTS)
            .ok_or_else(|| {
                format!("tensor `{name}` declares more than {MAX_TENSOR_ELEMENTS} elements")
            })?;
    }
    let size = element_size(t.data_type)
        .ok_or_else(|| format!("tensor `{name}` has data type {}", t.data_type))?;
    let raw = t.raw_data.len() as u64;
    let typed =
        (t.float_data.len() + t.int32_data.len() + t.int64_data.len() + t.double_data.len()) as u64;
    // Values are either raw little-endian bytes or one typed field.
    let (fits, held) = if raw > 0 {
        (raw == elements * size, format!("{raw} bytes"))
    } else {
        (typed == elements, format!("{typed} values"))
    };
    if !fits {
        return Err(format!(
            "tensor `{name}` declares {elements} elements of {size} bytes but holds {held}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped(name: &str) -> Vec<u8> {
        std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("models")
                .join(name),
        )
        .unwrap()
    }

    #[test]
    fn the_shipped_networks_pass() {
        for name in ["mini-xception.onnx", "faceapi-expression.onnx"] {
            check_onnx(&shipped(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn a_node_reading_an_undefined_name_is_refused() {
        let mut model = ModelProto::decode(shipped("mini-xception.onnx").as_slice()).unwrap();
        let graph = model.graph.as_mut().unwrap();
        graph.initializer[0].name.push_str("-renamed");
        let why = check_onnx(&model.encode_to_vec()).unwrap_err();
        assert!(why.contains("which nothing before it defines"), "{why}");
    }

    #[test]
    fn a_tensor_shorter_than_its_shape_or_stored_elsewhere_is_refused() {
        let good = ModelProto::decode(shipped("mini-xception.onnx").as_slice()).unwrap();
        let mut model = good.clone();
        let t = &mut model.graph.as_mut().unwrap().initializer[0];
        t.dims.push(2);
        let why = check_onnx(&model.encode_to_vec()).unwrap_err();
        assert!(why.contains("declares"), "{why}");
        let mut model = good;
        model.graph.as_mut().unwrap().initializer[0].data_location = EXTERNAL_DATA;
        let why = check_onnx(&model.encode_to_vec()).unwrap_err();
        assert!(why.contains("another file"), "{why}");
    }

    #[test]
    fn bytes_that_are_not_protobuf_are_refused() {
        assert!(check_onnx(b"{\"format\": \"fer-onnx\"}").is_err());
        assert!(check_onnx(&[]).is_err());
    }
}
