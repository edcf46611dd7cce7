//! Decoding every common format and pixel layout to grey, and refusing bad files.

mod common;

use fer::stages::decode::{decode_bytes, decode_file, DecodeConfig};
use fer::FerError;
use image::{DynamicImage, ImageBuffer, ImageFormat, Luma, LumaA, Rgb, Rgba};
use std::io::Cursor;

/// A 32x24 test card: left half dark, right half bright.
fn card() -> DynamicImage {
    DynamicImage::ImageRgb8(ImageBuffer::from_fn(32, 24, |x, _| {
        if x < 16 {
            Rgb([20, 30, 40])
        } else {
            Rgb([220, 230, 240])
        }
    }))
}

fn encode(img: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut buf = Cursor::new(Vec::new());
    img.write_to(&mut buf, format).unwrap();
    buf.into_inner()
}

fn assert_card(bytes: &[u8], what: &str) {
    let g = decode_bytes(bytes, &DecodeConfig::default()).unwrap_or_else(|e| panic!("{what}: {e}"));
    assert_eq!((g.width(), g.height()), (32, 24), "{what}");
    assert!(g.get(2, 2) < 80, "{what}: dark half is {}", g.get(2, 2));
    assert!(
        g.get(30, 20) > 180,
        "{what}: bright half is {}",
        g.get(30, 20)
    );
}

#[test]
fn decodes_every_format_to_grey() {
    let rgb = card();
    for format in [
        ImageFormat::Png,
        ImageFormat::Jpeg,
        ImageFormat::Gif,
        ImageFormat::Tiff,
        ImageFormat::Bmp,
        ImageFormat::WebP,
    ] {
        assert_card(&encode(&rgb, format), &format!("{format:?}"));
    }
}

#[test]
fn decodes_grey_alpha_and_16_bit_layouts() {
    let rgb = card();
    let layouts = [
        ("grey", DynamicImage::ImageLuma8(rgb.to_luma8())),
        (
            "grey+alpha",
            DynamicImage::ImageLumaA8(ImageBuffer::from_fn(32, 24, |x, y| {
                LumaA([rgb.to_luma8().get_pixel(x, y)[0], 255])
            })),
        ),
        (
            "rgba",
            DynamicImage::ImageRgba8(ImageBuffer::from_fn(32, 24, |x, y| {
                let p = rgb.to_rgb8().get_pixel(x, y).0;
                Rgba([p[0], p[1], p[2], 128])
            })),
        ),
        (
            "grey 16-bit",
            DynamicImage::ImageLuma16(ImageBuffer::from_fn(32, 24, |x, _| {
                Luma([if x < 16 { 5000u16 } else { 60000 }])
            })),
        ),
        (
            "rgb 16-bit",
            DynamicImage::ImageRgb16(ImageBuffer::from_fn(32, 24, |x, _| {
                let v = if x < 16 { 5000u16 } else { 60000 };
                Rgb([v, v, v])
            })),
        ),
    ];
    for (name, img) in layouts {
        assert_card(&encode(&img, ImageFormat::Png), name);
    }
}

#[test]
fn decodes_palette_tiff() {
    // A 32x24 palette TIFF written by Pillow: index 0 black (left), 1 white (right).
    let bytes = std::fs::read(common::root().join("tests/fixtures/palette.tif")).unwrap();
    let g = decode_bytes(&bytes, &DecodeConfig::default()).unwrap();
    assert_eq!((g.width(), g.height()), (32, 24));
    assert_eq!(g.get(2, 2), 0);
    assert_eq!(g.get(30, 20), 255);
}

/// Insert an EXIF APP1 segment with the given orientation after the JPEG SOI marker.
fn with_exif_orientation(jpeg: &[u8], orientation: u16) -> Vec<u8> {
    let mut tiff = b"MM\0\x2a\0\0\0\x08".to_vec(); // big-endian TIFF header, IFD at 8
    tiff.extend_from_slice(&1u16.to_be_bytes()); // one entry
    tiff.extend_from_slice(&0x0112u16.to_be_bytes()); // Orientation
    tiff.extend_from_slice(&3u16.to_be_bytes()); // SHORT
    tiff.extend_from_slice(&1u32.to_be_bytes()); // count
    tiff.extend_from_slice(&orientation.to_be_bytes());
    tiff.extend_from_slice(&[0, 0]); // value padding
    tiff.extend_from_slice(&0u32.to_be_bytes()); // no next IFD
    let mut payload = b"Exif\0\0".to_vec();
    payload.extend_from_slice(&tiff);
    let mut out = jpeg[..2].to_vec();
    out.extend_from_slice(&[0xFF, 0xE1]);
    out.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    out.extend_from_slice(&payload);
    out.extend_from_slice(&jpeg[2..]);
    out
}

#[test]
fn honours_exif_orientation() {
    let jpeg = encode(&card(), ImageFormat::Jpeg);
    // Orientation 6: display after turning 90 degrees clockwise, so the stored
    // left (dark) half becomes the top half and the image becomes 24x32.
    let g = decode_bytes(&with_exif_orientation(&jpeg, 6), &DecodeConfig::default()).unwrap();
    assert_eq!((g.width(), g.height()), (24, 32));
    assert!(g.get(12, 2) < 80, "top is dark");
    assert!(g.get(12, 30) > 180, "bottom is bright");
}

#[test]
fn refuses_huge_images_from_the_header() {
    let t = std::time::Instant::now();
    let err = decode_bytes(
        &common::png_header_only(100_000, 100_000),
        &DecodeConfig::default(),
    )
    .unwrap_err();
    assert!(
        matches!(
            err,
            FerError::TooLarge {
                width: 100_000,
                height: 100_000,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("over the limit"), "{err}");
    // Refused before any pixel work: far below the time a 10-gigapixel decode would take.
    assert!(t.elapsed().as_secs() < 2);
}

#[test]
fn bad_files_give_clear_errors_naming_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let png = encode(&card(), ImageFormat::Png);
    let jpeg = encode(&card(), ImageFormat::Jpeg);
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("empty.png", vec![], "empty file"),
        ("truncated.png", png[..png.len() / 2].to_vec(), "Png"),
        (
            "truncated.jpg",
            jpeg[..jpeg.len() / 3].to_vec(),
            "truncated JPEG",
        ),
        (
            "truncated-photo.jpg",
            {
                let j = std::fs::read(common::sample("justin.jpg")).unwrap();
                j[..j.len() * 2 / 3].to_vec()
            },
            "truncated JPEG",
        ),
        (
            "text.png",
            b"hello, this is not an image\n".to_vec(),
            "not a recognised image format",
        ),
    ];
    for (name, bytes, expect) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let err = decode_file(&path, &DecodeConfig::default())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(name),
            "{name}: error does not name the file: {err}"
        );
        assert!(err.contains(expect), "{name}: {err}");
    }
}

#[test]
fn a_one_pixel_image_decodes() {
    let img = DynamicImage::ImageLuma8(ImageBuffer::from_pixel(1, 1, Luma([77])));
    let g = decode_bytes(&encode(&img, ImageFormat::Png), &DecodeConfig::default()).unwrap();
    assert_eq!((g.width(), g.height(), g.get(0, 0)), (1, 1, 77));
}

#[test]
fn files_over_the_size_limit_are_refused_unread() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.png");
    std::fs::write(&path, encode(&card(), ImageFormat::Png)).unwrap();
    let cfg = DecodeConfig {
        max_file_bytes: 10,
        ..Default::default()
    };
    let err = decode_file(&path, &cfg).unwrap_err().to_string();
    assert!(err.contains("over the limit"), "{err}");
}

#[test]
fn one_decode_gives_grey_and_bgr_colour() {
    use fer::stages::decode::decode_file_with_colour;
    use opencv::prelude::*;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("card.png");
    std::fs::write(&path, encode(&card(), ImageFormat::Png)).unwrap();
    let (grey, colour) = decode_file_with_colour(&path, &DecodeConfig::default()).unwrap();
    assert_eq!((grey.width(), grey.height()), (32, 24));
    assert_eq!(
        (colour.cols(), colour.rows(), colour.channels()),
        (32, 24, 3)
    );
    // RGB (20, 30, 40) is stored blue first.
    assert_eq!(
        *colour.at_2d::<opencv::core::Vec3b>(2, 2).unwrap(),
        opencv::core::Vec3b::from([40, 30, 20])
    );
    let err = decode_file_with_colour(&dir.path().join("missing.png"), &DecodeConfig::default())
        .unwrap_err();
    assert!(err.to_string().contains("missing.png"));
}
