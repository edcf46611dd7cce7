//! An expression timeline read back from what `fer` wrote about a video: the JSONL
//! (or Parquet) of `fer live --jsonl` (`--parquet`; one line per face per frame,
//! with its track and pooled probabilities), or the CSV, JSONL or Parquet rows of
//! `fer batch` on a video (one row per face per sampled frame; a face's index in
//! the frame stands in for a track, per file). `fer plot` draws it
//! ([`crate::plot::timeline`]).

use crate::error::{FerError, Result};
use crate::live::FaceRecord;
use std::collections::BTreeMap;
use std::path::Path;

/// `(seconds, probabilities by class)`, in time order.
pub type Points = Vec<(f64, Vec<f32>)>;

/// One face followed over time.
#[derive(Debug, Clone, PartialEq)]
pub struct Track {
    /// What the picture calls it: `track 3`, or `clip.mp4 face 1`.
    pub name: String,
    pub points: Points,
}

/// Tracks over the same classes.
#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    pub classes: Vec<String>,
    pub tracks: Vec<Track>,
}

impl Timeline {
    /// Read a live JSONL or Parquet timeline, or batch CSV, JSONL or Parquet rows of videos.
    pub fn load(path: &Path) -> Result<Self> {
        let bad = |reason: String| FerError::Dataset {
            path: path.to_path_buf(),
            reason,
        };
        if is_parquet(path) {
            let timeline = match crate::live::columns::read_timeline(path)? {
                Some(records) => {
                    from_live_records(records.into_iter().enumerate().map(Ok)).map_err(bad)?
                }
                None => from_batch_parquet(path)?,
            };
            return non_empty(timeline, path);
        }
        let bytes = std::fs::read(path).map_err(|e| FerError::io(path, e))?;
        let text = String::from_utf8(bytes).map_err(|_| bad("neither text nor Parquet".into()))?;
        let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
        let timeline = if first.trim_start().starts_with('{') {
            let v: serde_json::Value =
                serde_json::from_str(first).map_err(|e| bad(format!("line 1 is not JSON: {e}")))?;
            if v.get("track").is_some() {
                from_live(&text).map_err(bad)?
            } else {
                from_batch_jsonl(&text).map_err(bad)?
            }
        } else {
            from_batch_csv(&text).map_err(bad)?
        };
        non_empty(timeline, path)
    }
}

/// The first bytes of a Parquet file.
const PARQUET_MAGIC: &[u8; 4] = b"PAR1";

/// Whether `path` starts as a Parquet file does (only its first bytes are read:
/// the Parquet reader reads the rest itself).
fn is_parquet(path: &Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .is_ok()
        && &magic == PARQUET_MAGIC
}

fn non_empty(timeline: Timeline, path: &Path) -> Result<Timeline> {
    if timeline.tracks.is_empty() {
        return Err(FerError::Dataset {
            path: path.to_path_buf(),
            reason: "no face over time here: give the timeline of `fer live --jsonl` or `--parquet`, or `fer batch` rows of a video".into(),
        });
    }
    Ok(timeline)
}

/// `fer live --jsonl`: a track's pooled probabilities per frame.
fn from_live(text: &str) -> std::result::Result<Timeline, String> {
    from_live_records(
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, line)| {
                serde_json::from_str::<FaceRecord>(line)
                    .map(|r| (i, r))
                    .map_err(|e| format!("line {}: {e}", i + 1))
            }),
    )
}

/// `fer batch --format parquet` rows of videos (rows without a time or face are skipped).
fn from_batch_parquet(path: &Path) -> Result<Timeline> {
    let p = crate::batch::columnar::read_rows(path)?;
    let rows = p
        .rows
        .into_iter()
        .filter_map(|r| Some((r.file, r.face? as u64, r.t?, r.probabilities)))
        .collect();
    Ok(Timeline {
        classes: p.classes,
        tracks: tracks_of(rows),
    })
}

/// Live records (with their line index, for messages) as tracks.
fn from_live_records<I>(records: I) -> std::result::Result<Timeline, String>
where
    I: Iterator<Item = std::result::Result<(usize, FaceRecord), String>>,
{
    let mut classes: Vec<String> = Vec::new();
    let mut tracks: BTreeMap<u64, Points> = BTreeMap::new();
    for record in records {
        let (i, r) = record?;
        if classes.is_empty() {
            classes = if r.classes.is_empty() {
                // Written before lines named their classes: number them.
                (1..=r.pooled.len()).map(|k| format!("class {k}")).collect()
            } else {
                r.classes.clone()
            };
        }
        if r.pooled.len() != classes.len() {
            return Err(format!(
                "line {}: {} probabilities where line 1 has {}",
                i + 1,
                r.pooled.len(),
                classes.len()
            ));
        }
        tracks.entry(r.track).or_default().push((r.t, r.pooled));
    }
    Ok(Timeline {
        classes,
        tracks: tracks
            .into_iter()
            .map(|(id, points)| Track {
                name: format!("track {id}"),
                points,
            })
            .collect(),
    })
}

/// Rows of `fer batch`, as `(file, face, seconds, probabilities)`, grouped into tracks.
fn tracks_of(rows: Vec<(String, u64, f64, Vec<f32>)>) -> Vec<Track> {
    let mut by: BTreeMap<(String, u64), Points> = BTreeMap::new();
    for (file, face, t, p) in rows {
        by.entry((file, face)).or_default().push((t, p));
    }
    by.into_iter()
        .map(|((file, face), mut points)| {
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            let file = Path::new(&file)
                .file_name()
                .map_or(file.clone(), |n| n.to_string_lossy().into_owned());
            Track {
                name: format!("{file} face {face}"),
                points,
            }
        })
        .collect()
}

/// `fer batch --format jsonl` rows of videos (rows without a time are skipped).
fn from_batch_jsonl(text: &str) -> std::result::Result<Timeline, String> {
    let mut classes: Vec<String> = Vec::new();
    let mut rows = Vec::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let v: serde_json::Value =
            serde_json::from_str(line).map_err(|e| format!("line {}: {e}", i + 1))?;
        let (Some(t), Some(face), Some(probs)) = (
            v.get("t").and_then(|t| t.as_f64()),
            v.get("face").and_then(|f| f.as_u64()),
            v.get("probabilities").and_then(|p| p.as_object()),
        ) else {
            continue;
        };
        if classes.is_empty() {
            classes = probs.keys().cloned().collect();
        }
        let p: Vec<f32> = classes
            .iter()
            .map(|c| probs.get(c).and_then(|x| x.as_f64()).unwrap_or(0.0) as f32)
            .collect();
        let file = v.get("file").and_then(|f| f.as_str()).unwrap_or("");
        rows.push((file.to_string(), face, t, p));
    }
    Ok(Timeline {
        classes,
        tracks: tracks_of(rows),
    })
}

/// `fer batch` CSV rows of videos: columns `file`, `t`, `face` and `p_<class>`.
fn from_batch_csv(text: &str) -> std::result::Result<Timeline, String> {
    let mut r = csv::Reader::from_reader(text.as_bytes());
    let headers = r.headers().map_err(|e| e.to_string())?.clone();
    let col = |name: &str| headers.iter().position(|h| h == name);
    let (Some(file_col), Some(t_col), Some(face_col)) = (col("file"), col("t"), col("face")) else {
        return Err("not a fer batch CSV (no file, t and face columns)".into());
    };
    let prob_cols: Vec<(usize, String)> = headers
        .iter()
        .enumerate()
        .filter_map(|(i, h)| h.strip_prefix("p_").map(|c| (i, c.to_string())))
        .collect();
    let mut rows = Vec::new();
    for (i, rec) in r.records().enumerate() {
        let rec = rec.map_err(|e| format!("row {}: {e}", i + 2))?;
        let num = |c: usize| rec.get(c).and_then(|v| v.parse::<f64>().ok());
        let (Some(t), Some(face)) = (num(t_col), num(face_col)) else {
            continue; // a still image, a frame without a face, or a failure
        };
        let p: Vec<f32> = prob_cols
            .iter()
            .map(|(c, _)| num(*c).unwrap_or(0.0) as f32)
            .collect();
        rows.push((rec[file_col].to_string(), face as u64, t, p));
    }
    Ok(Timeline {
        classes: prob_cols.into_iter().map(|(_, c)| c).collect(),
        tracks: tracks_of(rows),
    })
}
