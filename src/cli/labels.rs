//! The `labels` command: a new LLM judge's labels from its log-probabilities of "A" and "B",
//! asked in both orders, as the paper makes them:
//! score_A = logp_AB(A) + logp_BA(B), score_B = logp_AB(B) + logp_BA(A); "A" if score_A >
//! score_B, else "B" (a tie gives "B").
//!
//! Input, one file per order, one record per sample in `resolved.jsonl` order, either JSON
//! Lines or one JSON list of objects. A record is `{"A": -0.11, "B": -2.27}`, or as the
//! authors' "add a new model" pipeline writes it (`direct_ask_preferences_AB.jsonl` and
//! `_BA.jsonl`), `{"response_a": -0.11, "response_b": -2.27}`; `--from-dir DIR` takes that
//! pair of files by their names. `FILE_AB` holds the prompt with response 1 shown as "A";
//! `FILE_BA` the swapped prompt, where response 1 is "B". Values are natural-log
//! probabilities; `-Infinity` is not valid JSON, so a token with probability 0 is written as
//! `null` and read as −∞. The authors write `{"response_a": 0.0, "response_b": 0.0}` where
//! their inference failed (no real pair of log-probabilities is 0 and 0): such records are
//! counted and reported, and labelled by their rule like any other.

use clap::Args;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::base::atomic::write_atomic;
use crate::base::error::{Error, Result};

/// One sample's log-probabilities of the two tokens.
#[derive(Clone, Copy, Debug)]
pub struct TokenLogprobs {
    /// log P("A").
    pub a: f64,
    /// log P("B").
    pub b: f64,
}

impl TokenLogprobs {
    /// The authors' record of a failed inference (both log-probabilities 0.0, i.e. P = 1 for
    /// both tokens, which no model can give).
    pub fn is_failure(&self) -> bool {
        self.a == 0.0 && self.b == 0.0
    }
}

/// The authors' file names for the two orders (`--from-dir`).
pub const AUTHORS_AB: &str = "direct_ask_preferences_AB.jsonl";
/// See [`AUTHORS_AB`].
pub const AUTHORS_BA: &str = "direct_ask_preferences_BA.jsonl";

/// The key pairs a record may use: ours, and the authors' inference files'.
const KEY_STYLES: [(&str, &str); 2] = [("A", "B"), ("response_a", "response_b")];

/// What [`make_labels`] made.
#[derive(Clone, Debug)]
pub struct MadeLabels {
    /// `true` = "A", in sample order.
    pub labels: Vec<bool>,
    /// Failure records (0.0, 0.0) in the first and in the second file.
    pub failures: (usize, usize),
}

/// Reads a log-probability file (JSON Lines or one JSON list).
pub fn read_logprobs(path: &Path) -> Result<Vec<TokenLogprobs>> {
    let text = crate::base::text::read_text(path)?;
    let records: Vec<(usize, Value)> = if text.trim_start().starts_with('[') {
        let v: Value = serde_json::from_str(&text).map_err(|e| Error::Json {
            path: path.to_owned(),
            line: 0,
            message: e.to_string(),
        })?;
        v.as_array()
            .expect("starts with [")
            .iter()
            .map(|r| (0, r.clone()))
            .collect()
    } else {
        crate::load::json_lines(path, &text)?
    };
    records
        .iter()
        .enumerate()
        .map(|(index, (line, r))| {
            let get = |key: &str| -> Result<f64> {
                let bad = |message: String| Error::Field {
                    path: path.to_owned(),
                    line: *line,
                    field: format!("[{index}].{key}"),
                    message,
                };
                match r.get(key) {
                    None => Err(bad("missing".into())),
                    Some(Value::Null) => Ok(f64::NEG_INFINITY),
                    Some(v) => {
                        let x = v
                            .as_f64()
                            .ok_or_else(|| bad(format!("{v} is not a number")))?;
                        if x > 0.0 {
                            return Err(bad(format!("{x} is not a log-probability (> 0)")));
                        }
                        Ok(x)
                    }
                }
            };
            // The record's key style: the first pair it has a key of; a record with neither
            // is reported as missing our keys.
            let (ka, kb) = KEY_STYLES
                .iter()
                .copied()
                .find(|(a, b)| r.get(a).is_some() || r.get(b).is_some())
                .unwrap_or(KEY_STYLES[0]);
            Ok(TokenLogprobs {
                a: get(ka)?,
                b: get(kb)?,
            })
        })
        .collect()
}

/// The paper's label from both orders: `true` = "A" (response 1 preferred).
pub fn label(ab: TokenLogprobs, ba: TokenLogprobs) -> bool {
    let score_a = ab.a + ba.b;
    let score_b = ab.b + ba.a;
    score_a > score_b
}

/// Reads both files, checks they describe the same samples (and as many as `expected`, when
/// given), writes `labels/<judge>.json`; returns the labels and the failure records counted.
pub fn make_labels(
    ab: &Path,
    ba: &Path,
    expected: Option<(usize, &Path)>,
    out: &Path,
) -> Result<MadeLabels> {
    let first = read_logprobs(ab)?;
    let second = read_logprobs(ba)?;
    if first.len() != second.len() {
        return Err(Error::LabelCount {
            path: ba.to_owned(),
            expected: first.len(),
            got: second.len(),
        });
    }
    if let Some((n, resolved)) = expected
        && n != first.len()
    {
        return Err(Error::Setting {
            name: "logprobs",
            message: format!(
                "{} has {} records, but {} has {n} samples",
                ab.display(),
                first.len(),
                resolved.display()
            ),
        });
    }
    let labels: Vec<bool> = first
        .iter()
        .zip(&second)
        .map(|(&x, &y)| label(x, y))
        .collect();
    let text: Vec<&str> = labels.iter().map(|&a| if a { "A" } else { "B" }).collect();
    write_atomic(out, json!(text).to_string().as_bytes())?;
    let failed = |v: &[TokenLogprobs]| v.iter().filter(|t| t.is_failure()).count();
    Ok(MadeLabels {
        labels,
        failures: (failed(&first), failed(&second)),
    })
}

/// Flags of `labels`.
#[derive(Args)]
pub struct LabelsArgs {
    /// Log-probabilities with response 1 shown as "A" (JSON Lines of {"A": .., "B": ..} or
    /// the authors' {"response_a": .., "response_b": ..}).
    #[arg(
        long,
        required_unless_present = "from_dir",
        conflicts_with = "from_dir"
    )]
    pub logprobs: Option<PathBuf>,
    /// The same with the responses swapped (response 1 shown as "B").
    #[arg(
        long,
        required_unless_present = "from_dir",
        conflicts_with = "from_dir"
    )]
    pub logprobs_swapped: Option<PathBuf>,
    /// A directory with the authors' inference files, direct_ask_preferences_AB.jsonl and
    /// direct_ask_preferences_BA.jsonl (instead of --logprobs and --logprobs-swapped).
    #[arg(long)]
    pub from_dir: Option<PathBuf>,
    /// A data directory whose resolved.jsonl must have as many samples.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Output, e.g. DATA/labels/JUDGE.json.
    #[arg(long)]
    pub out: PathBuf,
}

impl LabelsArgs {
    /// Runs the command.
    pub fn run(self) -> Result<()> {
        let LabelsArgs {
            logprobs,
            logprobs_swapped,
            from_dir,
            data,
            out,
        } = self;
        let (logprobs, logprobs_swapped) = match (from_dir, logprobs, logprobs_swapped) {
            (Some(dir), _, _) => (dir.join(AUTHORS_AB), dir.join(AUTHORS_BA)),
            (None, Some(ab), Some(ba)) => (ab, ba),
            _ => {
                return Err(Error::Setting {
                    name: "logprobs",
                    message: "give --from-dir, or both --logprobs and --logprobs-swapped".into(),
                });
            }
        };
        let resolved = data.map(|d| d.join("resolved.jsonl"));
        let expected = match &resolved {
            Some(path) => Some((
                crate::load::read_resolved(path)?.n_samples(),
                path.as_path(),
            )),
            None => None,
        };
        let made = make_labels(&logprobs, &logprobs_swapped, expected, &out)?;
        let labels = &made.labels;
        let a = labels.iter().filter(|&&l| l).count();
        for (path, n) in [
            (&logprobs, made.failures.0),
            (&logprobs_swapped, made.failures.1),
        ] {
            if n > 0 {
                eprintln!(
                    "note: {n} records of {} are failed inferences ({{0.0, 0.0}}, as the \
                     authors' pipeline writes them); labelled by the rule like the others",
                    path.display()
                );
            }
        }
        eprintln!(
            "{} labels ({a} \"A\", {} \"B\"); wrote {}",
            labels.len(),
            labels.len() - a,
            out.display()
        );
        Ok(())
    }
}
