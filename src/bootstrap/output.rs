//! `bootstrap_ci.csv` and `bootstrap_ci.json`: one row per statistic, tidy, so a spreadsheet or
//! `pandas.read_csv` can filter it by quantity, judge, group and feature.

use serde::Serialize;
use serde_json::{Value, json};

use super::intervals::Interval;
use crate::base::error::{Error, Result};
use crate::report::{csv_field, csv_number};

/// One statistic's row.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// `weight`, `probability` (100·σ(w)), `probability_scenario_mean` (over the scenario
    /// groups) or `similarity_scenario_mean` (Pearson of two judges' weights, averaged over
    /// the scenario groups).
    pub quantity: &'static str,
    /// Judge.
    pub judge: String,
    /// Second judge of a similarity (empty otherwise).
    pub judge_b: String,
    /// Group, or `scenarios` for a scenario mean.
    pub group: String,
    /// Property name (empty for a similarity).
    pub feature: String,
    /// The numbers.
    #[serde(flatten)]
    pub interval: Interval,
}

const COLUMNS: [&str; 16] = [
    "quantity",
    "judge",
    "judge_b",
    "group",
    "feature",
    "point",
    "boot_mean",
    "boot_sd",
    "ci_low",
    "ci_high",
    "basic_low",
    "basic_high",
    "bca_low",
    "bca_high",
    "zero_fraction",
    "replicates",
];

/// Checks that no row would write NaN or infinity by accident. A weight or probability is a
/// number in every replicate, so each of its figures must be finite (a NaN there is a failed
/// fit). A similarity is undefined where a judge's weights are all equal: its point and
/// figures may then be NaN, written as an empty cell (CSV) or `null` (JSON) and counted out of
/// `replicates`; an infinity is never right.
pub fn check_rows(rows: &[Row]) -> Result<()> {
    for r in rows {
        let i = &r.interval;
        let undefined_allowed = r.quantity.starts_with("similarity");
        let figures = [
            ("point", Some(i.point)),
            ("boot_mean", Some(i.boot_mean)),
            ("boot_sd", Some(i.boot_sd)),
            ("ci_low", Some(i.ci_low)),
            ("ci_high", Some(i.ci_high)),
            ("basic_low", Some(i.basic_low)),
            ("basic_high", Some(i.basic_high)),
            ("bca_low", i.bca_low),
            ("bca_high", i.bca_high),
            ("zero_fraction", Some(i.zero_fraction)),
        ];
        for (field, value) in figures {
            let Some(value) = value else { continue };
            if value.is_infinite() || (value.is_nan() && !undefined_allowed) {
                let who = if r.judge_b.is_empty() {
                    format!("{} / {} / {}", r.judge, r.group, r.feature)
                } else {
                    format!("{} vs {} / {}", r.judge, r.judge_b, r.group)
                };
                return Err(Error::NonFinite {
                    fit: format!("bootstrap {} {who}", r.quantity),
                    field,
                    value,
                });
            }
        }
    }
    Ok(())
}

/// The CSV text.
pub fn render_csv(rows: &[Row]) -> String {
    let mut out = COLUMNS.join(",") + "\n";
    for r in rows {
        let i = &r.interval;
        let opt = |v: Option<f64>| v.map(csv_number).unwrap_or_default();
        let cells = [
            r.quantity.to_string(),
            csv_field(&r.judge),
            csv_field(&r.judge_b),
            csv_field(&r.group),
            csv_field(&r.feature),
            csv_number(i.point),
            csv_number(i.boot_mean),
            csv_number(i.boot_sd),
            csv_number(i.ci_low),
            csv_number(i.ci_high),
            csv_number(i.basic_low),
            csv_number(i.basic_high),
            opt(i.bca_low),
            opt(i.bca_high),
            csv_number(i.zero_fraction),
            i.replicates.to_string(),
        ];
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

/// The JSON document: the run's settings and level, then the rows.
pub fn render_json(rows: &[Row], settings: &Value, level: f64) -> String {
    let doc = json!({
        "level": level,
        "settings": settings,
        "columns": COLUMNS,
        "rows": rows,
    });
    serde_json::to_string(&doc).expect("json") + "\n"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(quantity: &'static str, judge_b: &str, point: f64) -> Row {
        let interval = Interval {
            point,
            boot_mean: 0.1,
            boot_sd: 0.1,
            ci_low: 0.0,
            ci_high: 0.2,
            basic_low: 0.0,
            basic_high: 0.2,
            bca_low: None,
            bca_high: None,
            zero_fraction: 0.0,
            replicates: 10,
        };
        Row {
            quantity,
            judge: "human".into(),
            judge_b: judge_b.into(),
            group: "Advice".into(),
            feature: if judge_b.is_empty() {
                "friendly".into()
            } else {
                String::new()
            },
            interval,
        }
    }

    #[test]
    fn a_nan_weight_fails_naming_it_and_an_undefined_similarity_passes() {
        assert!(check_rows(&[row("weight", "", 0.3)]).is_ok());
        let e = check_rows(&[row("weight", "", f64::NAN)])
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("bootstrap weight human / Advice / friendly"),
            "{e}"
        );
        assert!(e.contains("point is NaN"), "{e}");
        assert!(check_rows(&[row("similarity_scenario_mean", "yi-6b", f64::NAN)]).is_ok());
        let e = check_rows(&[row("similarity_scenario_mean", "yi-6b", f64::INFINITY)])
            .unwrap_err()
            .to_string();
        assert!(e.contains("human vs yi-6b / Advice"), "{e}");
    }
}
