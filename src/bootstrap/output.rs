//! `bootstrap_ci.csv` and `bootstrap_ci.json`: one row per statistic, tidy, so a spreadsheet or
//! `pandas.read_csv` can filter it by quantity, judge, group and feature.

use serde::Serialize;
use serde_json::{Value, json};

use super::intervals::Interval;
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
