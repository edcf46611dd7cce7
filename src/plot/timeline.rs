//! An expression timeline: for each face track, its probabilities over time (one
//! colour per class), with a strip under it that shows the dominant expression,
//! its name written where it holds long enough to read.

use super::canvas::{colour, save, text_style, DrawResult, Picture, FONT};
use crate::error::Result;
use crate::metrics::argmax;
use crate::timeline::Timeline;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};
use std::path::Path;

/// Tracks drawn at most (the longest ones); the title says when there were more.
pub const MAX_TRACKS: usize = 6;
/// Height of one track's panel.
const PANEL_H: u32 = 240;
/// Width of the picture.
const WIDTH: u32 = 1000;
/// The dominant-expression strip runs along the bottom of each panel, below 0%:
/// from `STRIP_BOTTOM` to `STRIP_TOP` on the percentage axis.
const STRIP_BOTTOM: f64 = -14.0;
const STRIP_TOP: f64 = -3.0;
/// Shortest run of one dominant expression, as a share of the time axis, that
/// gets its name written.
const NAMED_RUN_SHARE: f64 = 0.07;

struct TimelinePicture<'a> {
    timeline: &'a Timeline,
    /// Indices of the tracks drawn, longest first.
    shown: Vec<usize>,
    title: String,
}

impl Picture for TimelinePicture<'_> {
    fn size(&self) -> (u32, u32) {
        (WIDTH, 40 + self.shown.len() as u32 * PANEL_H)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let (header, body) = root.split_vertically(40);
        header.draw(&Text::new(
            self.title.clone(),
            (10, 10),
            text_style(16, &BLACK, HPos::Left, VPos::Top),
        ))?;
        // Class legend along the header's right side.
        let classes = &self.timeline.classes;
        let mut x =
            WIDTH as i32 - 10 - classes.iter().map(|c| 24 + 8 * c.len() as i32).sum::<i32>();
        for (k, c) in classes.iter().enumerate() {
            header.draw(&Rectangle::new([(x, 14), (x + 14, 26)], colour(k).filled()))?;
            header.draw(&Text::new(
                c.clone(),
                (x + 18, 20),
                text_style(12, &BLACK, HPos::Left, VPos::Center),
            ))?;
            x += 24 + 8 * c.len() as i32;
        }
        let panels = body.split_evenly((self.shown.len(), 1));
        // One time axis for every track, so that they line up.
        let times = self
            .shown
            .iter()
            .flat_map(|&i| &self.timeline.tracks[i].points);
        let t0 = times.clone().map(|p| p.0).fold(f64::INFINITY, f64::min);
        let t1 = times.map(|p| p.0).fold(f64::NEG_INFINITY, f64::max);
        let (t0, t1) = if t0.is_finite() {
            (t0, t1.max(t0 + 1e-3))
        } else {
            (0.0, 1.0)
        };
        for (panel, &ti) in panels.iter().zip(&self.shown) {
            let track = &self.timeline.tracks[ti];
            let mut chart = ChartBuilder::on(panel)
                .caption(&track.name, (FONT, 14))
                .margin(8)
                .x_label_area_size(36)
                .y_label_area_size(50)
                .build_cartesian_2d(t0..t1, STRIP_BOTTOM..100f64)?;
            chart
                .configure_mesh()
                .light_line_style(TRANSPARENT)
                .x_desc("seconds")
                .y_desc("%")
                .y_label_formatter(&|v| {
                    if *v < 0.0 {
                        String::new()
                    } else {
                        format!("{v:.0}")
                    }
                })
                .label_style((FONT, 12))
                .draw()?;
            for k in 0..classes.len() {
                chart.draw_series(LineSeries::new(
                    track
                        .points
                        .iter()
                        .map(|(t, p)| (*t, 100.0 * p.get(k).copied().unwrap_or(0.0) as f64)),
                    colour(k).stroke_width(2),
                ))?;
            }
            // The dominant expression: runs of the same most probable class.
            let mut runs: Vec<(usize, f64, f64)> = Vec::new();
            for (i, (t, p)) in track.points.iter().enumerate() {
                let end = track.points.get(i + 1).map_or(*t, |n| n.0);
                let k = argmax(p, None);
                match runs.last_mut() {
                    Some(r) if r.0 == k => r.2 = end,
                    _ => runs.push((k, *t, end)),
                }
            }
            // A run of one frame still shows: at least a thousandth of the axis.
            let least = (t1 - t0) / 1000.0;
            for (k, a, b) in runs {
                let b = b.max(a + least);
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(a, STRIP_BOTTOM), (b, STRIP_TOP)],
                    colour(k).filled(),
                )))?;
                if (b - a) / (t1 - t0) >= NAMED_RUN_SHARE {
                    chart.draw_series(std::iter::once(Text::new(
                        classes[k].clone(),
                        ((a + b) / 2.0, (STRIP_BOTTOM + STRIP_TOP) / 2.0),
                        text_style(11, &WHITE, HPos::Center, VPos::Center),
                    )))?;
                }
            }
        }
        Ok(())
    }
}

/// Draw `timeline` to `path` (.png or .svg): up to [`MAX_TRACKS`] tracks, the longest.
pub fn timeline(timeline: &Timeline, source: &str, path: &Path) -> Result<()> {
    let mut order: Vec<usize> = (0..timeline.tracks.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(timeline.tracks[i].points.len()));
    order.truncate(MAX_TRACKS);
    order.sort();
    let more = timeline.tracks.len().saturating_sub(MAX_TRACKS);
    let title = format!(
        "expressions over time: {source}{}",
        if more > 0 {
            format!(
                " ({} longest of {} tracks)",
                MAX_TRACKS,
                timeline.tracks.len()
            )
        } else {
            String::new()
        }
    );
    save(
        &TimelinePicture {
            timeline,
            shown: order,
            title,
        },
        path,
    )
}
