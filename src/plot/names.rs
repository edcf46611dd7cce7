//! File names of pictures: safe characters, and where a transition matrix goes.

use std::path::Path;

/// Where the transition matrix of `source` goes beside the confusion picture `plot`:
/// `confusion.png` and source `fer2013` give `confusion-transition-fer2013.png`
/// (characters other than letters, digits, `-`, `_` and `.` become `_`).
pub fn transition_picture_path(plot: &Path, source: &str) -> std::path::PathBuf {
    let safe = safe_file_name(source);
    let stem = plot.file_stem().map_or_else(
        || "confusion".to_string(),
        |s| s.to_string_lossy().into_owned(),
    );
    let ext = plot
        .extension()
        .map_or_else(|| "png".to_string(), |e| e.to_string_lossy().into_owned());
    plot.with_file_name(format!("{stem}-transition-{safe}.{ext}"))
}

/// `s` with every character other than letters, digits, `.`, `_` and `-` made `_`,
/// so that it can stand in a file name.
pub fn safe_file_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}
