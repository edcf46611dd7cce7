//! Stalled and broken sources for `fer live` (RELIABILITY.md): a FIFO no one
//! writes, a stream on 127.0.0.1 that accepts and sends nothing, a FIFO whose
//! writer stops halfway through a video, a video corrupt from halfway, and one
//! with no readable frame. Each ends within the stall timeout (or at once) with a
//! message naming the source, and the timeline written so far is whole.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The stall timeout the tests set, in seconds.
const STALL: &str = "1.5";

fn live(dir: &Path, source: &str) -> (Output, Duration) {
    let start = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_fer"))
        .args([
            "live",
            "--plain",
            "--stall-timeout",
            STALL,
            "--jsonl",
            "t.jsonl",
            "--source",
        ])
        .arg(source)
        .current_dir(dir)
        .output()
        .unwrap();
    (out, start.elapsed())
}

fn mkfifo(path: &Path) {
    let c = std::ffi::CString::new(path.to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
}

/// Failed with exit status 2, saying `what` about `source`, within `limit`.
fn stalled(out: &Output, took: Duration, source: &str, what: &str, limit: Duration) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains(source) && stderr.contains(what), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(took < limit, "took {took:?}");
}

/// Every line of the timeline is a whole record.
fn whole_lines(path: &Path) -> usize {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.is_empty() || text.ends_with('\n'));
    for line in text.lines() {
        serde_json::from_str::<fer::live::FaceRecord>(line).unwrap();
    }
    text.lines().count()
}

#[test]
fn a_fifo_no_one_writes_is_given_up_within_the_stall_timeout() {
    let dir = tempfile::tempdir().unwrap();
    mkfifo(&dir.path().join("silent.avi"));
    let (out, took) = live(dir.path(), "silent.avi");
    stalled(
        &out,
        took,
        "silent.avi",
        "did not open within 1.5 s",
        Duration::from_secs(6),
    );
}

#[test]
fn a_stream_that_accepts_and_sends_nothing_is_given_up_within_the_stall_timeout() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/cam.mjpg", listener.local_addr().unwrap());
    // Accept every connection and keep it open without a byte.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for c in listener.incoming() {
            held.push(c);
        }
    });
    let dir = tempfile::tempdir().unwrap();
    let (out, took) = live(dir.path(), &url);
    stalled(&out, took, &url, "within 1.5 s", Duration::from_secs(6));
}

#[test]
fn a_fifo_whose_writer_stops_halfway_ends_with_the_frames_read_so_far() {
    let Some(data) =
        common::shared_data("a_fifo_whose_writer_stops_halfway_ends_with_the_frames_read_so_far")
    else {
        return;
    };
    let video = std::fs::read(data.join("video/Megamind.avi")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("half.avi");
    mkfifo(&fifo);
    let writer = std::thread::spawn(move || {
        let mut f = std::fs::OpenOptions::new().write(true).open(fifo).unwrap();
        // Broken pipe once the reader gives up is expected.
        let _ = f.write_all(&video[..video.len() / 2]);
        std::thread::sleep(Duration::from_secs(8));
    });
    let (out, took) = live(dir.path(), "half.avi");
    stalled(
        &out,
        took,
        "half.avi",
        "sent no frame within 1.5 s",
        Duration::from_secs(8),
    );
    assert!(whole_lines(&dir.path().join("t.jsonl")) > 20);
    writer.join().unwrap();
}

#[test]
fn a_video_corrupt_from_halfway_ends_with_a_warning_and_one_without_a_frame_fails() {
    let Some(data) = common::shared_data(
        "a_video_corrupt_from_halfway_ends_with_a_warning_and_one_without_a_frame_fails",
    ) else {
        return;
    };
    let video = std::fs::read(data.join("video/Megamind.avi")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Every 50th byte from halfway to 90% overwritten: the frames there do not decode.
    let mut corrupt = video.clone();
    let n = corrupt.len();
    for i in (n / 2..n * 9 / 10).step_by(50) {
        corrupt[i] ^= 0x5a;
    }
    std::fs::write(dir.path().join("corrupt.avi"), &corrupt).unwrap();
    let (out, _) = live(dir.path(), "corrupt.avi");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("frames its container declares"), "{stderr}");
    assert!(whole_lines(&dir.path().join("t.jsonl")) > 20);

    // Corrupt from halfway to the end (its index too): it opens, but not one frame reads.
    let mut corrupt = video.clone();
    for i in (n / 2..n).step_by(50) {
        corrupt[i] ^= 0x5a;
    }
    std::fs::write(dir.path().join("unreadable.avi"), &corrupt).unwrap();
    let (out, took) = live(dir.path(), "unreadable.avi");
    stalled(
        &out,
        took,
        "unreadable.avi",
        "no frame could be read",
        Duration::from_secs(6),
    );

    // Cut after its first 4 KB: it does not open.
    std::fs::write(dir.path().join("cut.avi"), &video[..4096]).unwrap();
    let (out, took) = live(dir.path(), "cut.avi");
    stalled(&out, took, "cut.avi", "cannot open", Duration::from_secs(6));
}
