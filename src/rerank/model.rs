//! The batched reranker: M small scoring models s_m(prompt, response) held as one set of
//! stacked weights, so M models score (and train on) the shared text features in one pass.
//!
//! Per model m: an embedding bag `E_m` (buckets × embed) pools the hashed n-grams, the text
//! statistics are appended, a ReLU layer (`W_m`, `b_m`) and a linear output (`v_m`) give the
//! score. Every model's bag is one column block of a single `bag × [E_1 … E_M]` matmul, and the
//! MLP is a batched matmul over models — the dissection engine's "X shared, one row per model"
//! layout. Saved as a burn record (burnpack) plus a JSON manifest.

use std::path::{Path, PathBuf};

use burn::module::{Module, Param, ParamId};
use burn::store::ModuleRecord;
use burn::tensor::activation::relu;
use burn::tensor::{Bytes, Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

use super::params::ValidRerankParams;
use super::text_features::{Featurizer, N_STATS, TextMatrix};
use crate::base::atomic::write_atomic;
use crate::base::error::{Error, Result};

/// File of the weights (a burn record in burnpack format) inside a model directory.
pub const WEIGHTS_FILE: &str = "reranker.bpk";
/// File of the manifest (names, featurizer, settings) inside a model directory.
pub const MANIFEST_FILE: &str = "reranker.json";

/// The stacked weights of M models (a burn module, so burn's records save and load them).
#[derive(Module, Debug)]
pub struct RerankerWeights {
    /// `M × buckets × embed`.
    pub embedding: Param<Tensor<3>>,
    /// `M × (embed + N_STATS) × hidden`.
    pub hidden: Param<Tensor<3>>,
    /// `M × 1 × hidden`.
    pub hidden_bias: Param<Tensor<3>>,
    /// `M × hidden × 1`.
    pub output: Param<Tensor<3>>,
}

/// The four weight tensors, in [`RerankerWeights`] order, as plain tensors (for the training
/// loop, which differentiates through them).
pub type WeightTensors = [Tensor<3>; 4];

/// Scores of every model for every text: `M × T`.
pub fn scores(w: &WeightTensors, bag: Tensor<2>, stats: Tensor<2>) -> Tensor<2> {
    let [m, v, e] = w[0].dims();
    let t = bag.dims()[0];
    let stacked = w[0].clone().swap_dims(0, 1).reshape([v, m * e]);
    let pooled = bag.matmul(stacked).reshape([t, m, e]).swap_dims(0, 1);
    let stats = stats.unsqueeze_dim::<3>(0).expand([m, t, N_STATS]);
    let input = Tensor::cat(vec![pooled, stats], 2);
    let h = relu(input.matmul(w[1].clone()) + w[2].clone());
    h.matmul(w[3].clone()).reshape([m, t])
}

/// Shapes of the four weight tensors for `m` models.
pub fn weight_shapes(m: usize, p: &ValidRerankParams) -> [[usize; 3]; 4] {
    [
        [m, p.buckets, p.embed],
        [m, p.embed + N_STATS, p.hidden],
        [m, 1, p.hidden],
        [m, p.hidden, 1],
    ]
}

/// What the manifest holds.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Manifest {
    /// Model names, in stacking order (e.g. `human/align`).
    pub names: Vec<String>,
    /// Text featurization.
    pub featurizer: Featurizer,
    /// Training settings.
    pub params: ValidRerankParams,
    /// Backend it was trained on.
    pub backend: String,
    /// Anything the trainer wants to keep (losses, accuracies).
    #[serde(default)]
    pub training: serde_json::Value,
}

/// A trained (or loaded) set of rerankers.
#[derive(Clone, Debug)]
pub struct Reranker {
    /// Names, featurizer, settings.
    pub manifest: Manifest,
    /// The weights.
    pub weights: WeightTensors,
    /// Where they live.
    pub device: Device,
}

fn tensor2(data: Vec<f32>, rows: usize, cols: usize, device: &Device) -> Tensor<2> {
    Tensor::from_data(TensorData::new(data, [rows, cols]), device)
}

impl Reranker {
    /// Scores (`[model][text]`) of already featurized texts.
    pub fn score_matrix(&self, texts: &TextMatrix) -> Vec<Vec<f32>> {
        let m = self.manifest.names.len();
        if texts.n == 0 {
            return vec![Vec::new(); m];
        }
        let bag = tensor2(
            texts.bag.clone(),
            texts.n,
            self.manifest.featurizer.buckets,
            &self.device,
        );
        let stats = tensor2(texts.stats.clone(), texts.n, N_STATS, &self.device);
        let flat = scores(&self.weights, bag, stats)
            .into_data()
            .try_into_vec::<f32>()
            .expect("f32 scores");
        flat.chunks(texts.n).map(<[f32]>::to_vec).collect()
    }

    /// Scores (`[model][text]`) of (prompt, response) texts.
    pub fn score(&self, texts: &[(&str, &str)]) -> Vec<Vec<f32>> {
        self.score_matrix(&self.manifest.featurizer.matrix(texts))
    }

    /// Index of the model called `name`.
    pub fn index_of(&self, name: &str) -> Option<usize> {
        self.manifest.names.iter().position(|n| n == name)
    }

    /// Writes `dir/reranker.bpk` and `dir/reranker.json` (each atomically; the manifest last,
    /// so a directory with a manifest has its weights).
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let [a, b, c, d] = self.weights.clone();
        // burn gives each new parameter a random id, and the record stores it: numbered ids
        // keep the file the same bytes for the same weights (same seed, same output).
        let numbered = |k: u64, t| {
            let mut p = Param::from_tensor(t);
            p.id = ParamId::from(k);
            p
        };
        let module = RerankerWeights {
            embedding: numbered(0, a),
            hidden: numbered(1, b),
            hidden_bias: numbered(2, c),
            output: numbered(3, d),
        };
        let weights = dir.join(WEIGHTS_FILE);
        let bytes = module
            .into_record()
            .into_bytes()
            .map_err(|e| Error::Config {
                path: weights.clone(),
                message: e.to_string(),
            })?;
        write_atomic(&weights, &bytes)?;
        let manifest = serde_json::to_string_pretty(&self.manifest).expect("json") + "\n";
        write_atomic(&dir.join(MANIFEST_FILE), manifest.as_bytes())
    }

    /// Reads a model directory written by [`Reranker::save`] onto `device`.
    pub fn load(dir: &Path, device: &Device) -> Result<Reranker> {
        let manifest_path = dir.join(MANIFEST_FILE);
        if !manifest_path.is_file() {
            return Err(Error::MissingFile {
                path: manifest_path,
                what: "a reranker manifest (write one with `prefdissect rerank train`)",
            });
        }
        let text = crate::base::text::read_text(&manifest_path)?;
        let manifest: Manifest = serde_json::from_str(&text).map_err(|e| Error::Json {
            path: manifest_path.clone(),
            line: e.line(),
            message: e.to_string(),
        })?;
        let weights_path: PathBuf = dir.join(WEIGHTS_FILE);
        let bytes = std::fs::read(&weights_path).map_err(|e| Error::io(&weights_path, e))?;
        let bad = |message: String| Error::Config {
            path: weights_path.clone(),
            message,
        };
        let shapes = weight_shapes(manifest.names.len(), &manifest.params);
        let zeros = |i: usize| Param::from_tensor(Tensor::<3>::zeros(shapes[i], device));
        let empty = RerankerWeights {
            embedding: zeros(0),
            hidden: zeros(1),
            hidden_bias: zeros(2),
            output: zeros(3),
        };
        let record = ModuleRecord::from_bytes(Bytes::from_bytes_vec(bytes))
            .map_err(|e| bad(e.to_string()))?;
        let loaded = empty
            .try_load_record(record)
            .map_err(|e| bad(e.to_string()))?;
        let weights = [
            loaded.embedding.val(),
            loaded.hidden.val(),
            loaded.hidden_bias.val(),
            loaded.output.val(),
        ];
        for (w, s) in weights.iter().zip(&shapes) {
            if w.dims() != *s {
                return Err(bad(format!(
                    "a weight has shape {:?}, the manifest implies {s:?}",
                    w.dims()
                )));
            }
        }
        Ok(Reranker {
            manifest,
            weights,
            device: device.clone(),
        })
    }
}
