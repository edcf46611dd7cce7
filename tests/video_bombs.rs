//! Videos of absurd size (RELIABILITY.md): an MJPEG AVI whose frames really are
//! 12000 x 12000 (a 5 MB file that decodes to 144 megapixels a frame, 432 MB in
//! BGR) is refused from the size its container and codec declare, naming the
//! file, by `fer batch` and by `fer live`, with peak memory under 500 MB, and so
//! is one whose AVI headers claim 320 x 320 for the same frames; a video of sane
//! size beside them is still read.

mod common;

use image::codecs::jpeg::JpegEncoder;
use image::ExtendedColorType;
use std::path::Path;
use std::process::{Command, Stdio};

/// Peak memory either command may reach (the bound).
const MAX_PEAK_BYTES: u64 = 500 << 20;
/// The bomb's side: 144 megapixels, over the default 64-megapixel limit.
const BOMB_SIDE: u32 = 12_000;
/// Frames in each test video.
const FRAMES: usize = 3;

/// A grey baseline JPEG of `side` x `side`, one flat colour (so it compresses to
/// a few bytes per block).
fn flat_jpeg(side: u32) -> Vec<u8> {
    let pixels = vec![128u8; (side * side) as usize];
    let mut out = Vec::new();
    JpegEncoder::new_with_quality(&mut out, 50)
        .encode(&pixels, side, side, ExtendedColorType::L8)
        .unwrap();
    out
}

/// A RIFF chunk, padded to an even length.
fn chunk(tag: &[u8; 4], data: &[u8]) -> Vec<u8> {
    let mut c = tag.to_vec();
    c.extend_from_slice(&(data.len() as u32).to_le_bytes());
    c.extend_from_slice(data);
    if data.len() % 2 == 1 {
        c.push(0);
    }
    c
}

/// A RIFF list of `kind`.
fn list(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    chunk(b"LIST", &[kind.as_slice(), body].concat())
}

fn u32s(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// An MJPEG AVI of `frames` copies of `jpeg`, at 10 frames a second, declaring
/// `side` x `side` in its headers.
fn mjpeg_avi(jpeg: &[u8], frames: usize, side: u32) -> Vec<u8> {
    let n = frames as u32;
    let avih = u32s(&[100_000, 0, 0, 0x10, n, 0, 1, 0, side, side, 0, 0, 0, 0]);
    let mut strh = b"vidsMJPG".to_vec();
    strh.extend(u32s(&[0, 0, 0, 1, 10, 0, n, 0, u32::MAX, 0]));
    strh.extend([0u8; 4]); // frame rectangle: left, top
    strh.extend(((side as u16).to_le_bytes()).repeat(2)); // right, bottom
    let mut strf = u32s(&[40, side, side]);
    strf.extend(1u16.to_le_bytes()); // planes
    strf.extend(24u16.to_le_bytes()); // bits per pixel
    strf.extend(b"MJPG");
    strf.extend(u32s(&[side * side * 3, 0, 0, 0, 0]));
    let strl = list(
        b"strl",
        &[chunk(b"strh", &strh), chunk(b"strf", &strf)].concat(),
    );
    let hdrl = list(b"hdrl", &[chunk(b"avih", &avih), strl].concat());
    let frame = chunk(b"00dc", jpeg);
    let movi = list(b"movi", &frame.repeat(frames));
    let mut idx1 = Vec::new();
    for i in 0..frames {
        idx1.extend(b"00dc");
        idx1.extend(u32s(&[
            0x10,
            (4 + i * frame.len()) as u32,
            jpeg.len() as u32,
        ]));
    }
    let body = [b"AVI ".as_slice(), &hdrl, &movi, &chunk(b"idx1", &idx1)].concat();
    [
        b"RIFF".as_slice(),
        &(body.len() as u32).to_le_bytes(),
        &body,
    ]
    .concat()
}

/// Run `fer` with `args` in `dir`; its exit code, stderr and peak memory (wait4).
fn fer_with_peak(dir: &Path, args: &[&str]) -> (i32, String, u64) {
    let stderr_path = dir.join("stderr.txt");
    // Reaped by wait4 below, which also gives its peak memory.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(env!("CARGO_BIN_EXE_fer"))
        .args(args)
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&stderr_path).unwrap())
        .spawn()
        .unwrap();
    let (status, peak) = common::wait_with_peak(child);
    let stderr = std::fs::read_to_string(&stderr_path).unwrap();
    assert!(libc::WIFEXITED(status), "killed by a signal: {stderr}");
    (libc::WEXITSTATUS(status), stderr, peak)
}

#[test]
fn a_video_of_absurd_size_is_refused_from_its_header_by_batch_and_live() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    let bomb = mjpeg_avi(&flat_jpeg(BOMB_SIDE), FRAMES, BOMB_SIDE);
    assert!(bomb.len() < 8 << 20, "{} bytes", bomb.len());
    std::fs::write(input.join("bomb.avi"), &bomb).unwrap();
    // The same frames, under headers that claim 320 x 320.
    let liar = mjpeg_avi(&flat_jpeg(BOMB_SIDE), FRAMES, 320);
    std::fs::write(input.join("liar.avi"), &liar).unwrap();
    std::fs::write(
        input.join("sane.avi"),
        mjpeg_avi(&flat_jpeg(320), FRAMES, 320),
    )
    .unwrap();

    let (code, stderr, peak) = fer_with_peak(dir.path(), &["batch", "in", "--out", "rows.csv"]);
    eprintln!(
        "batch over a {BOMB_SIDE}² video: exit {code}, peak {} MB",
        peak >> 20
    );
    assert_eq!(code, 1, "two files failed: {stderr}");
    assert!(
        peak < MAX_PEAK_BYTES,
        "batch: peak memory {} MB",
        peak >> 20
    );
    let rows = common::rows_without_times(&dir.path().join("rows.csv"));
    for name in ["bomb.avi", "liar.avi"] {
        let bomb_rows: Vec<_> = rows.iter().filter(|r| r[0].ends_with(name)).collect();
        assert_eq!(bomb_rows.len(), 1, "{rows:?}");
        assert_eq!(bomb_rows[0][1], "error");
        assert!(
            bomb_rows[0]
                .iter()
                .any(|c| c.contains(name) && c.contains("over the limit")),
            "{:?}",
            bomb_rows[0]
        );
    }
    // The flat grey frames hold no face; each is read.
    let sane = rows.iter().filter(|r| r[0].ends_with("sane.avi")).count();
    assert_eq!(sane, FRAMES, "{rows:?}");

    let (code, stderr, peak) = fer_with_peak(
        dir.path(),
        &[
            "live",
            "--plain",
            "--source",
            "in/bomb.avi",
            "--jsonl",
            "t.jsonl",
        ],
    );
    eprintln!(
        "live on a {BOMB_SIDE}² video: exit {code}, peak {} MB",
        peak >> 20
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("bomb.avi") && stderr.contains("over the limit"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(peak < MAX_PEAK_BYTES, "live: peak memory {} MB", peak >> 20);
}
