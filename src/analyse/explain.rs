//! Exact Shapley explanations of single verdicts: why a judge's fitted model prefers A or B for
//! one sample, property by property, batched over samples × judges. The `shap` command writes
//! them as CSV and the report draws one as a waterfall.

use std::path::PathBuf;
use std::sync::Arc;

use rayon::prelude::*;

use crate::analyse::fitted::FittedWeights;
use crate::analyse::shap::{shapley, shapley_sampled};
use crate::base::error::{Error, Result};
use crate::base::features::{MAX_K, SCENARIO_GROUPS};
use crate::base::logistic::sigmoid;
use crate::load::{Dataset, Selection};

/// What to explain: which samples of which data set, under which judges' fitted models.
#[derive(Clone, Debug)]
pub struct ExplainRequest {
    /// Data directory (the samples' features).
    pub data: PathBuf,
    /// Fitted weights (a `fit` output or the authors' files).
    pub fit: PathBuf,
    /// Judges; default every judge in the fit.
    pub judges: Option<Vec<String>>,
    /// One sample (0-based line of `resolved.jsonl`); default all.
    pub sample: Option<usize>,
    /// The group whose model explains the sample; default the sample's scenario group.
    pub group: Option<String>,
}

/// One sample × judge explanation.
#[derive(Clone, Debug)]
pub struct Explanation {
    /// Sample index.
    pub sample: usize,
    /// The pair's `id` when the data came from a pairs table with an `id` column.
    pub id: Option<String>,
    /// Judge.
    pub judge: String,
    /// Group whose weights were used.
    pub group: String,
    /// f(x) = σ(w·x): the model's P("A").
    pub f_x: f64,
    /// Feature values (signs).
    pub x: [f64; MAX_K],
    /// w_k·x_k.
    pub contribution: [f64; MAX_K],
    /// Shapley values; they sum to f(x) − 0.5.
    pub shap: [f64; MAX_K],
    /// The largest standard error among `shap`: 0 when they are exact (at most
    /// [`MAX_PLAYERS`](crate::analyse::shap::MAX_PLAYERS) non-zero features), else that of
    /// the estimate from [`ORDERINGS`](crate::analyse::shap::ORDERINGS) sampled orderings.
    pub shap_error: f64,
    /// The K property names (slots past K are zero).
    pub properties: Arc<[String]>,
}

impl Explanation {
    /// The non-zero features, largest |φ| first (the order a waterfall and a listing use).
    pub fn ranked(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..MAX_K).filter(|&k| self.x[k] != 0.0).collect();
        order.sort_by(|&a, &b| self.shap[b].abs().total_cmp(&self.shap[a].abs()));
        order
    }
}

/// Every requested sample × judge explanation, in sample order, then judge order.
pub fn explain(req: &ExplainRequest) -> Result<Vec<Explanation>> {
    let fw = FittedWeights::read(&req.fit)?;
    let data = Dataset::load(
        &req.data,
        &Selection {
            judges: Some(Vec::new()),
            groups: None,
        },
    )?;
    if data.annotations.names != fw.properties {
        return Err(Error::Setting {
            name: "fit",
            message: format!(
                "the weights in {} are for the properties [{}], the data's are [{}]",
                fw.dir.display(),
                fw.properties.join(", "),
                data.annotations.names.join(", ")
            ),
        });
    }
    let properties: Arc<[String]> = fw.properties.clone().into();
    let judges = req.judges.clone().unwrap_or_else(|| fw.judges.clone());
    for j in &judges {
        if !fw.judges.contains(j) {
            return Err(Error::Setting {
                name: "judge",
                message: format!("`{j}` has no weights in {}", fw.dir.display()),
            });
        }
    }
    let n_samples = data.annotations.n_samples();
    let samples: Vec<usize> = match req.sample {
        Some(s) if s >= n_samples => {
            return Err(Error::Setting {
                name: "sample",
                message: format!("{s} is out of range: the data set has {n_samples} samples"),
            });
        }
        Some(s) => vec![s],
        None => (0..n_samples).collect(),
    };
    // The group explaining each sample: its scenario group (the paper's groups), else the
    // first of its groups, in name order, that the fit has weights for (a table's own groups).
    let paper_groups = data
        .groups
        .iter()
        .any(|g| SCENARIO_GROUPS.contains(&g.name.as_str()));
    let group_of = |s: usize| -> Option<String> {
        if let Some(g) = &req.group {
            return Some(g.clone());
        }
        data.groups
            .iter()
            .find(|g| {
                let usable = if paper_groups {
                    SCENARIO_GROUPS.contains(&g.name.as_str())
                } else {
                    fw.groups.contains(&g.name)
                };
                usable && g.samples.contains(&s)
            })
            .map(|g| g.name.clone())
    };
    if let Some(g) = &req.group
        && !fw.groups.contains(g)
    {
        return Err(Error::UnknownGroup {
            group: g.clone(),
            path: fw.dir.clone(),
            known: fw.groups.join(", "),
        });
    }
    if let (Some(s), None) = (req.sample, &req.group)
        && group_of(s).is_none()
    {
        return Err(Error::Setting {
            name: "group",
            message: format!(
                "sample {s} is in no {} group; name one with --group",
                if paper_groups { "scenario" } else { "fitted" }
            ),
        });
    }
    let jobs: Vec<(usize, String, &String)> = samples
        .iter()
        .filter_map(|&s| group_of(s).map(|g| (s, g)))
        .flat_map(|(s, g)| judges.iter().map(move |j| (s, g.clone(), j)))
        .collect();
    let out: Vec<Result<Option<Explanation>>> = jobs
        .par_iter()
        .map(|(s, g, j)| {
            let Some(w_k) = fw.get(g, j) else {
                return Ok(None);
            };
            let w: [f64; MAX_K] = std::array::from_fn(|k| w_k.get(k).copied().unwrap_or(0.0));
            let w = &w;
            let k_used = properties.len();
            let x: [f64; MAX_K] = std::array::from_fn(|k| {
                if k < k_used {
                    data.annotations.values[[*s, k]] as f64
                } else {
                    0.0
                }
            });
            // Exact up to MAX_PLAYERS non-zero features; past it (a wide property set) an
            // estimate, seeded by the sample and judge so a run is reproducible.
            let (shap, shap_error) = match shapley(w, &x) {
                Some(exact) => (exact, 0.0),
                None => {
                    let judge = fw.judges.iter().position(|n| n == *j).unwrap_or(0) as u64;
                    shapley_sampled(w, &x, ((*s as u64) << 16) ^ judge)
                }
            };
            let z: f64 = (0..MAX_K).map(|k| w[k] * x[k]).sum();
            Ok(Some(Explanation {
                sample: *s,
                id: data.ids.as_ref().map(|ids| ids[*s].clone()),
                judge: (*j).clone(),
                group: g.clone(),
                f_x: sigmoid(z),
                x,
                contribution: std::array::from_fn(|k| w[k] * x[k]),
                shap,
                shap_error,
                properties: properties.clone(),
            }))
        })
        .collect();
    let mut rows = Vec::new();
    for r in out {
        if let Some(e) = r? {
            rows.push(e);
        }
    }
    Ok(rows)
}
