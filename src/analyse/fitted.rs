//! Reading fitted weights in the authors' `fitted_paras_comparison` format, so the analyses run
//! on a `prefdissect fit` output and on the paper's own released weights alike.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::base::error::{Error, Result};
use crate::base::features::{FEATURE_NAMES, MAX_K};

/// Directory (inside the output) of the authors'-format files.
pub const FITTED_PARAS_DIR: &str = "fitted_paras_comparison";

/// File name of a group's fold-averaged weights, as the authors name it.
pub fn fitted_paras_file(group: &str) -> String {
    format!("model_{group}_fitted_paras.jsonl")
}

/// Weights per (group, judge), as the files hold them (the fold means).
#[derive(Clone, Debug)]
pub struct FittedWeights {
    /// Where they were read from.
    pub dir: PathBuf,
    /// Groups, in file-name order.
    pub groups: Vec<String>,
    /// Judges, in order of first appearance.
    pub judges: Vec<String>,
    /// `(group, judge)` → weights (the first K slots; the rest are zero).
    pub weights: BTreeMap<(String, String), [f64; MAX_K]>,
    /// The K property names: the fit's `summary.json` `properties` beside the directory, else
    /// the paper's 29 when the files hold 29 values, else `p1` … `pK`.
    pub properties: Vec<String>,
}

impl FittedWeights {
    /// Reads `dir/fitted_paras_comparison/` (a `fit` output) or `dir` itself when it holds the
    /// `model_<group>_fitted_paras.jsonl` files.
    pub fn read(dir: &Path) -> Result<FittedWeights> {
        let inner = dir.join(FITTED_PARAS_DIR);
        let dir = if inner.is_dir() {
            inner
        } else {
            dir.to_owned()
        };
        let entries = std::fs::read_dir(&dir).map_err(|e| Error::io(&dir, e))?;
        let mut files: Vec<(String, PathBuf)> = Vec::new();
        for entry in entries {
            let path = entry.map_err(|e| Error::io(&dir, e))?.path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if let Some(group) = name
                .strip_prefix("model_")
                .and_then(|n| n.strip_suffix("_fitted_paras.jsonl"))
            {
                files.push((group.to_string(), path.clone()));
            }
        }
        if files.is_empty() {
            return Err(Error::MissingFile {
                path: dir.join("model_<group>_fitted_paras.jsonl"),
                what: "fitted weights in the authors' format",
            });
        }
        files.sort();
        let mut out = FittedWeights {
            dir: dir.clone(),
            groups: Vec::new(),
            judges: Vec::new(),
            weights: BTreeMap::new(),
            properties: Vec::new(),
        };
        let mut k_seen: Option<(usize, PathBuf, usize)> = None;
        for (group, path) in files {
            let text = crate::base::text::read_text(&path)?;
            for (i, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let (judge, w, k) = parse_line(&path, i + 1, line)?;
                match &k_seen {
                    Some((k0, p0, l0)) if *k0 != k => {
                        return Err(Error::Field {
                            path: path.clone(),
                            line: i + 1,
                            field: "parameters".into(),
                            message: format!(
                                "{k} values, but {} line {l0} has {k0}: one fit has one property set",
                                p0.display()
                            ),
                        });
                    }
                    Some(_) => {}
                    None => k_seen = Some((k, path.clone(), i + 1)),
                }
                if !out.judges.contains(&judge) {
                    out.judges.push(judge.clone());
                }
                if out
                    .weights
                    .insert((group.clone(), judge.clone()), w)
                    .is_some()
                {
                    return Err(Error::Field {
                        path: path.clone(),
                        line: i + 1,
                        field: "model_name".into(),
                        message: format!("judge `{judge}` appears twice"),
                    });
                }
            }
            out.groups.push(group);
        }
        if out.judges.is_empty() {
            return Err(Error::Field {
                path: dir.join("model_<group>_fitted_paras.jsonl"),
                line: 0,
                field: "model_name".into(),
                message: "the files hold no judges' weights".into(),
            });
        }
        let k = k_seen.map_or(0, |(k, _, _)| k);
        out.properties = property_names(&dir, k);
        Ok(out)
    }

    /// The number of properties K.
    pub fn k(&self) -> usize {
        self.properties.len()
    }

    /// Weights of (group, judge), K long, if fitted.
    pub fn get(&self, group: &str, judge: &str) -> Option<&[f64]> {
        let k = self.k();
        self.weights
            .get(&(group.to_string(), judge.to_string()))
            .map(|w| &w[..k])
    }
}

/// The names of `k` properties of the weights in `dir`: from the fit's `summary.json` (in `dir`'s
/// parent for a fit output, or in `dir`), else the paper's when k = 29, else `p1` … `pk`.
fn property_names(dir: &Path, k: usize) -> Vec<String> {
    let from_summary = [dir.join("summary.json")]
        .into_iter()
        .chain(dir.parent().map(|p| p.join("summary.json")))
        .filter_map(|p| std::fs::read_to_string(p).ok())
        .filter_map(|t| serde_json::from_str::<Value>(&t).ok())
        .filter_map(|v| {
            v["properties"].as_array().map(|a| {
                a.iter()
                    .map(|n| n.as_str().map(str::to_string))
                    .collect::<Option<Vec<String>>>()
            })
        })
        .flatten()
        .find(|names| names.len() == k);
    from_summary.unwrap_or_else(|| {
        if k == MAX_K {
            FEATURE_NAMES.iter().map(|s| s.to_string()).collect()
        } else {
            (1..=k).map(|i| format!("p{i}")).collect()
        }
    })
}

fn parse_line(path: &Path, line: usize, text: &str) -> Result<(String, [f64; MAX_K], usize)> {
    let v: Value = serde_json::from_str(text).map_err(|e| Error::Json {
        path: path.to_owned(),
        line,
        message: e.to_string(),
    })?;
    let field = |field: &str, message: String| Error::Field {
        path: path.to_owned(),
        line,
        field: field.into(),
        message,
    };
    let judge = v["model_name"]
        .as_str()
        .ok_or_else(|| field("model_name", "missing or not a string".into()))?
        .to_string();
    let params = v["parameters"]
        .as_array()
        .ok_or_else(|| field("parameters", "missing or not a list".into()))?;
    if params.is_empty() || params.len() > MAX_K {
        return Err(field(
            "parameters",
            format!(
                "{} values, expected 1 to {MAX_K} (one per property)",
                params.len()
            ),
        ));
    }
    let mut w = [0f64; MAX_K];
    for (k, p) in params.iter().enumerate() {
        w[k] = p
            .as_f64()
            .filter(|v| v.is_finite())
            .ok_or_else(|| field("parameters", format!("value #{k} is not a finite number")))?;
    }
    Ok((judge, w, params.len()))
}
