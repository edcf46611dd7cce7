//! The CNN's GroupNorm (Wu & He 2018), forward and backward in one pass per group on
//! the CPU.
//!
//! Why not `candle_nn::GroupNorm`: it is built from a dozen tensor ops, and the
//! backward pass of its per-channel scale and shift (`[1, c, 1, 1]`, broadcast over
//! the batch and the plane) is candle's strided `sum` over three axes on one core. In
//! `perf` on `fer train-cnn` (CK+48, the default network, after [`crate::model::conv3x3`])
//! those sums were a fifth of a training step. A group's values are contiguous in
//! `[n, c, h, w]` (its channels are adjacent), so each group is one slice, normalised
//! and differentiated in place, groups in parallel. For a group of `m` values with mean
//! `μ`, `σ = sqrt(var + eps)` (the biased variance, as candle and PyTorch take it),
//! `x̂ = (x - μ) / σ` and `y = γ_c x̂ + β_c`:
//!
//! - `dβ_c = Σ dy`, `dγ_c = Σ dy · x̂` (over the batch and the plane);
//! - `dx = (g - mean(g) - x̂ · mean(g · x̂)) / σ` with `g = dy · γ_c` (means over the group).
//!
//! With [`GroupNorm::forward_relu`] a ReLU follows inside the same op: its mask
//! (where the output is zero) is applied to the output gradient in the backward pass,
//! which spares candle's ReLU backward, a comparison, a type conversion, a product and
//! a sum over full-size tensors, all on one core.
//!
//! Weights keep `candle_nn::group_norm`'s names (`weight`, `bias`), shapes and start
//! (ones and zeros), so CNN files are unchanged. The unit tests check outputs and all
//! three gradients against `candle_nn::GroupNorm` (equal to float rounding). On other
//! devices, or with `FER_CNN_CANDLE_OPS=1`, `candle_nn::GroupNorm` runs.

use crate::model::cpu_ops::{runs_our_ops, values, with_values};
use candle_core::{CpuStorage, CustomOp3, Device, Layout, Module, Shape, Tensor};
use candle_nn::{Init, VarBuilder};
use rayon::prelude::*;
use std::borrow::Cow;

/// GroupNorm over `groups` groups of channels, with a learnt scale and shift per channel.
pub struct GroupNorm {
    weight: Tensor,
    bias: Tensor,
    groups: usize,
    eps: f64,
}

impl GroupNorm {
    /// Build (or load) the scale (`weight`, ones) and shift (`bias`, zeros) of `channels`.
    pub fn new(
        groups: usize,
        channels: usize,
        eps: f64,
        vb: VarBuilder,
    ) -> candle_core::Result<Self> {
        if groups == 0 || !channels.is_multiple_of(groups) {
            candle_core::bail!("group norm: {groups} groups do not divide {channels} channels");
        }
        Ok(GroupNorm {
            weight: vb.get_with_hints(channels, "weight", Init::Const(1.0))?,
            bias: vb.get_with_hints(channels, "bias", Init::Const(0.0))?,
            groups,
            eps,
        })
    }

    /// `relu(group_norm(x))` as one op: the ReLU's mask is applied inside the
    /// backward pass, instead of candle's ReLU backward (a comparison, a conversion, a
    /// product and a sum of full-size tensors on one core).
    pub fn forward_relu(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.apply(x, true)
    }

    fn apply(&self, x: &Tensor, relu: bool) -> candle_core::Result<Tensor> {
        if !runs_our_ops(x) {
            let channels = self.weight.dim(0)?;
            let norm = candle_nn::GroupNorm::new(
                self.weight.clone(),
                self.bias.clone(),
                channels,
                self.groups,
                self.eps,
            )?;
            let y = norm.forward(x)?;
            return if relu { y.relu() } else { Ok(y) };
        }
        let op = GroupNormOp {
            groups: self.groups,
            eps: self.eps,
            relu,
        };
        x.contiguous()?.apply_op3(&self.weight, &self.bias, op)
    }
}

impl Module for GroupNorm {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        self.apply(x, false)
    }
}

/// The custom op behind [`GroupNorm`]: arguments `x [n, c, ...]`, `weight [c]`,
/// `bias [c]`; with `relu`, a ReLU follows.
struct GroupNormOp {
    groups: usize,
    eps: f64,
    relu: bool,
}

/// Where one group's values lie: `channels` channels of `plane` values each.
#[derive(Clone, Copy)]
struct GroupShape {
    channels: usize,
    plane: usize,
}

impl GroupNormOp {
    /// The group layout of an input shape, checked against `c` scale values.
    fn layout(&self, x: &Shape, c: usize) -> candle_core::Result<GroupShape> {
        let dims = x.dims();
        if dims.len() < 3 || dims[1] != c || self.groups == 0 || !c.is_multiple_of(self.groups) {
            candle_core::bail!(
                "group norm: an input {x:?} for {c} channels in {} groups",
                self.groups
            );
        }
        Ok(GroupShape {
            channels: c / self.groups,
            plane: dims[2..].iter().product(),
        })
    }
}

/// The mean and `1 / σ` of a group's values.
fn moments(v: &[f32], eps: f64) -> (f32, f32) {
    let m = v.len().max(1) as f64;
    let mean = v.iter().map(|&a| a as f64).sum::<f64>() / m;
    let var = v.iter().map(|&a| (a as f64 - mean).powi(2)).sum::<f64>() / m;
    (mean as f32, (1.0 / (var + eps).sqrt()) as f32)
}

impl CustomOp3 for GroupNormOp {
    fn name(&self) -> &'static str {
        "group-norm"
    }

    fn cpu_fwd(
        &self,
        s1: &CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (x, gamma, beta) = (values(s1, l1)?, values(s2, l2)?, values(s3, l3)?);
        let c = gamma.len();
        let g = self.layout(l1.shape(), c)?;
        let mut y = vec![0.0f32; x.len()];
        y.par_chunks_mut(g.channels * g.plane)
            .zip(x.par_chunks(g.channels * g.plane))
            .enumerate()
            .for_each(|(block, (y, x))| {
                let (mean, inv_sd) = moments(x, self.eps);
                let first = (block % self.groups) * g.channels;
                for (k, (y, x)) in y.chunks_mut(g.plane).zip(x.chunks(g.plane)).enumerate() {
                    let (scale, shift) = (gamma[first + k] * inv_sd, beta[first + k]);
                    for (y, &x) in y.iter_mut().zip(x) {
                        *y = (x - mean) * scale + shift;
                    }
                    if self.relu {
                        y.iter_mut().for_each(|y| *y = y.max(0.0));
                    }
                }
            });
        Ok((CpuStorage::F32(y), l1.shape().clone()))
    }

    fn bwd(
        &self,
        x: &Tensor,
        gamma: &Tensor,
        _beta: &Tensor,
        res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<(Option<Tensor>, Option<Tensor>, Option<Tensor>)> {
        let c = gamma.dim(0)?;
        let g = self.layout(x.shape(), c)?;
        let n = x.dim(0)?;
        let gamma_v = gamma.to_vec1::<f32>()?;
        let size = g.channels * g.plane;
        let mut dx = vec![0.0f32; x.elem_count()];
        // Per sample and channel: Σ dy·x̂ and Σ dy, summed over the batch afterwards.
        let mut dgamma = vec![0.0f32; n * c];
        let mut dbeta = vec![0.0f32; n * c];
        with_values(x, |x| {
            with_values(grad, |dy| {
                with_values(res, |y| {
                    dx.par_chunks_mut(size)
                        .zip(dgamma.par_chunks_mut(g.channels))
                        .zip(dbeta.par_chunks_mut(g.channels))
                        .enumerate()
                        .for_each(|(block, ((dx, dgamma), dbeta))| {
                            let (x, y) = (&x[block * size..][..size], &y[block * size..][..size]);
                            // The output gradient through the ReLU, if any: zero where it cut.
                            let dy = &dy[block * size..][..size];
                            let dy: Cow<[f32]> = if self.relu {
                                dy.iter()
                                    .zip(y)
                                    .map(|(&d, &y)| if y > 0.0 { d } else { 0.0 })
                                    .collect()
                            } else {
                                Cow::Borrowed(dy)
                            };
                            let (mean, inv_sd) = moments(x, self.eps);
                            let first = (block % self.groups) * g.channels;
                            // Pass 1: the channel sums and the group means of g and g·x̂.
                            let (mut sum_g, mut sum_gx) = (0.0f64, 0.0f64);
                            for k in 0..g.channels {
                                let span = k * g.plane..(k + 1) * g.plane;
                                let (mut s_dy, mut s_dyx) = (0.0f64, 0.0f64);
                                for (&x, &dy) in x[span.clone()].iter().zip(&dy[span]) {
                                    let xh = ((x - mean) * inv_sd) as f64;
                                    s_dy += dy as f64;
                                    s_dyx += dy as f64 * xh;
                                }
                                dbeta[k] = s_dy as f32;
                                dgamma[k] = s_dyx as f32;
                                let gk = gamma_v[first + k] as f64;
                                sum_g += gk * s_dy;
                                sum_gx += gk * s_dyx;
                            }
                            let m = size.max(1) as f64;
                            let (mean_g, mean_gx) = ((sum_g / m) as f32, (sum_gx / m) as f32);
                            // Pass 2: dx.
                            for k in 0..g.channels {
                                let gk = gamma_v[first + k];
                                let span = k * g.plane..(k + 1) * g.plane;
                                for ((dx, &x), &dy) in dx[span.clone()]
                                    .iter_mut()
                                    .zip(&x[span.clone()])
                                    .zip(&dy[span])
                                {
                                    let xh = (x - mean) * inv_sd;
                                    *dx = (dy * gk - mean_g - xh * mean_gx) * inv_sd;
                                }
                            }
                        });
                    Ok(())
                })
            })
        })?;
        let over_batch = |parts: Vec<f32>| -> candle_core::Result<Tensor> {
            Tensor::from_vec(parts, (n, c), &Device::Cpu)?.sum(0)
        };
        Ok((
            Some(Tensor::from_vec(dx, x.shape(), &Device::Cpu)?),
            Some(over_batch(dgamma)?),
            Some(over_batch(dbeta)?),
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::cpu_ops::test_tensors::{abs_sum, assert_close, random};
    use candle_core::Var;

    #[test]
    fn gives_candles_outputs_and_gradients() {
        check(false);
    }

    #[test]
    fn gives_candles_outputs_and_gradients_with_the_relu() {
        check(true);
    }

    /// Ours (with a ReLU after it if `relu`) against `candle_nn::GroupNorm` (and `relu`).
    fn check(relu: bool) {
        // 3 samples, 6 channels in 3 groups, 5x7 planes; values off zero and of unit spread.
        let (x0, gamma0, beta0, r) = (
            random(&[3, 6, 5, 7], 1, 2.0, 0.5),
            random(&[6], 2, 1.0, 1.0),
            random(&[6], 3, 1.0, 0.0),
            random(&[3, 6, 5, 7], 4, 1.0, 0.0),
        );
        let run = |ours: bool| {
            let vars = [&x0, &gamma0, &beta0].map(|t| Var::from_tensor(t).unwrap());
            let [x, gamma, beta] = vars.each_ref().map(|v| v.as_tensor().clone());
            let y = if ours {
                let op = GroupNormOp {
                    groups: 3,
                    eps: 1e-5,
                    relu,
                };
                x.apply_op3(&gamma, &beta, op).unwrap()
            } else {
                let norm = candle_nn::GroupNorm::new(gamma.clone(), beta.clone(), 6, 3, 1e-5);
                let y = norm.unwrap().forward(&x).unwrap();
                if relu {
                    y.relu().unwrap()
                } else {
                    y
                }
            };
            let grads = (&y * &r).unwrap().sum_all().unwrap().backward().unwrap();
            let [gx, gg, gb] = [&x, &gamma, &beta].map(|t| grads.get(t).unwrap().clone());
            (y, gx, gg, gb)
        };
        let ours = run(true);
        let theirs = run(false);
        assert_close(&[
            (&ours.0, &theirs.0),
            (&ours.1, &theirs.1),
            (&ours.2, &theirs.2),
            (&ours.3, &theirs.3),
        ]);
        assert!(abs_sum(&ours.1) > 1.0, "a gradient of zeros");
    }

    #[test]
    fn groups_must_divide_the_channels() {
        let op = GroupNormOp {
            groups: 4,
            eps: 1e-5,
            relu: false,
        };
        assert!(op.layout(&Shape::from((2, 6, 3, 3)), 6).is_err());
        assert!(op.layout(&Shape::from((2, 8, 3, 3)), 6).is_err());
        assert!(op.layout(&Shape::from((2, 8, 3, 3)), 8).is_ok());
    }
}
