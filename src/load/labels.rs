//! Reads `labels/<judge>.json`: a judge's "A"/"B" verdict for every sample.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::base::error::{Error, Result};

/// One judge: its name (the file stem) and its verdicts (`true` = "A" = response 1 preferred).
#[derive(Clone, Debug)]
pub struct Judge {
    /// The file stem, e.g. `human`, `gpt-4-1106-preview`.
    pub name: String,
    /// One verdict per sample, in sample order; `true` = "A" (`false` where unlabelled).
    pub prefers_a: Vec<bool>,
    /// Which samples the judge labelled; `None` = all of them (the authors' files always are).
    /// An unlabelled pair is left out of this judge's fits only, training and held-out alike.
    pub labelled: Option<Vec<bool>>,
}

impl Judge {
    /// Whether the judge labelled sample `s`.
    #[inline]
    pub fn has_label(&self, s: usize) -> bool {
        self.labelled.as_ref().is_none_or(|l| l[s])
    }
}

/// Lists the judges in `dir` (every `*.json`), `human` first, then by name.
pub fn list_judges(dir: &Path) -> Result<Vec<String>> {
    if !dir.is_dir() {
        return Err(Error::MissingFile {
            path: dir.to_owned(),
            what: "labels directory (labels/<judge>.json)",
        });
    }
    let mut names = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let path = entry.path();
        if path.extension().and_then(|e| e.to_str()) == Some("json")
            && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
        {
            names.push(stem.to_owned());
        }
    }
    if names.is_empty() {
        return Err(Error::NoJudges {
            path: dir.to_owned(),
        });
    }
    names.sort_by(|a, b| (a != "human", a).cmp(&(b != "human", b)));
    Ok(names)
}

/// The path of a judge's labels file.
pub fn label_path(dir: &Path, judge: &str) -> PathBuf {
    dir.join(format!("{judge}.json"))
}

/// Reads and validates one judge's labels; there must be exactly `n_samples`.
pub fn read_labels(dir: &Path, judge: &str, n_samples: usize) -> Result<Judge> {
    let path = label_path(dir, judge);
    if !path.exists() {
        return Err(Error::MissingJudge {
            judge: judge.to_owned(),
            path,
        });
    }
    let text = crate::base::text::read_text(&path)?;
    let value: Value = serde_json::from_str(&text).map_err(|e| Error::Json {
        path: path.clone(),
        line: e.line(),
        message: e.to_string(),
    })?;
    let items = value.as_array().ok_or_else(|| Error::Field {
        path: path.clone(),
        line: 0,
        field: "(top level)".into(),
        message: "expected a list of \"A\"/\"B\"".into(),
    })?;
    if items.len() != n_samples {
        return Err(Error::LabelCount {
            path,
            expected: n_samples,
            got: items.len(),
        });
    }
    let mut prefers_a = Vec::with_capacity(n_samples);
    for (index, item) in items.iter().enumerate() {
        match item.as_str() {
            Some("A") => prefers_a.push(true),
            Some("B") => prefers_a.push(false),
            _ => {
                return Err(Error::BadLabel {
                    path,
                    index,
                    value: item.to_string(),
                });
            }
        }
    }
    Ok(Judge {
        name: judge.to_owned(),
        prefers_a,
        labelled: None,
    })
}
