//! What the CNN's own CPU ops ([`crate::model::conv3x3`], [`crate::model::group_norm`])
//! share: borrowing the `f32` values of CPU tensors and storages, and the switch
//! back to candle's ops.

use candle_core::{CpuStorage, Layout, Storage, Tensor};
use std::sync::OnceLock;

/// Set to `1`, the CNN runs its convolutions and GroupNorm with candle's own ops
/// (`Tensor::conv2d`, `candle_nn::GroupNorm`) instead of ours: for side-by-side
/// benchmarks (`benches/train_cnn.sh`), and to rule our ops out when a result looks wrong.
pub const CANDLE_OPS_ENV: &str = "FER_CNN_CANDLE_OPS";

/// Whether [`CANDLE_OPS_ENV`] asks for candle's ops (read once per process).
pub fn candle_ops_requested() -> bool {
    static REQUESTED: OnceLock<bool> = OnceLock::new();
    *REQUESTED.get_or_init(|| std::env::var(CANDLE_OPS_ENV).is_ok_and(|v| v == "1"))
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
