//! What the linfa learners (`logistic`, `svm`) share: feature rows handed to linfa
//! as an `ndarray` matrix, in f64. Fitted in f32, the logistic regression read CK+
//! at 3.5% (10-fold by subject, below chance); in f64 at 87.5%.

use crate::error::{FerError, Result};
use ndarray::Array2;

/// The `rows` of the row-major `x` `[*, dim]` as a linfa matrix, in f64.
pub fn rows_matrix(x: &[f32], rows: &[usize], dim: usize) -> Result<Array2<f64>> {
    let mut xs = Vec::with_capacity(rows.len() * dim);
    for &r in rows {
        let row = x
            .get(r * dim..(r + 1) * dim)
            .ok_or_else(|| FerError::Training(format!("row {r} is past the features")))?;
        xs.extend(row.iter().map(|&v| v as f64));
    }
    Array2::from_shape_vec((rows.len(), dim), xs)
        .map_err(|e| FerError::Training(format!("linfa input: {e}")))
}

/// Three classes of `per` rows in `dim` features, class `c` shifted by 2 on feature
/// `c`, with a fixed small noise: what the linfa learners' unit tests separate.
#[cfg(test)]
pub fn shifted_blobs(dim: usize, per: usize) -> (Vec<f32>, Vec<u32>) {
    let mut x = Vec::new();
    let mut y = Vec::new();
    for c in 0..3u32 {
        for i in 0..per {
            for j in 0..dim {
                let noise = ((i * 7 + j * 13) % 11) as f32 / 11.0 - 0.5;
                x.push(noise + if j == c as usize { 2.0 } else { 0.0 });
            }
            y.push(c);
        }
    }
    (x, y)
}

/// The share of rows whose most probable class in `p` is their label in `y`.
#[cfg(test)]
pub fn share_right(p: &[Vec<f32>], y: &[u32]) -> f64 {
    let right = p
        .iter()
        .zip(y)
        .filter(|(p, &y)| crate::metrics::argmax(p, None) == y as usize)
        .count();
    right as f64 / y.len() as f64
}
