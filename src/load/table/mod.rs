//! The pairs table: one row per compared pair, the first-class input (`--data FILE.parquet` or
//! `--data FILE.csv`).
//!
//! Columns, by name:
//! - `groups` (required): the groups the pair belongs to; Parquet `list<string>` (or a string),
//!   CSV names joined by `;`. Groups may overlap.
//! - `property:<name>` (1 to [`MAX_PROPERTIES`]): the comparison of A and B on the property
//!   (−1, 0, +1, or any finite real), in feature order. A null in any of them drops the pair from
//!   every fit, as the authors' 999 accuracy sentinel does.
//! - `label:<judge>` (at least one): `A`/`B`, `1`/`0` (1 = A), `response_1`/`response_2`, or a
//!   boolean (true = A). Null: the judge did not label this pair; it is left out of that judge's
//!   fits only.
//! - `id` (optional): the pair's name in outputs that list pairs.
//!
//! Any other column is ignored, with one warning naming them. Groups come out sorted by name
//! (the order the authors' directory yields), so a table and the directory it was converted
//! from give the same job, fit for fit.

mod bounded;
mod csv;
mod parquet;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ndarray::Array2;

use super::{Annotations, Dataset, Group, Judge, Selection};
use crate::base::error::{Error, Result};

/// The most properties a table may have: the engine's slots.
pub const MAX_PROPERTIES: usize = crate::base::features::MAX_K;
/// The required column of group names.
pub const GROUPS_COLUMN: &str = "groups";
/// The optional column of pair names.
pub const ID_COLUMN: &str = "id";
/// Prefix of a property column.
pub const PROPERTY_PREFIX: &str = "property:";
/// Prefix of a judge's label column.
pub const LABEL_PREFIX: &str = "label:";

/// Whether `path` names a pairs table (by its extension) rather than the authors' directory.
pub fn is_table(path: &Path) -> bool {
    table_kind(path).is_some()
}

/// The two table formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableKind {
    /// Apache Parquet (`.parquet`, `.pq`).
    Parquet,
    /// Comma-separated text with a header row (`.csv`).
    Csv,
}

/// The table format `path`'s extension names, if any.
pub fn table_kind(path: &Path) -> Option<TableKind> {
    let ext = path.extension()?.to_str()?.to_ascii_lowercase();
    match ext.as_str() {
        "parquet" | "pq" => Some(TableKind::Parquet),
        "csv" => Some(TableKind::Csv),
        _ => None,
    }
}

/// Reads and validates the pairs table at `path`, keeping the selected judges and groups.
pub fn read_table(path: &Path, selection: &Selection) -> Result<Dataset> {
    if !path.is_file() {
        return Err(Error::MissingFile {
            path: path.to_owned(),
            what: "pairs table",
        });
    }
    let builder = match table_kind(path) {
        Some(TableKind::Parquet) => parquet::read(path)?,
        _ => csv::read(path)?,
    };
    builder.finish(selection)
}

/// What a column holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Role {
    Groups,
    Property(usize),
    Label(usize),
    Id,
    Ignored,
}

/// The roles of a table's columns, checked before any value is read.
#[derive(Debug)]
struct Layout {
    roles: Vec<Role>,
    properties: Vec<String>,
    judges: Vec<String>,
}

impl Layout {
    /// Assigns each column its role; a missing `groups`, no property or label column, a name
    /// given twice or more than [`MAX_PROPERTIES`] properties is an error naming the column.
    fn new(path: &Path, columns: &[String]) -> Result<Layout> {
        let err = |column: &str, message: String| Error::Table {
            path: path.to_owned(),
            row: 0,
            column: column.to_owned(),
            message,
        };
        let mut roles = Vec::with_capacity(columns.len());
        let mut properties: Vec<String> = Vec::new();
        let mut judges: Vec<String> = Vec::new();
        let mut ignored = Vec::new();
        for (i, name) in columns.iter().enumerate() {
            if columns[..i].contains(name) {
                return Err(err(name, "named twice in the header".into()));
            }
            let role = if name == GROUPS_COLUMN {
                Role::Groups
            } else if name == ID_COLUMN {
                Role::Id
            } else if let Some(p) = name.strip_prefix(PROPERTY_PREFIX) {
                if p.trim().is_empty() {
                    return Err(err(
                        name,
                        "a property column needs a name after `property:`".into(),
                    ));
                }
                properties.push(p.to_owned());
                Role::Property(properties.len() - 1)
            } else if let Some(j) = name.strip_prefix(LABEL_PREFIX) {
                if j.trim().is_empty() {
                    return Err(err(
                        name,
                        "a label column needs a judge after `label:`".into(),
                    ));
                }
                judges.push(j.to_owned());
                Role::Label(judges.len() - 1)
            } else {
                ignored.push(format!("`{name}`"));
                Role::Ignored
            };
            roles.push(role);
        }
        if !roles.contains(&Role::Groups) {
            return Err(err(
                GROUPS_COLUMN,
                "missing: every pair needs its groups (names joined by `;` in CSV)".into(),
            ));
        }
        if properties.is_empty() {
            return Err(err(
                "property:<name>",
                "no property column: at least one `property:<name>` is needed".into(),
            ));
        }
        if properties.len() > MAX_PROPERTIES {
            return Err(err(
                &format!("{PROPERTY_PREFIX}{}", properties[MAX_PROPERTIES]),
                format!(
                    "{} property columns; at most {MAX_PROPERTIES} are supported",
                    properties.len()
                ),
            ));
        }
        if judges.is_empty() {
            return Err(err(
                "label:<judge>",
                "no label column: at least one `label:<judge>` is needed".into(),
            ));
        }
        if !ignored.is_empty() {
            eprintln!(
                "warning: {}: ignoring columns {} (not `groups`, `id`, `property:*` or `label:*`)",
                path.display(),
                ignored.join(", ")
            );
        }
        Ok(Layout {
            roles,
            properties,
            judges,
        })
    }
}

/// Collects a table's values row by row or column by column, checking each as it comes.
struct Builder {
    path: PathBuf,
    layout: Layout,
    rows: usize,
    /// `rows × K`, row-major; 0 where a value is missing.
    values: Vec<f32>,
    /// Rows with a missing property value.
    missing: Vec<bool>,
    /// The (row, property) cells without a value, in the order read.
    missing_cells: Vec<(usize, usize)>,
    groups: BTreeMap<String, Vec<usize>>,
    /// Per judge: `Some(true)` = A, `Some(false)` = B, `None` = not labelled.
    labels: Vec<Vec<Option<bool>>>,
    ids: Option<Vec<String>>,
}

impl Builder {
    fn new(path: &Path, layout: Layout) -> Builder {
        let has_id = layout.roles.contains(&Role::Id);
        let judges = layout.judges.len();
        Builder {
            path: path.to_owned(),
            layout,
            rows: 0,
            values: Vec::new(),
            missing: Vec::new(),
            missing_cells: Vec::new(),
            groups: BTreeMap::new(),
            labels: vec![Vec::new(); judges],
            ids: has_id.then(Vec::new),
        }
    }

    /// Makes room for `rows` rows in all (values default to missing-free zeros, labels to none).
    fn grow(&mut self, rows: usize) {
        let k = self.layout.properties.len();
        self.rows = rows;
        self.values.resize(rows * k, 0.0);
        self.missing.resize(rows, false);
        for l in &mut self.labels {
            l.resize(rows, None);
        }
        if let Some(ids) = &mut self.ids {
            ids.resize(rows, String::new());
        }
    }

    fn column_name(&self, role: Role) -> String {
        match role {
            Role::Groups => GROUPS_COLUMN.into(),
            Role::Id => ID_COLUMN.into(),
            Role::Property(k) => format!("{PROPERTY_PREFIX}{}", self.layout.properties[k]),
            Role::Label(j) => format!("{LABEL_PREFIX}{}", self.layout.judges[j]),
            Role::Ignored => String::new(),
        }
    }

    /// An error about the value at 0-based `row` of the column with `role`.
    fn error(&self, row: usize, role: Role, message: String) -> Error {
        Error::Table {
            path: self.path.clone(),
            row: row + 1,
            column: self.column_name(role),
            message,
        }
    }

    /// An error about the column with `role` as a whole.
    fn column_error(&self, role: Role, message: String) -> Error {
        Error::Table {
            path: self.path.clone(),
            row: 0,
            column: self.column_name(role),
            message,
        }
    }

    fn property(&mut self, row: usize, k: usize, value: Option<f64>) -> Result<()> {
        let Some(v) = value else {
            self.missing[row] = true;
            self.missing_cells.push((row, k));
            return Ok(());
        };
        // The engine holds values as f32: 1e39 is finite here and infinite there.
        if !v.is_finite() || !(v as f32).is_finite() {
            return Err(self.error(
                row,
                Role::Property(k),
                format!("{v} is not a finite number (in single precision)"),
            ));
        }
        self.values[row * self.layout.properties.len() + k] = v as f32;
        Ok(())
    }

    fn property_text(&mut self, row: usize, k: usize, text: &str) -> Result<()> {
        let t = text.trim();
        if t.is_empty() {
            return self.property(row, k, None);
        }
        let v: f64 = t.parse().map_err(|_| {
            self.error(
                row,
                Role::Property(k),
                format!("{text:?} is not a number (a property is −1, 0, +1 or any finite real)"),
            )
        })?;
        self.property(row, k, Some(v))
    }

    fn label(&mut self, row: usize, j: usize, value: Option<bool>) {
        self.labels[j][row] = value;
    }

    fn label_number(&mut self, row: usize, j: usize, v: f64) -> Result<()> {
        match v {
            1.0 => self.label(row, j, Some(true)),
            0.0 => self.label(row, j, Some(false)),
            _ => {
                return Err(self.error(
                    row,
                    Role::Label(j),
                    format!("{v} is not a label (1 = A, 0 = B)"),
                ));
            }
        }
        Ok(())
    }

    fn label_text(&mut self, row: usize, j: usize, text: &str) -> Result<()> {
        let t = text.trim();
        let v = match t.to_ascii_lowercase().as_str() {
            "" => None,
            "a" | "1" | "1.0" | "response_1" | "true" => Some(true),
            "b" | "0" | "0.0" | "response_2" | "false" => Some(false),
            _ => {
                return Err(self.error(
                    row,
                    Role::Label(j),
                    format!("{text:?} is not a label (A/B, 1/0, response_1/response_2)"),
                ));
            }
        };
        self.label(row, j, v);
        Ok(())
    }

    fn group(&mut self, row: usize, name: &str) -> Result<()> {
        let name = name.trim();
        if name.is_empty() {
            return Err(self.error(row, Role::Groups, "an empty group name".into()));
        }
        let rows = self.groups.entry(name.to_owned()).or_default();
        if rows.last() == Some(&row) {
            return Err(self.error(row, Role::Groups, format!("group `{name}` listed twice")));
        }
        rows.push(row);
        Ok(())
    }

    fn groups_text(&mut self, row: usize, text: &str) -> Result<()> {
        if text.trim().is_empty() {
            return Ok(()); // a pair in no group takes part in no fit
        }
        for name in text.split(';') {
            self.group(row, name)?;
        }
        Ok(())
    }

    fn id(&mut self, row: usize, id: &str) -> Result<()> {
        if id.trim().is_empty() {
            return Err(self.error(row, Role::Id, "an empty id".into()));
        }
        if let Some(ids) = &mut self.ids {
            ids[row] = id.to_owned();
        }
        Ok(())
    }

    /// The data set: every judge with at least one label, the selected judges and groups.
    fn finish(self, selection: &Selection) -> Result<Dataset> {
        if self.rows == 0 {
            return Err(Error::Table {
                path: self.path,
                row: 0,
                column: GROUPS_COLUMN.into(),
                message: "the table has no rows".into(),
            });
        }
        for (j, labels) in self.labels.iter().enumerate() {
            if labels.iter().all(Option::is_none) {
                return Err(self.column_error(
                    Role::Label(j),
                    "the judge labelled no pair (every value is empty)".into(),
                ));
            }
        }
        let wanted_judges: Vec<usize> = match &selection.judges {
            None => (0..self.layout.judges.len()).collect(),
            Some(names) => names
                .iter()
                .map(|n| {
                    self.layout
                        .judges
                        .iter()
                        .position(|j| j == n)
                        .ok_or_else(|| Error::Setting {
                            name: "judges",
                            message: format!(
                                "`{n}` has no `label:{n}` column in {} (judges: {})",
                                self.path.display(),
                                self.layout.judges.join(", ")
                            ),
                        })
                })
                .collect::<Result<_>>()?,
        };
        let judges = wanted_judges
            .iter()
            .map(|&j| {
                let labels = &self.labels[j];
                let all = labels.iter().all(Option::is_some);
                Judge {
                    name: self.layout.judges[j].clone(),
                    prefers_a: labels.iter().map(|l| *l == Some(true)).collect(),
                    labelled: (!all).then(|| labels.iter().map(Option::is_some).collect()),
                }
            })
            .collect();
        let mut groups: Vec<Group> = self
            .groups
            .into_iter()
            .map(|(name, samples)| Group { name, samples })
            .collect();
        if let Some(wanted) = &selection.groups {
            let known: Vec<String> = groups.iter().map(|g| g.name.clone()).collect();
            let mut chosen = Vec::with_capacity(wanted.len());
            for name in wanted {
                let Some(i) = groups.iter().position(|g| &g.name == name) else {
                    return Err(Error::UnknownGroup {
                        group: name.clone(),
                        path: self.path,
                        known: known.join(", "),
                    });
                };
                chosen.push(groups[i].clone());
            }
            groups = chosen;
        }
        if groups.is_empty() {
            return Err(Error::Table {
                path: self.path,
                row: 0,
                column: GROUPS_COLUMN.into(),
                message: "no pair belongs to any group".into(),
            });
        }
        let k = self.layout.properties.len();
        let mut missing_cells = self.missing_cells;
        missing_cells.sort_unstable();
        let values = Array2::from_shape_vec((self.rows, k), self.values)
            .expect("values are rows × K by construction");
        Ok(Dataset {
            source: self.path,
            annotations: Annotations {
                values,
                unchecked: self.missing,
                names: self.layout.properties,
                missing_cells,
            },
            groups,
            judges,
            ids: self.ids,
        })
    }
}
