//! Face tracks across frames, and set pooling over each track's recent frames.
//!
//! Matching: every (track, face) pair whose boxes overlap by at least
//! `min_iou` (intersection over union) is a candidate; pairs are taken from the
//! largest overlap down, each track and face at most once. A face left over
//! starts a new track with the next ID; a track without a face for more than
//! `max_missed` frames is retired and its ID never reused.
//!
//! Pooling (the GaitSet idea): a track's readout is a permutation-invariant
//! function of the set of its last `window` frames: the mean or the element-wise
//! max (renormalised) of their probabilities, so one odd frame cannot flip it,
//! or a trained set model's reading of their features ([`Pooling::Learned`]).

use crate::error::Result;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// How a track's recent frames are pooled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Pooling {
    Mean,
    Max,
    /// A set model (`--model set-*`) reads the frames' features as one set.
    Learned,
}

/// Reads a track's recent frames (their feature rows, oldest first) as one set,
/// for [`Pooling::Learned`]: a set model's class probabilities.
pub type SetReader<'a> = &'a dyn Fn(&[Vec<f32>]) -> Result<Vec<f32>>;

/// Tracking and pooling parameters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackerConfig {
    /// Smallest box overlap that continues a track.
    pub min_iou: f64,
    /// Frames a track survives without a face.
    pub max_missed: u32,
    /// Frames pooled per track.
    pub window: usize,
    pub pooling: Pooling,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        TrackerConfig {
            min_iou: 0.3,
            max_missed: 15,
            window: 15,
            pooling: Pooling::Mean,
        }
    }
}

/// Intersection over union of two `[x, y, w, h]` boxes.
pub fn iou(a: [i32; 4], b: [i32; 4]) -> f64 {
    let (x0, y0) = (a[0].max(b[0]), a[1].max(b[1]));
    let (x1, y1) = (
        (a[0] + a[2]).min(b[0] + b[2]),
        (a[1] + a[3]).min(b[1] + b[3]),
    );
    let inter = ((x1 - x0).max(0) as f64) * ((y1 - y0).max(0) as f64);
    let union = (a[2] as f64 * a[3] as f64) + (b[2] as f64 * b[3] as f64) - inter;
    if union > 0.0 {
        inter / union
    } else {
        0.0
    }
}

/// Pool a set of probability vectors by their mean or (renormalised) maximum;
/// [`Pooling::Learned`] reads features instead (see [`Tracker::update`]) and is
/// the mean here.
pub fn pool(set: &VecDeque<Vec<f32>>, how: Pooling) -> Vec<f32> {
    let k = set.front().map_or(0, |v| v.len());
    let mut out = vec![0f32; k];
    for v in set {
        for (o, x) in out.iter_mut().zip(v) {
            *o = match how {
                Pooling::Mean | Pooling::Learned => *o + x,
                Pooling::Max => o.max(*x),
            };
        }
    }
    let sum: f32 = out.iter().sum();
    if sum > 0.0 {
        out.iter_mut().for_each(|o| *o /= sum);
    }
    out
}

/// One tracked face.
#[derive(Debug, Clone)]
pub struct Track {
    pub id: u64,
    pub bbox: [i32; 4],
    /// Frames since the track last had a face.
    pub missed: u32,
    /// The last `window` per-frame probabilities.
    pub recent: VecDeque<Vec<f32>>,
    /// The last `window` per-frame feature rows (kept for [`Pooling::Learned`] only).
    pub recent_features: VecDeque<Vec<f32>>,
    /// Frames with a face, and per class how many of them had that pooled label.
    pub frames: usize,
    pub label_frames: Vec<usize>,
    pub first_t: f64,
    pub last_t: f64,
}

/// What one face of a frame became.
#[derive(Debug, Clone, PartialEq)]
pub struct Assigned {
    /// Index of the face in the frame's list.
    pub face: usize,
    pub track: u64,
    /// Pooled probabilities of the track, this frame included.
    pub pooled: Vec<f32>,
}

/// The set of live tracks.
pub struct Tracker {
    cfg: TrackerConfig,
    next_id: u64,
    tracks: Vec<Track>,
    retired: Vec<Track>,
}

impl Tracker {
    pub fn new(cfg: TrackerConfig) -> Self {
        Tracker {
            cfg,
            next_id: 1,
            tracks: Vec::new(),
            retired: Vec::new(),
        }
    }

    /// Live tracks.
    pub fn tracks(&self) -> &[Track] {
        &self.tracks
    }

    /// Every track ever made, live and retired, by ID.
    pub fn all_tracks(&self) -> Vec<&Track> {
        let mut all: Vec<&Track> = self.retired.iter().chain(&self.tracks).collect();
        all.sort_by_key(|t| t.id);
        all
    }

    /// Match this frame's faces (boxes and per-frame probabilities) to tracks.
    /// With [`Pooling::Learned`], `features` holds each face's feature row and
    /// `learned` reads a track's recent rows as one set; otherwise both may be
    /// empty and `None`.
    pub fn update(
        &mut self,
        boxes: &[[i32; 4]],
        probs: &[Vec<f32>],
        features: &[Vec<f32>],
        t: f64,
        learned: Option<SetReader>,
    ) -> Result<Vec<Assigned>> {
        let learned = match (self.cfg.pooling, learned) {
            (Pooling::Learned, Some(read)) if features.len() == boxes.len() => Some(read),
            (Pooling::Learned, _) => {
                return Err(crate::error::FerError::param(
                    "pooling",
                    "learned pooling needs each face's features and a set model",
                ))
            }
            _ => None,
        };
        let mut pairs: Vec<(f64, usize, usize)> = Vec::new();
        for (ti, track) in self.tracks.iter().enumerate() {
            for (fi, b) in boxes.iter().enumerate() {
                let o = iou(track.bbox, *b);
                if o >= self.cfg.min_iou {
                    pairs.push((o, ti, fi));
                }
            }
        }
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        let mut track_of: Vec<Option<usize>> = vec![None; boxes.len()];
        let mut used = vec![false; self.tracks.len()];
        for (_, ti, fi) in pairs {
            if !used[ti] && track_of[fi].is_none() {
                used[ti] = true;
                track_of[fi] = Some(ti);
            }
        }
        for (ti, track) in self.tracks.iter_mut().enumerate() {
            if !used[ti] {
                track.missed += 1;
            }
        }
        let k = probs.first().map_or(0, |p| p.len());
        let mut out = Vec::with_capacity(boxes.len());
        for (fi, b) in boxes.iter().enumerate() {
            let ti = match track_of[fi] {
                Some(ti) => ti,
                None => {
                    self.tracks.push(Track {
                        id: self.next_id,
                        bbox: *b,
                        missed: 0,
                        recent: VecDeque::new(),
                        recent_features: VecDeque::new(),
                        frames: 0,
                        label_frames: vec![0; k],
                        first_t: t,
                        last_t: t,
                    });
                    self.next_id += 1;
                    self.tracks.len() - 1
                }
            };
            let track = &mut self.tracks[ti];
            track.bbox = *b;
            track.missed = 0;
            track.last_t = t;
            track.frames += 1;
            track.recent.push_back(probs[fi].clone());
            while track.recent.len() > self.cfg.window.max(1) {
                track.recent.pop_front();
            }
            let pooled = match learned {
                Some(read) => {
                    track.recent_features.push_back(features[fi].clone());
                    while track.recent_features.len() > self.cfg.window.max(1) {
                        track.recent_features.pop_front();
                    }
                    read(track.recent_features.make_contiguous())?
                }
                None => pool(&track.recent, self.cfg.pooling),
            };
            if let Some(n) = track
                .label_frames
                .get_mut(crate::metrics::argmax(&pooled, None))
            {
                *n += 1;
            }
            out.push(Assigned {
                face: fi,
                track: track.id,
                pooled,
            });
        }
        let max_missed = self.cfg.max_missed;
        let (keep, gone): (Vec<Track>, Vec<Track>) =
            self.tracks.drain(..).partition(|t| t.missed <= max_missed);
        self.tracks = keep;
        self.retired.extend(gone);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_keep_their_ids_and_retire_after_missing_frames() {
        let cfg = TrackerConfig {
            max_missed: 2,
            window: 3,
            ..Default::default()
        };
        let mut t = Tracker::new(cfg);
        let happy = vec![0.9f32, 0.1];
        let sad = vec![0.1f32, 0.9];
        // Two faces; the right one moves a little each frame.
        let a = t
            .update(
                &[[0, 0, 50, 50], [100, 0, 50, 50]],
                &[happy.clone(), sad.clone()],
                &[],
                0.0,
                None,
            )
            .unwrap();
        assert_eq!((a[0].track, a[1].track), (1, 2));
        let a = t
            .update(
                &[[104, 2, 50, 50], [2, 1, 50, 50]],
                &[sad.clone(), happy.clone()],
                &[],
                0.1,
                None,
            )
            .unwrap();
        assert_eq!(
            (a[0].track, a[1].track),
            (2, 1),
            "matched by overlap, not by order"
        );
        // One odd frame does not flip the pooled label of track 1.
        let a = t
            .update(
                &[[3, 1, 50, 50]],
                std::slice::from_ref(&sad),
                &[],
                0.2,
                None,
            )
            .unwrap();
        assert_eq!(a[0].track, 1);
        assert!(a[0].pooled[0] > a[0].pooled[1], "{:?}", a[0].pooled);
        // Track 2 missed 1 frame; after 3 misses it is retired, and a face there is a new track.
        t.update(
            &[[3, 1, 50, 50]],
            std::slice::from_ref(&happy),
            &[],
            0.3,
            None,
        )
        .unwrap();
        t.update(
            &[[3, 1, 50, 50]],
            std::slice::from_ref(&happy),
            &[],
            0.4,
            None,
        )
        .unwrap();
        assert_eq!(t.tracks().len(), 1);
        let a = t
            .update(
                &[[104, 2, 50, 50]],
                std::slice::from_ref(&sad),
                &[],
                0.5,
                None,
            )
            .unwrap();
        assert_eq!(a[0].track, 3);
        assert_eq!(
            t.all_tracks().iter().map(|t| t.id).collect::<Vec<_>>(),
            [1, 2, 3]
        );
    }

    #[test]
    fn learned_pooling_reads_the_tracks_last_window_of_features() {
        let cfg = TrackerConfig {
            window: 2,
            pooling: Pooling::Learned,
            ..Default::default()
        };
        let mut t = Tracker::new(cfg);
        // A stand-in set model: the share of frames whose first feature is positive.
        let read = |f: &[Vec<f32>]| -> Result<Vec<f32>> {
            let up = f.iter().filter(|x| x[0] > 0.0).count() as f32 / f.len() as f32;
            Ok(vec![up, 1.0 - up])
        };
        let b = [[0, 0, 50, 50]];
        let probs = [vec![0.5f32, 0.5]];
        let mut pooled = Vec::new();
        for x in [1.0f32, -1.0, -1.0, 1.0] {
            let a = t.update(&b, &probs, &[vec![x]], 0.0, Some(&read)).unwrap();
            pooled.push(a[0].pooled[0]);
        }
        assert_eq!(
            pooled,
            [1.0, 0.5, 0.0, 0.5],
            "the last two frames, each time"
        );
        assert_eq!(t.tracks()[0].recent_features.len(), 2);
        let err = t.update(&b, &probs, &[], 0.0, None).unwrap_err();
        assert!(err.to_string().contains("set model"), "{err}");
    }

    #[test]
    fn pooling_is_mean_or_renormalised_max() {
        let set: VecDeque<Vec<f32>> = [vec![0.8f32, 0.2], vec![0.4, 0.6]].into_iter().collect();
        assert_eq!(pool(&set, Pooling::Mean), vec![0.6, 0.4]);
        let m = pool(&set, Pooling::Max);
        assert!(
            (m[0] - 0.8 / 1.4).abs() < 1e-6 && (m[1] - 0.6 / 1.4).abs() < 1e-6,
            "{m:?}"
        );
    }
}
