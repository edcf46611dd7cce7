//! `--files-from LIST`: the inputs of a batch from a file, so that a cluster's
//! tasks do not each walk a million-file tree. A `.csv` file is a manifest with
//! a `path` column, resolved against the manifest's folder as `fer train --data`
//! does; anything else is a plain list, one path per line as written (relative
//! to the working directory), blank lines and `#` comments skipped.

use crate::error::{FerError, Result};
use std::io::BufRead;
use std::path::{Path, PathBuf};

/// The paths listed in `list`.
pub fn read_file_list(list: &Path) -> Result<Vec<PathBuf>> {
    let is_csv = list
        .extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    if is_csv {
        read_manifest_paths(list)
    } else {
        read_plain_list(list)
    }
}

fn read_plain_list(list: &Path) -> Result<Vec<PathBuf>> {
    let file = std::fs::File::open(list).map_err(|e| FerError::io(list, e))?;
    let mut out = Vec::new();
    for (i, line) in std::io::BufReader::new(file).lines().enumerate() {
        let line = line.map_err(|e| FerError::Dataset {
            path: list.to_path_buf(),
            reason: format!("line {}: {e}", i + 1),
        })?;
        let line = line.trim_end_matches('\r');
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        out.push(PathBuf::from(line));
    }
    Ok(out)
}

fn read_manifest_paths(list: &Path) -> Result<Vec<PathBuf>> {
    let err = |reason: String| FerError::Dataset {
        path: list.to_path_buf(),
        reason,
    };
    let base = list.parent().unwrap_or(Path::new("."));
    let mut rdr = csv::Reader::from_path(list).map_err(|e| err(e.to_string()))?;
    let headers = rdr.headers().map_err(|e| err(e.to_string()))?.clone();
    let col = headers.iter().position(|h| h == "path").ok_or_else(|| {
        err("no `path` column (a plain list of paths needs another extension than .csv)".into())
    })?;
    let mut out = Vec::new();
    for (i, rec) in rdr.records().enumerate() {
        let rec = rec.map_err(|e| err(format!("row {}: {e}", i + 2)))?;
        match rec.get(col) {
            Some(p) if !p.is_empty() => out.push(base.join(p)),
            _ => return Err(err(format!("row {}: empty path", i + 2))),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_plain_lists_and_manifests() {
        let dir = tempfile::tempdir().unwrap();
        let list = dir.path().join("list.txt");
        std::fs::write(&list, "a.png\r\n\n# comment\n  sub/b b.jpg\n").unwrap();
        assert_eq!(
            read_file_list(&list).unwrap(),
            vec![PathBuf::from("a.png"), PathBuf::from("  sub/b b.jpg")]
        );
        let csv = dir.path().join("m.csv");
        std::fs::write(&csv, "dataset,path\nx,img/a.png\n").unwrap();
        assert_eq!(
            read_file_list(&csv).unwrap(),
            vec![dir.path().join("img/a.png")]
        );
        std::fs::write(&csv, "dataset,file\nx,a.png\n").unwrap();
        assert!(read_file_list(&csv)
            .unwrap_err()
            .to_string()
            .contains("path"));
        assert!(read_file_list(&dir.path().join("missing.txt"))
            .unwrap_err()
            .to_string()
            .contains("missing.txt"));
    }
}
