//! Hostile model files (RELIABILITY.md): 10,000 seeded mutations of valid bundles of
//! five kinds — flipped bytes, truncation, a huge or wrong declared header length,
//! NaN and infinite weights, tensors declared with another dtype or shape, edited
//! headers. Each must be refused with an error naming the file, or load and give
//! finite probabilities (or an error) for real rows. A panic that reaches the caller
//! fails the test.

mod common;

use fer::model::{Model, ModelKind};
use fer::train::fit;
use fer::PipelineConfig;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

/// Mutations tried in all, spread over the kinds.
const MUTATIONS: usize = 10_000;
/// The kinds whose bundles are mutated: a network, trees, and the three kinds stored
/// as serde JSON inside a tensor.
const KINDS: [&str; 5] = ["mlp", "forest", "logistic", "svm", "soft-tree"];

/// Where a safetensors file's JSON header ends (8 bytes of length, then the JSON).
fn header_end(bytes: &[u8]) -> usize {
    let n = u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;
    8 + n
}

/// `bytes` with the JSON header replaced by `json` (and its length rewritten).
fn with_json(bytes: &[u8], json: &str) -> Vec<u8> {
    let end = header_end(bytes);
    let mut out = (json.len() as u64).to_le_bytes().to_vec();
    out.extend_from_slice(json.as_bytes());
    out.extend_from_slice(&bytes[end..]);
    out
}

/// One mutation of `good`, drawn from `rng`, and what it was.
fn mutate(good: &[u8], rng: &mut StdRng) -> (Vec<u8>, String) {
    let mut b = good.to_vec();
    let end = header_end(good);
    let json = String::from_utf8_lossy(&good[8..end]).into_owned();
    match rng.random_range(0..9) {
        0 => {
            let n = rng.random_range(1..=8);
            for _ in 0..n {
                let i = rng.random_range(0..b.len());
                b[i] ^= 1 << rng.random_range(0..8);
            }
            (b, format!("{n} bit flips anywhere"))
        }
        1 => {
            let i = rng.random_range(8..end);
            b[i] = rng.random();
            (b, format!("a random byte at {i}, in the header"))
        }
        2 => {
            let len = rng.random_range(0..b.len());
            b.truncate(len);
            (b, format!("cut to {len} bytes"))
        }
        3 => {
            let n: u64 = match rng.random_range(0..3) {
                0 => u64::MAX - rng.random_range(0..1000),
                1 => rng.random_range(0..(end as u64 * 4)),
                _ => 1 << rng.random_range(20..63),
            };
            b[..8].copy_from_slice(&n.to_le_bytes());
            (b, format!("declared header length {n}"))
        }
        4 => {
            // NaN, +inf or -inf over a few aligned f32 words of the data.
            let words = (b.len() - end) / 4;
            let bad = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY][rng.random_range(0..3)];
            let n = rng.random_range(1..=16);
            for _ in 0..n.min(words) {
                let w = end + 4 * rng.random_range(0..words);
                b[w..w + 4].copy_from_slice(&bad.to_le_bytes());
            }
            (b, format!("{n} data words set to {bad}"))
        }
        5 => {
            // A tensor declared with another dtype.
            let dtypes = [
                "\"F32\"", "\"U8\"", "\"F16\"", "\"F64\"", "\"I64\"", "\"BOOL\"",
            ];
            let from = dtypes.iter().find(|d| json.contains(*d)).unwrap();
            let to = dtypes[rng.random_range(0..dtypes.len())];
            (
                with_json(good, &json.replacen(from, to, 1)),
                format!("dtype {from} declared as {to}"),
            )
        }
        6 => {
            // A number in the header (a shape, an offset, a setting) changed.
            let digits: Vec<usize> = json
                .char_indices()
                .filter(|(_, c)| c.is_ascii_digit())
                .map(|(i, _)| i)
                .collect();
            let i = digits[rng.random_range(0..digits.len())];
            let mut j = json.clone();
            let d = (b'0' + rng.random_range(0..10u8)) as char;
            j.replace_range(i..i + 1, &d.to_string());
            (
                with_json(good, &j),
                format!("header digit at {i} set to {d}"),
            )
        }
        7 => {
            // A run of the header deleted.
            let a = rng.random_range(0..json.len());
            let z = (a + rng.random_range(1..64)).min(json.len());
            let mut j = json.clone();
            if j.is_char_boundary(a) && j.is_char_boundary(z) {
                j.replace_range(a..z, "");
            }
            (
                with_json(good, &j),
                format!("header bytes {a}..{z} deleted"),
            )
        }
        _ => {
            // Bytes inside the data region overwritten with noise.
            let a = rng.random_range(end..b.len());
            let z = (a + rng.random_range(1..256)).min(b.len());
            for x in &mut b[a..z] {
                *x = rng.random();
            }
            (b, format!("data bytes {a}..{z} overwritten"))
        }
    }
}

#[test]
fn ten_thousand_mutated_bundles_are_refused_or_give_finite_probabilities() {
    // Geometry only (no HOG), so that bundles are small and the loop is quick.
    let mut cfg = PipelineConfig::default();
    cfg.features.hog = false;
    let train = common::blobs(&cfg, 20, 3, 21);
    let probe = common::blobs(&cfg, 2, 3, 22);
    let all: Vec<usize> = (0..train.x.len()).collect();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mutant.safetensors");
    let mut rng = StdRng::seed_from_u64(2026);
    let (mut refused, mut loaded) = (0, 0);
    for kind in KINDS {
        let kind: ModelKind = kind.parse().unwrap();
        let model = fit(
            &train,
            &all,
            &common::options(kind, cfg),
            &mut |_, _, _, _| {},
        )
        .unwrap();
        let good_path = dir.path().join("good.safetensors");
        model.save(&good_path).unwrap();
        let good = std::fs::read(&good_path).unwrap();
        for _ in 0..MUTATIONS / KINDS.len() {
            let (bytes, what) = mutate(&good, &mut rng);
            std::fs::write(&path, &bytes).unwrap();
            let outcome = catch_unwind(AssertUnwindSafe(|| check(&path, &probe.x)));
            match outcome {
                Err(_) => panic!("{kind}: {what}: a panic reached the caller"),
                Ok(Err(message)) => panic!("{kind}: {what}: {message}"),
                Ok(Ok(true)) => loaded += 1,
                Ok(Ok(false)) => refused += 1,
            }
        }
    }
    assert_eq!(refused + loaded, MUTATIONS);
    eprintln!("{MUTATIONS} mutated bundles: {refused} refused naming the file, {loaded} loaded with finite probabilities or a clean error");
}

/// Load `path` and read `rows` with it: `Ok(false)` refused with the file named,
/// `Ok(true)` loaded and gave finite probabilities in [0, 1], or a clean error; `Err` says what broke the promise.
fn check(path: &Path, rows: &[Vec<f32>]) -> Result<bool, String> {
    match Model::load(path) {
        Err(e) => {
            let e = e.to_string();
            if e.contains("mutant.safetensors") {
                Ok(false)
            } else {
                Err(format!("refused without naming the file: {e}"))
            }
        }
        Ok(model) => match model.predict(rows) {
            Err(_) => Ok(true),
            Ok(probs) => {
                for p in &probs {
                    if p.iter()
                        .any(|v| !v.is_finite() || !(0.0..=1.0 + 1e-4).contains(v))
                    {
                        return Err(format!("loaded, but gave probabilities {p:?}"));
                    }
                }
                Ok(true)
            }
        },
    }
}
