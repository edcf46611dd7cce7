//! Photos and video frames annotated with each face's box, fiducial points and
//! label, drawn onto the frame itself with OpenCV's `imgproc` (the frames are
//! OpenCV images already, and its Hershey fonts need no font files), and encoded
//! by the file's extension.

use crate::atomic_file::write_atomic_unsynced;
use crate::error::{FerError, Result};
use opencv::core::{Mat, Point, Rect, Scalar, Vector};
use opencv::imgcodecs;
use opencv::imgproc::{self, FONT_HERSHEY_SIMPLEX, LINE_AA};
use opencv::prelude::*;
use std::path::Path;

/// A landmark dot's radius is the face width divided by this.
const POINT_RADIUS_DIVISOR: i32 = 60;

fn bgr(c: (f64, f64, f64)) -> Scalar {
    Scalar::new(c.0, c.1, c.2, 0.0)
}

/// Encode `img` by the extension of `path` and write it atomically.
fn write_image(img: &Mat, path: &Path) -> Result<()> {
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
    write_atomic_unsynced(path, buf.as_slice())
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
