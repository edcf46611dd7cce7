//! Where every chart is drawn: a [`Picture`] draws itself on any plotters backend,
//! and [`save`] picks the backend by the file's extension (`.svg`: plotters'
//! `SVGBackend`; `.png`: its `BitMapBackend`, encoded by the `image` crate) and
//! writes the file atomically. Text is set in the system's sans-serif font
//! (fontconfig; DejaVu Sans from `.ci/install-deps`).

use crate::atomic_file::write_atomic;
use crate::error::{FerError, Result};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::path::Path;

/// What drawing returns: plotters' errors, boxed.
pub type DrawResult = std::result::Result<(), Box<dyn std::error::Error>>;

/// A chart that can draw itself on any backend.
pub trait Picture {
    /// Width and height in pixels.
    fn size(&self) -> (u32, u32);
    /// Draw on `root`, which is `size()` large and already white.
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> DrawResult
    where
        DB::ErrorType: 'static;
}

/// The font family of all text.
pub const FONT: &str = "sans-serif";

/// Ten distinct colours (matplotlib's tab10), for classes and series.
pub const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// The colour of series `i`.
pub fn colour(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Text of `size` px in `colour`, anchored at its (`h`, `v`) point.
pub fn text_style(size: u32, colour: &RGBColor, h: HPos, v: VPos) -> TextStyle<'static> {
    (FONT, size as f64)
        .into_font()
        .color(colour)
        .pos(Pos::new(h, v))
}

/// `s` cut into lines of at most `width` characters at spaces (a word longer than
/// a line gets a line of its own), so that a long caption is wrapped, not cut.
pub fn wrap(s: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in s.split_whitespace() {
        match lines.last_mut() {
            Some(l) if l.chars().count() + 1 + word.chars().count() <= width => {
                l.push(' ');
                l.push_str(word);
            }
            _ => lines.push(word.to_string()),
        }
    }
    lines
}

/// Draw `picture` on a white `root` and flush it to the backend.
fn paint<DB: DrawingBackend>(picture: &impl Picture, root: DrawingArea<DB, Shift>) -> DrawResult
where
    DB::ErrorType: 'static,
{
    root.fill(&WHITE)?;
    picture.draw(&root)?;
    root.present()?;
    Ok(())
}

/// Draw `picture` and write it to `path` as PNG or SVG, by the extension.
pub fn save(picture: &impl Picture, path: &Path) -> Result<()> {
    let fail = |reason: String| FerError::Picture {
        path: path.to_path_buf(),
        reason,
    };
    let (w, h) = picture.size();
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    let bytes = match ext.as_str() {
        "svg" => {
            let mut svg = String::new();
            paint(
                picture,
                SVGBackend::with_string(&mut svg, (w, h)).into_drawing_area(),
            )
            .map_err(|e| fail(e.to_string()))?;
            svg.into_bytes()
        }
        "png" => {
            let mut rgb = vec![0u8; w as usize * h as usize * 3];
            paint(
                picture,
                BitMapBackend::with_buffer(&mut rgb, (w, h)).into_drawing_area(),
            )
            .map_err(|e| fail(e.to_string()))?;
            // Charts are flat colours: the best compression keeps them small.
            let mut png = Vec::new();
            let encoder = image::codecs::png::PngEncoder::new_with_quality(
                &mut png,
                image::codecs::png::CompressionType::Best,
                image::codecs::png::FilterType::Adaptive,
            );
            image::ImageEncoder::write_image(encoder, &rgb, w, h, image::ExtendedColorType::Rgb8)
                .map_err(|e| fail(e.to_string()))?;
            png
        }
        other => {
            return Err(fail(format!(
                "`.{other}` is not a picture format fer writes; end the name in .png or .svg"
            )))
        }
    };
    write_atomic(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_keeps_every_word_and_the_width() {
        let s = "trained on ../shared/data/MANIFEST.csv dataset=fer2013 split=Training; tested on PrivateTest";
        let lines = wrap(s, 30);
        assert_eq!(lines.join(" "), s);
        assert!(lines
            .iter()
            .all(|l| l.chars().count() <= 30 || !l.contains(' ')));
    }
}
