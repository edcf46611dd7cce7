//! Searching less on video: between full face searches, a frame is searched only
//! near the faces of the frame before ([`crate::stages::detect::Detector::detect_boxes_near`]),
//! which on the 640x480 one-face video costs a fraction of a full search.
//!
//! A full search runs on the first frame of every block of `every` frames (frames
//! 0..K, K..2K, ... by their index in the video), on the first frame searched at all,
//! and on the frame after a face was lost (a hint that no face confirmed: the face
//! left, turned away, or the scene cut), and on every frame while no face is in
//! view (there is nothing to search near). So a face that enters an empty picture is
//! found at once, one that joins others within `every` frames, and a scene cut costs
//! one frame. Because the blocks follow the frame index, a video cut into ranges that
//! start at multiples of `every` (as sharded `fer batch` cuts them) gets the same
//! searches as when read whole. With `every` at 1 every frame gets a full search, as
//! before this existed.

use crate::stages::detect::{Face, Near};

/// Between full searches, the eye cascade runs on every frame whose index is a
/// multiple of this; on the others each face keeps the eyes of the frame before,
/// moved with its box. Measured on `Megamind.avi` (`BENCHMARKS.md`).
pub const EYE_SEARCH_EVERY: u64 = 5;

/// The default of `--search-every`: measured in `BENCHMARKS.md` ("Searching less on
/// video"). It divides [`crate::batch::shard::VIDEO_CHUNK_FRAMES`], so that sharded
/// reading searches as reading whole does.
pub const DEFAULT_SEARCH_EVERY: u64 = 25;

/// Which search each frame of one video gets.
#[derive(Debug, Clone)]
pub struct TrackedSearch {
    every: u64,
    /// Block (frame index / every) of the last full search; `None` before the first.
    full_block: Option<u64>,
    /// Faces of the last frame searched.
    last: Vec<Face>,
    /// The last search was a hinted one that confirmed fewer faces than it was given.
    lost: bool,
}

impl TrackedSearch {
    /// A full search at least once per `every` frames (0 and 1 both mean every frame).
    pub fn new(every: u64) -> Self {
        TrackedSearch {
            every: every.max(1),
            full_block: None,
            last: Vec::new(),
            lost: false,
        }
    }

    /// Where to search frame `index`: near the faces of the frame searched before it,
    /// or `None` for a full search.
    pub fn hints(&self, index: u64) -> Option<Near<'_>> {
        match self.full_block {
            Some(b) if b == index / self.every && !self.lost && !self.last.is_empty() => {
                Some(Near {
                    faces: &self.last,
                    find_eyes: index.is_multiple_of(EYE_SEARCH_EVERY),
                })
            }
            _ => None,
        }
    }

    /// Whether a frame after `index` in its block, read every `step` frames and before
    /// `end`, is `wanted`: then the search of frame `index` matters to it.
    pub fn block_has(
        &self,
        index: u64,
        step: u64,
        end: Option<u64>,
        wanted: impl Fn(u64) -> bool,
    ) -> bool {
        let block_end = (index / self.every + 1) * self.every;
        let stop = end.map_or(block_end, |e| e.min(block_end));
        self.every > 1
            && (index + step.max(1)..stop)
                .step_by(step.max(1) as usize)
                .any(wanted)
    }

    /// Record what the search of frame `index` found; `full` says whether it was a full search.
    pub fn observe(&mut self, index: u64, found: Vec<Face>, full: bool) {
        self.lost = !full && found.len() < self.last.len();
        if full {
            self.full_block = Some(index / self.every);
        }
        self.last = found;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Which frames get a full search, given what each frame's search finds.
    fn plan(every: u64, found: &[usize]) -> Vec<bool> {
        plan_from(every, 0, found)
    }

    /// The same from frame `first` on.
    fn plan_from(every: u64, first: u64, found: &[usize]) -> Vec<bool> {
        let mut s = TrackedSearch::new(every);
        found
            .iter()
            .zip(first..)
            .map(|(&n, index)| {
                let full = s.hints(index).is_none();
                let face = Face {
                    bbox: [0, 0, 10, 10],
                    eyes: None,
                };
                s.observe(index, vec![face; n], full);
                full
            })
            .collect()
    }

    #[test]
    fn a_full_search_every_k_frames() {
        assert_eq!(
            plan(3, &[1, 1, 1, 1, 1, 1, 1]),
            [true, false, false, true, false, false, true]
        );
    }

    #[test]
    fn one_means_every_frame() {
        assert!(plan(1, &[1, 1, 1]).iter().all(|&f| f));
        assert!(plan(0, &[1, 1, 1]).iter().all(|&f| f));
    }

    #[test]
    fn a_lost_face_brings_the_next_full_search_forward() {
        // Two faces; the hinted search on frame 2 confirms one: frame 3 is searched in full.
        assert_eq!(
            plan(10, &[2, 2, 1, 1, 1]),
            [true, false, false, true, false]
        );
    }

    #[test]
    fn a_range_that_starts_mid_block_searches_in_full_first() {
        assert_eq!(plan_from(3, 4, &[1, 1, 1, 1]), [true, false, true, false]);
        // From a block's start it plans what reading from frame 0 plans.
        assert_eq!(plan_from(3, 3, &[1; 4]), plan(3, &[1; 7])[3..]);
    }

    #[test]
    fn a_frame_matters_to_the_later_frames_of_its_block() {
        let s = TrackedSearch::new(10);
        assert!(s.block_has(3, 1, None, |f| f == 9));
        assert!(
            !s.block_has(3, 1, None, |f| f == 10),
            "the next block starts afresh"
        );
        assert!(
            !s.block_has(3, 1, Some(9), |f| f == 9),
            "past the end of the range"
        );
        assert!(
            !s.block_has(3, 2, None, |f| f == 4),
            "not a frame that is read"
        );
        assert!(!TrackedSearch::new(1).block_has(3, 1, None, |_| true));
    }

    #[test]
    fn without_faces_every_frame_is_searched_in_full() {
        assert_eq!(
            plan(4, &[0, 0, 1, 1, 1, 1]),
            [true, true, true, false, true, false]
        );
    }
}
