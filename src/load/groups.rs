//! Reads `query_aware_idxs.json`: the sample indices of each group (scenarios and query cases).

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use serde_json::Value;

use crate::base::error::{Error, Result};
use crate::base::features::ALL_KEY;

/// A named set of sample indices, ascending, as the authors' fits use them.
#[derive(Clone, Debug)]
pub struct Group {
    /// Group name (the file's key, e.g. `Advice`, `w_constraints`).
    pub name: String,
    /// Sample indices, sorted ascending, no duplicates, all `< n_samples`.
    pub samples: Vec<usize>,
}

/// Reads and validates every group except `all`, in the file's key order.
pub fn read_groups(path: &Path, n_samples: usize) -> Result<Vec<Group>> {
    if !path.exists() {
        return Err(Error::MissingFile {
            path: path.to_owned(),
            what: "group membership (query_aware_idxs.json)",
        });
    }
    let text = crate::base::text::read_text(path)?;
    let value: Value = serde_json::from_str(&text).map_err(|e| Error::Json {
        path: path.to_owned(),
        line: e.line(),
        message: e.to_string(),
    })?;
    let obj = value.as_object().ok_or_else(|| Error::Field {
        path: path.to_owned(),
        line: 0,
        field: "(top level)".into(),
        message: "expected an object {group: [indices]}".into(),
    })?;
    let mut groups = Vec::new();
    for (name, list) in obj {
        if name == ALL_KEY {
            continue;
        }
        let items = list.as_array().ok_or_else(|| Error::Field {
            path: path.to_owned(),
            line: 0,
            field: name.clone(),
            message: "expected a list of sample indices".into(),
        })?;
        let mut seen = HashSet::with_capacity(items.len());
        let mut samples = Vec::with_capacity(items.len());
        for item in items {
            let idx = item.as_i64().ok_or_else(|| Error::Field {
                path: path.to_owned(),
                line: 0,
                field: name.clone(),
                message: format!("sample index {item} is not an integer"),
            })?;
            if idx < 0 || idx as usize >= n_samples {
                return Err(Error::GroupIndexOutOfRange {
                    path: path.to_owned(),
                    group: name.clone(),
                    index: idx,
                    n_samples,
                });
            }
            let idx = idx as usize;
            if !seen.insert(idx) {
                return Err(Error::DuplicateIndex {
                    path: path.to_owned(),
                    group: name.clone(),
                    index: idx,
                });
            }
            samples.push(idx);
        }
        if samples.is_empty() {
            return Err(Error::EmptyGroup {
                path: path.to_owned(),
                group: name.clone(),
                usable: 0,
                needed: 1,
            });
        }
        samples.sort_unstable();
        groups.push(Group {
            name: name.clone(),
            samples,
        });
    }
    if groups.is_empty() {
        return Err(Error::Field {
            path: path.to_owned(),
            line: 0,
            field: "(top level)".into(),
            message: "no groups besides `all`".into(),
        });
    }
    Ok(groups)
}

/// Writes groups (plus `all`) in the authors' format, for the simulator.
pub fn groups_to_json(groups: &[Group], n_samples: usize) -> Value {
    let mut map = BTreeMap::new();
    map.insert(
        ALL_KEY.to_owned(),
        Value::from((0..n_samples).collect::<Vec<_>>()),
    );
    for g in groups {
        map.insert(g.name.clone(), Value::from(g.samples.clone()));
    }
    Value::Object(map.into_iter().collect())
}
