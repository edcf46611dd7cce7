//! The one trait every model kind implements, in the manner of linfa's `Fit` and
//! `Predict`: a [`Learner`] fits a [`Classify`] on standardised feature rows with
//! the validated parameters, and reads one back from a bundle's tensors. Training
//! ([`crate::train`]), cross-validation, `fer compare` and the bundle go through
//! it without naming a kind; the kinds are listed once, in
//! [`crate::model::kinds`].
//!
//! Also what the learners share: the rows of one fit ([`FitJob`], [`Split`]), what
//! a fit returns ([`Fitted`]), the models already trained on the same rows
//! ([`Trained`], so that an ensemble reuses its members and a distilled soft tree
//! its teacher), and the byte-string tensors of the kinds that are not candle
//! networks.

use crate::error::{FerError, Result};
use crate::model::net::{self, EpochCallback, Net, TrainReport, TrainSet};
use crate::model::net_params::{MlpParams, ValidMlpParams};
use crate::model::params::{TreeParams, ValidTreeParams};
use crate::stages::features::FeatureLayout;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use std::any::Any;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// A trained classifier of standardised feature rows.
pub trait Classify: Send + Sync {
    /// Class probabilities `[n][classes]` for row-major `x` `[n, dim]`.
    fn probabilities(&self, x: &[f32], n: usize, dim: usize) -> Result<Vec<Vec<f32>>>;

    /// Class probabilities `[classes]` of one set: the `n` rows of `x` are the
    /// frames of one face (a sequence, a track). A set model pools their
    /// features; every other model averages their probabilities.
    fn set_probabilities(&self, x: &[f32], n: usize, dim: usize) -> Result<Vec<f32>> {
        mean_probabilities(&self.probabilities(x, n, dim)?)
            .ok_or_else(|| FerError::param("set", "a set needs at least one frame"))
    }

    /// Whether [`Classify::set_probabilities`] pools learned features (a set
    /// model) rather than averaging probabilities.
    fn pools_sets(&self) -> bool {
        false
    }

    /// The network, for kinds trained by gradient.
    fn as_net(&self) -> Option<&dyn Net> {
        None
    }

    /// The concrete type, for what only one kind can do (`fer explain`'s tree paths).
    fn as_any(&self) -> &dyn Any;
}

/// One model kind: how it trains, and how it is read back from a bundle.
pub trait Learner: Sync {
    /// The kind's name on the command line and in bundle headers.
    fn name(&self) -> &'static str;

    /// One network trained by gradient: it learns soft targets (votes, a teacher),
    /// partial labels and latent truth.
    fn is_network(&self) -> bool;

    /// Whether it trains with early stopping on a validation split (the others
    /// learn from every row of the fit).
    fn uses_validation(&self) -> bool {
        self.is_network()
    }

    /// Whether it reads the point part of the features (position and HOG block
    /// per fiducial point), which training then turns on.
    fn reads_points(&self) -> bool {
        false
    }

    /// Whether it learns from sets of frames (`--set-by`), not single rows.
    fn needs_sets(&self) -> bool {
        false
    }

    /// Whether a model trained on the same rows can stand in for a new fit
    /// (not when the fit depends on more than the rows and the parameters).
    fn reusable(&self) -> bool {
        true
    }

    /// Train on `job`, taking models it builds on from `trained` (see [`fit_kind`]).
    fn fit(
        &self,
        job: &FitJob,
        trained: &mut Trained,
        on_epoch: &mut EpochCallback,
    ) -> Result<Fitted>;

    /// The classifier stored in `job`'s tensors.
    fn load(&self, job: &LoadJob) -> Result<Box<dyn Classify>>;
}

/// Training and validation rows of one fit.
pub struct Split {
    /// Rows the models learn from.
    pub train: Vec<usize>,
    /// Rows for early stopping (originals of the held-out groups).
    pub val: Vec<usize>,
    /// Every row of the subset: what models without early stopping (forest, boost) learn from.
    pub all: Vec<usize>,
}

/// Everything one fit reads.
pub struct FitJob<'a> {
    /// Network and optimiser settings (every kind trained by gradient).
    pub params: &'a ValidMlpParams,
    /// Tree settings.
    pub trees: &'a ValidTreeParams,
    /// Standardised rows and their targets.
    pub set: &'a TrainSet<'a>,
    /// Number of classes.
    pub classes: usize,
    pub split: &'a Split,
    /// Where each part of the feature vector lies.
    pub layout: &'a FeatureLayout,
    /// The set key of every row ([`crate::sets::row_key`]), for the set models.
    pub sets: Option<&'a [String]>,
}

/// What a bundle holds for its classifier.
pub struct LoadJob<'a> {
    /// Feature dimension.
    pub dim: usize,
    /// Number of classes.
    pub classes: usize,
    /// The network settings it was trained with.
    pub mlp: &'a MlpParams,
    /// The tree settings it was trained with.
    pub trees: &'a TreeParams,
    /// The bundle's tensors, by name.
    pub tensors: &'a HashMap<String, Tensor>,
    /// Where each part of the feature vector lies.
    pub layout: &'a FeatureLayout,
}

impl LoadJob<'_> {
    /// The tensors as a candle `VarBuilder`, for the networks.
    pub fn vars(&self) -> VarBuilder<'static> {
        VarBuilder::from_tensors(self.tensors.clone(), DType::F32, &Device::Cpu)
    }

    /// The byte string stored in tensor `name` (see [`bytes_tensor`]).
    pub fn bytes(&self, name: &str) -> Result<Vec<u8>> {
        let t = self
            .tensors
            .get(name)
            .ok_or_else(|| FerError::Training(format!("tensor {name} missing")))?;
        if t.dtype() != DType::U8 || t.rank() != 1 {
            return Err(FerError::Training(format!(
                "tensor {name} is not a byte string"
            )));
        }
        Ok(t.to_vec1::<u8>()?)
    }
}

/// A classifier fresh from training, with the tensors that store it.
#[derive(Clone)]
pub struct Fitted {
    pub classifier: Arc<dyn Classify>,
    pub tensors: Vec<(String, Tensor)>,
    pub report: TrainReport,
    /// Seconds to train it from scratch (members and teacher included).
    pub seconds: f64,
}

impl Fitted {
    /// A classifier trained since `started`.
    pub fn new(
        classifier: impl Classify + 'static,
        tensors: Vec<(String, Tensor)>,
        report: TrainReport,
        started: Instant,
    ) -> Self {
        Fitted::boxed(Box::new(classifier), tensors, report, started)
    }

    /// [`Fitted::new`] of a classifier already boxed (one chosen at run time).
    pub fn boxed(
        classifier: Box<dyn Classify>,
        tensors: Vec<(String, Tensor)>,
        report: TrainReport,
        started: Instant,
    ) -> Self {
        Fitted {
            classifier: Arc::from(classifier),
            tensors,
            report,
            seconds: started.elapsed().as_secs_f64(),
        }
    }
}

/// Models already trained on the same rows and split, by kind name: an ensemble
/// reuses its members and a distilled soft tree its teacher, so that `fer compare`
/// trains each once per fold. Each entry carries its training seconds.
pub type Trained = HashMap<&'static str, Fitted>;

/// Train `learner` on `job`, or take the model of that kind already in `trained`
/// (and keep a new one there) when the kind is reusable.
pub fn fit_kind(
    learner: &dyn Learner,
    job: &FitJob,
    trained: &mut Trained,
    on_epoch: &mut EpochCallback,
) -> Result<Fitted> {
    if learner.reusable() {
        if let Some(f) = trained.get(learner.name()) {
            return Ok(f.clone());
        }
    }
    let f = learner.fit(job, trained, on_epoch)?;
    if learner.reusable() {
        trained.insert(learner.name(), f.clone());
    }
    Ok(f)
}

/// Train a network that `build` makes under the weight path `path`, on `job`'s
/// training rows with early stopping on its validation rows: the weights are
/// seeded from `--seed` (in name order) and trained by [`net::fit_net`].
pub fn fit_network<N: Net + Send + Sync + 'static>(
    job: &FitJob,
    on_epoch: &mut EpochCallback,
    path: &str,
    build: impl FnOnce(VarBuilder) -> Result<N>,
) -> Result<Fitted> {
    fit_network_on(job, job.set, on_epoch, path, build)
}

/// [`fit_network`] on `set` in place of `job`'s rows (the same rows with other
/// targets, as a distilled soft tree learns them). The seconds are this
/// network's own.
pub fn fit_network_on<N: Net + Send + Sync + 'static>(
    job: &FitJob,
    set: &TrainSet,
    on_epoch: &mut EpochCallback,
    path: &str,
    build: impl FnOnce(VarBuilder) -> Result<N>,
) -> Result<Fitted> {
    let started = Instant::now();
    let p = job.params;
    let (varmap, mut rng) = net::start(p.seed);
    let net = build(net::builder(&varmap).pp(path))?;
    net::seeded_init(&varmap, &mut rng)?;
    let report = net::fit_net(
        &net,
        &varmap,
        p,
        set,
        job.classes,
        &job.split.train,
        &job.split.val,
        &mut rng,
        on_epoch,
    )?;
    Ok(Fitted::new(net, net::weights(&varmap)?, report, started))
}

/// Every network trained by gradient classifies through its [`Net`] probabilities.
impl<T: Net + Send + Sync + 'static> Classify for T {
    fn probabilities(&self, x: &[f32], n: usize, dim: usize) -> Result<Vec<Vec<f32>>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        let t = Tensor::from_slice(x, (n, dim), &Device::Cpu)?;
        Ok(Net::probabilities(self, &t)?.to_vec2::<f32>()?)
    }
    fn as_net(&self) -> Option<&dyn Net> {
        Some(self)
    }
    fn as_any(&self) -> &dyn Any {
        self
    }
}

/// The element-wise mean of probability rows; none when there are no rows.
pub fn mean_probabilities(probs: &[Vec<f32>]) -> Option<Vec<f32>> {
    let first = probs.first()?;
    let mut sum = vec![0f32; first.len()];
    for p in probs {
        sum.iter_mut().zip(p).for_each(|(s, v)| *s += v);
    }
    let n = probs.len() as f32;
    Some(sum.into_iter().map(|s| s / n).collect())
}

/// A byte string as a `u8` tensor, for the bundle.
pub fn bytes_tensor(bytes: Vec<u8>) -> Result<Tensor> {
    let n = bytes.len();
    Ok(Tensor::from_vec(bytes, n, &Device::Cpu)?)
}

/// Run `f`, turning a panic inside a third-party model into an error: a bundle is
/// outside input, and a tampered tree must give an error, not a crash. The panic's
/// own message (smartcore's `unwrap` on a missing node) is logged at debug level
/// instead of printed, so that the user sees one clean error.
pub fn guard<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    quiet_guarded_panics();
    GUARDED.with(|g| g.set(g.get() + 1));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    GUARDED.with(|g| g.set(g.get() - 1));
    result.unwrap_or_else(|_| {
        Err(FerError::Training(format!(
            "the {what} in this bundle is malformed"
        )))
    })
}

thread_local! {
    /// How many [`guard`] calls this thread is inside.
    static GUARDED: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Install, once, a panic hook that stays quiet for panics [`guard`] catches and
/// hands every other panic to the hook that was there before.
fn quiet_guarded_panics() {
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if GUARDED.with(|g| g.get()) > 0 {
                tracing::debug!("caught inside a model: {info}");
            } else {
                previous(info);
            }
        }));
    });
}

/// Teacher probabilities softened at temperature `t` (`softmax(log p / t)`, which
/// is `softmax(logits / t)` for a network), row-major.
pub fn soften(probs: &[Vec<f32>], t: f32) -> Vec<f32> {
    let inv_t = 1.0 / t as f64;
    let mut out = Vec::with_capacity(probs.iter().map(Vec::len).sum());
    for p in probs {
        let logits: Vec<f64> = p
            .iter()
            .map(|&v| (v.max(1e-12) as f64).ln() * inv_t)
            .collect();
        let max = logits.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let z: f64 = logits.iter().map(|l| (l - max).exp()).sum();
        out.extend(logits.iter().map(|l| ((l - max).exp() / z) as f32));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Set in the child run of [`a_caught_panic_is_an_error_and_prints_nothing`].
    const CHILD: &str = "FER_GUARD_TEST_CHILD";

    #[test]
    fn a_caught_panic_is_an_error_and_prints_nothing() {
        if std::env::var_os(CHILD).is_some() {
            let caught = guard("forest", || -> Result<()> { panic!("boom inside a model") });
            assert!(caught.unwrap_err().to_string().contains("forest"));
            return;
        }
        // The panic hook writes to the process's stderr: watch it from outside.
        let name = "model::learner::tests::a_caught_panic_is_an_error_and_prints_nothing";
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", name, "--nocapture", "--test-threads", "1"])
            .env(CHILD, "1")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{stderr}");
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("1 passed"),
            "the child ran the test"
        );
        assert!(!stderr.contains("boom"), "{stderr}");
    }
}
