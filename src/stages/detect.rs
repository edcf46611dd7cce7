//! Stage 4, detect: every frontal face with OpenCV's Haar cascade, as
//! `cv::CascadeClassifier::detectMultiScale(img, faces, scale, neighbours, 0, min, max)`,
//! then both eyes with `haarcascade_eye.xml` inside the upper part of each face, for
//! alignment. The cascades ship in `models/` (Intel/BSD licence, in the XML headers)
//! and are compiled into the binary, so no data files need installing.
//!
//! Detection may run on a downscaled copy (`max_side`): the minimum face size stays
//! fixed in original pixels, and boxes are scaled back.
//!
//! By default the cascade searches coarse to fine ([`Search::Proposal`]): a quick pass
//! with a coarser pyramid and fewer neighbours proposes boxes, and the configured
//! search confirms each one inside a window around it, on a copy shrunk so that the
//! smallest face sought there is [`VERIFY_MIN_SIDE`] pixels. Only the configured
//! search decides what is a face; the quick pass decides where it looks. Measured on
//! the 9 group photos of `../shared/data/detection` (43 ground-truth faces) and the
//! 164 Yale frames, against one full-resolution `detectMultiScale` (`Search::Full`):
//! the same 38 of 43 faces, no false hit, every Yale face, in about 60% of the time
//! (`cargo test --release --test detect -- --nocapture search group`; `fer bench`). Boxes
//! differ a little: on the Yale frames they are on average 2% larger (see
//! [`VERIFY_MIN_SIDE`]).
//!
//! On video the confirming search also runs alone, around the faces of the frame
//! before ([`Detector::detect_near`], scheduled by [`crate::tracked`]).
//!
//! Longer than 500 lines because the two searches (one pass, and coarse to fine)
//! share their cascade set-up, scaling and eye search, and splitting them would
//! make each half call back into the other.

use crate::error::{FerError, Result};
use crate::gray::GrayImage;
use crate::stages::eyes::eyes_from_gradients;
use opencv::core::{
    FileStorage, FileStorage_FORMAT_XML, FileStorage_MEMORY, FileStorage_READ, Mat, Point, Rect,
    Size, Vector,
};
use opencv::imgproc;
use opencv::objdetect::CascadeClassifier;
use opencv::prelude::*;
use serde::{Deserialize, Serialize};

const FACE_CASCADE_XML: &str = include_str!("../../models/haarcascade_frontalface_default.xml");
const EYE_CASCADE_XML: &str = include_str!("../../models/haarcascade_eye.xml");

/// Side of the face cascade's training window: smaller faces cannot be found.
pub const FACE_WINDOW: i32 = 24;
/// Side of the eye cascade's training window.
pub const EYE_WINDOW: i32 = 20;
/// Faces are rescaled to this width before the eye search, so eyes of small faces
/// reach the eye cascade's 20-pixel window.
pub const EYE_SEARCH_WIDTH: i32 = 160;
/// Eyes sought, smallest and largest side, as fractions of that width.
pub const EYE_SIZE_RANGE: (f32, f32) = (0.10, 0.40);
/// The eye search covers this band of the face box, as fractions of its height.
pub const EYE_BAND: (f32, f32) = (0.12, 0.60);
/// Pyramid step of the eye search.
pub const EYE_SCALE_FACTOR: f64 = 1.1;
/// Neighbouring detections the eye search needs to keep an eye.
pub const EYE_MIN_NEIGHBORS: i32 = 3;
/// A detected eye pair is kept only if its distance is within this fraction of the face width...
pub const EYE_DISTANCE_RANGE: (f32, f32) = (0.22, 0.65);
/// ...and the line through the eyes is tilted by at most this many degrees.
pub const MAX_EYE_TILT_DEG: f32 = 30.0;

/// Pyramid step of the proposal pass: coarser than the default 1.1, so about half
/// the windows; together with [`PROPOSAL_MIN_NEIGHBORS`] it still proposed every face
/// the full search finds on the group photos and Yale frames.
pub const PROPOSAL_SCALE_FACTOR: f64 = 1.25;
/// Neighbours a proposal needs (at most the configured number).
pub const PROPOSAL_MIN_NEIGHBORS: i32 = 2;
/// The confirming search looks this far around a proposal, as a fraction of its side.
/// 0.3 kept all 38 group-photo faces the full search finds; 0.2 and 0.4 lost one,
/// a face that the full search keeps on 6 raw windows, the fewest that survive 5
/// neighbours: where the window grid falls decides such a face either way...
pub const VERIFY_MARGIN: f64 = 0.3;
/// ...for faces of these fractions of the proposal's side (a step of 1.25 misjudges
/// sizes by up to about 12%)...
pub const VERIFY_SIZE_RANGE: (f64, f64) = (0.75, 1.33);
/// ...on a copy shrunk so that the smallest face sought is this many pixels: large
/// faces are confirmed at low resolution. This trades box fidelity for speed. On the
/// Yale frames, confirmed boxes came out on average 6.3% larger than the full
/// search's at 36 pixels, 2.2% at 44 and 0.5% at 48; the pipeline's throughput
/// relative to one full search was 1.05, 1.03 and 0.98 (`fer bench`).
pub const VERIFY_MIN_SIDE: i32 = 44;

/// How the face cascade searches a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Search {
    /// One `detectMultiScale` over the whole frame with the configured parameters
    /// (the reference `fer bench` compares against).
    Full,
    /// A coarse pass proposes boxes; the configured search confirms each in a window
    /// around it (see the module documentation).
    #[default]
    Proposal,
}

impl Search {
    /// Names accepted on the command line.
    pub const NAMES: [&'static str; 2] = ["proposal", "full"];
}

impl std::str::FromStr for Search {
    type Err = FerError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "proposal" => Ok(Search::Proposal),
            "full" => Ok(Search::Full),
            _ => Err(FerError::param(
                "detect.search",
                format!("`{s}` is not one of {}", Search::NAMES.join(", ")),
            )),
        }
    }
}

/// How the eyes of a face are found (when [`DetectConfig::eyes`] is on).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EyeFinder {
    /// OpenCV's `haarcascade_eye.xml` in the upper part of the face box; when it finds
    /// no plausible pair the face is aligned from its box.
    #[default]
    Cascade,
    /// Where the image gradients converge, in a window around each expected eye of a
    /// rough crop ([`crate::stages::eyes`]): always a pair, about 20 times cheaper.
    Gradients,
}

impl EyeFinder {
    /// Names accepted on the command line.
    pub const NAMES: [&'static str; 2] = ["cascade", "gradients"];
}

impl std::str::FromStr for EyeFinder {
    type Err = FerError;
    fn from_str(s: &str) -> Result<Self> {
        match s {
            "cascade" => Ok(EyeFinder::Cascade),
            "gradients" => Ok(EyeFinder::Gradients),
            _ => Err(FerError::param(
                "detect.eye_finder",
                format!("`{s}` is not one of {}", EyeFinder::NAMES.join(", ")),
            )),
        }
    }
}

/// Face-detection parameters.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct DetectConfig {
    /// Image pyramid step of `detectMultiScale` (> 1).
    pub scale_factor: f64,
    /// Neighbouring detections needed to keep a face.
    pub min_neighbors: i32,
    /// Smallest face side in original pixels.
    pub min_size: i32,
    /// Largest face side in original pixels; 0 means no limit.
    pub max_size: i32,
    /// Detect on a copy whose longer side is at most this many pixels (but never
    /// shrunk below `FACE_WINDOW / min_size`); 0 detects at full size.
    pub max_side: i32,
    /// Look for eyes to level each face; without them faces are aligned from the box.
    pub eyes: bool,
    /// Skip detection and treat the whole image as one face (pre-cropped datasets).
    pub whole_image: bool,
    /// Coarse to fine, or one full search. Bundles written before this field read as
    /// the default.
    #[serde(default)]
    pub search: Search,
    /// How eyes are found. Bundles written before this field read as the cascade,
    /// which every model was trained with until then.
    #[serde(default)]
    pub eye_finder: EyeFinder,
}

impl Default for DetectConfig {
    fn default() -> Self {
        DetectConfig {
            scale_factor: 1.1,
            min_neighbors: 5,
            min_size: 30,
            max_size: 0,
            max_side: 0,
            eyes: true,
            whole_image: false,
            search: Search::Proposal,
            eye_finder: EyeFinder::Cascade,
        }
    }
}

impl DetectConfig {
    /// Validate the parameters.
    pub fn check(&self) -> Result<()> {
        if !(self.scale_factor > 1.0 && self.scale_factor <= 2.0) {
            return Err(FerError::param(
                "detect.scale_factor",
                format!("must be in (1, 2], got {}", self.scale_factor),
            ));
        }
        if self.min_neighbors < 0 {
            return Err(FerError::param("detect.min_neighbors", "must be >= 0"));
        }
        if self.min_size < FACE_WINDOW {
            return Err(FerError::param(
                "detect.min_size",
                format!("must be >= {FACE_WINDOW} (the cascade window)"),
            ));
        }
        if self.max_size != 0 && self.max_size < self.min_size {
            return Err(FerError::param(
                "detect.max_size",
                "must be 0 or >= min_size",
            ));
        }
        if self.max_side != 0 && self.max_side < 4 * FACE_WINDOW {
            return Err(FerError::param(
                "detect.max_side",
                format!("must be 0 or >= {}", 4 * FACE_WINDOW),
            ));
        }
        Ok(())
    }
}

/// Where and at which sizes the eye cascade looks. The default is the search every
/// shipped model was trained and evaluated with; other values are for measuring what
/// a cheaper search would cost (`examples/speed_tradeoffs.rs`, `BENCHMARKS.md`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EyeSearch {
    /// Faces are rescaled to this width first.
    pub width: i32,
    /// Smallest and largest eye side, as fractions of `width`.
    pub size: (f32, f32),
    /// Rows of the face box searched, as fractions of its height.
    pub band: (f32, f32),
    /// Neighbouring detections needed to keep an eye.
    pub min_neighbors: i32,
}

impl Default for EyeSearch {
    fn default() -> Self {
        EyeSearch {
            width: EYE_SEARCH_WIDTH,
            size: EYE_SIZE_RANGE,
            band: EYE_BAND,
            min_neighbors: EYE_MIN_NEIGHBORS,
        }
    }
}

impl EyeSearch {
    /// Validate the parameters.
    pub fn check(&self) -> Result<()> {
        let (lo, hi) = self.size;
        if !(0.0 < lo && lo < hi && hi <= 1.0) || (hi * self.width as f32) < EYE_WINDOW as f32 {
            return Err(FerError::param(
                "eye_search.size",
                format!(
                    "need 0 < smallest < largest <= 1, the largest at least {EYE_WINDOW} px of the width; got {lo}..{hi} of {}",
                    self.width
                ),
            ));
        }
        if self.min_neighbors < 0 {
            return Err(FerError::param("eye_search.min_neighbors", "must be >= 0"));
        }
        let (top, bottom) = self.band;
        if !(0.0 <= top && top < bottom && bottom <= 1.0) {
            return Err(FerError::param(
                "eye_search.band",
                format!("need 0 <= top < bottom <= 1, got {top}..{bottom}"),
            ));
        }
        Ok(())
    }
}

/// One detected face in original image coordinates.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Face {
    /// Face box: x, y, width, height.
    pub bbox: [i32; 4],
    /// Centres of the image-left and image-right eye, when both were found.
    pub eyes: Option<[[f32; 2]; 2]>,
}

/// Where to look in a video frame: near the faces of the frame before, and whether
/// to search their eyes anew ([`crate::tracked::TrackedSearch`] decides).
#[derive(Debug, Clone, Copy)]
pub struct Near<'a> {
    pub faces: &'a [Face],
    pub find_eyes: bool,
}

/// The face of `faces` whose box centre is nearest to `bbox`'s.
fn nearest(faces: &[Face], bbox: [i32; 4]) -> Option<&Face> {
    let centre = |b: [i32; 4]| {
        (
            b[0] as f32 + b[2] as f32 / 2.0,
            b[1] as f32 + b[3] as f32 / 2.0,
        )
    };
    let (cx, cy) = centre(bbox);
    faces.iter().min_by(|a, b| {
        let d = |f: &Face| {
            let (x, y) = centre(f.bbox);
            (x - cx).powi(2) + (y - cy).powi(2)
        };
        d(a).total_cmp(&d(b))
    })
}

/// Eye centres found in box `from`, moved to the same place in box `to`.
fn carry(eyes: [[f32; 2]; 2], from: [i32; 4], to: [i32; 4]) -> [[f32; 2]; 2] {
    let (sx, sy) = (
        to[2] as f32 / from[2].max(1) as f32,
        to[3] as f32 / from[3].max(1) as f32,
    );
    eyes.map(|[x, y]| {
        [
            to[0] as f32 + (x - from[0] as f32) * sx,
            to[1] as f32 + (y - from[1] as f32) * sy,
        ]
    })
}

/// Holds the cascades. Not `Sync`: build one per worker thread.
pub struct Detector {
    cfg: DetectConfig,
    face: CascadeClassifier,
    eye: CascadeClassifier,
}

fn load_cascade(xml: &str, name: &str) -> Result<CascadeClassifier> {
    let fs = FileStorage::new(
        xml,
        FileStorage_READ | FileStorage_MEMORY | FileStorage_FORMAT_XML,
        "",
    )?;
    let mut cascade = CascadeClassifier::default()?;
    let ok = cascade.read(&fs.get_first_top_level_node()?)?;
    if !ok || cascade.empty()? {
        return Err(FerError::param(
            "cascade",
            format!("built-in cascade {name} failed to load"),
        ));
    }
    Ok(cascade)
}

impl Detector {
    /// Validate `cfg` and load the built-in cascades.
    pub fn new(cfg: DetectConfig) -> Result<Self> {
        cfg.check()?;
        Ok(Detector {
            cfg,
            face: load_cascade(FACE_CASCADE_XML, "haarcascade_frontalface_default.xml")?,
            eye: load_cascade(EYE_CASCADE_XML, "haarcascade_eye.xml")?,
        })
    }

    /// The configuration in use.
    pub fn config(&self) -> &DetectConfig {
        &self.cfg
    }

    /// Face boxes only (no eyes), largest first.
    pub fn detect_boxes(&mut self, img: &GrayImage) -> Result<Vec<[i32; 4]>> {
        self.boxes(img, None)
    }

    /// Face boxes found only near `hints` (boxes of the previous video frame, in
    /// `img`'s pixels): each hint is confirmed as a proposal of the coarse-to-fine
    /// search is, by the configured search in a window 30% larger on each side, for
    /// faces of 0.75 to 1.33 times its side. A face away from every hint is not found:
    /// callers run a full search now and then ([`crate::tracked::TrackedSearch`]).
    pub fn detect_boxes_near(
        &mut self,
        img: &GrayImage,
        hints: &[[i32; 4]],
    ) -> Result<Vec<[i32; 4]>> {
        self.boxes(img, Some(hints))
    }

    /// [`Detector::detect_boxes`], or [`Detector::detect_boxes_near`] with hints.
    fn boxes(&mut self, img: &GrayImage, hints: Option<&[[i32; 4]]>) -> Result<Vec<[i32; 4]>> {
        let (w, h) = (img.width() as i32, img.height() as i32);
        if self.cfg.whole_image {
            return Ok(vec![[0, 0, w, h]]);
        }
        let longer = w.max(h);
        // Never shrink so far that a face of `min_size` original pixels falls below
        // the cascade window: the minimum face size holds in original pixels.
        let floor = FACE_WINDOW as f64 / self.cfg.min_size as f64;
        let scale = if self.cfg.max_side > 0 && longer > self.cfg.max_side {
            (self.cfg.max_side as f64 / longer as f64)
                .max(floor)
                .min(1.0)
        } else {
            1.0
        };
        let small;
        let src: &Mat = if scale < 1.0 {
            let mut m = Mat::default();
            imgproc::resize(
                img.mat(),
                &mut m,
                Size::new(0, 0),
                scale,
                scale,
                imgproc::INTER_AREA,
            )?;
            small = m;
            &small
        } else {
            img.mat()
        };
        let min_side = ((self.cfg.min_size as f64 * scale).round() as i32).max(FACE_WINDOW);
        let max_side = if self.cfg.max_size > 0 {
            (self.cfg.max_size as f64 * scale).round() as i32
        } else {
            0
        };
        // A configured step as coarse as the proposal pass's leaves nothing to save.
        let found = if let Some(hints) = hints {
            let proposals: Vec<Rect> = hints
                .iter()
                .map(|b| {
                    let v = b.map(|v| (v as f64 * scale).round() as i32);
                    Rect::new(v[0], v[1], v[2], v[3])
                })
                .collect();
            self.confirm(src, &proposals, min_side, max_side)?
        } else if self.cfg.search == Search::Proposal
            && self.cfg.scale_factor < PROPOSAL_SCALE_FACTOR
        {
            self.proposal_search(src, min_side, max_side)?
        } else {
            self.cascade(
                src,
                self.cfg.scale_factor,
                self.cfg.min_neighbors,
                min_side,
                max_side,
            )?
        };
        let mut boxes: Vec<[i32; 4]> = found
            .iter()
            .map(|r| {
                let s = 1.0 / scale;
                let x = (r.x as f64 * s).round() as i32;
                let y = (r.y as f64 * s).round() as i32;
                let bw = ((r.width as f64 * s).round() as i32).min(w - x);
                let bh = ((r.height as f64 * s).round() as i32).min(h - y);
                [x, y, bw, bh]
            })
            .collect();
        boxes.sort_by_key(|b| std::cmp::Reverse(b[2] * b[3]));
        Ok(boxes)
    }

    /// `detectMultiScale` of the face cascade over `src`, faces of `min`..`max` pixels (`max` 0: no limit).
    fn cascade(
        &mut self,
        src: &Mat,
        scale_factor: f64,
        neighbours: i32,
        min: i32,
        max: i32,
    ) -> Result<Vec<Rect>> {
        let mut found = Vector::<Rect>::new();
        self.face.detect_multi_scale(
            src,
            &mut found,
            scale_factor,
            neighbours,
            0,
            Size::new(min, min),
            Size::new(max, max),
        )?;
        Ok(found.to_vec())
    }

    /// [`Search::Proposal`]: propose with a coarse pass, confirm each proposal with the
    /// configured search in a window around it. Faces confirmed twice (from overlapping
    /// windows) are kept once.
    fn proposal_search(&mut self, src: &Mat, min: i32, max: i32) -> Result<Vec<Rect>> {
        let neighbours = self.cfg.min_neighbors.min(PROPOSAL_MIN_NEIGHBORS);
        let proposals = self.cascade(src, PROPOSAL_SCALE_FACTOR, neighbours, min, max)?;
        self.confirm(src, &proposals, min, max)
    }

    /// The configured search in a window around each proposal (see
    /// [`VERIFY_MARGIN`]); faces confirmed twice are kept once.
    fn confirm(&mut self, src: &Mat, proposals: &[Rect], min: i32, max: i32) -> Result<Vec<Rect>> {
        let (w, h) = (src.cols(), src.rows());
        let mut faces: Vec<Rect> = Vec::new();
        for &p in proposals {
            let margin = (p.width as f64 * VERIFY_MARGIN).round() as i32;
            let (x0, y0) = ((p.x - margin).max(0), (p.y - margin).max(0));
            let (x1, y1) = (
                (p.x + p.width + margin).min(w),
                (p.y + p.height + margin).min(h),
            );
            if x1 <= x0 || y1 <= y0 {
                continue; // a hint outside this frame
            }
            let lo = ((p.width as f64 * VERIFY_SIZE_RANGE.0) as i32).max(min);
            let mut hi =
                ((p.width as f64 * VERIFY_SIZE_RANGE.1) as i32).min((x1 - x0).min(y1 - y0));
            if max > 0 {
                hi = hi.min(max);
            }
            if hi < lo {
                continue;
            }
            // Shrinking keeps the smallest face sought at VERIFY_MIN_SIDE >= the cascade
            // window, so `min` still holds in the caller's pixels.
            let k = (VERIFY_MIN_SIDE as f64 / lo as f64).min(1.0);
            let roi = Mat::roi(src, Rect::new(x0, y0, x1 - x0, y1 - y0))?;
            let mut window = Mat::default();
            if k < 1.0 {
                imgproc::resize(
                    &roi,
                    &mut window,
                    Size::new(0, 0),
                    k,
                    k,
                    imgproc::INTER_AREA,
                )?;
            } else {
                roi.copy_to(&mut window)?; // small: k is 1 only for proposals under VERIFY_MIN_SIDE / VERIFY_SIZE_RANGE.0
            }
            let side = |v: i32| ((v as f64 * k).round() as i32).max(FACE_WINDOW);
            let (lo_k, hi_k) = (side(lo), side(hi).min(window.cols().min(window.rows())));
            if hi_k < lo_k {
                continue;
            }
            let back = |v: i32| (v as f64 / k).round() as i32;
            for r in self.cascade(
                &window,
                self.cfg.scale_factor,
                self.cfg.min_neighbors,
                lo_k,
                hi_k,
            )? {
                let face = Rect::new(
                    x0 + back(r.x),
                    y0 + back(r.y),
                    back(r.width),
                    back(r.height),
                );
                let centre = Point::new(face.x + face.width / 2, face.y + face.height / 2);
                if !faces.iter().any(|f| f.contains(centre)) {
                    faces.push(face);
                }
            }
        }
        Ok(faces)
    }

    /// Every face with its eyes (when enabled and found).
    pub fn detect(&mut self, img: &GrayImage) -> Result<Vec<Face>> {
        let boxes = self.detect_boxes(img)?;
        self.with_eyes(img, boxes)
    }

    /// The faces near `near.faces` (the faces of the frame before), found by
    /// [`Detector::detect_boxes_near`]. Their eyes are sought anew when
    /// `near.find_eyes` says so; otherwise each face takes the eyes of the face of the
    /// frame before nearest to it, moved and scaled with its box (the eye cascade
    /// costs about twice the search near a face: `BENCHMARKS.md`). Eyes from
    /// gradients, which cost little, are always found anew.
    pub fn detect_near(&mut self, img: &GrayImage, near: &Near) -> Result<Vec<Face>> {
        let hints: Vec<[i32; 4]> = near.faces.iter().map(|h| h.bbox).collect();
        let boxes = self.detect_boxes_near(img, &hints)?;
        if near.find_eyes || self.cfg.eye_finder == EyeFinder::Gradients {
            return self.with_eyes(img, boxes);
        }
        Ok(boxes
            .into_iter()
            .map(|bbox| Face {
                bbox,
                eyes: nearest(near.faces, bbox)
                    .and_then(|h| h.eyes.map(|e| carry(e, h.bbox, bbox)))
                    .filter(|_| self.cfg.eyes),
            })
            .collect())
    }

    fn with_eyes(&mut self, img: &GrayImage, boxes: Vec<[i32; 4]>) -> Result<Vec<Face>> {
        let mut faces = Vec::with_capacity(boxes.len());
        for bbox in boxes {
            let eyes = match (self.cfg.eyes, self.cfg.eye_finder) {
                (false, _) => None,
                (true, EyeFinder::Cascade) => self.find_eyes(img, bbox)?,
                (true, EyeFinder::Gradients) => Some(eyes_from_gradients(img, bbox)?),
            };
            faces.push(Face { bbox, eyes });
        }
        Ok(faces)
    }

    /// Both eyes inside the upper band of `bbox`, or `None` when no plausible pair is found.
    pub fn find_eyes(&mut self, img: &GrayImage, bbox: [i32; 4]) -> Result<Option<[[f32; 2]; 2]>> {
        self.find_eyes_with(img, bbox, &EyeSearch::default())
    }

    /// [`Detector::find_eyes`] with another eye search.
    pub fn find_eyes_with(
        &mut self,
        img: &GrayImage,
        bbox: [i32; 4],
        search: &EyeSearch,
    ) -> Result<Option<[[f32; 2]; 2]>> {
        search.check()?;
        let [bx, by, bw, bh] = bbox;
        let y0 = by + (search.band.0 * bh as f32) as i32;
        let y1 = by + (search.band.1 * bh as f32) as i32;
        let band = Rect::new(bx, y0, bw, (y1 - y0).max(1));
        if bw < 8
            || bx < 0
            || y0 < 0
            || band.y + band.height > img.height() as i32
            || bx + bw > img.width() as i32
        {
            return Ok(None);
        }
        let scale = search.width as f64 / bw as f64;
        let min_eye = (search.width as f32 * search.size.0) as i32;
        let max_eye = (search.width as f32 * search.size.1) as i32;
        if (band.height as f64 * scale) < min_eye as f64 {
            return Ok(None); // too flat a box to hold an eye
        }
        let roi = Mat::roi(img.mat(), band)?;
        let mut up = Mat::default();
        imgproc::resize(
            &roi,
            &mut up,
            Size::new(0, 0),
            scale,
            scale,
            imgproc::INTER_LINEAR,
        )?;
        let mut found = Vector::<Rect>::new();
        self.eye.detect_multi_scale(
            &up,
            &mut found,
            EYE_SCALE_FACTOR,
            search.min_neighbors,
            0,
            Size::new(min_eye, min_eye),
            Size::new(max_eye, max_eye),
        )?;
        // Candidate centres in face-box fractions.
        let centres: Vec<(f32, f32)> = found
            .iter()
            .map(|r| {
                let cx = (r.x as f32 + r.width as f32 / 2.0) / scale as f32;
                let cy = (r.y as f32 + r.height as f32 / 2.0) / scale as f32 + (y0 - by) as f32;
                (cx / bw as f32, cy / bh as f32)
            })
            .collect();
        let expected = crate::stages::align::BOX_EYES;
        let pick = |left: bool| {
            centres
                .iter()
                .filter(|c| (c.0 < 0.5) == left)
                .min_by(|a, b| {
                    let e = if left { expected[0] } else { expected[1] };
                    let da = (a.0 - e[0]).powi(2) + (a.1 - e[1]).powi(2);
                    let db = (b.0 - e[0]).powi(2) + (b.1 - e[1]).powi(2);
                    da.total_cmp(&db)
                })
                .copied()
        };
        let (Some(l), Some(r)) = (pick(true), pick(false)) else {
            return Ok(None);
        };
        let (dx, dy) = ((r.0 - l.0) * bw as f32, (r.1 - l.1) * bh as f32);
        let dist = (dx * dx + dy * dy).sqrt() / bw as f32;
        let tilt = dy.atan2(dx).to_degrees().abs();
        if dist < EYE_DISTANCE_RANGE.0 || dist > EYE_DISTANCE_RANGE.1 || tilt > MAX_EYE_TILT_DEG {
            return Ok(None);
        }
        let to_img = |c: (f32, f32)| [bx as f32 + c.0 * bw as f32, by as f32 + c.1 * bh as f32];
        Ok(Some([to_img(l), to_img(r)]))
    }
}
