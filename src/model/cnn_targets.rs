//! The training targets and loss terms of [`crate::model::cnn_train`]: label
//! smoothing of one-hot and vote targets, mixup's Beta draws, and the Git loss terms.

use crate::error::Result;
use candle_core::Tensor;
use rand::Rng;

/// Smoothed one-hot targets `[labels.len(), classes]`, row-major.
pub fn smoothed_targets(labels: &[u32], classes: usize, eps: f32) -> Vec<f32> {
    let mut t = vec![eps / classes as f32; labels.len() * classes];
    for (i, &y) in labels.iter().enumerate() {
        t[i * classes + y as usize] += 1.0 - eps;
    }
    t
}

/// Rows `rows` of `targets` (`[n, classes]` distributions, row-major), each smoothed
/// as a one-hot is: `(1 - eps) * t + eps / classes`.
pub fn smoothed_rows(targets: &[f32], rows: &[usize], classes: usize, eps: f32) -> Vec<f32> {
    rows.iter()
        .flat_map(|&r| &targets[r * classes..(r + 1) * classes])
        .map(|&t| (1.0 - eps) * t + eps / classes as f32)
        .collect()
}

/// A draw from Beta(alpha, alpha) by Johnk's method (exact for any alpha; quick for alpha <= 1).
pub fn beta_sample<R: Rng + ?Sized>(alpha: f32, rng: &mut R) -> f32 {
    loop {
        let x = rng.random::<f32>().powf(1.0 / alpha);
        let y = rng.random::<f32>().powf(1.0 / alpha);
        if x + y <= 1.0 && x + y > 0.0 {
            return x / (x + y);
        }
    }
}

/// Git loss terms `(center, push)` of embeddings `[n, d]` with soft class weights
/// `[n, k]` (one-hot, or mixed by mixup) against centres `[k, d]`.
pub fn git_terms(
    embedding: &Tensor,
    weights: &Tensor,
    centres: &Tensor,
) -> Result<(Tensor, Tensor)> {
    // Squared distances [n, k] = |e|^2 + |c|^2 - 2 e.c
    let e2 = embedding.sqr()?.sum_keepdim(1)?;
    let c2 = centres.sqr()?.sum_keepdim(1)?.t()?;
    let d2 = e2
        .broadcast_add(&c2)?
        .sub(&(embedding.matmul(&centres.t()?)? * 2.0)?)?
        .relu()?;
    let center = (d2.mul(weights)?.sum(1)?.mean_all()? * 0.5)?;
    let other = weights.affine(-1.0, 1.0)?; // 1 - weight: the centres a sample is not of
    let push = (d2 + 1.0)?.recip()?.mul(&other)?.sum(1)?.mean_all()?;
    Ok((center, push))
}
