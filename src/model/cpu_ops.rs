//! What the CNN's own CPU ops ([`crate::model::conv3x3`], [`crate::model::group_norm`])
//! share: borrowing the `f32` values of CPU tensors and storages, and the switch
//! back to candle's ops.

use candle_core::{CpuStorage, Device, Layout, Storage, Tensor};
use std::sync::OnceLock;

/// Set to `1`, the CNN runs its convolutions and GroupNorm with candle's own ops
/// (`Tensor::conv2d`, `candle_nn::GroupNorm`) instead of ours: for side-by-side
/// benchmarks (`benches/train_cnn.sh`), and to rule our ops out when a result looks wrong.
pub const CANDLE_OPS_ENV: &str = "FER_CNN_CANDLE_OPS";

/// Whether our ops run on `x`: it is on the CPU and [`CANDLE_OPS_ENV`] (read once per
/// process) does not ask for candle's.
pub fn runs_our_ops(x: &Tensor) -> bool {
    static CANDLE_REQUESTED: OnceLock<bool> = OnceLock::new();
    let candle =
        *CANDLE_REQUESTED.get_or_init(|| std::env::var(CANDLE_OPS_ENV).is_ok_and(|v| v == "1"));
    !candle && matches!(x.device(), Device::Cpu)
}

/// The values of a contiguous f32 CPU storage.
pub fn values<'a>(storage: &'a CpuStorage, layout: &Layout) -> candle_core::Result<&'a [f32]> {
    let (start, end) = layout.contiguous_offsets().ok_or_else(|| {
        candle_core::Error::Msg("a strided tensor where a contiguous one was made".into())
    })?;
    Ok(&storage.as_slice::<f32>()?[start..end])
}

/// Run `f` on a CPU tensor's values (made contiguous first).
pub fn with_values<R>(
    t: &Tensor,
    f: impl FnOnce(&[f32]) -> candle_core::Result<R>,
) -> candle_core::Result<R> {
    let t = t.contiguous()?;
    let (storage, layout) = t.storage_and_layout();
    match &*storage {
        Storage::Cpu(cpu) => f(values(cpu, layout)?),
        _ => candle_core::bail!("a tensor not on the CPU given to a CPU-only op"),
    }
}

/// Tensors for the ops' unit tests.
#[cfg(test)]
pub(crate) mod test_tensors {
    use candle_core::{Device, Tensor};

    /// Values in [-1, 1) from a fixed linear congruential sequence, times `scale` plus `shift`.
    pub fn random(dims: &[usize], seed: u64, scale: f32, shift: f32) -> Tensor {
        let mut s = seed;
        let v: Vec<f32> = (0..dims.iter().product())
            .map(|_| {
                s = s
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((s >> 40) as f32 / (1u64 << 23) as f32 - 1.0) * scale + shift
            })
            .collect();
        Tensor::from_vec(v, dims, &Device::Cpu).unwrap()
    }

    /// Largest absolute difference between two tensors' values (of one shape).
    pub fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
        assert_eq!(a.dims(), b.dims());
        let a = a.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let b = b.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        a.iter()
            .zip(&b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0, f32::max)
    }

    /// Every pair equal to `1e-4` (float rounding of sums taken in another order).
    pub fn assert_close(pairs: &[(&Tensor, &Tensor)]) {
        for (a, b) in pairs {
            let d = max_abs_diff(a, b);
            assert!(d < 1e-4, "differs by {d}");
        }
    }

    /// The sum of a tensor's absolute values (to see that a gradient is not all zero).
    pub fn abs_sum(t: &Tensor) -> f32 {
        t.abs()
            .unwrap()
            .sum_all()
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }
}
