//! Pictures: the confusion matrix of an evaluation, and images annotated with
//! boxes, fiducial points and labels. Drawn with OpenCV's `imgproc` (its Hershey
//! fonts need no font files) and written atomically.

use crate::compare::Comparison;
use crate::error::{FerError, Result};
use crate::metrics::{Report, SourceTransition};
use crate::model::bundle::write_atomic;
use opencv::core::{Mat, Point, Rect, Scalar, Vector, CV_8UC3};
use opencv::imgcodecs;
use opencv::imgproc::{self, FONT_HERSHEY_SIMPLEX, LINE_AA};
use opencv::prelude::*;
use std::path::Path;

const CELL: i32 = 64;
const LEFT: i32 = 120;
const TOP: i32 = 90;
const WHITE: (f64, f64, f64) = (255.0, 255.0, 255.0);
/// Font scale of a matrix picture's title.
const TITLE_SCALE: f64 = 0.6;
/// A landmark dot's radius is the face width divided by this.
const POINT_RADIUS_DIVISOR: i32 = 60;

fn bgr(c: (f64, f64, f64)) -> Scalar {
    Scalar::new(c.0, c.1, c.2, 0.0)
}

fn text(img: &mut Mat, s: &str, org: Point, scale: f64, colour: Scalar) -> Result<()> {
    imgproc::put_text(
        img,
        s,
        org,
        FONT_HERSHEY_SIMPLEX,
        scale,
        colour,
        1,
        LINE_AA,
        false,
    )?;
    Ok(())
}

/// Encode `img` by the extension of `path` and write it atomically.
pub fn write_image(img: &Mat, path: &Path) -> Result<()> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("png")
        .to_ascii_lowercase();
    let mut buf = Vector::<u8>::new();
    let ok = imgcodecs::imencode(&format!(".{ext}"), img, &mut buf, &Vector::new())?;
    if !ok {
        return Err(FerError::param(
            "image output",
            format!("{}: cannot encode .{ext}", path.display()),
        ));
    }
    write_atomic(path, buf.as_slice())
}

/// One cell of a matrix picture: a count to write (none for a probability) and
/// the share that shades it.
struct Cell {
    count: Option<usize>,
    share: f64,
}

/// Draw the confusion matrix (cells shaded by row share, counts written in) to a PNG.
pub fn confusion(report: &Report, path: &Path) -> Result<()> {
    let title = format!(
        "accuracy {:.1}%   macro-F1 {:.3}   n = {}",
        100.0 * report.accuracy,
        report.macro_f1,
        report.samples
    );
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
    matrix_png(
        &title,
        ("true", "predicted ->"),
        &report.classes,
        cells,
        path,
    )
}

/// Draw a latent-truth transition matrix (rows: the latent truth, columns: the
/// source's label; cells shaded and written by probability) to a PNG.
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
    let title = format!("source {}: p(label | latent truth)", t.source);
    matrix_png(&title, ("truth", "source says ->"), &t.classes, cells, path)
}

/// A square matrix over `classes`, each cell shaded white to dark blue by its share.
fn matrix_png(
    title: &str,
    (rows_axis, columns_axis): (&str, &str),
    classes: &[String],
    cells: Vec<Vec<Cell>>,
    path: &Path,
) -> Result<()> {
    let k = classes.len() as i32;
    let mut baseline = 0;
    let title_width =
        imgproc::get_text_size(title, FONT_HERSHEY_SIMPLEX, TITLE_SCALE, 1, &mut baseline)?.width;
    // Wide enough for the title too (a matrix of two classes is narrower than it).
    let w = (LEFT + k * CELL + 20).max(title_width + 20);
    let h = TOP + k * CELL + 50;
    let mut img = Mat::new_rows_cols_with_default(h, w, CV_8UC3, bgr(WHITE))?;
    let black = bgr((0.0, 0.0, 0.0));
    text(&mut img, title, Point::new(10, 24), TITLE_SCALE, black)?;
    text(&mut img, columns_axis, Point::new(LEFT, 50), 0.5, black)?;
    text(&mut img, rows_axis, Point::new(10, TOP - 8), 0.5, black)?;
    for (i, row) in cells.iter().enumerate() {
        let y = TOP + i as i32 * CELL;
        text(
            &mut img,
            &classes[i],
            Point::new(10, y + CELL / 2 + 5),
            0.5,
            black,
        )?;
        for (j, cell) in row.iter().enumerate() {
            let x = LEFT + j as i32 * CELL;
            let share = cell.share.clamp(0.0, 1.0);
            // White to dark blue with the share.
            let fill = bgr((
                255.0 - 120.0 * share,
                255.0 - 220.0 * share,
                255.0 - 235.0 * share,
            ));
            imgproc::rectangle(
                &mut img,
                Rect::new(x, y, CELL, CELL),
                fill,
                -1,
                imgproc::LINE_8,
                0,
            )?;
            imgproc::rectangle(
                &mut img,
                Rect::new(x, y, CELL, CELL),
                bgr((200.0, 200.0, 200.0)),
                1,
                imgproc::LINE_8,
                0,
            )?;
            let ink = if share > 0.5 { bgr(WHITE) } else { black };
            if let Some(v) = cell.count {
                text(
                    &mut img,
                    &v.to_string(),
                    Point::new(x + 8, y + CELL / 2 - 2),
                    0.5,
                    ink,
                )?;
            }
            text(
                &mut img,
                &format!("{:.0}%", 100.0 * share),
                Point::new(x + 8, y + CELL / 2 + 18),
                0.4,
                ink,
            )?;
        }
    }
    for (j, c) in classes.iter().enumerate() {
        let x = LEFT + j as i32 * CELL + 4;
        text(
            &mut img,
            &c.chars().take(7).collect::<String>(),
            Point::new(x, TOP - 8),
            0.42,
            black,
        )?;
    }
    write_image(&img, path)
}

/// Bar chart of a comparison: accuracy and macro-F1 of every model, 0 to 100%.
pub fn comparison(cmp: &Comparison, path: &Path) -> Result<()> {
    const BAR: i32 = 28;
    const GROUP: i32 = 2 * BAR + 40;
    const PLOT_H: i32 = 300;
    const BASE_Y: i32 = 60 + PLOT_H;
    let n = cmp.rows.len() as i32;
    let (w, h) = (LEFT / 2 + n * GROUP + 40, BASE_Y + 90);
    let mut img = Mat::new_rows_cols_with_default(h, w, CV_8UC3, bgr(WHITE))?;
    let black = bgr((0.0, 0.0, 0.0));
    let grey = bgr((215.0, 215.0, 215.0));
    let (acc_c, f1_c) = (bgr((180.0, 110.0, 30.0)), bgr((40.0, 150.0, 240.0)));
    text(&mut img, "accuracy", Point::new(10, 24), 0.55, acc_c)?;
    text(&mut img, "macro-F1", Point::new(110, 24), 0.55, f1_c)?;
    let x0 = LEFT / 2;
    for pct in (0..=100).step_by(20) {
        let y = BASE_Y - PLOT_H * pct / 100;
        imgproc::line(
            &mut img,
            Point::new(x0, y),
            Point::new(w - 20, y),
            grey,
            1,
            imgproc::LINE_8,
            0,
        )?;
        text(
            &mut img,
            &format!("{pct}%"),
            Point::new(8, y + 4),
            0.4,
            black,
        )?;
    }
    for (i, r) in cmp.rows.iter().enumerate() {
        let x = x0 + 10 + i as i32 * GROUP;
        for (j, (v, c)) in [(r.accuracy, acc_c), (r.macro_f1, f1_c)]
            .into_iter()
            .enumerate()
        {
            let bh = (PLOT_H as f64 * v.clamp(0.0, 1.0)).round() as i32;
            let bx = x + j as i32 * BAR;
            imgproc::rectangle(
                &mut img,
                Rect::new(bx, BASE_Y - bh, BAR - 4, bh.max(1)),
                c,
                -1,
                imgproc::LINE_8,
                0,
            )?;
            text(
                &mut img,
                &format!("{:.0}", 100.0 * v),
                Point::new(bx, BASE_Y - bh - 4),
                0.38,
                black,
            )?;
        }
        // Names are long: two lines, split at the first dash when there is one.
        let (a, b) = r
            .name
            .split_once('-')
            .map_or((r.name.as_str(), ""), |(a, b)| (a, b));
        text(&mut img, a, Point::new(x, BASE_Y + 18), 0.42, black)?;
        text(&mut img, b, Point::new(x, BASE_Y + 36), 0.42, black)?;
    }
    let proto: String = cmp
        .protocol
        .chars()
        .take(((w - 20) / 7).max(10) as usize)
        .collect();
    text(&mut img, &proto, Point::new(10, h - 14), 0.38, black)?;
    write_image(&img, path)
}

/// One face to draw.
pub struct FaceMark<'a> {
    pub bbox: [i32; 4],
    pub points: &'a [[f32; 2]],
    pub caption: String,
}

/// Draw boxes, points and captions on a copy of the colour (BGR) `image` and write it.
pub fn annotate(image: &Mat, faces: &[FaceMark], path: &Path) -> Result<()> {
    let mut out = image.try_clone()?;
    let side = image.cols().max(image.rows()) as f64;
    let thick = ((side / 400.0).round() as i32).max(1);
    let scale = (side / 800.0).max(0.4);
    let green = bgr((60.0, 220.0, 60.0));
    let yellow = bgr((0.0, 220.0, 255.0));
    for f in faces {
        let [x, y, w, h] = f.bbox;
        imgproc::rectangle(&mut out, Rect::new(x, y, w, h), green, thick, LINE_AA, 0)?;
        // Points scale with the face, so they stay apart on small faces.
        let radius = (w / POINT_RADIUS_DIVISOR).max(1);
        for p in f.points {
            imgproc::circle(
                &mut out,
                Point::new(p[0].round() as i32, p[1].round() as i32),
                radius,
                yellow,
                -1,
                LINE_AA,
                0,
            )?;
        }
        let org = Point::new(x, (y - 6).max(12));
        imgproc::put_text(
            &mut out,
            &f.caption,
            org,
            FONT_HERSHEY_SIMPLEX,
            scale,
            green,
            thick,
            LINE_AA,
            false,
        )?;
    }
    write_image(&out, path)
}

/// Where the transition matrix of `source` goes beside the confusion picture `plot`:
/// `confusion.png` and source `fer2013` give `confusion-transition-fer2013.png`
/// (characters other than letters, digits, `-`, `_` and `.` become `_`).
pub fn transition_picture_path(plot: &Path, source: &str) -> std::path::PathBuf {
    let safe = safe_file_name(source);
    let stem = plot.file_stem().map_or_else(
        || "confusion".to_string(),
        |s| s.to_string_lossy().into_owned(),
    );
    let ext = plot
        .extension()
        .map_or_else(|| "png".to_string(), |e| e.to_string_lossy().into_owned());
    plot.with_file_name(format!("{stem}-transition-{safe}.{ext}"))
}

/// `s` with every character other than letters, digits, `.`, `_` and `-` made `_`,
/// so that it can stand in a file name.
pub fn safe_file_name(s: &str) -> String {
    s.chars()
        .map(|c| {
            if c.is_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}
