//! `--resume`: what an interrupted run's output already holds. Only whole files
//! (and whole video frames) count; a half-written last line is dropped.

use super::output::{OutputFormat, Status};
use crate::error::{FerError, Result};
use serde_json::Value;
use std::collections::{BTreeMap, HashSet};
use std::io::BufRead;
use std::path::Path;

/// What a previous output already holds: complete image files, and complete
/// frames of videos.
#[derive(Debug, Default)]
pub struct Previous {
    pub files: HashSet<String>,
    pub frames: HashSet<(String, u64)>,
    /// Its complete lines (header included), to carry over.
    pub kept: Vec<u8>,
    /// Rows among them (the header not counted).
    pub rows: usize,
    /// Failure rows among them (a file that could not be read), so that a resumed
    /// batch still ends with the exit status its whole output calls for.
    pub errors: usize,
}

/// Read a previous output. A trailing half-written line and the rows of a file
/// or video frame not all of whose rows were written are dropped.
pub fn read_previous(path: &Path, format: OutputFormat) -> Result<Previous> {
    let file = std::fs::File::open(path).map_err(|e| FerError::io(path, e))?;
    read_previous_from(std::io::BufReader::new(file), path, format)
}

/// [`read_previous`] of bytes already read (`path` names them in errors).
pub fn read_previous_from(
    mut reader: impl BufRead,
    path: &Path,
    format: OutputFormat,
) -> Result<Previous> {
    let mut lines: Vec<String> = Vec::new();
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
    // (file, video frame) -> (faces it announced, rows seen, a failure row among them, its lines)
    type FileRows = (usize, usize, bool, Vec<String>);
    let mut per_key: BTreeMap<(String, Option<u64>), FileRows> = BTreeMap::new();
    for line in lines {
        let Some(LineKey {
            file,
            frame,
            faces,
            failed,
            ..
        }) = parse_key(&line, format)
        else {
            continue;
        };
        let e = per_key
            .entry((file, frame))
            .or_insert((faces, 0, false, Vec::new()));
        e.1 += 1;
        e.2 |= failed;
        e.3.push(line);
    }
    let mut prev = Previous {
        kept: header.map(|h| h.into_bytes()).unwrap_or_default(),
        ..Default::default()
    };
    for ((file, frame), (faces, seen, failed, lines)) in per_key {
        if seen == faces.max(1) {
            prev.errors += failed as usize;
            match frame {
                Some(f) => prev.frames.insert((file, f)),
                None => prev.files.insert(file),
            };
            prev.rows += lines.len();
            for l in lines {
                prev.kept.extend_from_slice(l.as_bytes());
            }
        }
    }
    Ok(prev)
}

/// Where a row belongs: its file, video frame (if any), the faces its image
/// announces and its own face index (none for a file without faces or a failure).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineKey {
    pub file: String,
    pub frame: Option<u64>,
    pub faces: usize,
    pub face: Option<usize>,
    /// A failure row (status `error`).
    pub failed: bool,
}

/// The key of one CSV record or JSON line (`format` Parquet: a JSON line, as spooled).
pub fn parse_key(line: &str, format: OutputFormat) -> Option<LineKey> {
    match format {
        OutputFormat::Csv => {
            let mut r = csv::ReaderBuilder::new()
                .has_headers(false)
                .from_reader(line.as_bytes());
            let rec = r.records().next()?.ok()?;
            Some(LineKey {
                file: rec.get(0)?.to_string(),
                frame: rec.get(2)?.parse::<u64>().ok(),
                faces: rec.get(4)?.parse().ok()?,
                face: rec.get(5)?.parse().ok(),
                failed: rec.get(1)? == Status::Error.as_str(),
            })
        }
        OutputFormat::Jsonl | OutputFormat::Parquet => {
            let v: Value = serde_json::from_str(line).ok()?;
            Some(LineKey {
                file: v.get("file")?.as_str()?.to_string(),
                frame: v.get("frame").and_then(Value::as_u64),
                faces: v.get("faces")?.as_u64()? as usize,
                face: v.get("face").and_then(Value::as_u64).map(|f| f as usize),
                failed: v.get("status").and_then(Value::as_str) == Some(Status::Error.as_str()),
            })
        }
    }
}
