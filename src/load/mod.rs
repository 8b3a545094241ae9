//! Step 1 of the pipeline: load a data set and validate it.
//!
//! Two ways in: a pairs table (`.parquet` or `.csv`: one row per compared pair, with its groups,
//! its property comparisons and each judge's verdict; see [`table`]), or the authors' data
//! directory (`resolved.jsonl`, `query_aware_idxs.json` and `labels/<judge>.json`). Everything is
//! checked here, before any fitting, so a bad file stops the run with a message naming the file
//! and line, row or column, and nothing is written.

mod groups;
mod labels;
pub mod resolve;
mod resolved;
pub mod table;

pub use groups::{Group, groups_to_json, read_groups};
pub use labels::{Judge, label_path, list_judges, read_labels};
pub use resolved::{Annotations, read_resolved};

use std::path::{Path, PathBuf};

use crate::base::error::{Error, Result};

/// A loaded, validated data set: features, groups and the selected judges' labels.
#[derive(Clone, Debug)]
pub struct Dataset {
    /// The directory or table file it was read from (for messages).
    pub source: PathBuf,
    /// The sign features of all samples.
    pub annotations: Annotations,
    /// The selected groups (never `all`).
    pub groups: Vec<Group>,
    /// The selected judges.
    pub judges: Vec<Judge>,
    /// Each pair's `id` from a pairs table's optional `id` column (`None`: pairs are named by
    /// their 0-based sample index, as in the authors' files).
    pub ids: Option<Vec<String>>,
}

/// Which judges and groups to load; `None` = all of them.
#[derive(Clone, Debug, Default)]
pub struct Selection {
    /// Judge names (file stems) to fit.
    pub judges: Option<Vec<String>>,
    /// Group names to fit.
    pub groups: Option<Vec<String>>,
}

impl Dataset {
    /// Loads `path` (a pairs table `.parquet`/`.csv`, or the authors' data directory), keeping
    /// the selected judges and groups.
    pub fn load(path: &Path, selection: &Selection) -> Result<Dataset> {
        check_selection(selection)?;
        if table::is_table(path) {
            return table::read_table(path, selection);
        }
        Self::load_dir(path, selection)
    }

    /// The file that defines the groups, for messages about a group.
    pub fn groups_source(&self) -> PathBuf {
        if self.source.is_dir() {
            self.source.join("query_aware_idxs.json")
        } else {
            self.source.clone()
        }
    }

    /// Loads the authors' data directory `dir`.
    fn load_dir(dir: &Path, selection: &Selection) -> Result<Dataset> {
        if !dir.is_dir() {
            return Err(Error::MissingFile {
                path: dir.to_owned(),
                what: "data directory",
            });
        }
        let annotations = read_resolved(&dir.join("resolved.jsonl"))?;
        let n = annotations.n_samples();
        let groups_path = dir.join("query_aware_idxs.json");
        let mut groups = read_groups(&groups_path, n)?;
        if let Some(wanted) = &selection.groups {
            let known: Vec<String> = groups.iter().map(|g| g.name.clone()).collect();
            let mut chosen = Vec::with_capacity(wanted.len());
            for name in wanted {
                match groups.iter().position(|g| &g.name == name) {
                    Some(i) => chosen.push(groups[i].clone()),
                    None => {
                        return Err(Error::UnknownGroup {
                            group: name.clone(),
                            path: groups_path,
                            known: known.join(", "),
                        });
                    }
                }
            }
            groups = chosen;
        }
        let labels_dir = dir.join("labels");
        let names = match &selection.judges {
            Some(names) => names.clone(),
            None => list_judges(&labels_dir)?,
        };
        let judges = names
            .iter()
            .map(|name| read_labels(&labels_dir, name, n))
            .collect::<Result<Vec<_>>>()?;
        Ok(Dataset {
            source: dir.to_owned(),
            annotations,
            groups,
            judges,
            ids: None,
        })
    }
}

/// A judge or group named twice in a selection is a mistake worth a message.
fn check_selection(selection: &Selection) -> Result<()> {
    for (name, list) in [("judges", &selection.judges), ("groups", &selection.groups)] {
        if let Some(list) = list
            && let Some(dup) = list
                .iter()
                .enumerate()
                .find(|(i, v)| list[..*i].contains(v))
        {
            return Err(Error::Setting {
                name,
                message: format!("`{}` is listed twice", dup.1),
            });
        }
    }
    Ok(())
}

/// The records of a JSON Lines text, each with its 1-based line number; blank lines are
/// skipped, a malformed line is an error naming the file and line.
pub fn json_lines(path: &Path, text: &str) -> Result<Vec<(usize, serde_json::Value)>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let v = serde_json::from_str(line).map_err(|e| Error::Json {
            path: path.to_owned(),
            line: i + 1,
            message: e.to_string(),
        })?;
        out.push((i + 1, v));
    }
    Ok(out)
}
