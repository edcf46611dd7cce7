//! The comparison chart of `fer compare`: one row per model, a bar for its
//! accuracy with a whisker from its worst to its best fold, and a thinner bar for
//! its macro-F1, and where whole sets of frames were scored (`--set-by`) a tick at
//! the per-set accuracy; the protocol is written in full underneath.

use super::canvas::{colour, save, text_style, wrap, DrawResult, Picture, FONT};
use crate::compare::Comparison;
use crate::error::Result;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};
use std::path::Path;

/// Height of one model's row, in pixels.
const ROW_H: u32 = 46;
/// Width of the chart.
const WIDTH: u32 = 900;
/// Characters per line of the caption.
const CAPTION_CHARS: usize = 120;
/// Height of a caption line.
const CAPTION_LINE_H: u32 = 16;

struct Bars<'a> {
    cmp: &'a Comparison,
    caption: Vec<String>,
}

impl Bars<'_> {
    /// Height of the caption under the chart.
    fn caption_h(&self) -> u32 {
        self.caption.len() as u32 * CAPTION_LINE_H + 20
    }
}

impl Picture for Bars<'_> {
    fn size(&self) -> (u32, u32) {
        let rows = self.cmp.rows.len().max(1) as u32;
        (WIDTH, 90 + rows * ROW_H + self.caption_h())
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let h = root.dim_in_pixel().1;
        let (chart_area, caption_area) = root.split_vertically(h - self.caption_h());
        let n = self.cmp.rows.len();
        let name_w = self
            .cmp
            .rows
            .iter()
            .map(|r| r.name.chars().count())
            .max()
            .unwrap_or(4) as u32
            * 8
            + 20;
        // Rows sit at whole numbers, the first at the top; the range's half-row
        // margins put the axis's whole-number key points on the rows' centres.
        let top = n as f64 - 0.5;
        let sets = self.cmp.rows.iter().any(|r| r.set_accuracy.is_some());
        let mut chart = ChartBuilder::on(&chart_area)
            .caption(
                if sets {
                    "accuracy (bar; whisker: worst to best fold; tick: whole sets) and macro-F1"
                } else {
                    "accuracy (bar; whisker: worst to best fold) and macro-F1"
                },
                (FONT, 18),
            )
            .margin(10)
            .margin_right(30)
            .x_label_area_size(30)
            .y_label_area_size(name_w.min(WIDTH / 2))
            .build_cartesian_2d(0f64..100f64, -0.5f64..top)?;
        let names: Vec<String> = self.cmp.rows.iter().map(|r| r.name.clone()).collect();
        let name_at = |v: &f64| -> String {
            let row = n as f64 - 1.0 - v.round();
            if (v - v.round()).abs() > 1e-6 || row < 0.0 {
                return String::new();
            }
            names.get(row as usize).cloned().unwrap_or_default()
        };
        chart
            .configure_mesh()
            .light_line_style(TRANSPARENT)
            .disable_y_mesh()
            .x_desc("%")
            .x_label_formatter(&|v| format!("{v:.0}"))
            .y_labels(n + 1)
            .y_label_formatter(&name_at)
            .label_style((FONT, 13))
            .draw()?;
        let (acc_c, f1_c) = (colour(0), colour(1));
        for (i, r) in self.cmp.rows.iter().enumerate() {
            let y = (n - 1 - i) as f64;
            let acc = 100.0 * r.accuracy;
            let f1 = 100.0 * r.macro_f1;
            // Accuracy above the row's centre line, macro-F1 in a thinner band below.
            chart.draw_series(std::iter::once(Rectangle::new(
                [(0.0, y - 0.02), (acc, y + 0.36)],
                acc_c.mix(0.85).filled(),
            )))?;
            chart.draw_series(std::iter::once(Rectangle::new(
                [(0.0, y - 0.34), (f1, y - 0.1)],
                f1_c.mix(0.85).filled(),
            )))?;
            if r.fold_accuracy.len() > 1 {
                let lo = 100.0
                    * r.fold_accuracy
                        .iter()
                        .cloned()
                        .fold(f64::INFINITY, f64::min);
                let hi = 100.0
                    * r.fold_accuracy
                        .iter()
                        .cloned()
                        .fold(f64::NEG_INFINITY, f64::max);
                chart.draw_series(std::iter::once(ErrorBar::new_horizontal(
                    y + 0.17,
                    lo,
                    acc,
                    hi,
                    BLACK.stroke_width(2),
                    8,
                )))?;
            }
            if let Some(set) = r.set_accuracy {
                // Each set of frames read whole (--set-by): a tick across both bars,
                // its figure beside the macro-F1's.
                let x = 100.0 * set;
                let tick = colour(3);
                chart.draw_series(std::iter::once(PathElement::new(
                    vec![(x, y - 0.38), (x, y + 0.4)],
                    tick.stroke_width(3),
                )))?;
                chart.draw_series(std::iter::once(Text::new(
                    format!("sets {x:.1}%"),
                    (f1.min(80.0) + 9.0, y - 0.1),
                    text_style(11, &tick, HPos::Left, VPos::Top),
                )))?;
            }
            chart.draw_series(std::iter::once(Text::new(
                format!("{acc:.1}%"),
                (acc.min(92.0) + 1.0, y + 0.36),
                text_style(12, &BLACK, HPos::Left, VPos::Top),
            )))?;
            chart.draw_series(std::iter::once(Text::new(
                format!("F1 {:.3}", r.macro_f1),
                (f1.min(92.0) + 1.0, y - 0.1),
                text_style(11, &f1_c, HPos::Left, VPos::Top),
            )))?;
        }
        for (k, line) in self.caption.iter().enumerate() {
            caption_area.draw(&Text::new(
                line.clone(),
                (10, 10 + k as i32 * CAPTION_LINE_H as i32),
                text_style(13, &BLACK, HPos::Left, VPos::Top),
            ))?;
        }
        Ok(())
    }
}

/// Draw the comparison chart of `cmp` to `path` (.png or .svg).
pub fn comparison(cmp: &Comparison, path: &Path) -> Result<()> {
    save(
        &Bars {
            cmp,
            caption: wrap(&cmp.protocol, CAPTION_CHARS),
        },
        path,
    )
}
