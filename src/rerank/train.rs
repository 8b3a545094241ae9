//! Training the batched rerankers: the pairwise Bradley–Terry loss
//! `−log σ(s_m(chosen) − s_m(rejected))`, averaged over each model's pairs, plus an L2 penalty,
//! summed over models, so one backward pass through burn's autodiff gives every model its own
//! gradient; full-batch Adam, elementwise and therefore per model as well. A model trained in a
//! batch of M and the same model trained alone follow the same arithmetic (see
//! `tests/rerank.rs`).

use std::time::Instant;

use burn::tensor::activation::log_sigmoid;
use burn::tensor::{Device, Int, Tensor, TensorData};

use super::model::{Manifest, Reranker, WeightTensors, scores, weight_shapes};
use super::params::ValidRerankParams;
use super::text_features::{Featurizer, N_STATS, TextMatrix};
use crate::base::error::{Error, Result};
use crate::base::fingerprint::fnv;
use crate::base::rng::Rng;

/// One model's training pairs: indices of (chosen, rejected) texts.
#[derive(Clone, Debug)]
pub struct PairSet {
    /// Model name (e.g. `human/align`).
    pub name: String,
    /// (chosen, rejected) text indices.
    pub pairs: Vec<(u32, u32)>,
}

/// What training returns besides the model.
#[derive(Debug)]
pub struct TrainOutcome {
    /// The trained models, in `sets` order.
    pub reranker: Reranker,
    /// Each model's final mean pair loss (without the penalty).
    pub loss: Vec<f64>,
    /// Each model's accuracy on its own training pairs.
    pub train_accuracy: Vec<f64>,
    /// Seconds in the training loop.
    pub seconds: f64,
}

/// Fraction of `pairs` whose chosen text scores above the rejected one (ties count half).
pub fn pair_accuracy(scores: &[f32], pairs: &[(u32, u32)]) -> f64 {
    if pairs.is_empty() {
        return f64::NAN;
    }
    let right: f64 = pairs
        .iter()
        .map(|&(c, r)| {
            let (a, b) = (scores[c as usize], scores[r as usize]);
            if a > b {
                1.0
            } else if a == b {
                0.5
            } else {
                0.0
            }
        })
        .sum();
    right / pairs.len() as f64
}

fn name_key(seed: u64, name: &str) -> u64 {
    fnv(
        0xcbf2_9ce4_8422_2325 ^ seed.wrapping_mul(0x9e37_79b9_7f4a_7c15),
        name.as_bytes(),
    )
}

/// Initial weights: each model's from its own stream (seed, name), so a model starts the same
/// whether it is trained alone or in a batch.
fn initial_weights(names: &[&str], p: &ValidRerankParams, device: &Device) -> [Tensor<3>; 4] {
    let shapes = weight_shapes(names.len(), p);
    let per_model: Vec<usize> = shapes.iter().map(|s| s[1] * s[2]).collect();
    let scale = [
        0.1,
        1.0 / ((p.embed + N_STATS) as f64).sqrt(),
        0.0,
        1.0 / (p.hidden as f64).sqrt(),
    ];
    let mut data: [Vec<f32>; 4] = Default::default();
    for name in names {
        let mut rng = Rng::new(name_key(p.seed, name));
        for i in 0..4 {
            data[i].extend((0..per_model[i]).map(|_| (scale[i] * rng.normal()) as f32));
        }
    }
    let mut it = data.into_iter().zip(shapes);
    std::array::from_fn(|_| {
        let (d, s) = it.next().expect("four tensors");
        Tensor::from_data(TensorData::new(d, s), device)
    })
}

/// Trains one model per pair set on the shared featurized texts, all in one batch.
pub fn train(
    featurizer: &Featurizer,
    texts: &TextMatrix,
    sets: &[PairSet],
    params: &ValidRerankParams,
    device: &Device,
    backend: &str,
) -> Result<TrainOutcome> {
    if sets.is_empty() {
        return Err(Error::Setting {
            name: "pairs",
            message: "no pair sets to train on".into(),
        });
    }
    for s in sets {
        if s.pairs.is_empty() {
            return Err(Error::Setting {
                name: "pairs",
                message: format!("`{}` has no pairs", s.name),
            });
        }
        if let Some(&(c, r)) = s
            .pairs
            .iter()
            .find(|&&(c, r)| c as usize >= texts.n || r as usize >= texts.n)
        {
            return Err(Error::Setting {
                name: "pairs",
                message: format!("`{}`: pair ({c}, {r}) out of range 0..{}", s.name, texts.n),
            });
        }
    }
    let (m, t, v) = (sets.len(), texts.n, featurizer.buckets);
    let width = sets.iter().map(|s| s.pairs.len()).max().unwrap_or(0);
    // Padding pairs point at text 0 with weight 0: they add exact zeros to loss and gradient.
    let mut chosen = vec![0i64; m * width];
    let mut rejected = vec![0i64; m * width];
    let mut weight = vec![0f32; m * width];
    for (i, s) in sets.iter().enumerate() {
        for (j, &(c, r)) in s.pairs.iter().enumerate() {
            chosen[i * width + j] = c as i64;
            rejected[i * width + j] = r as i64;
            weight[i * width + j] = 1.0 / s.pairs.len() as f32;
        }
    }
    let chosen = Tensor::<2, Int>::from_data(TensorData::new(chosen, [m, width]), device);
    let rejected = Tensor::<2, Int>::from_data(TensorData::new(rejected, [m, width]), device);
    let weight = Tensor::<2>::from_data(TensorData::new(weight, [m, width]), device);
    let bag = Tensor::<2>::from_data(TensorData::new(texts.bag.clone(), [t, v]), device);
    let stats = Tensor::<2>::from_data(TensorData::new(texts.stats.clone(), [t, N_STATS]), device);

    let names: Vec<&str> = sets.iter().map(|s| s.name.as_str()).collect();
    let mut w = initial_weights(&names, params, device);
    let mut m1: [Tensor<3>; 4] = std::array::from_fn(|i| w[i].zeros_like());
    let mut m2: [Tensor<3>; 4] = std::array::from_fn(|i| w[i].zeros_like());
    let (beta1, beta2, eps) = (0.9f64, 0.999f64, 1e-8f64);
    let start = Instant::now();
    for step in 1..=params.steps {
        let leaves: WeightTensors = std::array::from_fn(|i| w[i].clone().autodiff().require_grad());
        let s = scores(&leaves, bag.clone(), stats.clone());
        let diff = s.clone().gather(1, chosen.clone()) - s.gather(1, rejected.clone());
        let mut loss = (log_sigmoid(diff).neg() * weight.clone()).sum();
        if params.l2 > 0.0 {
            for leaf in &leaves {
                loss = loss + leaf.clone().square().sum().mul_scalar(params.l2);
            }
        }
        let grads = loss.backward();
        let c1 = 1.0 - beta1.powi(step as i32);
        let c2 = 1.0 - beta2.powi(step as i32);
        for i in 0..4 {
            let g = leaves[i]
                .grad(&grads)
                .expect("every weight is in the graph");
            m1[i] = m1[i].clone().mul_scalar(beta1) + g.clone().mul_scalar(1.0 - beta1);
            m2[i] = m2[i].clone().mul_scalar(beta2) + g.square().mul_scalar(1.0 - beta2);
            let update =
                m1[i].clone().div_scalar(c1) / m2[i].clone().div_scalar(c2).sqrt().add_scalar(eps);
            w[i] = w[i].clone() - update.mul_scalar(params.learning_rate);
        }
    }
    // Reading the weights back is what waits for the (lazy) work to finish.
    let _ = w[3].clone().into_data();
    let seconds = start.elapsed().as_secs_f64();

    let reranker = Reranker {
        manifest: Manifest {
            names: names.iter().map(|n| n.to_string()).collect(),
            featurizer: featurizer.clone(),
            params: params.clone(),
            backend: backend.to_string(),
            training: serde_json::Value::Null,
        },
        weights: w,
        device: device.clone(),
    };
    let all = reranker.score_matrix(texts);
    let mut loss = Vec::with_capacity(m);
    let mut train_accuracy = Vec::with_capacity(m);
    for (s, sc) in sets.iter().zip(&all) {
        // A model that diverged is an error here, before anything is saved or scored with it.
        if let Some(&v) = sc.iter().find(|v| !v.is_finite()) {
            return Err(Error::NonFinite {
                fit: format!("reranker {}", s.name),
                field: "score",
                value: v as f64,
            });
        }
        let l: f64 = s
            .pairs
            .iter()
            .map(|&(c, r)| {
                let d = (sc[c as usize] - sc[r as usize]) as f64;
                // −log σ(d), without overflow for large |d|.
                if d > 0.0 {
                    (-d).exp().ln_1p()
                } else {
                    -d + d.exp().ln_1p()
                }
            })
            .sum::<f64>()
            / s.pairs.len() as f64;
        loss.push(l);
        train_accuracy.push(pair_accuracy(sc, &s.pairs));
    }
    Ok(TrainOutcome {
        reranker,
        loss,
        train_accuracy,
        seconds,
    })
}
