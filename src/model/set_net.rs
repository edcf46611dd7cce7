//! Set models over frames (GaitSet, Chao et al. AAAI 2019): `--model set-max`,
//! `set-mean` and `set-attention`, trained on the sets of `--set-by`.
//!
//! - **Frame encoder**: each frame's standardised feature row goes through
//!   `Linear -> ReLU -> Dropout` per `--hidden` layer (as the MLP's hidden
//!   layers), giving one embedding per frame.
//! - **Set pooling** ([`SetPool`]) turns a set's embeddings into one, whatever
//!   their order and number: the element-wise maximum (GaitSet's choice), the
//!   mean, or an attention-weighted mean whose weights are the softmax over the
//!   frames of a learned score `w . h + b` of each embedding.
//! - **Head**: a linear layer from the pooled embedding to class logits.
//!
//! A single frame is a set of one, so a set model reads images like any other
//! bundle (`batch`, `eval`, `explain`); [`Classify::set_probabilities`] reads a
//! whole set. Training ([`crate::model::set_kind`]) draws a random number of
//! each set's frames per batch, so the model sees sets of one as well as whole
//! ones.
//!
//! Weights under `set.`: `fc{i}.*` (encoder), `attention.*` (attention pooling
//! only), `head.*`.

use crate::error::{FerError, Result};
use crate::model::learner::Classify;
use crate::model::net::dropout;
use candle_core::{Device, Tensor, D};
use candle_nn::{Linear, Module, VarBuilder};
use rand::rngs::StdRng;
use std::any::Any;

/// How a set's frame embeddings become one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SetPool {
    /// Element-wise maximum over the frames (GaitSet).
    Max,
    /// Mean over the frames.
    Mean,
    /// Softmax-weighted mean with learned per-frame scores.
    Attention,
}

impl SetPool {
    /// The pooling's part of the kind name (`set-max`, ...).
    pub fn name(self) -> &'static str {
        match self {
            SetPool::Max => "max",
            SetPool::Mean => "mean",
            SetPool::Attention => "attention",
        }
    }
}

/// The network. Weights are named `fc{i}.*`, `attention.*` and `head.*` under the builder's path.
pub struct SetNet {
    encoder: Vec<Linear>,
    attention: Option<Linear>,
    head: Linear,
    pool: SetPool,
    dropout: f32,
}

impl SetNet {
    /// Build (or load) the layers from `vb`.
    pub fn new(
        vb: VarBuilder,
        input: usize,
        hidden: &[usize],
        classes: usize,
        dropout: f32,
        pool: SetPool,
    ) -> Result<Self> {
        let mut encoder = Vec::with_capacity(hidden.len());
        let mut prev = input;
        for (i, &h) in hidden.iter().enumerate() {
            encoder.push(candle_nn::linear(prev, h, vb.pp(format!("fc{i}")))?);
            prev = h;
        }
        let attention = match pool {
            SetPool::Attention => Some(candle_nn::linear(prev, 1, vb.pp("attention"))?),
            _ => None,
        };
        Ok(SetNet {
            encoder,
            attention,
            head: candle_nn::linear(prev, classes, vb.pp("head"))?,
            pool,
            dropout,
        })
    }

    /// Class log-probabilities `[b, classes]` of `b` sets of `m` frames each,
    /// given as `[b, m, input]`; with `rng`, in training mode (dropout).
    pub fn set_log_probs(&self, sets: &Tensor, mut rng: Option<&mut StdRng>) -> Result<Tensor> {
        let mut h = match rng.as_deref_mut() {
            Some(r) if self.dropout > 0.0 => dropout(sets, self.dropout / 2.0, r)?,
            _ => sets.clone(),
        };
        for layer in &self.encoder {
            h = layer.forward(&h)?.relu()?;
            if let Some(r) = rng.as_deref_mut() {
                if self.dropout > 0.0 {
                    h = dropout(&h, self.dropout, r)?;
                }
            }
        }
        let pooled = match (self.pool, &self.attention) {
            (SetPool::Max, _) => h.max(1)?,
            (SetPool::Mean, _) => h.mean(1)?,
            (SetPool::Attention, Some(a)) => {
                let weights = candle_nn::ops::softmax(&a.forward(&h)?, 1)?;
                h.broadcast_mul(&weights)?.sum(1)?
            }
            (SetPool::Attention, None) => {
                return Err(FerError::Training(
                    "attention pooling without weights".into(),
                ))
            }
        };
        Ok(candle_nn::ops::log_softmax(
            &self.head.forward(&pooled)?,
            D::Minus1,
        )?)
    }

    /// The pooling it was built with.
    pub fn pool(&self) -> SetPool {
        self.pool
    }
}

impl Classify for SetNet {
    /// Each row is a set of one frame.
    fn probabilities(&self, x: &[f32], n: usize, dim: usize) -> Result<Vec<Vec<f32>>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let t = Tensor::from_slice(x, (n, 1, dim), &Device::Cpu)?;
        Ok(self.set_log_probs(&t, None)?.exp()?.to_vec2::<f32>()?)
    }

    /// The `n` rows are the frames of one set, pooled by the learned pooling.
    fn set_probabilities(&self, x: &[f32], n: usize, dim: usize) -> Result<Vec<f32>> {
        if n == 0 {
            return Err(FerError::param("set", "a set needs at least one frame"));
        }
        let t = Tensor::from_slice(x, (1, n, dim), &Device::Cpu)?;
        Ok(self
            .set_log_probs(&t, None)?
            .exp()?
            .squeeze(0)?
            .to_vec1::<f32>()?)
    }

    fn pools_sets(&self) -> bool {
        true
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}
