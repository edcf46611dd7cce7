//! AdamW whose state can be saved and restored, for `train-cnn` checkpoints.
//!
//! candle-nn's `AdamW` keeps its moments and step count private, so a checkpoint
//! could hold the weights but not the optimiser, and a resumed run would diverge
//! from an uninterrupted one. This is the same update, operation for operation (so
//! a run gives the same weights as with candle-nn 0.11's `AdamW`; checked by
//! training with both and comparing the files byte for byte), over named variables
//! whose moments [`AdamW::state`] hands out and [`AdamW::restore`] puts back.

use candle_core::backprop::GradStore;
use candle_core::{Tensor, Var};
use candle_nn::{Optimizer, ParamsAdamW};

/// One variable and its two moment estimates.
struct Slot {
    name: String,
    var: Var,
    first_moment: Var,
    second_moment: Var,
}

/// AdamW (Loshchilov & Hutter) over named variables.
pub struct AdamW {
    slots: Vec<Slot>,
    step_t: usize,
    params: ParamsAdamW,
}

/// The moments of one variable, by its name.
pub struct Moments {
    pub name: String,
    pub first: Tensor,
    pub second: Tensor,
}

impl AdamW {
    /// An optimiser over `vars` (sorted by name, so the state has one order), its
    /// moments at zero.
    pub fn new(mut vars: Vec<(String, Var)>, params: ParamsAdamW) -> candle_core::Result<Self> {
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let slots = vars
            .into_iter()
            .filter(|(_, var)| var.dtype().is_float())
            .map(|(name, var)| {
                let zeros = || Var::zeros(var.shape(), var.dtype(), var.device());
                Ok(Slot {
                    first_moment: zeros()?,
                    second_moment: zeros()?,
                    name,
                    var,
                })
            })
            .collect::<candle_core::Result<Vec<_>>>()?;
        Ok(AdamW {
            slots,
            step_t: 0,
            params,
        })
    }

    /// Steps taken so far (the bias corrections depend on it).
    pub fn steps(&self) -> usize {
        self.step_t
    }

    /// Every variable's moments, in name order.
    pub fn state(&self) -> Vec<Moments> {
        self.slots
            .iter()
            .map(|s| Moments {
                name: s.name.clone(),
                first: s.first_moment.as_tensor().clone(),
                second: s.second_moment.as_tensor().clone(),
            })
            .collect()
    }

    /// Put back the state of [`AdamW::state`] after `steps` steps. Every variable
    /// must have its moments, of its shape; an error names the first that has not.
    pub fn restore(&mut self, steps: usize, moments: &[Moments]) -> Result<(), String> {
        if moments.len() != self.slots.len() {
            return Err(format!(
                "{} optimiser variables saved, the network has {}",
                moments.len(),
                self.slots.len()
            ));
        }
        for slot in &self.slots {
            let m = moments
                .iter()
                .find(|m| m.name == slot.name)
                .ok_or_else(|| format!("no optimiser state for `{}`", slot.name))?;
            for (var, saved) in [
                (&slot.first_moment, &m.first),
                (&slot.second_moment, &m.second),
            ] {
                if saved.dims() != var.dims() {
                    return Err(format!(
                        "optimiser state of `{}` is {:?}, the variable is {:?}",
                        slot.name,
                        saved.dims(),
                        var.dims()
                    ));
                }
                var.set(saved).map_err(|e| e.to_string())?;
            }
        }
        self.step_t = steps;
        Ok(())
    }
}

impl Optimizer for AdamW {
    type Config = ParamsAdamW;

    fn new(vars: Vec<Var>, params: ParamsAdamW) -> candle_core::Result<Self> {
        let named = vars
            .into_iter()
            .enumerate()
            .map(|(i, v)| (format!("{i:06}"), v))
            .collect();
        AdamW::new(named, params)
    }

    fn learning_rate(&self) -> f64 {
        self.params.lr
    }

    fn set_learning_rate(&mut self, lr: f64) {
        self.params.lr = lr
    }

    // The same operations in the same order as candle-nn 0.11's `AdamW::step`.
    fn step(&mut self, grads: &GradStore) -> candle_core::Result<()> {
        self.step_t += 1;
        let lr = self.params.lr;
        let lr_lambda = lr * self.params.weight_decay;
        let (beta1, beta2) = (self.params.beta1, self.params.beta2);
        let scale_m = 1f64 / (1f64 - beta1.powi(self.step_t as i32));
        let scale_v = 1f64 / (1f64 - beta2.powi(self.step_t as i32));
        for slot in &self.slots {
            let (theta, m, v) = (&slot.var, &slot.first_moment, &slot.second_moment);
            if let Some(g) = grads.get(theta) {
                let next_m = ((m.as_tensor() * beta1)? + (g * (1.0 - beta1))?)?;
                let next_v = ((v.as_tensor() * beta2)? + (g.sqr()? * (1.0 - beta2))?)?;
                let m_hat = (&next_m * scale_m)?;
                let v_hat = (&next_v * scale_v)?;
                let next_theta = (theta.as_tensor() * (1f64 - lr_lambda))?;
                let adjusted_grad = (m_hat / (v_hat.sqrt()? + self.params.eps)?)?;
                let next_theta = (next_theta - (adjusted_grad * lr)?)?;
                m.set(&next_m)?;
                v.set(&next_v)?;
                theta.set(&next_theta)?;
            }
        }
        Ok(())
    }
}
