//! Crash tests for `fer batch` (RELIABILITY.md): SIGKILL a batch at points spread
//! over a whole run — start-up, listing, mid-image, mid-video, the final rename —
//! then `--resume` it to the end, and compare with an uninterrupted run: the same
//! rows, none doubled, none cut short, and the output file never half-written (at
//! every kill it is either absent or whole). For CSV, JSON lines, Parquet, and one
//! shard of a sharded run. And `fer train` killed over a run over an existing model:
//! the model under the output name stays whole and loadable.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Kill points per format: spread evenly over the length of an uninterrupted run.
const KILL_POINTS: usize = 20;
/// Tries of a kill point whose run ended before the kill, each this much earlier.
const RETRIES: usize = 5;
const RETRY_EARLIER: f64 = 0.8;

/// A batch over the mixed inputs of [`common::batch_inputs`], in `dir`, one thread so
/// that the run is long enough to be hit at many points.
fn batch(dir: &Path, out: &str, extra: &[&str]) -> Command {
    let mut c = common::fer_in(dir);
    c.args([
        "batch",
        "--files-from",
        "list.txt",
        "--threads",
        "1",
        "--out",
        out,
    ])
    .args(extra)
    .stdout(Stdio::null())
    .stderr(Stdio::null());
    c
}

/// The rows of an output without stage times, sorted: what two runs must agree on.
/// Reading them fails on a partial row.
fn rows(path: &Path, format: &str) -> Vec<String> {
    match format {
        "csv" => common::rows_without_times(path)
            .into_iter()
            .map(|r| r.join(","))
            .collect(),
        "jsonl" => {
            let text = std::fs::read_to_string(path).unwrap();
            let mut rows: Vec<String> = text
                .lines()
                .map(|l| {
                    let mut v: serde_json::Value = serde_json::from_str(l).unwrap_or_else(|e| {
                        panic!("a partial JSON line in {}: {e}: {l}", path.display())
                    });
                    if let Some(m) = v.as_object_mut() {
                        m.remove("ms"); // the stage times
                    }
                    v.to_string()
                })
                .collect();
            rows.sort();
            rows
        }
        "parquet" => rows_of_parquet(path),
        _ => unreachable!(),
    }
}

/// A Parquet output's rows, read by fer's own reader, stage times left out.
fn rows_of_parquet(path: &Path) -> Vec<String> {
    let read = fer::batch::columnar::read_rows(path)
        .unwrap_or_else(|e| panic!("{} is not whole Parquet: {e}", path.display()));
    let mut rows: Vec<String> = read
        .rows
        .into_iter()
        .map(|mut r| {
            r.times = Default::default();
            format!("{r:?}")
        })
        .collect();
    rows.sort();
    rows
}

/// SIGKILL `cmd` after `after`; whether it was still running then.
fn kill_after(mut cmd: Command, after: Duration) -> bool {
    let mut child = cmd.spawn().unwrap();
    let start = Instant::now();
    while start.elapsed() < after {
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let running = child.try_wait().unwrap().is_none();
    child.kill().ok(); // SIGKILL
    child.wait().unwrap();
    running
}

/// Try a kill `after` a while: a run may be quicker than the measured one and end
/// before its kill, so `attempt` (which starts a run from nothing and says whether
/// the kill landed mid-run) is tried again a little earlier, up to [`RETRIES`] times.
/// Whether a kill landed.
fn kill_mid_run(after: Duration, mut attempt: impl FnMut(Duration) -> bool) -> bool {
    let mut after = after;
    for _ in 0..RETRIES {
        if attempt(after) {
            return true;
        }
        after = after.mul_f64(RETRY_EARLIER);
    }
    false
}

/// The sweep for one output `format` (`out` names the file; `extra` the options).
fn sweep(format: &str, out: &str, extra: &[&str]) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    common::batch_inputs(d, 40, 10..16);
    // The uninterrupted run, and its length.
    let whole = format!("whole-{out}");
    let start = Instant::now();
    let status = batch(d, &whole, extra).status().unwrap();
    let length = start.elapsed();
    // 1 where the share holds the broken image (output complete), else 0.
    let code = status.code();
    assert!(matches!(code, Some(0 | 1)), "{code:?}");
    let whole_path = final_path(d, &whole, extra);
    let expected = rows(&whole_path, format);
    assert!(expected.len() > 20, "{} rows", expected.len());

    let mut killed_mid_run = 0;
    for point in 1..=KILL_POINTS {
        let trial = d.join(format!("trial-{point}"));
        let after = length.mul_f64(point as f64 / (KILL_POINTS + 1) as f64);
        let landed = kill_mid_run(after, |after| {
            // Each trial starts from nothing, in its own folder, with the same inputs.
            if trial.exists() {
                std::fs::remove_dir_all(&trial).unwrap();
            }
            std::fs::create_dir(&trial).unwrap();
            for entry in ["in", "list.txt"] {
                std::os::unix::fs::symlink(d.join(entry), trial.join(entry)).unwrap();
            }
            kill_after(batch(&trial, out, extra), after)
        });
        killed_mid_run += landed as usize;
        let out_path = final_path(&trial, out, extra);
        if out_path.exists() {
            // Never half-written: where it exists, it is whole.
            assert_eq!(
                rows(&out_path, format),
                expected,
                "kill point {point}: {out} exists but is not whole"
            );
        }
        let status = batch(&trial, out, extra).arg("--resume").status().unwrap();
        assert_eq!(status.code(), code, "kill point {point}: resume");
        let got = rows(&out_path, format);
        if got != expected {
            let missing: Vec<&String> = expected
                .iter()
                .filter(|r| !got.contains(r))
                .take(3)
                .collect();
            let extra: Vec<&String> = got
                .iter()
                .filter(|r| !expected.contains(r))
                .take(3)
                .collect();
            panic!(
                "kill point {point} ({after:?} of {length:?}): {} rows, expected {}; missing {missing:?}; unexpected {extra:?}",
                got.len(),
                expected.len()
            );
        }
    }
    assert_eq!(
        killed_mid_run, KILL_POINTS,
        "kills that landed before the run ended"
    );
    eprintln!("{format}: {killed_mid_run} of {KILL_POINTS} kills mid-run survived (run length {length:?})");
}

/// Where a run's output lands: `out`, or for a shard `out.shard-I-of-N`.
fn final_path(dir: &Path, out: &str, extra: &[&str]) -> PathBuf {
    match extra.iter().position(|a| *a == "--shard") {
        Some(i) => {
            let (index, count) = extra[i + 1].split_once('/').unwrap();
            dir.join(format!("{out}.shard-{index}-of-{count}"))
        }
        None => dir.join(out),
    }
}

#[test]
fn a_csv_batch_killed_at_twenty_points_resumes_to_the_same_rows() {
    sweep("csv", "rows.csv", &[]);
}

#[test]
fn a_jsonl_batch_killed_at_twenty_points_resumes_to_the_same_rows() {
    sweep("jsonl", "rows.jsonl", &["--format", "jsonl"]);
}

#[test]
fn a_parquet_batch_killed_at_twenty_points_resumes_to_the_same_rows() {
    sweep("parquet", "rows.parquet", &["--format", "parquet"]);
}

#[test]
fn a_shard_killed_at_twenty_points_resumes_to_the_same_rows() {
    sweep("csv", "rows.csv", &["--shard", "1/2", "--video-chunk", "8"]);
}

/// Kill points of a `fer train` run (each a full training, so fewer than for batch).
const TRAIN_KILL_POINTS: usize = 6;

#[test]
fn fer_train_killed_at_any_point_leaves_the_previous_model_whole() {
    let Some(data) =
        common::shared_data("fer_train_killed_at_any_point_leaves_the_previous_model_whole")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ck = data.join("ckplus48");
    let train = |out: &Path| {
        let mut c = Command::new(env!("CARGO_BIN_EXE_fer"));
        c.args([
            "train",
            "--no-detect",
            "--classes",
            "happy,surprise",
            "--epochs",
            "30",
        ])
        .arg("--data")
        .arg(&ck)
        .arg("--out")
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        c
    };
    // The model a user already has, and how long a training takes.
    let out = d.join("model.safetensors");
    let start = Instant::now();
    assert!(train(&out).status().unwrap().success());
    let length = start.elapsed();
    let previous = std::fs::read(&out).unwrap();
    let (mut killed_mid_run, mut kept_new) = (0, 0);
    for point in 1..=TRAIN_KILL_POINTS {
        let after = length.mul_f64(point as f64 / (TRAIN_KILL_POINTS + 1) as f64);
        killed_mid_run += kill_mid_run(after, |after| kill_after(train(&out), after)) as usize;
        // Whole and loadable: the previous model, or (killed after the rename) a new one.
        let loaded = fer::model::Model::load(&out);
        assert!(loaded.is_ok(), "kill point {point}: {:?}", loaded.err());
        if std::fs::read(&out).unwrap() != previous {
            kept_new += 1;
        }
        let names = common::file_names(d);
        assert!(
            names
                .iter()
                .all(|n| n == "model.safetensors" || n.ends_with(".partial")),
            "kill point {point}: {names:?}"
        );
    }
    assert_eq!(
        killed_mid_run, TRAIN_KILL_POINTS,
        "kills that landed before the run ended"
    );
    eprintln!(
        "train: {killed_mid_run} of {TRAIN_KILL_POINTS} kills mid-run, the model stayed whole \
         ({kept_new} times a new one, killed after its rename; run length {length:?})"
    );
}

/// Kill points for `fer live` and `fer compare`.
const OTHER_KILL_POINTS: usize = 5;

/// SIGKILL `make()`'s run at [`OTHER_KILL_POINTS`] points spread over `length`,
/// calling `check(point)` after each kill; how many kills landed mid-run.
fn kill_sweep(length: Duration, make: impl Fn() -> Command, check: impl Fn(usize)) -> usize {
    let mut landed = 0;
    for point in 1..=OTHER_KILL_POINTS {
        let after = length.mul_f64(point as f64 / (OTHER_KILL_POINTS + 1) as f64);
        landed += kill_mid_run(after, |after| kill_after(make(), after)) as usize;
        check(point);
    }
    landed
}

#[test]
fn fer_live_killed_at_any_point_keeps_the_earlier_outputs_and_whole_lines() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    common::write_video(&d.join("in.avi"), &common::justin_frames(150, 40..60));
    let live = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_fer"));
        c.args([
            "live", "--source", "in.avi", "--jsonl", "t.jsonl", "--record", "r.avi",
        ])
        .current_dir(&d)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        c
    };
    let start = Instant::now();
    assert!(live().status().unwrap().success());
    let length = start.elapsed();
    let (timeline, video) = (
        std::fs::read(d.join("t.jsonl")).unwrap(),
        std::fs::read(d.join("r.avi")).unwrap(),
    );
    let landed = kill_sweep(length, live, |point| {
        // The outputs are the earlier ones, or whole new ones (killed after their rename).
        let now = std::fs::read(d.join("t.jsonl")).unwrap();
        assert!(
            now == timeline || now.ends_with(b"\n"),
            "kill point {point}"
        );
        assert_eq!(std::fs::read(d.join("r.avi")).unwrap().len(), video.len());
        // The partial timeline holds whole lines, one frame's at a time.
        if let Ok(partial) = std::fs::read_to_string(d.join("t.jsonl.partial")) {
            assert!(
                partial.is_empty() || partial.ends_with('\n'),
                "kill point {point}"
            );
            for line in partial.lines() {
                let r: Result<fer::live::FaceRecord, _> = serde_json::from_str(line);
                assert!(r.is_ok(), "kill point {point}: {line}");
            }
        }
        let names = common::file_names(&d);
        assert!(
            names.iter().all(|n| [
                "in.avi",
                "t.jsonl",
                "t.jsonl.partial",
                "r.avi",
                "r.partial.avi"
            ]
            .contains(&n.as_str())),
            "kill point {point}: {names:?}"
        );
    });
    assert_eq!(landed, OTHER_KILL_POINTS, "kills that landed mid-run");
    eprintln!("live: {landed} kills mid-run (run length {length:?}), outputs whole");
}

#[test]
fn fer_compare_killed_at_any_point_leaves_its_table_whole() {
    let Some(data) = common::shared_data("fer_compare_killed_at_any_point_leaves_its_table_whole")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_path_buf();
    let ck = data.join("ckplus48");
    let compare = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_fer"));
        c.args([
            "compare",
            "--no-detect",
            "--classes",
            "happy,surprise",
            "--cv",
            "2",
            "--models",
            "logistic,forest",
            "--json",
            "cmp.json",
            "--plot",
            "cmp.png",
        ])
        .arg("--data")
        .arg(&ck)
        .current_dir(&d)
        .stdout(Stdio::null())
        .stderr(Stdio::null());
        c
    };
    let start = Instant::now();
    assert!(compare().status().unwrap().success());
    let length = start.elapsed();
    let landed =
        kill_sweep(length, compare, |point| {
            let table = std::fs::read_to_string(d.join("cmp.json")).unwrap();
            let parsed: Result<fer::compare::Comparison, _> = serde_json::from_str(&table);
            assert!(parsed.is_ok(), "kill point {point}");
            assert!(image::open(d.join("cmp.png")).is_ok(), "kill point {point}");
            let names = common::file_names(&d);
            assert!(
                names.iter().all(|n| n.starts_with("cmp.")
                    && (!n.contains("partial") || n.ends_with(".partial"))),
                "kill point {point}: {names:?}"
            );
        });
    assert_eq!(landed, OTHER_KILL_POINTS, "kills that landed mid-run");
    eprintln!("compare: {landed} kills mid-run (run length {length:?}), table whole");
}
