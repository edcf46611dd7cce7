//! One type over every model kind: built from a bundle's tensors, it turns
//! standardised feature rows into class probabilities.

use crate::error::{FerError, Result};
use crate::model::boost::Boost;
use crate::model::dndt::Dndt;
use crate::model::forest::Forest;
use crate::model::mlp::Mlp;
use crate::model::ndf::Ndf;
use crate::model::net::Net;
use crate::model::params::ModelKind;
use crate::model::soft_tree::SoftTree;
use crate::model::ModelHeader;
use candle_core::{DType, Device, Tensor};
use candle_nn::VarBuilder;
use std::collections::HashMap;
use std::sync::Arc;

/// Bundle tensor holding the forest's trees (serde JSON bytes).
pub const FOREST_TENSOR: &str = "forest.json";
/// Bundle tensor holding the booster (perpetual JSON bytes).
pub const BOOST_TENSOR: &str = "boost.json";
/// Bundle tensor holding the DNDT's selected feature indices.
pub const DNDT_FEATURES_TENSOR: &str = "dndt.features";
/// The members of an ensemble, in voting order.
pub const ENSEMBLE_MEMBERS: [ModelKind; 3] = [ModelKind::Mlp, ModelKind::Forest, ModelKind::Boost];

/// A classifier of any kind.
pub enum Classifier {
    Mlp(Mlp),
    Forest(Forest),
    Boost(Boost),
    SoftTree(SoftTree),
    Ndf(Ndf),
    Dndt(Dndt),
    /// Soft voting: the mean of the members' probabilities.
    Ensemble(Vec<Arc<Classifier>>),
}

/// A byte string as a `u8` tensor, for the bundle.
pub fn bytes_tensor(bytes: Vec<u8>) -> Result<Tensor> {
    let n = bytes.len();
    Ok(Tensor::from_vec(bytes, n, &Device::Cpu)?)
}

fn tensor_bytes(tensors: &HashMap<String, Tensor>, name: &str) -> Result<Vec<u8>> {
    let t = tensors
        .get(name)
        .ok_or_else(|| FerError::Training(format!("tensor {name} missing")))?;
    if t.dtype() != DType::U8 || t.rank() != 1 {
        return Err(FerError::Training(format!(
            "tensor {name} is not a byte string"
        )));
    }
    Ok(t.to_vec1::<u8>()?)
}

impl Classifier {
    /// Build the classifier of `kind` from bundle tensors.
    pub fn from_tensors(
        kind: ModelKind,
        header: &ModelHeader,
        tensors: &HashMap<String, Tensor>,
    ) -> Result<Self> {
        let (dim, classes, trees) = (header.feature_dim, header.classes.len(), &header.trees);
        let vb = VarBuilder::from_tensors(tensors.clone(), DType::F32, &Device::Cpu);
        Ok(match kind {
            ModelKind::Mlp => Classifier::Mlp(Mlp::new(
                vb.pp("mlp"),
                dim,
                &header.mlp.hidden,
                classes,
                header.mlp.dropout,
            )?),
            ModelKind::Forest => Classifier::Forest(Forest::from_bytes(
                &tensor_bytes(tensors, FOREST_TENSOR)?,
                classes,
            )?),
            ModelKind::Boost => Classifier::Boost(Boost::from_bytes(
                &tensor_bytes(tensors, BOOST_TENSOR)?,
                classes,
            )?),
            ModelKind::SoftTree => Classifier::SoftTree(SoftTree::new(
                vb.pp("tree"),
                dim,
                trees.depth,
                classes,
                trees.penalty,
            )?),
            ModelKind::Ndf => {
                let hidden =
                    header.mlp.hidden.first().copied().ok_or_else(|| {
                        FerError::Training("ndf needs a hidden layer size".into())
                    })?;
                Classifier::Ndf(Ndf::new(
                    vb.pp("ndf"),
                    dim,
                    hidden,
                    trees.ndf_trees,
                    trees.ndf_depth,
                    classes,
                    header.mlp.dropout,
                )?)
            }
            ModelKind::Dndt => {
                let t = tensors.get(DNDT_FEATURES_TENSOR).ok_or_else(|| {
                    FerError::Training(format!("tensor {DNDT_FEATURES_TENSOR} missing"))
                })?;
                let features: Vec<usize> = t
                    .to_dtype(DType::F32)?
                    .to_vec1::<f32>()?
                    .into_iter()
                    .map(|f| f as usize)
                    .collect();
                if features.len() != trees.dndt_features || features.iter().any(|&f| f >= dim) {
                    return Err(FerError::Training(format!(
                        "{DNDT_FEATURES_TENSOR} does not name {} features below {dim}",
                        trees.dndt_features
                    )));
                }
                Classifier::Dndt(Dndt::new(
                    vb.pp("dndt"),
                    features,
                    trees.dndt_cuts,
                    classes,
                    trees.dndt_tau,
                )?)
            }
            ModelKind::Ensemble => Classifier::Ensemble(
                ENSEMBLE_MEMBERS
                    .iter()
                    .map(|&k| Classifier::from_tensors(k, header, tensors).map(Arc::new))
                    .collect::<Result<Vec<_>>>()?,
            ),
        })
    }

    /// The network, for kinds trained by gradient.
    pub fn as_net(&self) -> Option<&dyn Net> {
        match self {
            Classifier::Mlp(m) => Some(m),
            Classifier::SoftTree(t) => Some(t),
            Classifier::Ndf(n) => Some(n),
            Classifier::Dndt(d) => Some(d),
            _ => None,
        }
    }

    /// Class probabilities `[n][classes]` for standardised row-major `x` `[n, dim]`.
    pub fn probabilities(&self, x: &[f32], n: usize, dim: usize) -> Result<Vec<Vec<f32>>> {
        if n == 0 {
            return Ok(Vec::new());
        }
        if let Some(net) = self.as_net() {
            let t = Tensor::from_slice(x, (n, dim), &Device::Cpu)?;
            return Ok(net.probabilities(&t)?.to_vec2::<f32>()?);
        }
        match self {
            // A bundle is outside input: a tampered tree must give an error, not a crash.
            Classifier::Forest(f) => guard("forest", || f.probabilities(x, n, dim)),
            Classifier::Boost(b) => guard("booster", || b.probabilities(x, n, dim)),
            Classifier::Ensemble(members) => {
                let mut sum: Vec<Vec<f32>> = Vec::new();
                for m in members {
                    let p = m.probabilities(x, n, dim)?;
                    if sum.is_empty() {
                        sum = p;
                    } else {
                        sum.iter_mut()
                            .zip(&p)
                            .for_each(|(s, q)| s.iter_mut().zip(q).for_each(|(a, b)| *a += b));
                    }
                }
                let k = members.len().max(1) as f32;
                sum.iter_mut()
                    .for_each(|r| r.iter_mut().for_each(|v| *v /= k));
                Ok(sum)
            }
            _ => Err(FerError::Training(
                "classifier has no prediction path".into(),
            )),
        }
    }
}

/// Run `f`, turning a panic inside a third-party model into an error.
fn guard<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(FerError::Training(format!(
            "the {what} in this bundle is malformed"
        )))
    })
}
