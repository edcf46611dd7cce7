//! Soft voting of the MLP, the random forest and the booster: the mean of their
//! probabilities. Each member is trained as its own kind (and reused when the same
//! rows already trained it); the bundle holds every member's tensors side by side.

use crate::error::Result;
use crate::model::boost::BoostKind;
use crate::model::forest::ForestKind;
use crate::model::learner::{fit_kind, Classify, FitJob, Fitted, Learner, LoadJob, Trained};
use crate::model::mlp::MlpKind;
use crate::model::net::{EpochCallback, TrainReport};
use std::any::Any;
use std::sync::Arc;

/// The members, in voting order.
pub const MEMBERS: [&dyn Learner; 3] = [&MlpKind, &ForestKind, &BoostKind];

/// The members' classifiers.
pub struct Ensemble {
    members: Vec<Arc<dyn Classify>>,
}

impl Classify for Ensemble {
    fn probabilities(&self, x: &[f32], n: usize, dim: usize) -> Result<Vec<Vec<f32>>> {
        let mut sum: Vec<Vec<f32>> = Vec::new();
        for m in &self.members {
            let p = m.probabilities(x, n, dim)?;
            if sum.is_empty() {
                sum = p;
            } else {
                sum.iter_mut()
                    .zip(&p)
                    .for_each(|(s, q)| s.iter_mut().zip(q).for_each(|(a, b)| *a += b));
            }
        }
        let k = self.members.len().max(1) as f32;
        sum.iter_mut()
            .for_each(|r| r.iter_mut().for_each(|v| *v /= k));
        Ok(sum)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The `ensemble` kind.
pub struct EnsembleKind;

impl Learner for EnsembleKind {
    fn name(&self) -> &'static str {
        "ensemble"
    }
    /// Its members train separately; only its MLP would learn soft targets.
    fn is_network(&self) -> bool {
        false
    }
    /// Its MLP stops early on the validation split.
    fn uses_validation(&self) -> bool {
        true
    }
    fn fit(
        &self,
        job: &FitJob,
        trained: &mut Trained,
        on_epoch: &mut EpochCallback,
    ) -> Result<Fitted> {
        let mut members = Vec::with_capacity(MEMBERS.len());
        let mut tensors = Vec::new();
        let mut report = None;
        let mut seconds = 0.0;
        for learner in MEMBERS {
            let m = fit_kind(learner, job, trained, on_epoch)?;
            tensors.extend(m.tensors);
            members.push(m.classifier);
            seconds += m.seconds;
            // The ensemble's curve is its MLP's (the only member trained by epochs).
            report.get_or_insert(m.report);
        }
        Ok(Fitted {
            classifier: Arc::new(Ensemble { members }),
            tensors,
            report: report.unwrap_or_else(TrainReport::single_pass),
            seconds,
        })
    }
    fn load(&self, job: &LoadJob) -> Result<Box<dyn Classify>> {
        let members = MEMBERS
            .iter()
            .map(|l| l.load(job).map(Arc::from))
            .collect::<Result<Vec<_>>>()?;
        Ok(Box::new(Ensemble { members }))
    }
}
