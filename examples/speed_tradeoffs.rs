//! What a cheaper eye search would cost, and what the eye search buys. The numbers
//! in `BENCHMARKS.md` ("Why the Yale frames stay at parity") come from here. Needs
//! `../shared/data`; run from the repository root:
//!
//! ```sh
//! cargo run --release --example speed_tradeoffs -- detect
//! cargo run --release --example speed_tradeoffs -- eyes
//! cargo run --release --example speed_tradeoffs -- rotate 12 /tmp/fer-rotated-12
//! ```
//!
//! `detect` splits the detection stage's time on the Yale frames and the group photos
//! into its parts, next to one full search (what `fer bench` compares against).
//! `eyes` times eye-search variants (one thread) on the faces of the Yale frames, of
//! CK+48 and of FER2013 PrivateTest, and counts how often each finds an eye pair.
//! `rotate` writes FER2013 PrivateTest turned by +ANGLE and -ANGLE degrees
//! (alternately), a folder per class, for `fer eval --data`.

use anyhow::{bail, Context, Result};
use fer::gray::GrayImage;
use fer::stages::decode::decode_file;
use fer::stages::denoise::denoise;
use fer::stages::detect::{
    DetectConfig, Detector, EyeSearch, Search, PROPOSAL_MIN_NEIGHBORS, PROPOSAL_SCALE_FACTOR,
};
use opencv::core::{Mat, Point2f, Scalar, Vector};
use opencv::prelude::*;
use opencv::{imgcodecs, imgproc};
use std::path::{Path, PathBuf};
use std::time::Instant;

const DATA: &str = "../shared/data";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["detect"] => detect(),
        ["eyes"] => eyes(),
        ["eye-points"] => eye_points(),
        ["track", video] => track(Path::new(video)),
        ["rotate", angle, out] => rotate(angle.parse().context("ANGLE")?, Path::new(out)),
        _ => bail!("usage: speed_tradeoffs detect | eyes | eye-points | track VIDEO | rotate ANGLE OUT_DIR"),
    }
}

/// `(path, canonical label)` of the FER2013 PrivateTest rows of the manifest.
fn private_test() -> Result<Vec<(PathBuf, String)>> {
    let mut rows = csv::Reader::from_path(Path::new(DATA).join("MANIFEST.csv"))?;
    let mut out = Vec::new();
    for row in rows.records() {
        let row = row?;
        if &row[0] == "fer2013" && &row[5] == "PrivateTest" {
            out.push((Path::new(DATA).join(&row[1]), row[3].to_string()));
        }
    }
    Ok(out)
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    files.sort();
    files
}

/// Denoised frames with their face boxes: detected, or the whole image.
fn faces(
    files: &[PathBuf],
    detect: bool,
    det: &mut Detector,
) -> Result<Vec<(GrayImage, [i32; 4])>> {
    let mut out = Vec::new();
    for path in files {
        let Ok(img) = decode_file(path, &Default::default()) else {
            continue; // not an image (READMEs and the like)
        };
        let img = denoise(&img, &Default::default())?;
        let boxes = if detect {
            det.detect_boxes(&img)?
        } else {
            vec![[0, 0, img.width() as i32, img.height() as i32]]
        };
        for b in boxes {
            out.push((img.try_clone()?, b));
        }
    }
    Ok(out)
}

/// Milliseconds per frame of `work`, over two passes.
fn ms_per_frame(
    frames: &[GrayImage],
    mut work: impl FnMut(&GrayImage) -> Result<()>,
) -> Result<f64> {
    const PASSES: usize = 2;
    let t = Instant::now();
    for _ in 0..PASSES {
        for f in frames {
            work(f)?;
        }
    }
    Ok(t.elapsed().as_secs_f64() * 1e3 / (PASSES * frames.len()) as f64)
}

fn detect() -> Result<()> {
    opencv::core::set_num_threads(1)?;
    let data = Path::new(DATA);
    let with = |search| DetectConfig {
        search,
        ..Default::default()
    };
    // The proposal pass alone: one search with its coarser step and fewer neighbours.
    let proposal_pass = DetectConfig {
        scale_factor: PROPOSAL_SCALE_FACTOR,
        min_neighbors: PROPOSAL_MIN_NEIGHBORS,
        search: Search::Full,
        ..Default::default()
    };
    println!("milliseconds per frame, one thread\n");
    println!("| frames | one full search | proposal pass | coarse-to-fine search | eye search |");
    println!("|---|---|---|---|---|");
    for (name, dir) in [
        ("Yale", "yalefaces"),
        ("group photos", "detection/dlib-faces"),
    ] {
        let frames: Vec<GrayImage> = files_under(&data.join(dir))
            .iter()
            .filter_map(|p| decode_file(p, &Default::default()).ok())
            .map(|img| denoise(&img, &Default::default()))
            .collect::<fer::Result<_>>()?;
        let mut cells = Vec::new();
        for cfg in [with(Search::Full), proposal_pass, with(Search::Proposal)] {
            let mut det = Detector::new(cfg)?;
            cells.push(ms_per_frame(&frames, |f| {
                det.detect_boxes(f).map(drop).map_err(Into::into)
            })?);
        }
        let mut det = Detector::new(DetectConfig::default())?;
        let boxes: Vec<Vec<[i32; 4]>> = frames
            .iter()
            .map(|f| det.detect_boxes(f))
            .collect::<fer::Result<_>>()?;
        let mut i = 0;
        let n = frames.len();
        cells.push(ms_per_frame(&frames, |f| {
            for b in &boxes[i % n] {
                det.find_eyes(f, *b)?;
            }
            i += 1;
            Ok(())
        })?);
        println!(
            "| {name} ({n}) | {:.2} | {:.2} | {:.2} | {:.2} |",
            cells[0], cells[1], cells[2], cells[3]
        );
    }
    Ok(())
}

fn eyes() -> Result<()> {
    opencv::core::set_num_threads(1)?;
    let data = Path::new(DATA);
    let mut det = Detector::new(DetectConfig::default())?;
    let sets = [
        (
            "Yale frames",
            faces(&files_under(&data.join("yalefaces")), true, &mut det)?,
        ),
        (
            "CK+48",
            faces(&files_under(&data.join("ckplus48")), false, &mut det)?,
        ),
        ("FER2013 PrivateTest", {
            let files: Vec<PathBuf> = private_test()?.into_iter().map(|r| r.0).collect();
            faces(&files, false, &mut det)?
        }),
    ];
    let default = EyeSearch::default();
    let variants = [
        ("default", default),
        (
            "faces at 120 px",
            EyeSearch {
                width: 120,
                ..default
            },
        ),
        (
            "faces at 100 px",
            EyeSearch {
                width: 100,
                ..default
            },
        ),
        (
            "eyes from 15% of the width",
            EyeSearch {
                size: (0.15, 0.40),
                ..default
            },
        ),
        (
            "eyes up to 27% of the width",
            EyeSearch {
                size: (0.10, 0.27),
                ..default
            },
        ),
        (
            "band from 16% of the height",
            EyeSearch {
                band: (0.16, 0.60),
                ..default
            },
        ),
        (
            "faces at 120 px, 1 neighbour",
            EyeSearch {
                width: 120,
                min_neighbors: 1,
                ..default
            },
        ),
        (
            "faces at 100 px, 1 neighbour",
            EyeSearch {
                width: 100,
                min_neighbors: 1,
                ..default
            },
        ),
    ];
    println!("| eye search | faces | ms per face | eye pairs found | same pair as the default |");
    println!("|---|---|---|---|---|");
    for (name, faces) in &sets {
        let mut base = Vec::new();
        for (img, b) in faces {
            base.push(det.find_eyes(img, *b)?);
        }
        for (label, search) in &variants {
            let t = Instant::now();
            let mut found = Vec::with_capacity(faces.len());
            for (img, b) in faces {
                found.push(det.find_eyes_with(img, *b, search)?);
            }
            let ms = t.elapsed().as_secs_f64() * 1e3 / faces.len() as f64;
            let pairs = found.iter().filter(|e| e.is_some()).count();
            let same = found.iter().zip(&base).filter(|(a, b)| a == b).count();
            println!(
                "| {name}: {label} | {} | {ms:.2} | {pairs} ({:.1}%) | {same} |",
                faces.len(),
                100.0 * pairs as f64 / faces.len() as f64
            );
        }
    }
    Ok(())
}

/// Milliseconds per frame of a video's face search, one thread: denoise, a full
/// search, a search near the faces of the frame before, and the two eye finders.
fn track(video: &Path) -> Result<()> {
    use opencv::videoio::{VideoCapture, CAP_ANY};
    opencv::core::set_num_threads(1)?;
    let mut cap = VideoCapture::from_file(&*video.to_string_lossy(), CAP_ANY)?;
    let mut frames = Vec::new();
    let mut colour = Mat::default();
    while cap.read(&mut colour)? && !colour.empty() {
        frames.push(fer::live::capture::to_gray(&colour)?);
    }
    if frames.is_empty() {
        bail!("{}: no frame read", video.display());
    }
    let smooth: Vec<GrayImage> = frames
        .iter()
        .map(|f| denoise(f, &Default::default()))
        .collect::<fer::Result<_>>()?;
    let denoise_ms = ms_per_frame(&frames, |f| {
        denoise(f, &Default::default())
            .map(drop)
            .map_err(Into::into)
    })?;
    let mut det = Detector::new(DetectConfig::default())?;
    let boxes: Vec<Vec<[i32; 4]>> = smooth
        .iter()
        .map(|f| det.detect_boxes(f))
        .collect::<fer::Result<_>>()?;
    let full_ms = ms_per_frame(&smooth, |f| {
        det.detect_boxes(f).map(drop).map_err(Into::into)
    })?;
    let (mut i, n) = (0, smooth.len());
    let near_ms = ms_per_frame(&smooth, |f| {
        // Hints: the faces of the frame before (the frame's own on the first).
        det.detect_boxes_near(f, &boxes[i.max(1) - 1])?;
        i = (i + 1) % n;
        Ok(())
    })?;
    let mut eye_ms = Vec::new();
    for cascade in [true, false] {
        let mut i = 0;
        eye_ms.push(ms_per_frame(&smooth, |f| {
            for b in &boxes[i] {
                if cascade {
                    det.find_eyes(f, *b)?;
                } else {
                    fer::stages::eyes::eyes_from_gradients(f, *b)?;
                }
            }
            i = (i + 1) % n;
            Ok(())
        })?);
    }
    println!("| frames | faces found (full search) | denoise | full search | search near the last faces | eye cascade | eyes from gradients |");
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| {} ({n}) | {} | {denoise_ms:.2} | {full_ms:.2} | {near_ms:.2} | {:.2} | {:.2} |",
        video.display(),
        boxes.iter().map(Vec::len).sum::<usize>(),
        eye_ms[0],
        eye_ms[1]
    );
    Ok(())
}

/// `img` turned by `angle` degrees about its centre (counter-clockwise as seen).
fn turned(img: &Mat, angle: f64) -> Result<Mat> {
    let centre = Point2f::new(img.cols() as f32 / 2.0, img.rows() as f32 / 2.0);
    let m = imgproc::get_rotation_matrix_2d(centre, angle, 1.0)?;
    let mut out = Mat::default();
    imgproc::warp_affine(
        img,
        &mut out,
        &m,
        img.size()?,
        imgproc::INTER_LINEAR,
        opencv::core::BORDER_REPLICATE,
        Scalar::default(),
    )?;
    Ok(out)
}

/// Tilt of the line from the image-left to the image-right eye, in degrees
/// (positive: the right eye lower).
fn tilt(eyes: [[f32; 2]; 2]) -> f64 {
    let [l, r] = eyes;
    ((r[1] - l[1]) as f64)
        .atan2((r[0] - l[0]) as f64)
        .to_degrees()
}

/// How the eye centres found from gradients (`fer::stages::eyes`) compare with the
/// eye cascade's: on real faces, how far they are from the cascade's pair where it
/// finds one; on FER2013 PrivateTest turned by ±N degrees, how far the eye line's
/// tilt is from the turn (the faces are upright to start with), counting the box's
/// own level line where the cascade finds no pair (what alignment then uses).
fn eye_points() -> Result<()> {
    use fer::stages::align::eyes_from_box;
    use fer::stages::eyes::eyes_from_gradients;
    opencv::core::set_num_threads(1)?;
    let data = Path::new(DATA);
    let mut det = Detector::new(DetectConfig::default())?;
    let fer_files: Vec<PathBuf> = private_test()?.into_iter().map(|r| r.0).collect();
    let sets = [
        (
            "Yale frames",
            faces(&files_under(&data.join("yalefaces")), true, &mut det)?,
        ),
        (
            "CK+48",
            faces(&files_under(&data.join("ckplus48")), false, &mut det)?,
        ),
        ("FER2013 PrivateTest", faces(&fer_files, false, &mut det)?),
    ];
    println!("Against the cascade's pair, where it finds one: distance of each eye over the cascade's eye distance\n");
    println!("| faces | cascade pairs | mean distance | within 0.1 | within 0.2 | ms a face (cascade) | ms a face (gradients) |");
    println!("|---|---|---|---|---|---|---|---|");
    for (name, faces) in &sets {
        let t = Instant::now();
        let mut cascade = Vec::new();
        for (img, b) in faces {
            cascade.push(det.find_eyes(img, *b)?);
        }
        let cascade_ms = t.elapsed().as_secs_f64() * 1e3 / faces.len() as f64;
        {
            let t = Instant::now();
            let mut points = Vec::new();
            for (img, b) in faces {
                points.push(eyes_from_gradients(img, *b)?);
            }
            let ms = t.elapsed().as_secs_f64() * 1e3 / faces.len() as f64;
            let mut d = Vec::new();
            for (c, p) in cascade.iter().zip(&points) {
                let Some(c) = c else { continue };
                let iod = ((c[1][0] - c[0][0]).powi(2) + (c[1][1] - c[0][1]).powi(2)).sqrt();
                for k in 0..2 {
                    let e = ((p[k][0] - c[k][0]).powi(2) + (p[k][1] - c[k][1]).powi(2)).sqrt();
                    d.push((e / iod) as f64);
                }
            }
            let n = d.len().max(1) as f64;
            println!(
                "| {name} ({}) | {} | {:.3} | {:.1}% | {:.1}% | {cascade_ms:.2} | {ms:.2} |",
                faces.len(),
                d.len() / 2,
                d.iter().sum::<f64>() / n,
                100.0 * d.iter().filter(|&&e| e <= 0.1).count() as f64 / n,
                100.0 * d.iter().filter(|&&e| e <= 0.2).count() as f64 / n,
            );
        }
    }
    println!("\nFER2013 PrivateTest turned alternately by +N and -N degrees: error of the eye line's tilt, degrees\n");
    println!("| turned by | cascade pairs | cascade, box where none: mean error | within 5 degrees | gradients: mean error | within 5 degrees |");
    println!("|---|---|---|---|---|---|");
    for angle in [0.0, 6.0, 12.0, 20.0] {
        let mut errors: [Vec<f64>; 2] = Default::default();
        let mut pairs = 0;
        for (i, path) in fer_files.iter().enumerate() {
            let img = decode_file(path, &Default::default())?;
            let turn = if i % 2 == 0 { angle } else { -angle };
            let img = GrayImage::from_mat(turned(img.mat(), turn)?)?;
            let img = denoise(&img, &Default::default())?;
            let b = [0, 0, img.width() as i32, img.height() as i32];
            let c = det.find_eyes(&img, b)?;
            pairs += c.is_some() as usize;
            // The turn is counter-clockwise as seen, so an upright face's eye line tilts by -turn.
            let err = |e: [[f32; 2]; 2]| (tilt(e) + turn).abs();
            errors[0].push(err(c.unwrap_or_else(|| eyes_from_box(b))));
            errors[1].push(err(eyes_from_gradients(&img, b)?));
        }
        let cell = |e: &Vec<f64>| {
            format!(
                "{:.2} | {:.1}%",
                e.iter().sum::<f64>() / e.len() as f64,
                100.0 * e.iter().filter(|&&x| x <= 5.0).count() as f64 / e.len() as f64
            )
        };
        println!(
            "| {angle}° | {pairs} | {} | {} |",
            cell(&errors[0]),
            cell(&errors[1])
        );
    }
    Ok(())
}

fn rotate(angle: f64, out: &Path) -> Result<()> {
    let rows = private_test()?;
    for (i, (path, label)) in rows.iter().enumerate() {
        let gray = decode_file(path, &Default::default())?;
        let img = gray.mat();
        let turn = if i % 2 == 0 { angle } else { -angle };
        let turned = turned(img, turn)?;
        let dir = out.join(label);
        std::fs::create_dir_all(&dir)?;
        let file = dir.join(format!("{i:05}.png"));
        if !imgcodecs::imwrite(&*file.to_string_lossy(), &turned, &Vector::new())? {
            bail!("{}: could not write", file.display());
        }
    }
    println!(
        "{} images turned by ±{angle}° in {}",
        rows.len(),
        out.display()
    );
    Ok(())
}
