//! The manipulation experiment's outputs: `win_rates.csv` (one row per judge), `transfer.csv`
//! (aligned to the row's judge, scored by the column's), `test_candidates.jsonl` (the held-out
//! prompts in `rerank select`'s input format), the rerankers, `summary.json`, and the table the
//! command prints.

use std::fmt::Write as _;
use std::path::Path;

use serde_json::json;

use super::experiment::{ExperimentOutcome, JudgeRow};
use crate::base::atomic::write_atomic;
use crate::base::error::{Error, Result};
use crate::report::{csv_field, csv_number};

/// Whether a judge's row shows the expected order aligned > random > against.
pub fn ordered(r: &JudgeRow) -> bool {
    r.aligned > r.random && r.random > r.against
}

/// The printed table: win rates and shifts in points, held-out accuracies.
pub fn table(outcome: &ExperimentOutcome) -> String {
    let mut s = String::new();
    let width = outcome
        .rows
        .iter()
        .map(|r| r.judge.len())
        .max()
        .unwrap_or(5)
        .max(5);
    let _ = writeln!(
        s,
        "{:width$}  {:>11}  {:>7} {:>7} {:>7} {:>7}  {:>7} {:>7}  {:>8} {:>8}",
        "judge",
        "pairs kept",
        "aligned",
        "random",
        "against",
        "oracle",
        "up",
        "down",
        "acc(al)",
        "acc(ag)"
    );
    for r in &outcome.rows {
        let _ = writeln!(
            s,
            "{:width$}  {:>5}/{:<5}  {:>7.2} {:>7.2} {:>7.2} {:>7.2}  {:>+7.2} {:>+7.2}  {:>7.1}% {:>7.1}%{}",
            r.judge,
            r.pairs_kept,
            r.pairs_labelled,
            r.aligned,
            r.random,
            r.against,
            r.oracle,
            r.aligned - r.random,
            r.against - r.random,
            100.0 * r.heldout_accuracy_align,
            100.0 * r.heldout_accuracy_against,
            if ordered(r) { "" } else { "  (order broken)" }
        );
    }
    let n_ok = outcome.rows.iter().filter(|r| ordered(r)).count();
    let _ = writeln!(
        s,
        "aligned > random > against for {n_ok} of {} judges; training {:.1} s",
        outcome.rows.len(),
        outcome.train_seconds
    );
    s
}

/// Fails, naming the judge and figure, if a win rate or transfer rate is not a number (a
/// reranker that diverged). A held-out accuracy may be undefined (no held-out pair): it is
/// written as an empty cell (CSV) or `null` (JSON).
fn check_finite(outcome: &ExperimentOutcome) -> Result<()> {
    for (r, transfer) in outcome.rows.iter().zip(&outcome.transfer) {
        let figures = [
            ("aligned", r.aligned),
            ("random", r.random),
            ("against", r.against),
            ("oracle", r.oracle),
        ];
        let transfer = transfer.iter().map(|&v| ("transfer", v));
        let infinite_accuracy = [r.heldout_accuracy_align, r.heldout_accuracy_against]
            .map(|v| ("heldout_accuracy", v))
            .into_iter()
            .filter(|(_, v)| v.is_infinite());
        let bad = figures
            .into_iter()
            .chain(transfer)
            .filter(|(_, v)| !v.is_finite());
        if let Some((field, value)) = bad.chain(infinite_accuracy).next() {
            return Err(Error::NonFinite {
                fit: format!("manipulate simulate, judge {}", r.judge),
                field,
                value,
            });
        }
    }
    Ok(())
}

/// Writes every output into `out`; `settings` goes into `summary.json`.
pub fn write_outputs(
    outcome: &ExperimentOutcome,
    out: &Path,
    settings: serde_json::Value,
) -> Result<()> {
    check_finite(outcome)?;
    std::fs::create_dir_all(out).map_err(|e| crate::base::error::Error::io(out, e))?;
    let mut csv = String::from(
        "judge,pairs_kept,pairs_labelled,aligned,random,against,oracle,shift_aligned,shift_against,heldout_accuracy_align,heldout_accuracy_against\n",
    );
    for r in &outcome.rows {
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{},{},{}",
            csv_field(&r.judge),
            r.pairs_kept,
            r.pairs_labelled,
            r.aligned,
            r.random,
            r.against,
            r.oracle,
            r.aligned - r.random,
            r.against - r.random,
            csv_number(r.heldout_accuracy_align),
            csv_number(r.heldout_accuracy_against)
        );
    }
    write_atomic(&out.join("win_rates.csv"), csv.as_bytes())?;

    let mut t = String::from("aligned_to");
    for r in &outcome.rows {
        t.push(',');
        t.push_str(&csv_field(&r.judge));
    }
    t.push('\n');
    for (r, line) in outcome.rows.iter().zip(&outcome.transfer) {
        t.push_str(&csv_field(&r.judge));
        for v in line {
            let _ = write!(t, ",{v}");
        }
        t.push('\n');
    }
    write_atomic(&out.join("transfer.csv"), t.as_bytes())?;

    let mut cands = String::new();
    for sp in &outcome.test_prompts {
        let responses: Vec<&str> = sp.candidates.iter().map(|c| c.text.as_str()).collect();
        let ratings: Vec<Vec<u8>> = sp.candidates.iter().map(|c| c.ratings.to_vec()).collect();
        cands.push_str(
            &json!({
                "prompt": sp.prompt,
                "responses": responses,
                "ratings": ratings,
                "baseline": {"text": sp.baseline.text, "ratings": sp.baseline.ratings.to_vec()},
            })
            .to_string(),
        );
        cands.push('\n');
    }
    write_atomic(&out.join("test_candidates.jsonl"), cands.as_bytes())?;
    outcome.reranker.save(&out.join("reranker"))?;

    let n_ok = outcome.rows.iter().filter(|r| ordered(r)).count();
    let summary = json!({
        "settings": settings,
        "judges": outcome.rows.len(),
        "ordered_judges": n_ok,
        "ordered_fraction": n_ok as f64 / outcome.rows.len().max(1) as f64,
        "train_seconds": outcome.train_seconds,
        "skipped": outcome.skipped,
        "backend": outcome.reranker.manifest.backend,
        "rows": outcome.rows,
    });
    write_atomic(
        &out.join("summary.json"),
        (serde_json::to_string_pretty(&summary).expect("json") + "\n").as_bytes(),
    )
}
