//! The checkpoint that lets an interrupted `fit` continue (`fit --resume`): each finished
//! block of fits (a posterior block's summaries, a MAP block's batched results) as one file, written atomically as the job goes, beside a manifest
//! with the fingerprint of the data and settings that made them. A kill at any moment (SIGKILL
//! included) leaves whole block files; a resumed run reads them, fits only the rest, and writes
//! the same files an uninterrupted run writes. A checkpoint made from other data or settings is
//! refused, never mixed in.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::base::atomic::write_atomic;
use crate::base::error::{Error, Result};
use crate::base::features::MAX_K;
use crate::solve::backend::KernelCalls;
use crate::solve::map::fista::LaneResult;
use crate::solve::posterior::{BlockResult, PosteriorFit};

/// The checkpoint's directory inside the output directory.
pub const FIT_CHECKPOINT_DIR: &str = ".fit-checkpoint";

/// An open checkpoint: where block files go, and what an earlier run left.
pub struct FitCheckpoint {
    dir: PathBuf,
    backend: String,
    /// Finished posterior blocks of an earlier run on the same backend, by key.
    pub done: HashMap<usize, BlockResult>,
    /// Finished MAP blocks of an earlier run on the same backend, by block index.
    pub done_map: HashMap<usize, Vec<LaneResult>>,
}

/// A MAP lane's batched result as words: the f32 weights' bits, then the rest.
fn encode_lane(l: &LaneResult) -> impl Iterator<Item = u64> + '_ {
    l.w.iter().map(|v| v.to_bits() as u64).chain([
        l.iterations as u64,
        l.kkt_f32.to_bits(),
        l.converged as u64,
    ])
}

const LANE_WORDS: usize = MAX_K + 3;

fn decode_lane(w: &[u64]) -> LaneResult {
    LaneResult {
        w: std::array::from_fn(|k| f32::from_bits(w[k] as u32)),
        iterations: w[MAX_K] as usize,
        kkt_f32: f64::from_bits(w[MAX_K + 1]),
        converged: w[MAX_K + 2] != 0,
    }
}

/// A fit's numbers as words: floats as their bits, so NaN and every last bit survive.
fn encode(id: usize, f: &PosteriorFit) -> Vec<u64> {
    let mut w = vec![id as u64];
    for a in [&f.mean, &f.sd, &f.mcse, &f.rhat, &f.ess_bulk] {
        w.extend(a.iter().map(|v| v.to_bits()));
    }
    w.extend([
        f.accept_rate.to_bits(),
        f.step_size.to_bits(),
        f.divergences as u64,
        f.draws as u64,
        f.control_variates as u64,
        f.k as u64,
    ]);
    w
}

const WORDS: usize = 1 + 5 * MAX_K + 6;

fn decode(w: &[u64]) -> (usize, PosteriorFit) {
    let arr = |i: usize| -> [f64; MAX_K] {
        std::array::from_fn(|k| f64::from_bits(w[1 + i * MAX_K + k]))
    };
    let t = 1 + 5 * MAX_K;
    (
        w[0] as usize,
        PosteriorFit {
            mean: arr(0),
            sd: arr(1),
            mcse: arr(2),
            rhat: arr(3),
            ess_bulk: arr(4),
            accept_rate: f64::from_bits(w[t]),
            step_size: f64::from_bits(w[t + 1]),
            divergences: w[t + 2] as usize,
            draws: w[t + 3] as usize,
            control_variates: w[t + 4] != 0,
            k: (w[t + 5] as usize).min(MAX_K),
        },
    )
}

impl FitCheckpoint {
    /// Opens `out`'s checkpoint for a run with `fingerprint` on `backend`. With `resume`, an
    /// existing checkpoint must carry the same fingerprint (else an error) and its blocks from
    /// the same backend are kept (from any backend with `any_backend`: merging shards that ran
    /// on other machines); without, any old checkpoint is cleared.
    pub fn open(
        out: &Path,
        fingerprint: &str,
        backend: &str,
        resume: bool,
        any_backend: bool,
    ) -> Result<FitCheckpoint> {
        let dir = out.join(FIT_CHECKPOINT_DIR);
        let manifest = dir.join("manifest.json");
        let mut done = HashMap::new();
        let mut done_map = HashMap::new();
        if resume && manifest.exists() {
            let text = crate::base::text::read_text(&manifest)?;
            let m: Value = serde_json::from_str(&text).map_err(|e| Error::Json {
                path: manifest.clone(),
                line: e.line(),
                message: e.to_string(),
            })?;
            if m["fingerprint"].as_str() != Some(fingerprint) {
                return Err(Error::Setting {
                    name: "resume",
                    message: format!(
                        "{} was made with other data or settings; run without --resume to \
                         start over",
                        dir.display()
                    ),
                });
            }
            for entry in std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))? {
                let path = entry.map_err(|e| Error::io(&dir, e))?.path();
                let is_block = path.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                    (n.starts_with("block-") || n.starts_with("map-")) && n.ends_with(".json")
                });
                if !is_block {
                    continue;
                }
                let bad = |message: String| Error::Field {
                    path: path.clone(),
                    line: 1,
                    field: "block".into(),
                    message,
                };
                let v: Value = serde_json::from_str(&crate::base::text::read_text(&path)?)
                    .map_err(|e| bad(e.to_string()))?;
                if !any_backend && v["backend"].as_str() != Some(backend) {
                    continue; // another backend's numbers differ in the last bits: refit
                }
                let words = |key: &str| -> Result<Vec<u64>> {
                    v[key]
                        .as_array()
                        .ok_or_else(|| bad(format!("`{key}` missing")))?
                        .iter()
                        .map(|x| {
                            x.as_u64()
                                .ok_or_else(|| bad(format!("`{key}`: not a word")))
                        })
                        .collect()
                };
                if let Some(blocks) = v.get("map_blocks") {
                    // [[block, [words…]], …]: the MAP blocks finished since the last save.
                    let blocks = blocks
                        .as_array()
                        .ok_or_else(|| bad("`map_blocks`: not a list".into()))?;
                    for entry in blocks {
                        let (key, lanes) = entry
                            .as_array()
                            .filter(|e| e.len() == 2)
                            .and_then(|e| Some((e[0].as_u64()?, e[1].as_array()?)))
                            .ok_or_else(|| bad("`map_blocks`: not [block, lanes]".into()))?;
                        let lanes: Vec<u64> = lanes
                            .iter()
                            .map(|x| x.as_u64().ok_or_else(|| bad("lanes: not a word".into())))
                            .collect::<Result<_>>()?;
                        if lanes.is_empty() || !lanes.len().is_multiple_of(LANE_WORDS) {
                            return Err(bad("truncated or malformed block".into()));
                        }
                        let lanes = lanes.chunks(LANE_WORDS).map(decode_lane).collect();
                        done_map.insert(key as usize, lanes);
                    }
                    continue;
                }
                let fits = words("fits")?;
                let calls = words("calls")?;
                if fits.is_empty() || fits.len() % WORDS != 0 || calls.len() != 3 {
                    return Err(bad("truncated or malformed block".into()));
                }
                let fits: Vec<(usize, PosteriorFit)> = fits.chunks(WORDS).map(decode).collect();
                let key = fits[0].0;
                let calls = KernelCalls {
                    gradients: calls[0] as usize,
                    losses: calls[1] as usize,
                    curvatures: calls[2] as usize,
                };
                done.insert(key, (fits, calls));
            }
        } else {
            if dir.exists() {
                std::fs::remove_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
            }
            let text = json!({"fingerprint": fingerprint}).to_string();
            write_atomic(&manifest, text.as_bytes())?;
        }
        Ok(FitCheckpoint {
            dir,
            backend: backend.to_string(),
            done,
            done_map,
        })
    }

    /// Writes one finished block (atomically).
    pub fn save(&self, key: usize, block: &BlockResult) -> Result<()> {
        let (fits, calls) = block;
        let words: Vec<u64> = fits.iter().flat_map(|(id, f)| encode(*id, f)).collect();
        let text = json!({
            "backend": self.backend,
            "fits": words,
            "calls": [calls.gradients, calls.losses, calls.curvatures],
        })
        .to_string();
        write_atomic(&self.dir.join(format!("block-{key}.json")), text.as_bytes())
    }

    /// Writes finished MAP blocks (atomically, one file per call: the MAP saves a batch of
    /// blocks at a time, see `fit_job`), as `map-<first block>.json`.
    pub fn save_map(&self, blocks: &[(usize, Vec<LaneResult>)]) -> Result<()> {
        let Some((first, _)) = blocks.first() else {
            return Ok(());
        };
        let entries: Vec<Value> = blocks
            .iter()
            .map(|(b, lanes)| json!([b, lanes.iter().flat_map(encode_lane).collect::<Vec<u64>>()]))
            .collect();
        let text = json!({"backend": self.backend, "map_blocks": entries}).to_string();
        write_atomic(&self.dir.join(format!("map-{first}.json")), text.as_bytes())
    }

    /// The run's outputs are written: the checkpoint is no longer needed.
    pub fn finish(self) -> Result<()> {
        std::fs::remove_dir_all(&self.dir).map_err(|e| Error::io(&self.dir, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fit_survives_encoding_bit_for_bit() {
        let f = PosteriorFit {
            mean: std::array::from_fn(|k| k as f64 * 0.1 - 1.0 / 3.0),
            sd: [f64::MIN_POSITIVE; MAX_K],
            mcse: [1e-300; MAX_K],
            rhat: std::array::from_fn(|k| {
                if k == 3 {
                    f64::NAN
                } else {
                    1.0 + k as f64 * 1e-9
                }
            }),
            ess_bulk: [1234.5; MAX_K],
            accept_rate: 0.9,
            step_size: 0.123456789,
            divergences: 7,
            draws: 300,
            control_variates: true,
            k: 12,
        };
        let (id, back) = decode(&encode(42, &f));
        assert_eq!(id, 42);
        assert_eq!(encode(42, &back), encode(42, &f));
        assert!(back.rhat[3].is_nan());
    }
}
