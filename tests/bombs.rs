//! Decompression bombs for every image decoder (RELIABILITY.md): at most 2 KB
//! that declare billions of pixels, in PNG, GIF, JPEG, BMP, TIFF and WebP. Each must
//! be refused from its header, naming the file, quickly, and a batch over all of them
//! must stay far below 500 MB of memory. An animated GIF of thousands of frames is
//! read for its first frame only.

mod common;

use fer::error::FerError;
use fer::stages::decode::{decode_bytes, DecodeConfig};
use image::{DynamicImage, ImageBuffer, ImageFormat, Rgb};
use std::io::Cursor;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Peak memory a batch over the bombs may reach (the bound).
const MAX_PEAK_BYTES: u64 = 500 << 20;
/// Longest a refusal may take: far below what decoding billions of pixels would.
const MAX_REFUSAL: Duration = Duration::from_secs(2);

/// A small colour image encoded as `format` (colour: every encoder takes it).
fn small(format: ImageFormat) -> Vec<u8> {
    let img = DynamicImage::ImageRgb8(ImageBuffer::from_fn(16, 16, |x, y| {
        Rgb([(x * y) as u8, x as u8, y as u8])
    }));
    let mut buf = Cursor::new(Vec::new());
    img.write_to(&mut buf, format).unwrap();
    buf.into_inner()
}

/// A GIF whose logical screen is 65535 x 65535.
fn gif_bomb() -> Vec<u8> {
    let mut b = small(ImageFormat::Gif);
    b[6..8].copy_from_slice(&u16::MAX.to_le_bytes());
    b[8..10].copy_from_slice(&u16::MAX.to_le_bytes());
    b
}

/// A baseline JPEG whose frame header declares 65000 x 65000.
fn jpeg_bomb() -> Vec<u8> {
    let mut b = small(ImageFormat::Jpeg);
    let sof = b
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .expect("a baseline frame header");
    b[sof + 5..sof + 7].copy_from_slice(&65000u16.to_be_bytes()); // height
    b[sof + 7..sof + 9].copy_from_slice(&65000u16.to_be_bytes()); // width
    b
}

/// A BMP whose info header declares 60000 x 60000 (under the BMP decoder's own
/// 65535 cap, so that the pixel limit is what refuses it).
fn bmp_bomb() -> Vec<u8> {
    let mut b = small(ImageFormat::Bmp);
    b[18..22].copy_from_slice(&60_000i32.to_le_bytes());
    b[22..26].copy_from_slice(&60_000i32.to_le_bytes());
    b
}

/// One page of a hand-written grey TIFF: its size and the byte count its single
/// strip declares.
#[derive(Clone, Copy)]
struct TiffPage {
    width: u32,
    height: u32,
    strip_bytes: u32,
}

/// Where the last page of a hand-written TIFF links to.
#[derive(Clone, Copy, PartialEq)]
enum LastPage {
    /// No next page: the file ends.
    Ends,
    /// Back to the first page: a chain of pages without end.
    LoopsToFirst,
}

/// A little-endian TIFF of 8-bit grey pages, each one uncompressed strip, all
/// pointing at the same `data` (so that thousands of pages take a few bytes each).
fn grey_tiff(pages: &[TiffPage], data: &[u8], last: LastPage) -> Vec<u8> {
    const SHORT: u16 = 3;
    const LONG: u16 = 4;
    const ENTRIES: usize = 9;
    const IFD_LEN: usize = 2 + 12 * ENTRIES + 4;
    let data_at = 8u32;
    let first_ifd = (8 + data.len() + data.len() % 2) as u32;
    let mut b = b"II*\0".to_vec();
    b.extend_from_slice(&first_ifd.to_le_bytes());
    b.extend_from_slice(data);
    if data.len() % 2 == 1 {
        b.push(0); // IFDs start on a word boundary
    }
    for (i, page) in pages.iter().enumerate() {
        let entries: [(u16, u16, u32); ENTRIES] = [
            (256, LONG, page.width),       // ImageWidth
            (257, LONG, page.height),      // ImageLength
            (258, SHORT, 8),               // BitsPerSample
            (259, SHORT, 1),               // Compression: none
            (262, SHORT, 1),               // Photometric: black is zero
            (273, LONG, data_at),          // StripOffsets
            (277, SHORT, 1),               // SamplesPerPixel
            (278, LONG, page.height),      // RowsPerStrip: one strip
            (279, LONG, page.strip_bytes), // StripByteCounts
        ];
        b.extend_from_slice(&(ENTRIES as u16).to_le_bytes());
        for (tag, kind, value) in entries {
            b.extend_from_slice(&tag.to_le_bytes());
            b.extend_from_slice(&kind.to_le_bytes());
            b.extend_from_slice(&1u32.to_le_bytes());
            b.extend_from_slice(&value.to_le_bytes()); // a SHORT sits in the low two bytes
        }
        let next = if i + 1 < pages.len() {
            first_ifd + ((i + 1) * IFD_LEN) as u32
        } else if last == LastPage::LoopsToFirst {
            first_ifd
        } else {
            0
        };
        b.extend_from_slice(&next.to_le_bytes());
    }
    b
}

/// A TIFF of one 8-bit grey strip that declares 100000 x 100000.
fn tiff_bomb() -> Vec<u8> {
    let page = TiffPage {
        width: 100_000,
        height: 100_000,
        strip_bytes: 16,
    };
    grey_tiff(&[page], &[0u8; 16], LastPage::Ends)
}

/// The side a WebP bomb declares.
const WEBP_SIDE: u32 = 10_000;

/// A lossless WebP (VP8L) whose header declares `WEBP_SIDE` x `WEBP_SIDE` (100
/// megapixels).
fn webp_bomb() -> Vec<u8> {
    let mut b = small(ImageFormat::WebP);
    assert_eq!(&b[12..16], b"VP8L", "the encoder writes lossless WebP");
    // After the chunk header and the 0x2F signature: 14 bits width - 1, 14 bits
    // height - 1, then the alpha and version bits, little-endian.
    let old = u32::from_le_bytes(b[21..25].try_into().unwrap());
    let bits = (old & !((1 << 28) - 1)) | (WEBP_SIDE - 1) | ((WEBP_SIDE - 1) << 14);
    b[21..25].copy_from_slice(&bits.to_le_bytes());
    b
}

/// Every bomb, with its file name.
fn bombs() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("bomb.png", common::png_header_only(100_000, 100_000)),
        ("bomb.gif", gif_bomb()),
        ("bomb.jpg", jpeg_bomb()),
        ("bomb.bmp", bmp_bomb()),
        ("bomb.tiff", tiff_bomb()),
        ("bomb.webp", webp_bomb()),
    ]
}

#[test]
fn every_decoder_refuses_a_bomb_from_its_header() {
    for (name, bytes) in bombs() {
        assert!(bytes.len() < 2048, "{name}: {} bytes", bytes.len());
        let t = Instant::now();
        let err = decode_bytes(&bytes, &DecodeConfig::default())
            .err()
            .unwrap_or_else(|| panic!("{name} decoded"));
        assert!(
            matches!(err, FerError::TooLarge { .. }),
            "{name}: refused, but not from its header: {err}"
        );
        assert!(t.elapsed() < MAX_REFUSAL, "{name}: {:?}", t.elapsed());
    }
}

#[test]
fn a_batch_over_every_bomb_names_each_and_stays_small() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in");
    std::fs::create_dir(&input).unwrap();
    for (name, bytes) in bombs() {
        std::fs::write(input.join(name), bytes).unwrap();
    }
    std::fs::copy(common::sample("justin.jpg"), input.join("justin.jpg")).unwrap();
    let out = dir.path().join("rows.csv");
    // Reaped by wait4 below, which also gives its peak memory.
    #[allow(clippy::zombie_processes)]
    let child = Command::new(env!("CARGO_BIN_EXE_fer"))
        .arg("batch")
        .arg(&input)
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let (status, peak) = common::wait_with_peak(child);
    assert_eq!(libc::WEXITSTATUS(status), 1, "some files failed: exit 1");
    assert!(peak < MAX_PEAK_BYTES, "peak memory {} MB", peak >> 20);
    let rows = common::rows_without_times(&out);
    for (name, _) in bombs() {
        let row = rows
            .iter()
            .find(|r| r[0].ends_with(name))
            .unwrap_or_else(|| panic!("no row for {name}"));
        assert_eq!(row[1], "error", "{name}");
        assert!(
            row.iter()
                .any(|c| c.contains(name) && c.contains("over the limit")),
            "{name}: {row:?}"
        );
    }
    assert!(rows
        .iter()
        .any(|r| r[0].ends_with("justin.jpg") && r[1] == "ok"));
    eprintln!(
        "batch over {} bombs: peak memory {} MB",
        bombs().len(),
        peak >> 20
    );
}

/// Frames in the many-frame GIF.
const MANY_FRAMES: usize = 2000;
/// How many times faster reading its first frame must be than decoding every frame.
const MIN_FRAME_SPEED_UP: u32 = 20;

/// A 256x256 GIF of one frame, and the same GIF with that frame repeated
/// [`MANY_FRAMES`] times (its blocks after the global colour table copied before
/// the trailer): 131 million pixels in all.
fn one_and_many_frame_gifs() -> (Vec<u8>, Vec<u8>) {
    let img = DynamicImage::ImageRgb8(ImageBuffer::from_fn(256, 256, |x, y| {
        Rgb([(x ^ y) as u8, x as u8, (y / 2) as u8])
    }));
    let mut buf = Cursor::new(Vec::new());
    img.write_to(&mut buf, ImageFormat::Gif).unwrap();
    let one = buf.into_inner();
    // Header (6) and logical screen descriptor (7); bit 7 of byte 10 flags a
    // global colour table of 3 * 2^(size + 1) bytes.
    let flags = one[10];
    let table = if flags & 0x80 != 0 {
        3 << ((flags & 7) + 1)
    } else {
        0
    };
    let (head, body) = one.split_at(13 + table);
    assert_eq!(body.last(), Some(&0x3B), "a GIF ends with its trailer");
    let frame = &body[..body.len() - 1];
    let mut many = head.to_vec();
    for _ in 0..MANY_FRAMES {
        many.extend_from_slice(frame);
    }
    many.push(0x3B);
    (one, many)
}

/// An animated GIF is read for its first frame only: a file of thousands of frames
/// gives the same image as its first frame alone, without decoding the rest.
#[test]
fn a_gif_of_thousands_of_frames_is_read_for_its_first_frame() {
    use image::AnimationDecoder;
    let (one, many) = one_and_many_frame_gifs();
    let cfg = DecodeConfig::default();
    let first = decode_bytes(&one, &cfg).unwrap();
    // The file does hold every frame; decoding them all is the cost to avoid.
    let t = Instant::now();
    let frames = image::codecs::gif::GifDecoder::new(Cursor::new(&many))
        .unwrap()
        .into_frames()
        .count();
    let every = t.elapsed();
    assert_eq!(frames, MANY_FRAMES);
    let t = Instant::now();
    let read = decode_bytes(&many, &cfg).unwrap();
    let elapsed = t.elapsed();
    assert_eq!((read.width(), read.height()), (256, 256));
    assert_eq!(read.pixels(), first.pixels(), "the first frame");
    // Here 0.7 ms against 710 ms; a ratio, so that a loaded machine slows both.
    assert!(
        elapsed * MIN_FRAME_SPEED_UP < every,
        "first frame in {elapsed:?}, every frame in {every:?}"
    );
    eprintln!(
        "{MANY_FRAMES}-frame GIF of {} MB: first frame read in {elapsed:?}, every frame decoded in {every:?}",
        many.len() >> 20
    );
}

/// Pages in the many-page TIFF.
const MANY_PAGES: usize = 10_000;
/// The side of each of its pages.
const PAGE_SIDE: u32 = 64;

/// A TIFF is read for its first page only: one of ten thousand pages, and one
/// whose chain of pages loops back to the first, give the first page's pixels,
/// far faster than decoding every page would take.
#[test]
fn a_tiff_of_thousands_of_pages_or_a_loop_of_pages_is_read_for_its_first_page() {
    let side = PAGE_SIDE;
    let data: Vec<u8> = (0..side * side).map(|i| (i * 7 % 251) as u8).collect();
    let page = TiffPage {
        width: side,
        height: side,
        strip_bytes: data.len() as u32,
    };
    let one = grey_tiff(&[page], &data, LastPage::Ends);
    let many = grey_tiff(&vec![page; MANY_PAGES], &data, LastPage::Ends);
    let looped = grey_tiff(&[page, page], &data, LastPage::LoopsToFirst);
    let cfg = DecodeConfig::default();
    let first = decode_bytes(&one, &cfg).unwrap();
    assert_eq!(first.pixels(), data.as_slice());
    // The file does hold every page; decoding them all is the cost to avoid.
    let t = Instant::now();
    let mut decoder = tiff::decoder::Decoder::new(Cursor::new(&many)).unwrap();
    let mut pages = 1;
    decoder.read_image().unwrap();
    while decoder.more_images() {
        decoder.next_image().unwrap();
        decoder.read_image().unwrap();
        pages += 1;
    }
    let every = t.elapsed();
    assert_eq!(pages, MANY_PAGES);
    let t = Instant::now();
    let read = decode_bytes(&many, &cfg).unwrap();
    let elapsed = t.elapsed();
    assert_eq!(read.pixels(), first.pixels(), "the first page");
    assert!(
        elapsed * MIN_FRAME_SPEED_UP < every,
        "first page in {elapsed:?}, every page in {every:?}"
    );
    let t = Instant::now();
    let read = decode_bytes(&looped, &cfg).unwrap();
    assert_eq!(read.pixels(), first.pixels(), "the first page of the loop");
    assert!(t.elapsed() < MAX_REFUSAL, "{:?}", t.elapsed());
    eprintln!(
        "{MANY_PAGES}-page TIFF of {} MB: first page read in {elapsed:?}, every page decoded in {every:?}",
        many.len() >> 20
    );
}

/// A strip that declares 4 GB, in a file of a few bytes whose page is within the
/// pixel limit, is refused (naming the file) without allocating the 4 GB.
#[test]
fn a_tiff_strip_declaring_gigabytes_is_refused_without_reading_them() {
    let page = TiffPage {
        width: 2_000,
        height: 2_000,
        strip_bytes: 4_000_000_000,
    };
    let bytes = grey_tiff(&[page], &[0u8; 16], LastPage::Ends);
    let t = Instant::now();
    let err = decode_bytes(&bytes, &DecodeConfig::default())
        .expect_err("a strip past the end of the file cannot decode");
    assert!(t.elapsed() < MAX_REFUSAL, "{:?}", t.elapsed());
    assert!(
        err.to_string()
            .contains("more data than the pixel limit allows"),
        "{err}"
    );
}
