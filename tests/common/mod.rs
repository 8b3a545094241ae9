//! Shared test helpers: an independent f64 reference solver and a tiny data-set writer.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

pub mod gpu;

use serde_json::{Value, json};

pub const NF: usize = 29;

fn sigmoid(z: f64) -> f64 {
    if z >= 0.0 {
        1.0 / (1.0 + (-z).exp())
    } else {
        let e = z.exp();
        e / (1.0 + e)
    }
}

fn softplus(z: f64) -> f64 {
    if z > 0.0 {
        z + (-z).exp().ln_1p()
    } else {
        z.exp().ln_1p()
    }
}

/// Σ c·logloss + λ‖w‖₁ in f64.
pub fn objective(x: &[[f64; NF]], c: &[f64], y: &[f64], w: &[f64; NF], lambda: f64) -> f64 {
    let mut s = 0.0;
    for r in 0..x.len() {
        let z: f64 = (0..NF).map(|k| x[r][k] * w[k]).sum();
        s += c[r] * (softplus(z) - y[r] * z);
    }
    s + lambda * w.iter().map(|v| v.abs()).sum::<f64>()
}

/// Reference MAP by cyclic coordinate descent in f64: for each coordinate, a safeguarded 1-D
/// Newton step on the exact objective with soft-thresholding (falls back to the curvature
/// bound x²/4 when the Newton step does not decrease the objective). Unrelated to the crate's
/// batched FISTA, so agreement is evidence that both are right.
pub fn coordinate_descent(
    x: &[[f64; NF]],
    c: &[f64],
    y: &[f64],
    lambda: f64,
    tol: f64,
) -> ([f64; NF], f64) {
    let n = x.len();
    let mut w = [0f64; NF];
    let mut z = vec![0f64; n];
    let cols: Vec<Vec<usize>> = (0..NF)
        .map(|k| (0..n).filter(|&r| x[r][k] != 0.0 && c[r] != 0.0).collect())
        .collect();
    let one_d = |z: &[f64], k: usize, delta: f64, wk: f64| -> f64 {
        let mut s = 0.0;
        for &r in &cols[k] {
            let zr = z[r] + delta * x[r][k];
            s += c[r] * (softplus(zr) - y[r] * zr);
        }
        s + lambda * (wk + delta).abs()
    };
    for _sweep in 0..100_000 {
        for k in 0..NF {
            if cols[k].is_empty() {
                continue;
            }
            for _inner in 0..4 {
                let (mut g, mut h, mut hub) = (0.0, 0.0, 0.0);
                for &r in &cols[k] {
                    let p = sigmoid(z[r]);
                    g += c[r] * (p - y[r]) * x[r][k];
                    h += c[r] * p * (1.0 - p) * x[r][k] * x[r][k];
                    hub += c[r] * 0.25 * x[r][k] * x[r][k];
                }
                let prox = |curv: f64| {
                    let v = w[k] - g / curv;
                    let t = lambda / curv;
                    if v > t {
                        v - t
                    } else if v < -t {
                        v + t
                    } else {
                        0.0
                    }
                };
                let before = one_d(&z, k, 0.0, w[k]);
                let mut new = prox(h.max(1e-12));
                if one_d(&z, k, new - w[k], w[k]) > before {
                    new = prox(hub);
                }
                let delta = new - w[k];
                if delta == 0.0 {
                    break;
                }
                for &r in &cols[k] {
                    z[r] += delta * x[r][k];
                }
                w[k] = new;
            }
        }
        if kkt(x, c, y, &w, lambda) <= tol {
            break;
        }
    }
    let obj = objective(x, c, y, &w, lambda);
    (w, obj)
}

/// KKT violation in f64.
pub fn kkt(x: &[[f64; NF]], c: &[f64], y: &[f64], w: &[f64; NF], lambda: f64) -> f64 {
    let mut g = [0f64; NF];
    for r in 0..x.len() {
        let z: f64 = (0..NF).map(|k| x[r][k] * w[k]).sum();
        let res = c[r] * (sigmoid(z) - y[r]);
        for k in 0..NF {
            g[k] += res * x[r][k];
        }
    }
    (0..NF)
        .map(|k| {
            if w[k] != 0.0 {
                (g[k] + lambda * w[k].signum()).abs()
            } else {
                (g[k].abs() - lambda).max(0.0)
            }
        })
        .fold(0.0, f64::max)
}

/// A fresh, empty temp directory for one test.
pub fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("prefdissect-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The built `prefdissect`, with `XDG_RUNTIME_DIR` set as a desktop session has it.
pub fn bin() -> std::process::Command {
    let mut c = std::process::Command::new(env!("CARGO_BIN_EXE_prefdissect"));
    c.env("XDG_RUNTIME_DIR", std::env::temp_dir());
    c
}

/// One `resolved.jsonl` record with the given 29 signs (feature 15 is stored un-flipped).
pub fn record(signs: &[i64; NF], sentinel: bool) -> Value {
    const KEYS: [&str; 26] = [
        "harmlessness",
        "grammar, spelling, punctuation, and code-switching",
        "friendly",
        "polite",
        "interactive",
        "authoritative tone",
        "funny and humorous",
        "metaphors, personification, similes, hyperboles, irony, parallelism",
        "complex word usage and sentence structure",
        "use of direct and explicit supporting materials",
        "well formatted",
        "admit limitations or mistakes",
        "persuade user",
        "step by step solution",
        "use of informal expressions",
        "repetitive",
        "clear and understandable",
        "relevance without considering inaccuracy",
        "innovative and novel",
        "information richness without considering inaccuracy",
        "clarify user intent",
        "showing empathetic",
        "satisfying explicit constraints",
        "supporting explicit subjective stances",
        "correcting explicit mistakes or biases",
        "length",
    ];
    let feature_of_key = |i: usize| if i < 20 { i } else { i + 3 };
    let mut cmp = serde_json::Map::new();
    for (i, key) in KEYS.iter().enumerate() {
        let k = feature_of_key(i);
        let v = if k == 15 { -signs[k] } else { signs[k] };
        cmp.insert(
            (*key).into(),
            json!({"comparison": v, "diff": v, "norm_diff": 0.0, "meta": null}),
        );
    }
    let acc = if sentinel {
        json!({"comparison": 999, "diff": {}, "norm_diff": {}, "meta": null})
    } else {
        json!({"comparison": {"Severe": signs[22], "Moderate": signs[21], "Minor": signs[20]},
               "diff": {}, "norm_diff": {}, "meta": null})
    };
    cmp.insert("accuracy".into(), acc);
    json!({"query_info": {}, "comparison": Value::Object(cmp)})
}

/// A small valid data set: `n` samples, groups `g1` (even) and `g2` (all but the first 5),
/// judges `alice` and `bob`; sample 3 has the 999 sentinel. Returns the signs written.
pub fn write_small_dataset(dir: &Path, n: usize) -> Vec<[i64; NF]> {
    let mut state = 12345u64;
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (state >> 33) as i64
    };
    let signs: Vec<[i64; NF]> = (0..n)
        .map(|_| {
            let mut s = [0i64; NF];
            for v in s.iter_mut() {
                *v = next() % 3 - 1;
            }
            s
        })
        .collect();
    let mut text = String::new();
    for (i, s) in signs.iter().enumerate() {
        text.push_str(&record(s, i == 3).to_string());
        text.push('\n');
    }
    std::fs::write(dir.join("resolved.jsonl"), text).unwrap();
    let g1: Vec<usize> = (0..n).step_by(2).collect();
    let g2: Vec<usize> = (5..n).collect();
    let all: Vec<usize> = (0..n).collect();
    std::fs::write(
        dir.join("query_aware_idxs.json"),
        json!({"all": all, "g1": g1, "g2": g2}).to_string(),
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("labels")).unwrap();
    for (judge, salt) in [("alice", 1u64), ("bob", 2u64)] {
        let labels: Vec<&str> = signs
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let z = s[22] as f64 + 0.5 * s[16] as f64 - 0.3 * s[28] as f64;
                let u = ((i as u64 * 2654435761 + salt * 97) % 1000) as f64 / 1000.0;
                if u < 1.0 / (1.0 + (-z).exp()) {
                    "A"
                } else {
                    "B"
                }
            })
            .collect();
        std::fs::write(
            dir.join(format!("labels/{judge}.json")),
            json!(labels).to_string(),
        )
        .unwrap();
    }
    signs
}

/// A tiny seeded generator for test inputs (uniform in [0, 1)), the same on every platform.
pub struct Lcg(pub u64);

impl Lcg {
    /// The next uniform number.
    pub fn next(&mut self) -> f64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Every file under `dir`, relative path → bytes, sorted; `summary.json` without what says how
/// a run went rather than what it found (timings, throughput, the input's path, chunks taken
/// from a checkpoint), so two runs of one job compare equal byte for byte.
pub fn outputs(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
                continue;
            }
            let rel = p.strip_prefix(dir).unwrap().display().to_string();
            let mut bytes = std::fs::read(&p).unwrap();
            if rel == "summary.json" {
                let mut v: Value = serde_json::from_slice(&bytes).unwrap();
                let o = v.as_object_mut().unwrap();
                for key in ["timings_s", "throughput", "data"] {
                    o.remove(key);
                }
                if let Some(c) = o.get_mut("counts").and_then(Value::as_object_mut) {
                    c.remove("chunks_resumed");
                }
                bytes = v.to_string().into_bytes();
            }
            out.push((rel, bytes));
        }
    }
    out.sort();
    out
}
