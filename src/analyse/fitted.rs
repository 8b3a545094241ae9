//! Reading fitted weights in the authors' `fitted_paras_comparison` format, so the analyses run
//! on a `prefdissect fit` output and on the paper's own released weights alike.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::base::error::{Error, Result};
use crate::base::features::N_FEATURES;

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
    /// `(group, judge)` → weights.
    pub weights: BTreeMap<(String, String), [f64; N_FEATURES]>,
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
        };
        for (group, path) in files {
            let text = crate::base::text::read_text(&path)?;
            for (i, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let (judge, w) = parse_line(&path, i + 1, line)?;
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
        Ok(out)
    }

    /// Weights of (group, judge), if fitted.
    pub fn get(&self, group: &str, judge: &str) -> Option<&[f64; N_FEATURES]> {
        self.weights.get(&(group.to_string(), judge.to_string()))
    }
}

fn parse_line(path: &Path, line: usize, text: &str) -> Result<(String, [f64; N_FEATURES])> {
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
    if params.len() != N_FEATURES {
        return Err(field(
            "parameters",
            format!("{} values, expected {N_FEATURES}", params.len()),
        ));
    }
    let mut w = [0f64; N_FEATURES];
    for (k, p) in params.iter().enumerate() {
        w[k] = p
            .as_f64()
            .filter(|v| v.is_finite())
            .ok_or_else(|| field("parameters", format!("value #{k} is not a finite number")))?;
    }
    Ok((judge, w))
}
