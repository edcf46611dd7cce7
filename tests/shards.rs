//! Sharded batches as a cluster runs them, without the cluster: `fer batch
//! --shard I/N` (or Slurm's array variables), `fer merge`, `--files-from`,
//! Parquet output, and the merge's refusals. `tests/slurm.rs` runs the same
//! through a real Slurm.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Output;

fn fer(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = common::fer_in(dir);
    c.args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

/// A run that completed: exit 0, or 1 when some file failed (the inputs hold a broken image).
fn ok(out: Output) -> Output {
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A folder with the shipped samples, a broken image, a 30-frame video of Justin
/// that is black for frames 7..13, and a list of all of them
/// ([`common::batch_inputs`]). Returns the folder and the list's name.
fn inputs() -> (tempfile::TempDir, &'static str) {
    let dir = tempfile::tempdir().unwrap();
    common::batch_inputs(dir.path(), 30, 7..13);
    (dir, "list.txt")
}

/// Start `fer ARGS` in `dir` and SIGKILL it once `partial` holds `lines` lines
/// (so that it dies mid-run, with some rows on disk).
fn kill_after_rows(dir: &Path, args: &[&str], partial: &Path, lines: usize) {
    let mut child = common::fer_in(dir)
        .args(args)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while std::fs::read_to_string(partial).map_or(0, |t| t.lines().count()) < lines {
        assert!(started.elapsed().as_secs() < 60, "no rows written");
        assert!(
            child.try_wait().unwrap().is_none(),
            "ended before it was killed"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
}

/// Small video ranges, each starting a block of full-search frames (`fer::tracked`),
/// so that sharded reading searches each frame as reading whole does.
const SMALL_CHUNKS: [&str; 4] = ["--video-chunk", "8", "--search-every", "8"];

#[test]
fn merged_shards_equal_one_run_for_one_two_and_three_shards() {
    let (dir, list) = inputs();
    let d = dir.path();
    ok(fer(
        d,
        &[
            "batch",
            "--files-from",
            list,
            "--out",
            "one.csv",
            "--search-every",
            "8",
        ],
        &[],
    ));
    let want = common::rows_without_times(&d.join("one.csv"));
    assert_eq!(want.len(), 5 + 1 + 30, "5 images, a broken one, 30 frames");
    for n in [1, 2, 3] {
        let out = format!("sharded-{n}.csv");
        for i in 0..n {
            let shard = format!("{i}/{n}");
            let args = [
                "batch",
                "--files-from",
                list,
                "--out",
                &out,
                "--shard",
                &shard,
            ];
            let run = ok(fer(d, &[&args[..], &SMALL_CHUNKS].concat(), &[]));
            assert!(
                stderr(&run).contains(&format!("shard {shard} (from --shard)")),
                "{}",
                stderr(&run)
            );
            assert!(d.join(format!("{out}.shard-{i}-of-{n}")).exists());
        }
        let merged = ok(fer(d, &["merge", &out], &[]));
        assert!(
            stderr(&merged).contains(&format!("merged {n} shards")),
            "{}",
            stderr(&merged)
        );
        assert_eq!(
            common::rows_without_times(&d.join(&out)),
            want,
            "{n} shards"
        );
    }
}

#[test]
fn slurm_array_variables_choose_the_shard_and_bad_ones_are_refused() {
    let (dir, list) = inputs();
    let d = dir.path();
    let env = [
        ("SLURM_ARRAY_JOB_ID", "77"),
        ("SLURM_ARRAY_TASK_ID", "1"),
        ("SLURM_ARRAY_TASK_MIN", "0"),
        ("SLURM_ARRAY_TASK_MAX", "1"),
        ("SLURM_ARRAY_TASK_COUNT", "2"),
    ];
    let run = ok(fer(
        d,
        &["batch", "--files-from", list, "--out", "r.csv"],
        &env,
    ));
    assert!(
        stderr(&run).contains("shard 1/2 (from the Slurm array task 77_1)"),
        "{}",
        stderr(&run)
    );
    assert!(d.join("r.csv.shard-1-of-2").exists() && !d.join("r.csv").exists());
    let record: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(d.join("r.csv.shard-1-of-2.json")).unwrap())
            .unwrap();
    assert_eq!(record["complete"], true);
    assert_eq!(record["slurm_job"], "77_1");
    // A missing count is a clear error, before any work.
    let bad = fer(
        d,
        &["batch", "--files-from", list, "--out", "r.csv"],
        &env[..4],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        stderr(&bad).contains("SLURM_ARRAY_TASK_COUNT"),
        "{}",
        stderr(&bad)
    );
    // --shard wins over the environment.
    let run = ok(fer(
        d,
        &[
            "batch",
            "--files-from",
            list,
            "--out",
            "r.csv",
            "--shard",
            "0/2",
        ],
        &env,
    ));
    assert!(stderr(&run).contains("shard 0/2 (from --shard)"));
    // Sharding needs --out; a wrong --shard is refused by the argument parser.
    let no_out = fer(d, &["batch", "in", "--shard", "0/2"], &[]);
    assert_eq!(no_out.status.code(), Some(2));
    assert!(stderr(&no_out).contains("--out"), "{}", stderr(&no_out));
    let wrong = fer(d, &["batch", "in", "--out", "x.csv", "--shard", "2/2"], &[]);
    assert_eq!(wrong.status.code(), Some(2));
    assert!(stderr(&wrong).contains("below N"), "{}", stderr(&wrong));
}

#[test]
fn merge_refuses_missing_incomplete_foreign_and_doubled_shards() {
    let (dir, list) = inputs();
    let d = dir.path();
    let shard = |i: usize, extra: &[&str]| {
        let s = format!("{i}/2");
        let args = [
            "batch",
            "--files-from",
            list,
            "--out",
            "m.csv",
            "--shard",
            &s,
        ];
        ok(fer(d, &[&args[..], extra].concat(), &[]));
    };
    let refused = |why: &str| {
        let out = fer(d, &["merge", "m.csv"], &[]);
        assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
        assert!(
            stderr(&out).contains(why),
            "want {why:?} in {}",
            stderr(&out)
        );
        assert!(!d.join("m.csv").exists(), "nothing written");
    };
    refused("no shards found");
    shard(0, &[]);
    refused("shard m.csv.shard-1-of-2 is missing");
    shard(1, &[]);
    // Incomplete: the task was killed before its output was moved into place.
    let data1 = d.join("m.csv.shard-1-of-2");
    std::fs::rename(&data1, d.join("m.csv.shard-1-of-2.partial")).unwrap();
    let rec1 = d.join("m.csv.shard-1-of-2.json");
    let complete = std::fs::read_to_string(&rec1).unwrap();
    std::fs::write(
        &rec1,
        complete.replace("\"complete\": true", "\"complete\": false"),
    )
    .unwrap();
    refused("m.csv.shard-1-of-2 is incomplete");
    // Another run: other settings.
    std::fs::remove_file(d.join("m.csv.shard-1-of-2.partial")).unwrap();
    shard(1, &["--every", "2"]);
    refused("m.csv.shard-1-of-2 is from another run");
    // Doubled: shard 0's rows also in shard 1 (its record adjusted to match).
    shard(1, &[]);
    let data0 = std::fs::read_to_string(d.join("m.csv.shard-0-of-2")).unwrap();
    let data1_text = std::fs::read_to_string(&data1).unwrap();
    let extra = data0.lines().nth(1).unwrap();
    std::fs::write(&data1, format!("{data1_text}{extra}\n")).unwrap();
    let mut rec: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&rec1).unwrap()).unwrap();
    rec["rows"] = (rec["rows"].as_u64().unwrap() + 1).into();
    std::fs::write(&rec1, rec.to_string()).unwrap();
    refused("is in both m.csv.shard-0-of-2 and m.csv.shard-1-of-2");
    // A leftover shard of a run with another N.
    shard(1, &[]);
    std::fs::write(d.join("m.csv.shard-0-of-3"), "").unwrap();
    refused("different shard counts");
    std::fs::remove_file(d.join("m.csv.shard-0-of-3")).unwrap();
    ok(fer(d, &["merge", "m.csv"], &[]));
}

#[test]
fn a_killed_shard_resumes_to_the_same_rows_and_refuses_another_runs_partial() {
    let (dir, list) = inputs();
    let d = dir.path();
    // A longer video, so that the task is still running when it is killed.
    common::write_video(&d.join("in/clip.avi"), &common::justin_frames(120, 40..50));
    ok(fer(
        d,
        &["batch", "--files-from", list, "--out", "one.csv"],
        &[],
    ));
    let args = [
        "batch",
        "--files-from",
        list,
        "--out",
        "k.csv",
        "--shard",
        "0/1",
        "--threads",
        "1",
    ];
    let partial = d.join("k.csv.shard-0-of-1.partial");
    kill_after_rows(d, &args, &partial, 4);
    assert!(!d.join("k.csv.shard-0-of-1").exists(), "never half-written");
    // Another run's settings: refused, the partial kept.
    let other = fer(d, &[&args[..], &["--resume", "--every", "3"]].concat(), &[]);
    assert_eq!(other.status.code(), Some(2));
    assert!(stderr(&other).contains("another run"), "{}", stderr(&other));
    assert!(partial.exists());
    let resumed = ok(fer(d, &[&args[..], &["--resume"]].concat(), &[]));
    assert!(
        stderr(&resumed).contains("resuming from"),
        "{}",
        stderr(&resumed)
    );
    ok(fer(d, &["merge", "k.csv"], &[]));
    assert_eq!(
        common::rows_without_times(&d.join("k.csv")),
        common::rows_without_times(&d.join("one.csv"))
    );
}

/// Parquet columns of `path`: (file, frame, face) -> (status, label, box, probabilities).
type Key = (String, Option<u64>, Option<usize>);
type Value = (String, Option<String>, Option<[i32; 4]>, Vec<f32>);

fn parquet_rows(path: &Path) -> BTreeMap<Key, Value> {
    let p = fer::batch::columnar::read_rows(path).unwrap();
    p.rows
        .into_iter()
        .map(|r| {
            (
                (r.file, r.frame, r.face),
                (
                    r.status.as_str().to_string(),
                    r.label,
                    r.bbox,
                    r.probabilities,
                ),
            )
        })
        .collect()
}

#[test]
fn parquet_output_round_trips_and_merges() {
    let (dir, list) = inputs();
    let d = dir.path();
    ok(fer(
        d,
        &[
            "batch",
            "--files-from",
            list,
            "--out",
            "one.jsonl",
            "--search-every",
            "8",
            "--format",
            "jsonl",
            "--landmarks",
        ],
        &[],
    ));
    ok(fer(
        d,
        &[
            "batch",
            "--files-from",
            list,
            "--out",
            "one.parquet",
            "--search-every",
            "8",
            "--format",
            "parquet",
            "--landmarks",
        ],
        &[],
    ));
    // The JSON lines, read back into rows, equal the Parquet rows.
    let p = fer::batch::columnar::read_rows(&d.join("one.parquet")).unwrap();
    assert!(p.landmarks);
    let settings: serde_json::Value =
        serde_json::from_str(&p.metadata[fer::batch::columnar::SETTINGS_KEY]).unwrap();
    assert_eq!(settings["format"], "parquet");
    let jsonl = std::fs::read_to_string(d.join("one.jsonl")).unwrap();
    let mut from_json: Vec<fer::batch::Row> = jsonl
        .lines()
        .map(|l| fer::batch::row_from_json(&serde_json::from_str(l).unwrap(), &p.classes).unwrap())
        .collect();
    let mut from_parquet = p.rows.clone();
    let key = |r: &fer::batch::Row| (r.file.clone(), r.frame, r.face);
    from_json.sort_by_key(key);
    from_parquet.sort_by_key(key);
    assert_eq!(from_json.len(), from_parquet.len());
    for (a, b) in from_json.iter().zip(&from_parquet) {
        assert_eq!(
            (&a.file, a.frame, a.face, a.status, a.bbox),
            (&b.file, b.frame, b.face, b.status, b.bbox)
        );
        assert_eq!((&a.label, &a.error, a.faces), (&b.label, &b.error, b.faces));
        assert_eq!(a.probabilities, b.probabilities);
        assert_eq!(a.landmarks, b.landmarks);
        assert_eq!(a.t, b.t);
    }
    assert!(from_parquet
        .iter()
        .any(|r| r.landmarks.as_ref().is_some_and(|l| l.len() == 21)));
    // Sharded Parquet merges to the same rows.
    for i in 0..2 {
        let s = format!("{i}/2");
        let args = [
            "batch",
            "--files-from",
            list,
            "--out",
            "s.parquet",
            "--format",
            "parquet",
            "--landmarks",
            "--shard",
            &s,
        ];
        ok(fer(d, &[&args[..], &SMALL_CHUNKS].concat(), &[]));
    }
    ok(fer(d, &["merge", "s.parquet"], &[]));
    assert_eq!(
        parquet_rows(&d.join("s.parquet")),
        parquet_rows(&d.join("one.parquet"))
    );
    // Parquet needs a file.
    let out = fer(d, &["batch", "in", "--format", "parquet"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--out"));
}

#[test]
fn files_from_reads_a_manifest_relative_to_its_folder() {
    let (dir, _) = inputs();
    let d = dir.path();
    std::fs::write(
        d.join("in/m.csv"),
        "dataset,path\nx,justin.jpg\nx,no-faces.jpg\n",
    )
    .unwrap();
    let out = ok(fer(d, &["batch", "--files-from", "in/m.csv"], &[]));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.lines().count(), 3, "{text}");
    assert!(text.contains(&PathBuf::from("in").join("justin.jpg").display().to_string()));
    let missing = fer(d, &["batch", "--files-from", "nope.txt"], &[]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(stderr(&missing).contains("nope.txt"));
}

#[test]
fn a_killed_parquet_batch_resumes_from_its_spool_and_from_a_finished_file() {
    let (dir, list) = inputs();
    let d = dir.path();
    common::write_video(&d.join("in/clip.avi"), &common::justin_frames(120, 40..50));
    let args = [
        "batch",
        "--files-from",
        list,
        "--out",
        "r.parquet",
        "--format",
        "parquet",
        "--threads",
        "1",
    ];
    let spool = d.join("r.parquet.partial");
    kill_after_rows(d, &args, &spool, 3);
    assert!(!d.join("r.parquet").exists(), "never half-written");
    let resumed = ok(fer(d, &[&args[..], &["--resume"]].concat(), &[]));
    assert!(
        stderr(&resumed).contains("resuming from"),
        "{}",
        stderr(&resumed)
    );
    assert!(!spool.exists(), "the spool is removed once converted");
    ok(fer(
        d,
        &[
            "batch",
            "--files-from",
            list,
            "--out",
            "one.parquet",
            "--format",
            "parquet",
        ],
        &[],
    ));
    let want = parquet_rows(&d.join("one.parquet"));
    assert_eq!(parquet_rows(&d.join("r.parquet")), want);
    // Resuming a finished file reads it back and changes nothing.
    let again = ok(fer(d, &[&args[..], &["--resume"]].concat(), &[]));
    assert!(
        stderr(&again).contains("resuming from"),
        "{}",
        stderr(&again)
    );
    assert_eq!(parquet_rows(&d.join("r.parquet")), want);
}
