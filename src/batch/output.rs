//! The rows `fer batch` writes: one per face (or per file without a face, or per
//! failure), as CSV records under one header or as JSON lines.

use crate::error::{FerError, Result};
use crate::pipeline::StageTimes;
use crate::stages::landmarks::POINT_NAMES;
use serde_json::{json, Map, Value};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Csv,
    Jsonl,
    /// Typed columns (see `columnar`); rows are spooled as JSON lines until the end.
    Parquet,
}

impl OutputFormat {
    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Csv => "csv",
            OutputFormat::Jsonl => "jsonl",
            OutputFormat::Parquet => "parquet",
        }
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
    pub fn as_str(self) -> &'static str {
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
        OutputFormat::Jsonl | OutputFormat::Parquet => {
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

/// A row back from its JSON line (as [`format_rows`] writes it); `None` when the
/// line is not a batch row. Stage times come back rounded to 1 µs, as written.
pub fn row_from_json(v: &Value, classes: &[String]) -> Option<Row> {
    let status = match v.get("status")?.as_str()? {
        "ok" => Status::Ok,
        "no_face" => Status::NoFace,
        "error" => Status::Error,
        _ => return None,
    };
    let bbox = v.get("box").and_then(|b| {
        let k = |n: &str| b.get(n)?.as_i64().map(|x| x as i32);
        Some([k("x")?, k("y")?, k("w")?, k("h")?])
    });
    let probabilities = match v.get("probabilities") {
        Some(p) => classes
            .iter()
            .map(|c| p.get(c)?.as_f64().map(|x| x as f32))
            .collect::<Option<Vec<f32>>>()?,
        None => vec![],
    };
    let landmarks = match v.get("landmarks") {
        Some(l) => Some(
            POINT_NAMES
                .iter()
                .map(|n| {
                    let p = l.get(*n)?;
                    Some([p.get(0)?.as_f64()? as f32, p.get(1)?.as_f64()? as f32])
                })
                .collect::<Option<Vec<[f32; 2]>>>()?,
        ),
        None => None,
    };
    let mut times = StageTimes::default();
    if let Some(Value::Object(ms)) = v.get("ms") {
        for (name, x) in ms {
            times.set(name, x.as_f64().unwrap_or(0.0));
        }
    }
    Some(Row {
        file: v.get("file")?.as_str()?.to_string(),
        status,
        frame: v.get("frame").and_then(Value::as_u64),
        t: v.get("t").and_then(Value::as_f64),
        faces: v.get("faces")?.as_u64()? as usize,
        face: v.get("face").and_then(Value::as_u64).map(|f| f as usize),
        bbox,
        eyes_found: v
            .get("eyes_found")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        label: v.get("label").and_then(Value::as_str).map(str::to_string),
        confidence: v
            .get("confidence")
            .and_then(Value::as_f64)
            .map(|c| c as f32),
        probabilities,
        landmarks,
        times,
        error: v.get("error").and_then(Value::as_str).map(str::to_string),
    })
}
