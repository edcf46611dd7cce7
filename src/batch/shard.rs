//! Sharding a batch across the tasks of a cluster job (`fer batch --shard I/N`,
//! or a Slurm array's variables).
//!
//! Every task lists the same inputs and computes the same plan, so no task needs
//! to talk to another: the work units (an image, or a range of a video's frames)
//! are sorted by path, weighed in pixels (an image's header; a video's frame
//! count times its frame size), and cut into N contiguous runs of nearly equal
//! weight. The plan depends only on the set of inputs, not on the order in which
//! they were listed, and one long video can be spread over several tasks.

use crate::dataset::is_video_path;
use crate::error::{FerError, Result};
use crate::fingerprint::Fnv;
use std::path::{Path, PathBuf};

/// A video is cut into work units of this many frames when sharding (the
/// default of `--video-chunk`), so that one long video can be shared by several
/// tasks; each unit opens the video and seeks to its first frame once.
pub const VIDEO_CHUNK_FRAMES: u64 = 1000;

/// Weight of a unit whose size cannot be read (a file that will fail to decode
/// costs almost nothing): one small frame.
const UNKNOWN_WEIGHT: u64 = 48 * 48;

/// A file to read, or a path that could not be listed.
pub type Input = std::result::Result<PathBuf, (PathBuf, String)>;

/// Shard `index` of `count` (indices count from 0, as Slurm arrays usually do).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: usize,
    pub count: usize,
}

impl Shard {
    /// Parse `I/N` (0 <= I < N).
    pub fn parse(text: &str) -> Result<Shard> {
        let bad = |why: &str| FerError::param("shard", format!("`{text}`: {why}"));
        let (i, n) = text
            .split_once('/')
            .ok_or_else(|| bad("expected I/N, for example 0/4"))?;
        let index: usize = i.trim().parse().map_err(|_| bad("I is not a number"))?;
        let count: usize = n.trim().parse().map_err(|_| bad("N is not a number"))?;
        Shard::new(index, count).map_err(|e| bad(&e))
    }

    fn new(index: usize, count: usize) -> std::result::Result<Shard, String> {
        if count == 0 {
            return Err("N must be at least 1".into());
        }
        if index >= count {
            return Err(format!(
                "I must be below N (shards count from 0: 0/{count} to {}/{count})",
                count - 1
            ));
        }
        Ok(Shard { index, count })
    }

    /// The shard of a Slurm array task, from `SLURM_ARRAY_TASK_ID` and
    /// `SLURM_ARRAY_TASK_MIN`, `_MAX`, `_STEP` and `_COUNT` (read through `var`).
    /// `None` outside an array job. An array with gaps (`--array=0,3,7`) cannot
    /// be mapped to shards and is refused, as is any missing or malformed value.
    pub fn from_slurm(var: impl Fn(&str) -> Option<String>) -> Result<Option<Shard>> {
        let Some(id) = var("SLURM_ARRAY_TASK_ID") else {
            return Ok(None);
        };
        let num = |name: &str| -> Result<usize> {
            let v = var(name).ok_or_else(|| {
                FerError::param(
                    "shard",
                    format!("SLURM_ARRAY_TASK_ID is set but {name} is not; pass --shard I/N"),
                )
            })?;
            v.trim()
                .parse()
                .map_err(|_| FerError::param("shard", format!("{name}=`{v}` is not a number")))
        };
        let id: usize = id.trim().parse().map_err(|_| {
            FerError::param(
                "shard",
                format!("SLURM_ARRAY_TASK_ID=`{id}` is not a number"),
            )
        })?;
        let (min, max, count) = (
            num("SLURM_ARRAY_TASK_MIN")?,
            num("SLURM_ARRAY_TASK_MAX")?,
            num("SLURM_ARRAY_TASK_COUNT")?,
        );
        let step = match var("SLURM_ARRAY_TASK_STEP") {
            Some(_) => num("SLURM_ARRAY_TASK_STEP")?.max(1),
            None => 1,
        };
        let wrong = |why: String| {
            FerError::param(
                "shard",
                format!(
                    "Slurm array task {id} of {min}-{max} (step {step}, {count} tasks): {why}; pass --shard I/N"
                ),
            )
        };
        if id < min || id > max || max < min || !(id - min).is_multiple_of(step) {
            return Err(wrong("the task id is outside its array".into()));
        }
        if (max - min) / step + 1 != count {
            return Err(wrong(
                "the array has gaps, so its tasks cannot be numbered 0..N".into(),
            ));
        }
        Shard::new((id - min) / step, count)
            .map(Some)
            .map_err(wrong)
    }

    /// The output file of this shard: `OUT.shard-I-of-N`.
    pub fn output_path(&self, out: &Path) -> PathBuf {
        let mut s = out.as_os_str().to_owned();
        s.push(format!(".shard-{}-of-{}", self.index, self.count));
        PathBuf::from(s)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// One piece of work: an image (or any non-video file), a range of a video's
/// frames, or a path that could not be listed (it becomes an error row).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Unit {
    File(PathBuf),
    /// Frames `start..end` of a video (`end: None`: to the last frame).
    Frames {
        path: PathBuf,
        start: u64,
        end: Option<u64>,
    },
    Unlisted(PathBuf, String),
}

impl Unit {
    /// The file this unit reads.
    pub fn path(&self) -> &Path {
        match self {
            Unit::File(p) | Unit::Frames { path: p, .. } | Unit::Unlisted(p, _) => p,
        }
    }

    /// A stable text for hashing the plan.
    pub fn key(&self) -> String {
        match self {
            Unit::File(p) => p.to_string_lossy().into_owned(),
            Unit::Frames { path, start, end } => format!(
                "{}#{start}-{}",
                path.to_string_lossy(),
                end.map_or(String::new(), |e| e.to_string())
            ),
            Unit::Unlisted(p, _) => format!("{}!", p.to_string_lossy()),
        }
    }
}

/// The units of a whole (unsharded) run: listed inputs in order, duplicates
/// dropped, each video whole.
pub fn whole_units(inputs: Vec<Input>) -> Vec<Unit> {
    let mut seen = std::collections::HashSet::new();
    inputs
        .into_iter()
        .map(|i| match i {
            Ok(p) if is_video_path(&p) => Unit::Frames {
                path: p,
                start: 0,
                end: None,
            },
            Ok(p) => Unit::File(p),
            Err((p, why)) => Unit::Unlisted(p, why),
        })
        .filter(|u| seen.insert(u.key()))
        .collect()
}

/// A plan for sharding: every unit of the run in a canonical order, with its
/// weight. The same inputs give the same plan on every machine.
#[derive(Debug, Clone)]
pub struct Plan {
    pub units: Vec<(Unit, u64)>,
}

impl Plan {
    /// Sort and weigh `inputs`; videos are cut into `chunk`-frame units.
    /// `frames_of` gives a video's frame count and frame size in pixels.
    pub fn new(
        inputs: Vec<Input>,
        every: u64,
        chunk: u64,
        frames_of: &dyn Fn(&Path) -> Option<(u64, u64)>,
    ) -> Plan {
        let mut whole = whole_units(inputs);
        whole.sort();
        let mut units = Vec::with_capacity(whole.len());
        for unit in whole {
            match unit {
                Unit::Frames { path, .. } => match frames_of(&path) {
                    Some((frames, pixels)) if frames > 0 => {
                        let chunk = chunk.max(1);
                        let chunks = frames.div_ceil(chunk);
                        for c in 0..chunks {
                            let start = c * chunk;
                            // The last range is open: a container's frame count can be short.
                            let end = (c + 1 < chunks).then_some(start + chunk);
                            let n = end.unwrap_or(frames) - start;
                            let weight = n.div_ceil(every.max(1)) * pixels.max(1);
                            units.push((
                                Unit::Frames {
                                    path: path.clone(),
                                    start,
                                    end,
                                },
                                weight,
                            ));
                        }
                    }
                    _ => units.push((
                        Unit::Frames {
                            path,
                            start: 0,
                            end: None,
                        },
                        UNKNOWN_WEIGHT,
                    )),
                },
                Unit::File(p) => {
                    let w = image_pixels(&p).unwrap_or(UNKNOWN_WEIGHT);
                    units.push((Unit::File(p), w));
                }
                u @ Unit::Unlisted(..) => units.push((u, 1)),
            }
        }
        Plan { units }
    }

    /// The shard (of `count`) of each unit, in plan order: the runs are
    /// contiguous, each unit going to the shard where the middle of its weight falls.
    fn shard_indices(&self, count: usize) -> Vec<usize> {
        let total: u128 = self.units.iter().map(|(_, w)| *w as u128).sum();
        let mut before: u128 = 0;
        self.units
            .iter()
            .map(|(_, w)| {
                let middle = 2 * before + *w as u128; // twice the unit's middle, to stay in integers
                before += *w as u128;
                if total == 0 {
                    0
                } else {
                    (((middle * count as u128) / (2 * total)) as usize).min(count - 1)
                }
            })
            .collect()
    }

    /// The units of `shard`.
    pub fn units_of(&self, shard: Shard) -> Vec<Unit> {
        self.shard_indices(shard.count)
            .into_iter()
            .zip(&self.units)
            .filter(|(i, _)| *i == shard.index)
            .map(|(_, (u, _))| u.clone())
            .collect()
    }

    /// Total weight of each of `count` shards, for the log.
    pub fn weights(&self, count: usize) -> Vec<u64> {
        let mut w = vec![0u64; count.max(1)];
        for (i, (_, weight)) in self
            .shard_indices(count.max(1))
            .into_iter()
            .zip(&self.units)
        {
            w[i] += weight;
        }
        w
    }

    /// A fingerprint of the whole plan (every unit, in order).
    pub fn fingerprint(&self) -> u64 {
        let mut h = Fnv::new();
        for (u, _) in &self.units {
            h.write(u.key().as_bytes());
            h.write(b"\n");
        }
        h.finish()
    }
}

/// Pixels of an image, from its header only.
fn image_pixels(path: &Path) -> Option<u64> {
    let (w, h) = image::ImageReader::open(path)
        .ok()?
        .with_guessed_format()
        .ok()?
        .into_dimensions()
        .ok()?;
    Some(w as u64 * h as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let m: std::collections::HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| m.get(k).cloned()
    }

    #[test]
    fn parses_shards() {
        assert_eq!(Shard::parse("2/4").unwrap(), Shard { index: 2, count: 4 });
        for bad in ["4/4", "1/0", "x/2", "2", "-1/3"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn reads_slurm_arrays() {
        assert_eq!(Shard::from_slurm(env(&[])).unwrap(), None);
        let full = [
            ("SLURM_ARRAY_TASK_ID", "5"),
            ("SLURM_ARRAY_TASK_MIN", "3"),
            ("SLURM_ARRAY_TASK_MAX", "6"),
            ("SLURM_ARRAY_TASK_COUNT", "4"),
        ];
        assert_eq!(
            Shard::from_slurm(env(&full)).unwrap(),
            Some(Shard { index: 2, count: 4 })
        );
        // A step of 2: tasks 0, 2, 4.
        let stepped = [
            ("SLURM_ARRAY_TASK_ID", "4"),
            ("SLURM_ARRAY_TASK_MIN", "0"),
            ("SLURM_ARRAY_TASK_MAX", "4"),
            ("SLURM_ARRAY_TASK_STEP", "2"),
            ("SLURM_ARRAY_TASK_COUNT", "3"),
        ];
        assert_eq!(
            Shard::from_slurm(env(&stepped)).unwrap(),
            Some(Shard { index: 2, count: 3 })
        );
        // Missing, malformed, gaps.
        let e = Shard::from_slurm(env(&full[..3])).unwrap_err().to_string();
        assert!(e.contains("SLURM_ARRAY_TASK_COUNT"), "{e}");
        let mut bad = full;
        bad[0] = ("SLURM_ARRAY_TASK_ID", "five");
        assert!(Shard::from_slurm(env(&bad)).is_err());
        let mut gaps = full;
        gaps[3] = ("SLURM_ARRAY_TASK_COUNT", "3");
        assert!(Shard::from_slurm(env(&gaps))
            .unwrap_err()
            .to_string()
            .contains("gaps"));
    }

    fn inputs(names: &[&str]) -> Vec<Input> {
        names.iter().map(|n| Ok(PathBuf::from(n))).collect()
    }

    #[test]
    fn plans_do_not_depend_on_listing_order_and_cover_every_unit_once() {
        let frames = |p: &Path| (p.to_string_lossy() == "long.avi").then_some((2500, 100));
        let a = Plan::new(
            inputs(&["b.png", "a.png", "long.avi", "c.png", "a.png"]),
            1,
            1000,
            &frames,
        );
        let b = Plan::new(
            inputs(&["c.png", "long.avi", "a.png", "b.png"]),
            1,
            1000,
            &frames,
        );
        assert_eq!(a.fingerprint(), b.fingerprint());
        // 3 images (a.png once) + 3 video chunks, the last one open-ended.
        assert_eq!(a.units.len(), 6);
        assert!(a.units.iter().any(|(u, _)| matches!(
            u,
            Unit::Frames {
                start: 2000,
                end: None,
                ..
            }
        )));
        for count in 1..=7 {
            let mut all: Vec<String> = (0..count)
                .flat_map(|index| a.units_of(Shard { index, count }))
                .map(|u| u.key())
                .collect();
            all.sort();
            let mut want: Vec<String> = a.units.iter().map(|(u, _)| u.key()).collect();
            want.sort();
            assert_eq!(all, want, "{count} shards");
        }
    }

    #[test]
    fn shards_balance_weight_not_file_count() {
        // One heavy unit and many light ones: the heavy one gets a shard of its own.
        let mut list: Vec<Input> = (0..100)
            .map(|i| Ok(PathBuf::from(format!("img{i:03}.png"))))
            .collect();
        list.push(Ok(PathBuf::from("zz.avi")));
        let frames =
            |p: &Path| (p.extension().unwrap() == "avi").then_some((900, 48 * 48 * 100 / 900 + 1));
        let plan = Plan::new(list, 1, 1000, &frames);
        let w = plan.weights(2);
        let (lo, hi) = (w[0].min(w[1]) as f64, w[0].max(w[1]) as f64);
        assert!(lo / hi > 0.9, "{w:?}");
    }
}
