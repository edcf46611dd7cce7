//! Face boxes against ground truth: dlib's imglab XML, overlap, and the rule by which a
//! detection finds a true face. Shared by the integration tests (through `common`) and
//! by `examples/dnn_face_detectors.rs`, which count found faces the same way.

use std::path::Path;

/// Ground-truth boxes `(file, [x, y, w, h])` from a dlib imglab XML file.
pub fn dlib_boxes(xml: &Path) -> Vec<(String, [i32; 4])> {
    let text = std::fs::read_to_string(xml).expect("read dlib xml");
    let attr = |line: &str, name: &str| -> Option<String> {
        let key = format!("{name}='");
        let start = line.find(&key)? + key.len();
        let end = line[start..].find('\'')? + start;
        Some(line[start..end].to_string())
    };
    let mut file = String::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with("<image ") {
            file = attr(line, "file").unwrap_or_default();
        } else if line.starts_with("<box ") {
            let n = |k| {
                attr(line, k)
                    .and_then(|v| v.parse::<i32>().ok())
                    .unwrap_or(0)
            };
            out.push((file.clone(), [n("left"), n("top"), n("width"), n("height")]));
        }
    }
    out
}

/// Intersection over union of two boxes.
pub fn iou(a: [i32; 4], b: [i32; 4]) -> f64 {
    let x0 = a[0].max(b[0]);
    let y0 = a[1].max(b[1]);
    let x1 = (a[0] + a[2]).min(b[0] + b[2]);
    let y1 = (a[1] + a[3]).min(b[1] + b[3]);
    let inter = ((x1 - x0).max(0) * (y1 - y0).max(0)) as f64;
    let union = (a[2] * a[3] + b[2] * b[3]) as f64 - inter;
    if union > 0.0 {
        inter / union
    } else {
        0.0
    }
}

/// A ground-truth box counts as found when a detection's centre lies inside it
/// (Haar boxes are larger than dlib's, so IoU alone under-counts).
pub fn matches(truth: [i32; 4], det: [i32; 4]) -> bool {
    let cx = det[0] + det[2] / 2;
    let cy = det[1] + det[3] / 2;
    cx >= truth[0]
        && cx <= truth[0] + truth[2]
        && cy >= truth[1]
        && cy <= truth[1] + truth[3]
        && det[2] < 3 * truth[2]
        && truth[2] < 3 * det[2]
}

/// How many of the `truth` boxes the detections `got` find, and how many detections
/// match no truth box (false hits), by [`matches`].
pub fn found_and_false_hits(truth: &[[i32; 4]], got: &[[i32; 4]]) -> (usize, usize) {
    let found = truth
        .iter()
        .filter(|t| got.iter().any(|d| matches(**t, *d)))
        .count();
    let false_hits = got
        .iter()
        .filter(|d| !truth.iter().any(|t| matches(*t, **d)))
        .count();
    (found, false_hits)
}
