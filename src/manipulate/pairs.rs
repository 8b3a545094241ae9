//! Training-based manipulation data: every comparison labelled by a judge's fitted model, kept
//! only where the model is confident (outside 50% ± margin), inverted for "against" — the
//! pairs the paper used for DPO, and the rerankers' training data.

use std::path::Path;

use serde::Serialize;
use serde_json::{Value, json};

use crate::analyse::fitted::FittedWeights;
use crate::base::error::{Error, Result};
use crate::base::features::SCENARIO_GROUPS;
use crate::base::logistic::sigmoid;
use crate::load::Dataset;

/// Which way the labels point.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// Chosen = the response the judge's model prefers.
    Align,
    /// Chosen = the response it does not prefer.
    Against,
}

impl Direction {
    /// The paper's rule for one comparison whose first response the judge's model prefers with
    /// probability `p`: `None` (dropped) within 0.5 ± `margin`, else whether the first response
    /// is the chosen one in this direction.
    pub fn first_chosen(self, p: f64, margin: f64) -> Option<bool> {
        ((p - 0.5).abs() > margin).then_some((p > 0.5) == (self == Direction::Align))
    }
}

/// Checks a confidence margin: labels within 0.5 ± margin are dropped, so it lies in [0, 0.5).
pub fn check_margin(margin: f64) -> Result<()> {
    if (0.0..0.5).contains(&margin) {
        Ok(())
    } else {
        Err(Error::Setting {
            name: "margin",
            message: format!("must be in [0, 0.5), got {margin}"),
        })
    }
}

/// One kept pair.
#[derive(Clone, Debug, Serialize)]
pub struct Pair {
    /// Sample index (line of `resolved.jsonl`, row of a pairs table).
    pub sample: usize,
    /// The pair's `id` when the data came from a pairs table with an `id` column.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Group whose weights labelled it.
    pub group: String,
    /// The model's P(response 1 preferred).
    pub p_a: f64,
    /// "A" (response 1) or "B".
    pub chosen: &'static str,
}

/// Labels every sample with `judge`'s model (its scenario group's weights, or `group`'s), keeps
/// those with |p − 0.5| > margin; returns the kept pairs and the number labelled.
pub fn label_pairs(
    data: &Dataset,
    fw: &FittedWeights,
    judge: &str,
    group: Option<&str>,
    margin: f64,
    direction: Direction,
) -> Result<(Vec<Pair>, usize)> {
    check_margin(margin)?;
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
    if !fw.judges.iter().any(|j| j == judge) {
        return Err(Error::Setting {
            name: "judge",
            message: format!("`{judge}` has no weights in {}", fw.dir.display()),
        });
    }
    let n = data.annotations.n_samples();
    let mut group_of: Vec<Option<&str>> = vec![None; n];
    match group {
        Some(g) => {
            if !fw.groups.iter().any(|h| h == g) {
                return Err(Error::UnknownGroup {
                    group: g.into(),
                    path: fw.dir.clone(),
                    known: fw.groups.join(", "),
                });
            }
            group_of.iter_mut().for_each(|v| *v = Some(g));
        }
        None if data
            .groups
            .iter()
            .any(|g| SCENARIO_GROUPS.contains(&g.name.as_str())) =>
        {
            for grp in data
                .groups
                .iter()
                .filter(|g| SCENARIO_GROUPS.contains(&g.name.as_str()))
            {
                for &s in &grp.samples {
                    group_of[s] = Some(grp.name.as_str());
                }
            }
        }
        // A table's own groups: each pair by the first of its groups (name order) the fit has
        // weights for.
        None => {
            for grp in data.groups.iter().filter(|g| fw.groups.contains(&g.name)) {
                for &s in &grp.samples {
                    group_of[s].get_or_insert(grp.name.as_str());
                }
            }
        }
    }
    let mut kept = Vec::new();
    let mut labelled = 0;
    let mut most = 0.0f64;
    for (s, g) in group_of.iter().enumerate() {
        let Some(g) = g else { continue };
        let Some(w) = fw.get(g, judge) else { continue };
        labelled += 1;
        let z: f64 = (0..w.len())
            .map(|k| w[k] * data.annotations.values[[s, k]] as f64)
            .sum();
        let p = sigmoid(z);
        most = most.max((p - 0.5).abs());
        let Some(prefers_a) = direction.first_chosen(p, margin) else {
            continue;
        };
        kept.push(Pair {
            sample: s,
            id: data.ids.as_ref().map(|ids| ids[s].clone()),
            group: g.to_string(),
            p_a: p,
            chosen: if prefers_a { "A" } else { "B" },
        });
    }
    if kept.is_empty() && labelled > 0 {
        // A flat model (the MAP can zero every weight): an empty training set is no output.
        return Err(Error::Setting {
            name: "margin",
            message: format!(
                "`{judge}` keeps no pair at margin {margin}: its model's most confident pair \
                 has |P(A) - 0.5| = {most:.4}; a margin below that keeps pairs"
            ),
        });
    }
    Ok((kept, labelled))
}

/// The output lines: DPO-ready `{prompt, chosen, rejected}` with `texts` (one source record
/// per sample with `prompt`, `response_a`, `response_b`), else the pairs themselves.
pub fn render(pairs: &[Pair], texts: Option<&Path>) -> Result<String> {
    let mut out = String::new();
    match texts {
        None => {
            for p in pairs {
                out.push_str(&serde_json::to_string(p).expect("json"));
                out.push('\n');
            }
        }
        Some(path) => {
            let text = crate::base::text::read_text(path)?;
            let records: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
            for p in pairs {
                let line = records.get(p.sample).ok_or_else(|| Error::Field {
                    path: path.to_owned(),
                    line: 0,
                    field: "(file)".into(),
                    message: format!(
                        "has {} records; sample {} is missing",
                        records.len(),
                        p.sample
                    ),
                })?;
                let v: Value = serde_json::from_str(line).map_err(|e| Error::Json {
                    path: path.to_owned(),
                    line: p.sample + 1,
                    message: e.to_string(),
                })?;
                let get = |k: &str| -> Result<String> {
                    v[k].as_str()
                        .map(str::to_string)
                        .ok_or_else(|| Error::Field {
                            path: path.to_owned(),
                            line: p.sample + 1,
                            field: k.into(),
                            message: "missing or not a string".into(),
                        })
                };
                let (a, b) = (get("response_a")?, get("response_b")?);
                let (chosen, rejected) = if p.chosen == "A" { (a, b) } else { (b, a) };
                let mut line =
                    json!({"prompt": get("prompt")?, "chosen": chosen, "rejected": rejected});
                if let Some(id) = &p.id {
                    line["id"] = json!(id);
                }
                out.push_str(&line.to_string());
                out.push('\n');
            }
        }
    }
    Ok(out)
}
