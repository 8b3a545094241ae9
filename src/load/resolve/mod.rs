//! `prefdissect resolve`: the authors' step from GPT-4-Turbo's annotations of each compared
//! pair to the `resolved.jsonl` records the fits read, with the groups file beside it.
//!
//! Input, as the authors' `annotate.py` writes it: the source pairs (`sample_unannotated.jsonl`:
//! `response_a word`, `response_b word`, `group`, optionally `winner`) and five files of
//! annotation lines `{"output": "<GPT's JSON as a string>", …}`, matched to the source by line
//! position. The rules are in [`rules`]. Where the authors' script would stop on a `KeyError`
//! or divide by zero, this names the file, line and field instead; where it silently skipped a
//! sample (an output that is not JSON, e.g. `"Failed!"`), this skips it too and says how many,
//! and numbers the groups by output position (the authors' script keeps source line numbers,
//! which would point past the skipped sample).

pub mod rules;

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use crate::base::error::{Error, Result};
use crate::base::features::{FEATURE_SOURCES, FeatureSource};

/// The annotation files in an `annotation_results` directory, in the authors' names.
pub const ANNOTATION_FILES: [&str; 5] = [
    "query_info.jsonl",
    "query-free-features-by-pair.jsonl",
    "query-aware-once-features-by-pair.jsonl",
    "query-aware-twice-features-by-pair.jsonl",
    "accuracy-features.jsonl",
];

/// The five query-specific properties, in the authors' order, and the `query_info` test that
/// puts a pair in each one's group.
const QUERY_SPECIFIC: [&str; 5] = [
    "clarify user intent",
    "showing empathetic",
    "satisfying explicit constraints",
    "supporting explicit subjective stances",
    "correcting explicit mistakes or biases",
];

/// What `resolve` made: the records, the groups and, where every kept pair has one, the
/// source's `winner` as the human labels.
pub struct Resolved {
    /// One `resolved.jsonl` record per kept pair.
    pub records: Vec<Value>,
    /// `query_aware_idxs.json`: `all`, the query-fact groups and each source `group`.
    pub groups: Map<String, Value>,
    /// "A"/"B" per kept pair from the source's `winner` (`model_a`/`model_b`), when all have one.
    pub human: Option<Vec<&'static str>>,
    /// Source pairs skipped because an annotation output is not JSON (the authors skip them).
    pub skipped: Vec<usize>,
}

/// One annotation file, read whole: its lines' `output` strings (None when absent).
struct Lines {
    path: PathBuf,
    lines: Vec<(usize, Value)>,
}

impl Lines {
    fn read(path: PathBuf) -> Result<Lines> {
        if !path.exists() {
            return Err(Error::MissingFile {
                path,
                what: "annotation file",
            });
        }
        let text = crate::base::text::read_text(&path)?;
        let lines = super::json_lines(&path, &text)?;
        Ok(Lines { path, lines })
    }
}

/// A field error at `path`, line `line`.
fn field(path: &Path, line: usize, name: &str, message: impl Into<String>) -> Error {
    Error::Field {
        path: path.to_owned(),
        line,
        field: name.to_owned(),
        message: message.into(),
    }
}

/// Resolves the pairs of `source` with the annotation files in `dir`.
pub fn resolve(source: &Path, dir: &Path) -> Result<Resolved> {
    let src = Lines::read(source.to_owned())?;
    let files: Vec<Lines> = ANNOTATION_FILES
        .iter()
        .map(|f| Lines::read(dir.join(f)))
        .collect::<Result<_>>()?;
    for f in &files {
        if f.lines.len() != src.lines.len() {
            return Err(field(
                &f.path,
                0,
                "(file)",
                format!(
                    "holds {} annotation lines, the source {} pairs: they are matched by position",
                    f.lines.len(),
                    src.lines.len()
                ),
            ));
        }
    }
    let mut out = Resolved {
        records: Vec::new(),
        groups: Map::new(),
        human: Some(Vec::new()),
        skipped: Vec::new(),
    };
    let mut groups: Vec<(String, Vec<usize>)> = ["all", "intent_unclear", "express_feeling"]
        .iter()
        .chain(&["w_constraints", "w_stances", "w_mistakes"])
        .map(|g| (g.to_string(), Vec::new()))
        .collect();
    for (idx, (src_line, s)) in src.lines.iter().enumerate() {
        // Each annotation's `output` parsed; a pair with one that is not JSON is skipped.
        let mut parsed = Vec::with_capacity(5);
        for (k, f) in files.iter().enumerate() {
            let (line, v) = &f.lines[idx];
            let text = match v.get("output") {
                Some(Value::String(t)) => t.as_str(),
                // The query-aware-twice line of a query that triggers nothing has no output.
                None if k == 3 => "{}",
                _ => return Err(field(&f.path, *line, "output", "missing or not a string")),
            };
            parsed.push((&f.path, *line, serde_json::from_str::<Value>(text).ok()));
        }
        if parsed.iter().any(|(_, _, v)| v.is_none()) {
            out.skipped.push(idx);
            continue;
        }
        let at = |k: usize| {
            (
                parsed[k].0.as_path(),
                parsed[k].1,
                parsed[k].2.as_ref().unwrap(),
            )
        };
        let record = resolve_pair(source, *src_line, s, [at(0), at(1), at(2), at(3), at(4)])?;
        let pos = out.records.len();
        let qinfo = &record["query_info"];
        let facts = [
            true,
            qinfo["clear intent"] == "No",
            qinfo["explicitly express feelings"] == "Yes",
            non_empty(&qinfo["explicit constraints"]),
            non_empty(&qinfo["explicit subjective stances"]),
            non_empty(&qinfo["explicit mistakes or biases"]),
        ];
        for (g, fact) in groups.iter_mut().zip(facts) {
            if fact {
                g.1.push(pos);
            }
        }
        if let Some(name) = s.get("group") {
            let name = name
                .as_str()
                .ok_or_else(|| field(source, *src_line, "group", "not a string"))?;
            match groups.iter_mut().find(|(g, _)| g == name) {
                Some(g) => g.1.push(pos),
                None => groups.push((name.to_string(), vec![pos])),
            }
        }
        let winner = match s.get("winner").and_then(Value::as_str) {
            Some("model_a") => Some("A"),
            Some("model_b") => Some("B"),
            _ => None,
        };
        out.human = out.human.take().and_then(|mut h| {
            h.push(winner?);
            Some(h)
        });
        out.records.push(record);
    }
    // A group no pair is in is left out: a fit refuses an empty group.
    out.groups = groups
        .into_iter()
        .filter(|(g, idx)| g == "all" || !idx.is_empty())
        .map(|(g, idx)| (g, json!(idx)))
        .collect();
    Ok(out)
}

fn non_empty(v: &Value) -> bool {
    v.as_array().is_some_and(|a| !a.is_empty())
}

/// One pair: `s` its source line, `a` its five parsed outputs (file, line, value).
fn resolve_pair(
    source: &Path,
    src_line: usize,
    s: &Value,
    a: [(&Path, usize, &Value); 5],
) -> Result<Value> {
    let [qinfo, free, once, twice, acc] = a;
    let object = |(path, line, v): (&Path, usize, &Value)| -> Result<Map<String, Value>> {
        v.as_object()
            .cloned()
            .ok_or_else(|| field(path, line, "output", "not a JSON object"))
    };
    let query_info = object(qinfo)?;
    let mut cmp = Map::new();
    // Query-free and query-aware-once ratings: {"response 1": r, "response 2": r} per key.
    for part in [free, once] {
        for (k, v) in object(part)? {
            let r = |side: &str| -> Result<f64> {
                let x = v.get(side).ok_or_else(|| {
                    field(part.0, part.1, &format!("output.{k}.{side}"), "missing")
                })?;
                Ok(rules::score(Some(x)))
            };
            cmp.insert(
                k.clone(),
                rules::rated(&k, r("response 1")?, r("response 2")?),
            );
        }
    }
    cmp.insert("accuracy".into(), accuracy(acc)?);
    let twice_map = object(twice)?;
    for name in QUERY_SPECIFIC {
        let entry = match twice_map.get(name) {
            None => rules::untriggered(),
            Some(v) => query_specific(twice, name, v)?,
        };
        cmp.insert(name.into(), entry);
    }
    let words = |key: &str| -> Result<i64> {
        s.get(key)
            .and_then(Value::as_i64)
            .filter(|w| *w >= 0)
            .ok_or_else(|| field(source, src_line, key, "missing or not a word count"))
    };
    cmp.insert(
        "length".into(),
        rules::length(words("response_a word")?, words("response_b word")?),
    );
    // A key GPT left out gives the feature 0 in the authors' `get_feature`; written as such, so
    // the record holds every key the fit reads.
    for src in FEATURE_SOURCES {
        if let FeatureSource::Key(k) | FeatureSource::Flipped(k) = src {
            cmp.entry(k.to_string()).or_insert_with(rules::untriggered);
        }
    }
    Ok(json!({"query_info": query_info, "comparison": cmp}))
}

/// The accuracy output: `{"Response 1": {"accuracy check", "inaccuracies": [{severity}]}, …}`.
fn accuracy((path, line, v): (&Path, usize, &Value)) -> Result<Value> {
    let side = |name: &str| -> Result<(bool, [i64; 3])> {
        let r = v
            .get(name)
            .ok_or_else(|| field(path, line, &format!("output.{name}"), "missing"))?;
        let check = r.get("accuracy check").ok_or_else(|| {
            field(
                path,
                line,
                &format!("output.{name}.accuracy check"),
                "missing",
            )
        })?;
        let applicable = check == "applicable";
        if !applicable {
            return Ok((false, [0; 3]));
        }
        let list = r
            .get("inaccuracies")
            .and_then(Value::as_array)
            .ok_or_else(|| {
                field(
                    path,
                    line,
                    &format!("output.{name}.inaccuracies"),
                    "missing or not a list",
                )
            })?;
        let severities = list
            .iter()
            .map(|i| i.get("severity").and_then(Value::as_str))
            .collect::<Option<Vec<&str>>>()
            .ok_or_else(|| {
                field(
                    path,
                    line,
                    &format!("output.{name}.inaccuracies[].severity"),
                    "missing or not a string",
                )
            })?;
        Ok((true, rules::error_counts(&severities)))
    };
    let (ok1, c1) = side("Response 1")?;
    let (ok2, c2) = if ok1 {
        side("Response 2")?
    } else {
        (false, [0; 3])
    };
    let meta = json!({"Response 1": v.get("Response 1"), "Response 2": v.get("Response 2")});
    Ok(rules::accuracy(ok1 && ok2, c1, c2, meta))
}

/// A triggered query-specific property from the query-aware-twice output.
fn query_specific((path, line, _): (&Path, usize, &Value), name: &str, v: &Value) -> Result<Value> {
    let at = |what: &str| format!("output.{name}{what}");
    if matches!(name, "clarify user intent" | "showing empathetic") {
        let r = |side: &str| -> Result<f64> {
            let x = v
                .get(side)
                .ok_or_else(|| field(path, line, &at(&format!(".{side}")), "missing"))?;
            Ok(rules::score(Some(x)))
        };
        return Ok(rules::rated(name, r("Response 1")?, r("Response 2")?));
    }
    let items = v
        .as_object()
        .filter(|m| !m.is_empty())
        .ok_or_else(|| field(path, line, &at(""), "not a non-empty object of items"))?;
    let mut scores = Vec::with_capacity(items.len());
    for (item, r) in items {
        let side = |s: &str| -> Result<f64> {
            let x = r
                .get(s)
                .ok_or_else(|| field(path, line, &at(&format!(".{item}.{s}")), "missing"))?;
            let label = || {
                x.as_str()
                    .ok_or_else(|| field(path, line, &at(&format!(".{item}.{s}")), "not a string"))
            };
            Ok(match name {
                "supporting explicit subjective stances" => rules::stance(label()?),
                "correcting explicit mistakes or biases" => rules::correction(label()?),
                _ => rules::score(Some(x)),
            })
        };
        scores.push((side("Response 1")?, side("Response 2")?));
    }
    Ok(rules::averaged(&scores, v))
}
