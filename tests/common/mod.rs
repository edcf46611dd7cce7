//! Helpers shared by the integration tests.
#![allow(dead_code)]

mod boxes;
// Each test file uses some of `common`, not all: like `dead_code` above.
#[allow(unused_imports)]
pub use boxes::{dlib_boxes, found_and_false_hits, iou, matches};

use fer::model::mlp::MlpParams;
use fer::model::{ModelKind, TreeParams};
use fer::rows::LabelledRows;
use fer::train::FitOptions;
use fer::PipelineConfig;
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};

/// Gaussian blobs in the feature dimension of `cfg`: class `c` is shifted by 1.5
/// on every feature `j` with `j % classes == c`; 20 subjects per class. The
/// rows of one subject and class form one set of frames (for the set models).
pub fn blobs(cfg: &PipelineConfig, n_per_class: usize, classes: usize, seed: u64) -> LabelledRows {
    let dim = cfg.features.names(cfg.align.size).len();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut rows = LabelledRows::empty(
        ["angry", "happy", "sad", "surprise"][..classes]
            .iter()
            .map(|s| s.to_string())
            .collect(),
    );
    let mut keys = Vec::new();
    for c in 0..classes {
        for i in 0..n_per_class {
            let x: Vec<f32> = (0..dim)
                .map(|j| rng.random_range(-1.0..1.0) + if j % classes == c { 1.5 } else { 0.0 })
                .collect();
            let sample = rows.x.len();
            rows.push(x, c as u32, format!("s{}", i % 20), false, sample);
            keys.push(format!("c{c}-s{}", i % 20));
        }
    }
    rows.sets = Some(keys);
    rows
}

/// Share of `rows` whose most probable class under `model` is their label.
pub fn accuracy(model: &fer::model::Model, rows: &LabelledRows) -> f64 {
    let probs = model.predict(&rows.x).unwrap();
    let ok = probs
        .iter()
        .zip(&rows.y)
        .filter(|(p, y)| fer::metrics::argmax(p, None) == **y as usize)
        .count();
    ok as f64 / rows.y.len() as f64
}

/// Small, quick training options for a model of `kind`.
pub fn options(kind: ModelKind, pipeline: PipelineConfig) -> FitOptions {
    let params = MlpParams {
        epochs: 30,
        hidden: vec![32],
        ..Default::default()
    }
    .check()
    .unwrap();
    let trees = TreeParams {
        forest_trees: 20,
        depth: 3,
        dndt_features: 6,
        ..Default::default()
    }
    .check()
    .unwrap();
    FitOptions {
        kind,
        params,
        trees,
        val_fraction: 0.2,
        pipeline,
        sources: vec!["synthetic".into()],
    }
}

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `../shared/data`, or `None` (after printing that the test skips) when absent.
pub fn shared_data(test: &str) -> Option<PathBuf> {
    let p = root().join("../shared/data");
    if p.join("MANIFEST.csv").exists() {
        Some(p)
    } else {
        // Straight to the stderr handle: libtest captures `eprintln!` of passing tests.
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED {test}: ../shared/data is absent on this machine"
        );
        None
    }
}

/// A sample image shipped in `data/`.
pub fn sample(name: &str) -> PathBuf {
    root().join("data").join(name)
}

/// A PNG whose header announces `w` x `h` pixels, with valid CRCs and a few bytes of
/// pixel data (a decompression bomb's shape).
pub fn png_header_only(w: u32, h: u32) -> Vec<u8> {
    fn crc32(data: &[u8]) -> u32 {
        let mut crc = 0xFFFF_FFFFu32;
        for &b in data {
            crc ^= b as u32;
            for _ in 0..8 {
                crc = if crc & 1 != 0 {
                    (crc >> 1) ^ 0xEDB8_8320
                } else {
                    crc >> 1
                };
            }
        }
        !crc
    }
    let mut out = b"\x89PNG\r\n\x1a\n".to_vec();
    let mut ihdr = w.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&h.to_be_bytes());
    ihdr.extend_from_slice(&[8, 0, 0, 0, 0]); // 8-bit grey
                                              // A zlib stream of a few zero bytes.
    let idat = [
        0x78, 0x9c, 0x63, 0x60, 0x60, 0x60, 0x00, 0x00, 0x00, 0x04, 0x00, 0x01,
    ];
    for (kind, data) in [
        (&b"IHDR"[..], &ihdr[..]),
        (b"IDAT", &idat[..]),
        (b"IEND", &[][..]),
    ] {
        let mut chunk = kind.to_vec();
        chunk.extend_from_slice(data);
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        out.extend_from_slice(&chunk);
        out.extend_from_slice(&crc32(&chunk).to_be_bytes());
    }
    out
}

/// An image file as a BGR frame (as `VideoCapture` gives them).
pub fn read_bgr(path: &Path) -> opencv::core::Mat {
    let img = fer::stages::decode::decode_file(path, &Default::default()).unwrap();
    let mut bgr = opencv::core::Mat::default();
    opencv::imgproc::cvt_color_def(img.mat(), &mut bgr, opencv::imgproc::COLOR_GRAY2BGR).unwrap();
    bgr
}

/// `total` frames of `data/justin.jpg` (colour), black for the frames in `blank`.
pub fn justin_frames(total: usize, blank: std::ops::Range<usize>) -> Vec<opencv::core::Mat> {
    use opencv::prelude::*;
    let justin = read_bgr(&sample("justin.jpg"));
    let black = opencv::core::Mat::new_rows_cols_with_default(
        justin.rows(),
        justin.cols(),
        justin.typ(),
        0.into(),
    )
    .unwrap();
    (0..total)
        .map(|i| {
            if blank.contains(&i) {
                black.clone()
            } else {
                justin.clone()
            }
        })
        .collect()
}

/// Write `frames` (all the same size) as an MJPG video at 25 frames per second.
pub fn write_video(path: &Path, frames: &[opencv::core::Mat]) {
    use opencv::prelude::*;
    use opencv::videoio::VideoWriter;
    let size = opencv::core::Size::new(frames[0].cols(), frames[0].rows());
    let fourcc = VideoWriter::fourcc('M', 'J', 'P', 'G').unwrap();
    let mut w = VideoWriter::new(path.to_str().unwrap(), fourcc, 25.0, size, true).unwrap();
    assert!(w.is_opened().unwrap());
    for f in frames {
        w.write(f).unwrap();
    }
    w.release().unwrap();
}

/// The rows of a `fer batch` CSV without its stage times (`ms_` columns), sorted:
/// what two runs over the same files must agree on.
pub fn rows_without_times(path: &Path) -> Vec<Vec<String>> {
    let mut r = csv::Reader::from_path(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let keep: Vec<usize> = r
        .headers()
        .unwrap()
        .iter()
        .enumerate()
        .filter(|(_, h)| !h.starts_with("ms_"))
        .map(|(i, _)| i)
        .collect();
    let mut out: Vec<Vec<String>> = r
        .records()
        .map(|rec| {
            let rec = rec.unwrap();
            keep.iter().map(|i| rec[*i].to_string()).collect()
        })
        .collect();
    out.sort();
    out
}

/// A batch's inputs under `dir`: `in/` with the shipped samples, a broken PNG and
/// `clip.avi`, `frames` frames of Justin, black for the frames in `blank` (so that
/// a misplaced seek shows); and `dir/list.txt` listing them (as `in/NAME`, in
/// reverse order: the listing order must not matter).
pub fn batch_inputs(dir: &Path, frames: usize, blank: std::ops::Range<usize>) {
    let data = dir.join("in");
    std::fs::create_dir_all(&data).unwrap();
    for name in [
        "justin.jpg",
        "messi5.jpg",
        "astronaut.png",
        "no-faces.jpg",
        "chelsea.png",
    ] {
        std::fs::copy(sample(name), data.join(name)).unwrap();
    }
    std::fs::write(data.join("broken.png"), b"\x89PNG\r\n\x1a\nnot really").unwrap();
    write_video(&data.join("clip.avi"), &justin_frames(frames, blank));
    let mut names: Vec<String> = file_names(&data)
        .into_iter()
        .map(|n| format!("in/{n}"))
        .collect();
    names.sort();
    names.reverse();
    std::fs::write(dir.join("list.txt"), names.join("\n") + "\n").unwrap();
}

/// `fer train-cnn` options of a tiny network and a 6-epoch schedule on 16x16 crops,
/// which train in seconds.
pub const TINY_CNN_ARGS: [&str; 13] = [
    "--input-size",
    "16",
    "--channels",
    "8,16",
    "--groups",
    "4",
    "--epochs",
    "6",
    "--warmup-epochs",
    "1",
    "--batch-size",
    "16",
    "--no-detect",
];

/// The names of the entries of `dir`.
pub fn file_names(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

/// `fer`, run in `dir`, with no Slurm array variables from the environment (a test run
/// inside a Slurm job would otherwise become a shard of it).
pub fn fer_in(dir: &Path) -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_fer"));
    c.current_dir(dir);
    for k in [
        "SLURM_ARRAY_TASK_ID",
        "SLURM_ARRAY_TASK_MIN",
        "SLURM_ARRAY_TASK_MAX",
        "SLURM_ARRAY_TASK_COUNT",
        "SLURM_ARRAY_TASK_STEP",
        "SLURM_ARRAY_JOB_ID",
    ] {
        c.env_remove(k);
    }
    c
}

/// This test process's peak resident memory so far (getrusage's maxrss).
pub fn peak_memory_bytes() -> u64 {
    // SAFETY: a zeroed rusage is valid, and getrusage fills it for this process.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) }, 0);
    usage.ru_maxrss as u64 * 1024 // kilobytes on Linux
}

/// Wait for `child` with wait4: its raw wait status and its peak resident memory.
pub fn wait_with_peak(child: std::process::Child) -> (i32, u64) {
    let mut status = 0;
    // SAFETY: a zeroed rusage is valid; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as libc::pid_t);
    (status, usage.ru_maxrss as u64 * 1024) // kilobytes on Linux
}
