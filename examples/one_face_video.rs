//! Writes the video behind the `fer live` speed table in the README: 300 frames of
//! 640x480 MJPG at 30 frames per second, `data/justin.jpg` pasted at (130, 48) on a
//! grey canvas (one face, 191 px wide).
//!
//!     cargo run --release --example one_face_video -- one-face-640x480.avi
//!     taskset -c 0 target/release/fer live --source one-face-640x480.avi --plain

use opencv::core::{Mat, Rect, Scalar, Size};
use opencv::prelude::*;
use opencv::videoio::VideoWriter;

const FRAMES: usize = 300;
const FPS: f64 = 30.0;
const CANVAS_GREY: f64 = 90.0;

fn main() -> opencv::Result<()> {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "one-face-640x480.avi".into());
    let sample = concat!(env!("CARGO_MANIFEST_DIR"), "/data/justin.jpg");
    let face = opencv::imgcodecs::imread(sample, opencv::imgcodecs::IMREAD_COLOR)?;
    let mut canvas =
        Mat::new_rows_cols_with_default(480, 640, face.typ(), Scalar::all(CANVAS_GREY))?;
    let mut roi = Mat::roi_mut(&mut canvas, Rect::new(130, 48, face.cols(), face.rows()))?;
    face.copy_to(&mut roi)?;
    let fourcc = VideoWriter::fourcc('M', 'J', 'P', 'G')?;
    let mut w = VideoWriter::new(&out, fourcc, FPS, Size::new(640, 480), true)?;
    for _ in 0..FRAMES {
        w.write(&canvas)?;
    }
    w.release()?;
    eprintln!("wrote {out}");
    Ok(())
}
