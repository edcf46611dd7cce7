//! Files that change between listing and reading (RELIABILITY.md): `fer batch`
//! lists its inputs, then reads them one by one. While it reads a video first, one
//! listed image is deleted, one is overwritten with text, and one is replaced by
//! another picture. The first two become error rows naming the file and the
//! reason, the third is read as it now is, the rest of the run is untouched, and
//! a `--resume` afterwards keeps every row once.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The batch, run twice: one thread, so that the video is read before the rest.
const BATCH: [&str; 8] = [
    "batch",
    "in",
    "--threads",
    "1",
    "--every",
    "5",
    "--out",
    "rows.csv",
];

/// How long the test waits for the batch to finish listing (its partial output
/// appears once it has).
const LISTING_WAIT: Duration = Duration::from_secs(60);

fn rows_of<'a>(rows: &'a [Vec<String>], name: &str) -> Vec<&'a Vec<String>> {
    rows.iter().filter(|r| r[0].ends_with(name)).collect()
}

#[test]
fn files_deleted_or_replaced_after_listing_become_rows_that_say_so() {
    let Some(data) =
        common::shared_data("files_deleted_or_replaced_after_listing_become_rows_that_say_so")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    // Read first (names sort), and long enough to change the rest while it is read.
    std::fs::copy(data.join("video/Megamind.avi"), input.join("a_video.avi")).unwrap();
    for name in [
        "b_deleted.jpg",
        "c_text.jpg",
        "d_replaced.jpg",
        "e_kept.jpg",
    ] {
        std::fs::copy(common::sample("justin.jpg"), input.join(name)).unwrap();
    }
    let out = dir.path().join("rows.csv");
    let mut child = Command::new(env!("CARGO_BIN_EXE_fer"))
        .args(BATCH)
        .current_dir(dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let partial = dir.path().join("rows.csv.partial");
    let waited = Instant::now();
    while !partial.exists() {
        assert!(waited.elapsed() < LISTING_WAIT, "no partial output");
        assert!(child.try_wait().unwrap().is_none(), "ended before reading");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::fs::remove_file(input.join("b_deleted.jpg")).unwrap();
    std::fs::write(input.join("c_text.jpg"), "not a picture any more\n").unwrap();
    std::fs::copy(
        common::sample("astronaut.png"),
        input.join("d_replaced.jpg"),
    )
    .unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "two files failed: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(out.exists() && !partial.exists());

    let rows = common::rows_without_times(&out);
    let deleted = rows_of(&rows, "b_deleted.jpg");
    assert_eq!(deleted.len(), 1);
    assert_eq!(deleted[0][1], "error");
    assert!(
        deleted[0]
            .iter()
            .any(|c| c.contains("b_deleted.jpg") && c.contains("No such file")),
        "{:?}",
        deleted[0]
    );
    let text = rows_of(&rows, "c_text.jpg");
    assert_eq!(text.len(), 1);
    assert_eq!(text[0][1], "error");
    assert!(
        text[0]
            .iter()
            .any(|c| c.contains("c_text.jpg") && c.contains("not a recognised image")),
        "{:?}",
        text[0]
    );
    // Read as it is now: the same rows as the replacement read on its own.
    let alone = read_alone(dir.path(), &common::sample("astronaut.png"));
    let replaced: Vec<Vec<String>> = rows_of(&rows, "d_replaced.jpg")
        .into_iter()
        .map(|r| r[1..].to_vec())
        .collect();
    assert_eq!(replaced, alone);
    assert_eq!(rows_of(&rows, "e_kept.jpg")[0][1], "ok");
    // Megamind.avi has 270 frames: every 5th gives at least one row.
    assert!(rows_of(&rows, "a_video.avi").len() >= 270 / 5);

    // A resume over the finished output reads nothing again and doubles nothing.
    let resumed = Command::new(env!("CARGO_BIN_EXE_fer"))
        .args(BATCH)
        .arg("--resume")
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(resumed.status.code(), Some(1));
    assert_eq!(common::rows_without_times(&out), rows);
}

/// The rows of `image` read on its own, without their file column.
fn read_alone(dir: &Path, image: &Path) -> Vec<Vec<String>> {
    let out = dir.join("alone.csv");
    let status = Command::new(env!("CARGO_BIN_EXE_fer"))
        .arg("batch")
        .arg(image)
        .arg("--out")
        .arg(&out)
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    common::rows_without_times(&out)
        .into_iter()
        .map(|r| r[1..].to_vec())
        .collect()
}
