//! The `labels` command: a new LLM judge's labels from its log-probabilities of "A" and "B",
//! asked in both orders, as the paper makes them:
//! score_A = logp_AB(A) + logp_BA(B), score_B = logp_AB(B) + logp_BA(A); "A" if score_A >
//! score_B, else "B" (a tie gives "B").
//!
//! Input, one file per order, one record per sample in `resolved.jsonl` order, either JSON
//! Lines (`{"A": -0.11, "B": -2.27}` per line) or one JSON list of such objects. `FILE_AB` holds
//! the prompt with response 1 shown as "A"; `FILE_BA` the swapped prompt, where response 1 is
//! "B". Values are natural-log probabilities; `-Infinity` is not valid JSON, so a token with
//! probability 0 is written as `null` and read as −∞.

use std::path::Path;

use serde_json::{Value, json};

use crate::base::error::{Error, Result};
use crate::base::atomic::write_atomic;

/// One sample's log-probabilities of the two tokens.
#[derive(Clone, Copy, Debug)]
pub struct TokenLogprobs {
    /// log P("A").
    pub a: f64,
    /// log P("B").
    pub b: f64,
}

/// Reads a log-probability file (JSON Lines or one JSON list).
pub fn read_logprobs(path: &Path) -> Result<Vec<TokenLogprobs>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
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
            Ok(TokenLogprobs {
                a: get("A")?,
                b: get("B")?,
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
/// given), writes `labels/<judge>.json`; returns the labels.
pub fn make_labels(
    ab: &Path,
    ba: &Path,
    expected: Option<(usize, &Path)>,
    out: &Path,
) -> Result<Vec<bool>> {
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
    Ok(labels)
}

/// Flags of `labels`.
#[derive(Args)]
pub struct LabelsArgs {
    /// Log-probabilities with response 1 shown as "A" (JSON Lines of {"A": .., "B": ..}).
    #[arg(long)]
    pub logprobs: PathBuf,
    /// The same with the responses swapped (response 1 shown as "B").
    #[arg(long)]
    pub logprobs_swapped: PathBuf,
    /// A data directory whose resolved.jsonl must have as many samples.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Output, e.g. DATA/labels/<judge>.json.
    #[arg(long)]
    pub out: PathBuf,
}

impl LabelsArgs {
    /// Runs the command.
    pub fn run(self) -> Result<()> {
        let LabelsArgs {
            logprobs,
            logprobs_swapped,
            data,
            out,
        } = self;
        let resolved = data.map(|d| d.join("resolved.jsonl"));
        let expected = match &resolved {
            Some(path) => Some((
                crate::load::read_resolved(path)?.n_samples(),
                path.as_path(),
            )),
            None => None,
        };
        let labels =
            crate::cli::labels::make_labels(&logprobs, &logprobs_swapped, expected, &out)?;
        let a = labels.iter().filter(|&&l| l).count();
        eprintln!(
            "{} labels ({a} \"A\", {} \"B\"); wrote {}",
            labels.len(),
            labels.len() - a,
            out.display()
        );
        Ok(())
    }
}
