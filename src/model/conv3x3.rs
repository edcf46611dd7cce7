//! The CNN's 3x3 convolution (stride 1, padding 1, no bias) as im2col + one matrix
//! product, forward and backward, on the CPU.
//!
//! Why not candle's own `conv2d`: profiled with `perf` on `fer train-cnn` (CK+48, the
//! default network), candle 0.11's CPU convolution spent two thirds of a training
//! step outside arithmetic. Its backward pass takes the input gradient with
//! `conv_transpose2d`, a direct loop of short dot products (a third of the step), and
//! its tiled im2col gathers one scalar at a time in an order that misses the cache
//! (more than half of what remained), while the matrix products themselves took a
//! tenth. Here a column matrix row is a shifted copy of an input plane, so it is built
//! from contiguous row copies; each chunk of images then needs one `Tensor::matmul`
//! (candle's gemm, on every core):
//!
//! - forward: `y = W · cols`, with `W` the weights as `[c_out, c_in·9]`;
//! - input gradient: `dcols = Wᵀ · dy`, scattered back onto the input planes
//!   (col2im, the adjoint of im2col);
//! - weight gradient: `dW = dy · colsᵀ`.
//!
//! Weights keep `candle_nn::conv2d_no_bias`'s shape and name, so CNN files are
//! unchanged. The unit tests check outputs and both gradients against candle's
//! `conv2d` and its backward pass (equal to float rounding), with the batch cut into
//! chunks and whole. On other devices, or with `FER_CNN_CANDLE_OPS=1`
//! ([`crate::model::cpu_ops::CANDLE_OPS_ENV`]), candle's own `conv2d` runs.

use crate::model::cpu_ops::{runs_our_ops, values, with_values};
use candle_core::{CpuStorage, CustomOp2, Device, Layout, Module, Shape, Tensor};
use candle_nn::VarBuilder;
use rayon::prelude::*;

/// Kernel side.
const KERNEL: usize = 3;
/// Kernel taps per input channel.
const TAPS: usize = KERNEL * KERNEL;
/// Zero padding on each side, so the output has the input's height and width.
const PADDING: usize = KERNEL / 2;
/// Most floats of one column matrix (64 MiB): images are taken in chunks that fit.
const MAX_COLUMN_FLOATS: usize = 16 << 20;

/// A 3x3, stride-1, padding-1 convolution without bias; weights `[c_out, c_in, 3, 3]`
/// named `weight` under the builder's path, as `candle_nn::conv2d_no_bias` names them.
pub struct Conv3x3 {
    weight: Tensor,
}

impl Conv3x3 {
    /// Build (or load) the weights; new ones start as `candle_nn::conv2d_no_bias`'s do.
    pub fn new(c_in: usize, c_out: usize, vb: VarBuilder) -> candle_core::Result<Self> {
        let weight = vb.get_with_hints(
            (c_out, c_in, KERNEL, KERNEL),
            "weight",
            candle_nn::init::DEFAULT_KAIMING_NORMAL,
        )?;
        Ok(Conv3x3 { weight })
    }
}

impl Module for Conv3x3 {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        if !runs_our_ops(x) {
            return x.conv2d(&self.weight, PADDING, 1, 1, 1);
        }
        x.contiguous()?.apply_op2(
            &self.weight,
            Im2ColConv {
                max_column_floats: MAX_COLUMN_FLOATS,
            },
        )
    }
}

/// The custom op behind [`Conv3x3`].
struct Im2ColConv {
    max_column_floats: usize,
}

/// The sizes of one convolution: input `[n, c_in, h, w]`, weights `[c_out, c_in, 3, 3]`.
#[derive(Clone, Copy)]
struct Dims {
    n: usize,
    c_in: usize,
    c_out: usize,
    h: usize,
    w: usize,
}

impl Dims {
    fn of(x: &Shape, weight: &Shape) -> candle_core::Result<Self> {
        let (n, c_in, h, w) = x.dims4()?;
        let (c_out, wc, kh, kw) = weight.dims4()?;
        if wc != c_in || kh != KERNEL || kw != KERNEL {
            candle_core::bail!("conv3x3: weights {weight:?} do not fit an input {x:?}");
        }
        Ok(Dims {
            n,
            c_in,
            c_out,
            h,
            w,
        })
    }
    fn plane(&self) -> usize {
        self.h * self.w
    }
    /// Rows of a column matrix.
    fn rows(&self) -> usize {
        self.c_in * TAPS
    }
    /// The batch in chunks whose column matrix stays within `max_floats` (at least
    /// one image each): each chunk's first image and its sizes.
    fn chunks(self, max_floats: usize) -> impl Iterator<Item = (usize, Dims)> {
        let per = (max_floats / (self.rows() * self.plane()).max(1)).max(1);
        (0..self.n).step_by(per).map(move |start| {
            let n = per.min(self.n - start);
            (start, Dims { n, ..self })
        })
    }
}

/// The span of output columns `x0..x1` whose input column `x + dx - PADDING` lies
/// inside a row of `w` pixels, for the kernel column `dx`.
fn valid_columns(dx: usize, w: usize) -> (usize, usize) {
    (
        PADDING.saturating_sub(dx),
        (w + PADDING).saturating_sub(dx).min(w),
    )
}

/// The input row read by output row `y` at kernel row `dy`, if inside the image.
fn source_row(y: usize, dy: usize, h: usize) -> Option<usize> {
    (y + dy).checked_sub(PADDING).filter(|&sy| sy < h)
}

/// The column matrix `[c_in·9, n·h·w]` of `n` images `x` (`[n, c_in, h, w]`): row
/// `ci·9 + dy·3 + dx` holds, for every output pixel, the input of channel `ci` at
/// offset `(dy - 1, dx - 1)` from it, zero outside the image.
fn im2col(x: &[f32], d: Dims) -> Vec<f32> {
    let (plane, width) = (d.plane(), d.n * d.plane());
    let mut cols = vec![0.0f32; d.rows() * width];
    cols.par_chunks_mut(width)
        .enumerate()
        .for_each(|(row, out)| {
            let (ci, tap) = (row / TAPS, row % TAPS);
            let (dy, dx) = (tap / KERNEL, tap % KERNEL);
            let (x0, x1) = valid_columns(dx, d.w);
            for img in 0..d.n {
                let src = &x[(img * d.c_in + ci) * plane..][..plane];
                let dst = &mut out[img * plane..][..plane];
                for y in 0..d.h {
                    if let Some(sy) = source_row(y, dy, d.h) {
                        let s = sy * d.w + x0 + dx - PADDING;
                        dst[y * d.w + x0..y * d.w + x1].copy_from_slice(&src[s..s + x1 - x0]);
                    }
                }
            }
        });
    cols
}

/// The adjoint of [`im2col`]: each column matrix entry added onto the input pixel
/// it was copied from, in `x` (`[n, c_in, h, w]`).
fn col2im_add(cols: &[f32], d: Dims, x: &mut [f32]) {
    let (plane, width) = (d.plane(), d.n * d.plane());
    x.par_chunks_mut(plane).enumerate().for_each(|(p, dst)| {
        let (img, ci) = (p / d.c_in, p % d.c_in);
        for tap in 0..TAPS {
            let (dy, dx) = (tap / KERNEL, tap % KERNEL);
            let (x0, x1) = valid_columns(dx, d.w);
            let src = &cols[(ci * TAPS + tap) * width + img * plane..][..plane];
            for y in 0..d.h {
                if let Some(sy) = source_row(y, dy, d.h) {
                    let s = sy * d.w + x0 + dx - PADDING;
                    for (t, v) in dst[s..s + x1 - x0]
                        .iter_mut()
                        .zip(&src[y * d.w + x0..y * d.w + x1])
                    {
                        *t += v;
                    }
                }
            }
        }
    });
}

/// `v` (`[rows, cols, plane]`) written into `out` as `[cols, rows, plane]`: images
/// and channels swap places (`[n, c, h·w]` ↔ `[c, n·h·w]`), planes copied whole.
fn transpose_planes(v: &[f32], out: &mut [f32], rows: usize, cols: usize, plane: usize) {
    out.par_chunks_mut(plane).enumerate().for_each(|(i, dst)| {
        let (col, row) = (i / rows, i % rows);
        let src = (row * cols + col) * plane;
        dst.copy_from_slice(&v[src..src + plane]);
    });
}

/// A `[rows, cols]` CPU tensor of `v`.
fn matrix(v: Vec<f32>, rows: usize, cols: usize) -> candle_core::Result<Tensor> {
    Tensor::from_vec(v, (rows, cols), &Device::Cpu)
}

impl CustomOp2 for Im2ColConv {
    fn name(&self) -> &'static str {
        "conv3x3"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let d = Dims::of(l1.shape(), l2.shape())?;
        let (x, w) = (values(s1, l1)?, values(s2, l2)?);
        let weights = Tensor::from_slice(w, (d.c_out, d.rows()), &Device::Cpu)?;
        let (image, out_image) = (d.c_in * d.plane(), d.c_out * d.plane());
        let mut y = vec![0.0f32; d.n * out_image];
        for (start, part) in d.chunks(self.max_column_floats) {
            let cols = im2col(&x[start * image..(start + part.n) * image], part);
            let out = weights.matmul(&matrix(cols, d.rows(), part.n * d.plane())?)?;
            let y = &mut y[start * out_image..(start + part.n) * out_image];
            with_values(&out, |out| {
                transpose_planes(out, y, d.c_out, part.n, d.plane());
                Ok(())
            })?;
        }
        Ok((CpuStorage::F32(y), Shape::from((d.n, d.c_out, d.h, d.w))))
    }

    fn bwd(
        &self,
        x: &Tensor,
        w: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>)> {
        let d = Dims::of(x.shape(), w.shape())?;
        let weights_t = w.reshape((d.c_out, d.rows()))?.t()?;
        let (image, out_image) = (d.c_in * d.plane(), d.c_out * d.plane());
        let mut grad_x = vec![0.0f32; d.n * image];
        let mut grad_w: Option<Tensor> = None;
        with_values(x, |x| {
            with_values(grad, |g| {
                for (start, part) in d.chunks(self.max_column_floats) {
                    let width = part.n * d.plane();
                    let cols = matrix(
                        im2col(&x[start * image..(start + part.n) * image], part),
                        d.rows(),
                        width,
                    )?;
                    let g_part = &g[start * out_image..(start + part.n) * out_image];
                    let mut swapped = vec![0.0f32; g_part.len()];
                    transpose_planes(g_part, &mut swapped, part.n, d.c_out, d.plane());
                    let g = matrix(swapped, d.c_out, width)?;
                    let gw = g.matmul(&cols.t()?)?;
                    grad_w = Some(match grad_w.take() {
                        Some(acc) => (acc + gw)?,
                        None => gw,
                    });
                    let dcols = weights_t.matmul(&g)?;
                    let dx = &mut grad_x[start * image..(start + part.n) * image];
                    with_values(&dcols, |dcols| {
                        col2im_add(dcols, part, dx);
                        Ok(())
                    })?;
                }
                Ok(())
            })
        })?;
        let grad_x = Tensor::from_vec(grad_x, x.shape(), &Device::Cpu)?;
        let grad_w = match grad_w {
            Some(gw) => gw.reshape(w.shape())?,
            None => w.zeros_like()?, // an empty batch
        };
        Ok((Some(grad_x), Some(grad_w)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::cpu_ops::test_tensors::{abs_sum, assert_close, random};
    use candle_core::Var;

    /// Outputs and both gradients of `loss = sum(conv(x, w) * r)`, ours (column
    /// matrices of at most `max_column_floats`) and candle's.
    fn check(max_column_floats: usize) {
        // Odd sizes, 3 images, more output channels than input channels.
        let (x0, w0, r) = (
            random(&[3, 5, 7, 9], 1, 1.0, 0.0),
            random(&[6, 5, 3, 3], 2, 1.0, 0.0),
            random(&[3, 6, 7, 9], 3, 1.0, 0.0),
        );
        let run = |ours: bool| {
            let (x, w) = (
                Var::from_tensor(&x0).unwrap(),
                Var::from_tensor(&w0).unwrap(),
            );
            let y = if ours {
                let op = Im2ColConv { max_column_floats };
                x.as_tensor().apply_op2(w.as_tensor(), op).unwrap()
            } else {
                x.as_tensor().conv2d(w.as_tensor(), 1, 1, 1, 1).unwrap()
            };
            let grads = (&y * &r).unwrap().sum_all().unwrap().backward().unwrap();
            let gx = grads.get(x.as_tensor()).unwrap().clone();
            let gw = grads.get(w.as_tensor()).unwrap().clone();
            (y, gx, gw)
        };
        let (y, gx, gw) = run(true);
        let (y_ref, gx_ref, gw_ref) = run(false);
        assert_close(&[(&y, &y_ref), (&gx, &gx_ref), (&gw, &gw_ref)]);
        assert!(abs_sum(&gx) > 1.0, "a gradient of zeros");
    }

    #[test]
    fn gives_candles_outputs_and_gradients_in_one_chunk() {
        check(MAX_COLUMN_FLOATS);
    }

    #[test]
    fn gives_candles_outputs_and_gradients_in_uneven_chunks() {
        // 45 rows x 63 pixels an image: chunks of two images, then one.
        check(45 * 63 * 2);
    }
}
