//! Reads `resolved.jsonl` (one annotation record per sample) into the 29-property sign matrix.
//!
//! Only `comparison[..].comparison` is used; `repetitive` is sign-flipped and the `accuracy`
//! dictionary gives three features. A sample whose `accuracy.comparison` is the 999 sentinel is
//! kept in the matrix (indices must not shift) but flagged so every fit leaves it out.

use std::path::Path;

use ndarray::Array2;
use serde_json::Value;

use crate::base::error::{Error, Result};
use crate::base::features::{
    ACCURACY_SENTINEL, FEATURE_NAMES, FEATURE_SOURCES, FeatureSource, PAPER_K,
};

/// The property comparisons of every sample (pair), in file order.
#[derive(Clone, Debug)]
pub struct Annotations {
    /// `n_samples × K`: −1, 0, +1 (+1: response A shows more of the property), or any finite
    /// real from a pairs table; 0 where a dropped row's value was missing.
    pub values: Array2<f32>,
    /// `true` where a row is left out of every fit: the authors' 999 accuracy sentinel, or a
    /// missing property value in a pairs table.
    pub unchecked: Vec<bool>,
    /// The K property names, feature order (the paper's 29 for the authors' files).
    pub names: Vec<String>,
    /// The (row, property) cells that had no value, ascending: a table's nulls, or the three
    /// accuracy properties of a 999 row. Kept so a conversion writes them back as nulls.
    pub missing_cells: Vec<(usize, usize)>,
}

impl Annotations {
    /// Number of samples (lines) in the file.
    pub fn n_samples(&self) -> usize {
        self.unchecked.len()
    }
}

/// Reads and validates `path` (a `resolved.jsonl`).
pub fn read_resolved(path: &Path) -> Result<Annotations> {
    if !path.exists() {
        return Err(Error::MissingFile {
            path: path.to_owned(),
            what: "resolved annotations (resolved.jsonl)",
        });
    }
    let text = crate::base::text::read_text(path)?;
    let lines: Vec<&str> = text.lines().collect();
    // Trailing blank lines are harmless; blank lines in the middle would shift sample indices.
    let last = lines
        .iter()
        .rposition(|l| !l.trim().is_empty())
        .map_or(0, |i| i + 1);
    let mut rows = Vec::with_capacity(last);
    let mut unchecked = Vec::with_capacity(last);
    for (i, line) in lines[..last].iter().enumerate() {
        let lineno = i + 1;
        if line.trim().is_empty() {
            return Err(Error::EmptyLine {
                path: path.to_owned(),
                line: lineno,
            });
        }
        let (row, sentinel) = parse_record(path, lineno, line)?;
        rows.push(row);
        unchecked.push(sentinel);
    }
    if rows.is_empty() {
        return Err(Error::Field {
            path: path.to_owned(),
            line: 0,
            field: "(file)".into(),
            message: "no samples".into(),
        });
    }
    let flat: Vec<f32> = rows.iter().flatten().map(|&s| s as f32).collect();
    let accuracy: Vec<usize> = (0..PAPER_K)
        .filter(|&k| matches!(FEATURE_SOURCES[k], FeatureSource::Accuracy(_)))
        .collect();
    let missing_cells = (0..rows.len())
        .filter(|&r| unchecked[r])
        .flat_map(|r| accuracy.iter().map(move |&k| (r, k)))
        .collect();
    let values = Array2::from_shape_vec((rows.len(), PAPER_K), flat)
        .expect("rows are PAPER_K long by construction");
    Ok(Annotations {
        values,
        unchecked,
        names: FEATURE_NAMES.iter().map(|s| s.to_string()).collect(),
        missing_cells,
    })
}

/// Parses one record into its 29 signs and whether it carries the 999 sentinel.
fn parse_record(path: &Path, line: usize, text: &str) -> Result<([i8; PAPER_K], bool)> {
    let value: Value = serde_json::from_str(text).map_err(|e| Error::Json {
        path: path.to_owned(),
        line,
        message: e.to_string(),
    })?;
    let field_err = |field: &str, message: &str| Error::Field {
        path: path.to_owned(),
        line,
        field: field.to_owned(),
        message: message.to_owned(),
    };
    let comparison = value
        .get("comparison")
        .ok_or_else(|| field_err("comparison", "missing"))?
        .as_object()
        .ok_or_else(|| field_err("comparison", "not an object"))?;
    let get_cmp = |key: &str| -> Result<&Value> {
        comparison
            .get(key)
            .ok_or_else(|| field_err(&format!("comparison.{key}"), "missing"))?
            .get("comparison")
            .ok_or_else(|| field_err(&format!("comparison.{key}.comparison"), "missing"))
    };
    let accuracy = get_cmp("accuracy")?;
    let sentinel = match accuracy {
        Value::Number(n) if n.as_i64() == Some(ACCURACY_SENTINEL) => true,
        Value::Object(_) => false,
        other => {
            return Err(field_err(
                "comparison.accuracy.comparison",
                &format!(
                    "expected an object {{Severe, Moderate, Minor}} or {ACCURACY_SENTINEL}, got {other}"
                ),
            ));
        }
    };
    let mut row = [0i8; PAPER_K];
    for (k, source) in FEATURE_SOURCES.iter().enumerate() {
        let (field, raw, flip) = match *source {
            FeatureSource::Key(key) => {
                (format!("comparison.{key}.comparison"), get_cmp(key)?, false)
            }
            FeatureSource::Flipped(key) => {
                (format!("comparison.{key}.comparison"), get_cmp(key)?, true)
            }
            FeatureSource::Accuracy(severity) => {
                if sentinel {
                    continue; // the row is dropped from every fit; its features stay 0
                }
                let field = format!("comparison.accuracy.comparison.{severity}");
                let raw = accuracy
                    .get(severity)
                    .ok_or_else(|| field_err(&field, "missing"))?;
                (field, raw, false)
            }
        };
        let sign = parse_sign(path, line, &field, raw)?;
        row[k] = if flip { -sign } else { sign };
    }
    Ok((row, sentinel))
}

/// A sign in {-1, 0, 1}; integral floats (`1.0`) are accepted, anything else is an error.
fn parse_sign(path: &Path, line: usize, field: &str, raw: &Value) -> Result<i8> {
    let bad = || Error::BadFeature {
        path: path.to_owned(),
        line,
        field: field.to_owned(),
        value: raw.to_string(),
    };
    let v = match raw {
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i as f64
            } else {
                n.as_f64().ok_or_else(bad)?
            }
        }
        _ => return Err(bad()),
    };
    if v == ACCURACY_SENTINEL as f64 {
        return Err(Error::MisplacedSentinel {
            path: path.to_owned(),
            line,
            field: field.to_owned(),
        });
    }
    if v == -1.0 {
        Ok(-1)
    } else if v == 0.0 {
        Ok(0)
    } else if v == 1.0 {
        Ok(1)
    } else {
        Err(bad())
    }
}
