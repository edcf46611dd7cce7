//! Out of disk, as a file-size limit (`ulimit -f`, RLIMIT_FSIZE) makes it
//! (RELIABILITY.md): each writer fails with an error naming the file, exits
//! non-zero without a panic, writes nothing half under the output name, and keeps
//! the previous file where one existed.

mod common;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Output};

/// `fer ARGS` in `dir` with files limited to `bytes`.
fn fer_limited(dir: &Path, args: &[&str], bytes: u64) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_fer"));
    c.args(args).current_dir(dir);
    // SAFETY: only setrlimit, which is async-signal-safe, between fork and exec.
    unsafe {
        c.pre_exec(move || {
            let limit = libc::rlimit {
                rlim_cur: bytes,
                rlim_max: libc::RLIM_INFINITY,
            };
            if libc::setrlimit(libc::RLIMIT_FSIZE, &limit) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    c.output().unwrap()
}

/// The run failed cleanly: a non-zero exit (not a signal), an error naming `file`
/// and the reason, and no panic.
fn failed_naming(out: &Output, file: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        matches!(out.status.code(), Some(c) if c != 0),
        "{:?}: {stderr}",
        out.status
    );
    assert!(
        stderr.contains(file) && stderr.contains("File too large"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn a_batch_past_the_file_size_limit_says_which_file_and_keeps_the_previous_output() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = common::root().join("data");
    let data = data.to_str().unwrap();
    // An earlier, complete output under the same name.
    let first = fer_limited(d, &["batch", data, "--out", "rows.csv"], u64::MAX);
    assert_eq!(first.status.code(), Some(0));
    let previous = std::fs::read(d.join("rows.csv")).unwrap();
    for (format, name) in [
        ("csv", "rows.csv"),
        ("jsonl", "rows.jsonl"),
        ("parquet", "rows.parquet"),
    ] {
        if name != "rows.csv" {
            std::fs::write(d.join(name), &previous).unwrap(); // stands for an earlier output
        }
        let out = fer_limited(d, &["batch", data, "--format", format, "--out", name], 100);
        failed_naming(&out, &format!("{name}.partial"));
        assert_eq!(
            std::fs::read(d.join(name)).unwrap(),
            previous,
            "{name}: the previous output is untouched"
        );
    }
}

#[test]
fn a_training_past_the_file_size_limit_keeps_the_previous_model() {
    let Some(shared) =
        common::shared_data("a_training_past_the_file_size_limit_keeps_the_previous_model")
    else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ck = shared.join("ckplus48");
    let args = [
        "train",
        "--no-detect",
        "--classes",
        "happy,surprise",
        "--epochs",
        "5",
        "--data",
        ck.to_str().unwrap(),
        "--out",
        "model.safetensors",
    ];
    assert!(fer_limited(d, &args, u64::MAX).status.success());
    let previous = std::fs::read(d.join("model.safetensors")).unwrap();
    let out = fer_limited(d, &args, 64 << 10);
    failed_naming(&out, "model.safetensors.partial");
    assert_eq!(
        std::fs::read(d.join("model.safetensors")).unwrap(),
        previous
    );
    assert!(fer::model::Model::load(&d.join("model.safetensors")).is_ok());
}

/// `bytes` written as `name` in `dir`: an earlier output of that name.
fn earlier(dir: &Path, name: &str) -> Vec<u8> {
    let bytes = format!("an earlier {name}").into_bytes();
    std::fs::write(dir.join(name), &bytes).unwrap();
    bytes
}

#[test]
fn live_outputs_past_the_file_size_limit_fail_and_keep_the_earlier_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    common::write_video(&d.join("in.avi"), &common::justin_frames(12, 0..0));
    let source = ["live", "--source", "in.avi"];

    let timeline = earlier(d, "timeline.jsonl");
    let out = fer_limited(
        d,
        &[&source[..], &["--jsonl", "timeline.jsonl"]].concat(),
        1024,
    );
    failed_naming(&out, "timeline.jsonl");
    assert_eq!(std::fs::read(d.join("timeline.jsonl")).unwrap(), timeline);

    // OpenCV's video writer reports no write error: the recording is checked when closed.
    let video = earlier(d, "rec.avi");
    let out = fer_limited(d, &[&source[..], &["--record", "rec.avi"]].concat(), 20_000);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("rec.partial.avi") && stderr.contains("incomplete"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(std::fs::read(d.join("rec.avi")).unwrap(), video);

    // Without the limit the same recording is checked, moved into place, and whole.
    let out = fer_limited(
        d,
        &[&source[..], &["--record", "rec.avi"]].concat(),
        u64::MAX,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    use opencv::prelude::*;
    let cap = opencv::videoio::VideoCapture::from_file(
        d.join("rec.avi").to_str().unwrap(),
        opencv::videoio::CAP_ANY,
    )
    .unwrap();
    assert_eq!(
        cap.get(opencv::videoio::CAP_PROP_FRAME_COUNT).unwrap(),
        12.0
    );
    assert!(!d.join("rec.partial.avi").exists());
}

#[test]
fn eval_compare_and_train_cnn_past_the_file_size_limit_keep_their_earlier_outputs() {
    let Some(shared) = common::shared_data(
        "eval_compare_and_train_cnn_past_the_file_size_limit_keep_their_earlier_outputs",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ck = shared.join("ckplus48");
    let data = [
        "--data",
        ck.to_str().unwrap(),
        "--classes",
        "happy,surprise",
    ];

    let picture = earlier(d, "confusion.png");
    let eval = [
        &["eval", "--no-detect", "--plot", "confusion.png"],
        &data[..],
    ]
    .concat();
    failed_naming(&fer_limited(d, &eval, 1000), "confusion.png");
    assert_eq!(std::fs::read(d.join("confusion.png")).unwrap(), picture);

    let table = earlier(d, "cmp.json");
    let compare = [
        &[
            "compare",
            "--no-detect",
            "--cv",
            "2",
            "--models",
            "logistic",
            "--json",
            "cmp.json",
            "--plot",
            "cmp.png",
        ],
        &data[..],
    ]
    .concat();
    failed_naming(&fer_limited(d, &compare, 200), "cmp.json");
    assert_eq!(std::fs::read(d.join("cmp.json")).unwrap(), table);

    let cnn = earlier(d, "cnn.safetensors");
    let train_cnn = [
        &["train-cnn", "--out", "cnn.safetensors"],
        &common::TINY_CNN_ARGS[..],
        &data[..],
    ]
    .concat();
    failed_naming(&fer_limited(d, &train_cnn, 1000), "cnn.safetensors");
    assert_eq!(std::fs::read(d.join("cnn.safetensors")).unwrap(), cnn);
}
