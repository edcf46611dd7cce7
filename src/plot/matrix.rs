//! Class-by-class matrices: the confusion matrix of an evaluation, and the
//! transition matrices a latent-truth model learned. Each cell is shaded white to
//! dark blue by its share of its row, and written in.

use super::canvas::{save, text_style, DrawResult, Picture};
use crate::error::Result;
use crate::metrics::{Report, SourceTransition};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, VPos};
use std::path::Path;

/// Side of a cell in pixels.
const CELL: i32 = 64;
/// Room for the row names, left of the cells.
const LEFT: i32 = 110;
/// Room for the title and the column names, above the cells.
const TOP: i32 = 90;
/// Width of a title character, in pixels (16 px sans-serif, generously).
const TITLE_CHAR_PX: i32 = 9;

/// One cell: a count to write (none for a probability) and the share that shades it.
struct Cell {
    count: Option<usize>,
    share: f64,
}

/// A square matrix over classes.
struct Matrix<'a> {
    title: String,
    rows_axis: &'a str,
    columns_axis: &'a str,
    classes: &'a [String],
    cells: Vec<Vec<Cell>>,
}

impl Picture for Matrix<'_> {
    fn size(&self) -> (u32, u32) {
        let k = self.classes.len() as i32;
        // Wide enough for the title too (a matrix of two classes is narrower than it).
        let title = self.title.chars().count() as i32 * TITLE_CHAR_PX;
        let w = (LEFT + k * CELL + 20).max(title + 20);
        (w as u32, (TOP + k * CELL + 20) as u32)
    }

    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static,
    {
        let black = &BLACK;
        root.draw(&Text::new(
            self.title.clone(),
            (10, 12),
            text_style(16, black, HPos::Left, VPos::Top),
        ))?;
        root.draw(&Text::new(
            self.columns_axis.to_string(),
            (LEFT, 40),
            text_style(13, black, HPos::Left, VPos::Top),
        ))?;
        root.draw(&Text::new(
            self.rows_axis.to_string(),
            (10, TOP - 6),
            text_style(13, black, HPos::Left, VPos::Bottom),
        ))?;
        for (j, c) in self.classes.iter().enumerate() {
            let x = LEFT + j as i32 * CELL + CELL / 2;
            let name: String = c.chars().take(9).collect();
            root.draw(&Text::new(
                name,
                (x, TOP - 6),
                text_style(12, black, HPos::Center, VPos::Bottom),
            ))?;
        }
        for (i, row) in self.cells.iter().enumerate() {
            let y = TOP + i as i32 * CELL;
            root.draw(&Text::new(
                self.classes[i].clone(),
                (10, y + CELL / 2),
                text_style(13, black, HPos::Left, VPos::Center),
            ))?;
            for (j, cell) in row.iter().enumerate() {
                let x = LEFT + j as i32 * CELL;
                let share = cell.share.clamp(0.0, 1.0);
                // White to dark blue with the share.
                let fill = RGBColor(
                    (255.0 - 235.0 * share) as u8,
                    (255.0 - 220.0 * share) as u8,
                    (255.0 - 120.0 * share) as u8,
                );
                root.draw(&Rectangle::new(
                    [(x, y), (x + CELL, y + CELL)],
                    fill.filled(),
                ))?;
                root.draw(&Rectangle::new(
                    [(x, y), (x + CELL, y + CELL)],
                    RGBColor(200, 200, 200).stroke_width(1),
                ))?;
                let ink = if share > 0.5 { WHITE } else { BLACK };
                let centre = x + CELL / 2;
                if let Some(v) = cell.count {
                    root.draw(&Text::new(
                        v.to_string(),
                        (centre, y + CELL / 2 - 2),
                        text_style(14, &ink, HPos::Center, VPos::Bottom),
                    ))?;
                }
                root.draw(&Text::new(
                    format!("{:.0}%", 100.0 * share),
                    (centre, y + CELL / 2 + 2),
                    text_style(12, &ink, HPos::Center, VPos::Top),
                ))?;
            }
        }
        Ok(())
    }
}

/// Draw the confusion matrix of `report` (cells shaded by row share, counts
/// written in) to `path` (.png or .svg).
pub fn confusion(report: &Report, path: &Path) -> Result<()> {
    let cells = report
        .confusion
        .iter()
        .map(|row| {
            let total = row.iter().sum::<usize>().max(1);
            row.iter()
                .map(|&v| Cell {
                    count: Some(v),
                    share: v as f64 / total as f64,
                })
                .collect()
        })
        .collect();
    save(
        &Matrix {
            title: format!(
                "accuracy {:.1}%   macro-F1 {:.3}   n = {}",
                100.0 * report.accuracy,
                report.macro_f1,
                report.samples
            ),
            rows_axis: "true",
            columns_axis: "predicted ->",
            classes: &report.classes,
            cells,
        },
        path,
    )
}

/// Draw a latent-truth transition matrix (rows: the latent truth, columns: the
/// source's label; cells shaded and written by probability) to `path`.
pub fn transition(t: &SourceTransition, path: &Path) -> Result<()> {
    let cells = t
        .matrix
        .iter()
        .map(|row| {
            row.iter()
                .map(|&p| Cell {
                    count: None,
                    share: p as f64,
                })
                .collect()
        })
        .collect();
    save(
        &Matrix {
            title: format!("source {}: p(label | latent truth)", t.source),
            rows_axis: "truth",
            columns_axis: "source says ->",
            classes: &t.classes,
            cells,
        },
        path,
    )
}
