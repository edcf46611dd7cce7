//! `fer merge OUT`: the shards `OUT.shard-I-of-N` of a sharded batch gathered
//! into `OUT`, sorted by file, frame and face, written atomically.
//!
//! Nothing is written unless every shard 0..N of one run is there, complete,
//! and holds its own rows only: a missing shard, a shard still running or
//! killed, shards of another run or settings, and a row found in two shards
//! are each refused with the shard's name.

use super::columnar::{read_rows, write_rows};
use super::output::{OutputFormat, Row};
use super::record::RunRecord;
use super::resume::{parse_key, LineKey};
use crate::atomic_file::tmp_path;
use crate::error::{FerError, Result};
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

/// What a merge gathered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeSummary {
    pub shards: usize,
    pub rows: usize,
    pub format: OutputFormat,
    pub run_id: String,
}

impl MergeSummary {
    pub fn to_text(&self, out: &Path) -> String {
        format!(
            "merged {} shards of run {} into {}: {} rows ({})",
            self.shards,
            self.run_id,
            out.display(),
            self.rows,
            self.format.name()
        )
    }
}

/// Sort key of a row: file, frame, face (a file's own row before its faces').
type Key = (String, Option<u64>, Option<usize>);

fn key_of(k: LineKey) -> Key {
    (k.file, k.frame, k.face)
}

/// One file of the shard family, by the suffix after `OUT.shard-`.
#[derive(Debug, Default)]
struct Found {
    data: bool,
    record: bool,
    partial: bool,
}

fn refuse(out: &Path, why: String) -> FerError {
    FerError::Dataset {
        path: out.to_path_buf(),
        reason: format!("not merged: {why}"),
    }
}

/// `(I, N, rest)` of a name `{base}.shard-I-of-N{rest}`.
fn parse_shard_name(name: &str, base: &str) -> Option<(usize, usize, String)> {
    let tail = name.strip_prefix(base)?.strip_prefix(".shard-")?;
    let (i, tail) = tail.split_once("-of-")?;
    let digits = tail.chars().take_while(char::is_ascii_digit).count();
    let (n, rest) = tail.split_at(digits);
    Some((i.parse().ok()?, n.parse().ok()?, rest.to_string()))
}

/// Merge the shards of `out`.
pub fn merge(out: &Path) -> Result<MergeSummary> {
    let dir = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let base = out
        .file_name()
        .ok_or_else(|| FerError::param("out", format!("{}: not a file name", out.display())))?
        .to_string_lossy()
        .into_owned();
    let mut found: BTreeMap<(usize, usize), Found> = BTreeMap::new();
    for entry in std::fs::read_dir(&dir).map_err(|e| FerError::io(&dir, e))? {
        let entry = entry.map_err(|e| FerError::io(&dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some((i, n, rest)) = parse_shard_name(&name, &base) else {
            continue;
        };
        let f = found.entry((i, n)).or_default();
        match rest.as_str() {
            "" => f.data = true,
            ".json" => f.record = true,
            _ => f.partial = true,
        }
    }
    let shard_path = |i: usize, n: usize| {
        let mut s = out.as_os_str().to_owned();
        s.push(format!(".shard-{i}-of-{n}"));
        PathBuf::from(s)
    };
    let name = |i: usize, n: usize| shard_path(i, n).display().to_string();
    if found.is_empty() {
        return Err(refuse(
            out,
            format!(
                "no shards found (looked for {}.shard-I-of-N)",
                out.display()
            ),
        ));
    }
    let counts: Vec<usize> = {
        let mut c: Vec<usize> = found.keys().map(|(_, n)| *n).collect();
        c.dedup();
        c
    };
    if counts.len() > 1 {
        return Err(refuse(
            out,
            format!(
                "shards of runs with different shard counts ({}); remove the other run's files",
                found
                    .keys()
                    .map(|(i, n)| name(*i, *n))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    let n = counts[0];
    if let Some((i, _)) = found.keys().find(|(i, _)| *i >= n) {
        return Err(refuse(
            out,
            format!("{} is not a shard of 0..{n}", name(*i, n)),
        ));
    }
    let mut records = Vec::with_capacity(n);
    for i in 0..n {
        let f = found.get(&(i, n));
        let record_path = RunRecord::path_for(&shard_path(i, n));
        match f {
            None => return Err(refuse(out, format!("shard {} is missing", name(i, n)))),
            Some(f) if !f.record => {
                return Err(refuse(
                    out,
                    format!(
                        "shard {} has no record ({} is missing)",
                        name(i, n),
                        record_path.display()
                    ),
                ))
            }
            Some(f) => {
                let r = RunRecord::read(&record_path)?;
                if !r.complete || !f.data {
                    return Err(refuse(
                        out,
                        format!(
                            "shard {} is incomplete (still running, or stopped: run its task again with --resume){}",
                            name(i, n),
                            if f.partial { "; its partial output is there" } else { "" }
                        ),
                    ));
                }
                if (r.shard, r.shards) != (i, n) {
                    return Err(refuse(
                        out,
                        format!(
                            "{} holds shard {}/{} (a copy under another name?)",
                            name(i, n),
                            r.shard,
                            r.shards
                        ),
                    ));
                }
                records.push(r);
            }
        }
    }
    let first = &records[0];
    for (i, r) in records.iter().enumerate() {
        if r.run_id != first.run_id || r.settings_hash != first.settings_hash {
            return Err(refuse(
                out,
                format!(
                    "{} is from another run (run {}, settings {}) than {} (run {}, settings {})",
                    name(i, n),
                    r.run_id,
                    r.settings_hash,
                    name(0, n),
                    first.run_id,
                    first.settings_hash
                ),
            ));
        }
    }
    let format = match first.settings.format.as_str() {
        "csv" => OutputFormat::Csv,
        "jsonl" => OutputFormat::Jsonl,
        "parquet" => OutputFormat::Parquet,
        f => {
            return Err(refuse(
                out,
                format!("unknown format `{f}` in {}", name(0, n)),
            ))
        }
    };
    let mut seen: HashMap<Key, usize> = HashMap::new();
    let mut check = |key: &Key, i: usize| -> Result<()> {
        if let Some(j) = seen.insert(key.clone(), i) {
            return Err(refuse(
                out,
                format!(
                    "a row of {}{}{} is in both {} and {} (doubled shard?)",
                    key.0,
                    key.1.map_or(String::new(), |f| format!(", frame {f}")),
                    key.2.map_or(String::new(), |f| format!(", face {f}")),
                    name(j, n),
                    name(i, n)
                ),
            ));
        }
        Ok(())
    };
    let count_mismatch = |i: usize, got: usize, want: Option<usize>| {
        refuse(
            out,
            format!(
                "{} holds {got} rows but its record says {} (changed after it was written?)",
                name(i, n),
                want.map_or("none".into(), |w| w.to_string())
            ),
        )
    };
    let tmp = tmp_path(out);
    let rows = match format {
        OutputFormat::Parquet => {
            let mut all: Vec<(Key, Row)> = Vec::new();
            let mut shape = None;
            for (i, record) in records.iter().enumerate() {
                let p = read_rows(&shard_path(i, n))?;
                if Some(p.rows.len()) != record.rows {
                    return Err(count_mismatch(i, p.rows.len(), record.rows));
                }
                for r in p.rows {
                    let key = (r.file.clone(), r.frame, r.face);
                    check(&key, i)?;
                    all.push((key, r));
                }
                shape.get_or_insert((p.classes, p.landmarks, p.metadata));
            }
            all.sort_by(|a, b| a.0.cmp(&b.0));
            let (classes, landmarks, mut metadata) = shape.unwrap_or_default();
            metadata.insert("fer.shards".into(), n.to_string());
            write_rows(
                &tmp,
                all.into_iter().map(|(_, r)| r),
                &classes,
                landmarks,
                &metadata,
            )?
        }
        OutputFormat::Csv | OutputFormat::Jsonl => {
            let mut header: Option<String> = None;
            let mut all: Vec<(Key, String)> = Vec::new();
            for (i, record) in records.iter().enumerate() {
                let path = shard_path(i, n);
                let text = std::fs::read_to_string(&path).map_err(|e| FerError::io(&path, e))?;
                let mut lines = text.split_inclusive('\n');
                if format == OutputFormat::Csv {
                    let h = lines.next().unwrap_or("").to_string();
                    match &header {
                        Some(first) if *first != h => {
                            return Err(refuse(
                                out,
                                format!("{}'s header differs from {}'s", name(i, n), name(0, n)),
                            ))
                        }
                        _ => header = Some(h),
                    }
                }
                let mut count = 0;
                for line in lines {
                    let key = parse_key(line, format).ok_or_else(|| {
                        refuse(
                            out,
                            format!("{} holds a line that is not a row: {line:?}", name(i, n)),
                        )
                    })?;
                    let key = key_of(key);
                    check(&key, i)?;
                    all.push((key, line.to_string()));
                    count += 1;
                }
                if Some(count) != record.rows {
                    return Err(count_mismatch(i, count, record.rows));
                }
            }
            all.sort_by(|a, b| a.0.cmp(&b.0));
            let file = std::fs::File::create(&tmp).map_err(|e| FerError::io(&tmp, e))?;
            let mut w = std::io::BufWriter::new(file);
            let io = |e| FerError::io(&tmp, e);
            if let Some(h) = &header {
                w.write_all(h.as_bytes()).map_err(io)?;
            }
            for (_, line) in &all {
                w.write_all(line.as_bytes()).map_err(io)?;
            }
            w.into_inner()
                .map_err(|e| FerError::io(&tmp, e.into_error()))?
                .sync_all()
                .map_err(io)?;
            all.len()
        }
    };
    std::fs::rename(&tmp, out).map_err(|e| FerError::io(out, e))?;
    Ok(MergeSummary {
        shards: n,
        rows,
        format,
        run_id: first.run_id.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_shard_names() {
        assert_eq!(
            parse_shard_name("r.csv.shard-2-of-4", "r.csv"),
            Some((2, 4, String::new()))
        );
        assert_eq!(
            parse_shard_name("r.csv.shard-2-of-4.json", "r.csv"),
            Some((2, 4, ".json".into()))
        );
        assert_eq!(parse_shard_name("r.csv.shard-x-of-4", "r.csv"), None);
        assert_eq!(parse_shard_name("other.csv.shard-1-of-2", "r.csv"), None);
    }
}
