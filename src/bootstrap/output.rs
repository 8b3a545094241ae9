//! `bootstrap_ci.csv` and `bootstrap_ci.json`: one row per statistic, tidy, so a spreadsheet or
//! `pandas.read_csv` can filter it by quantity, judge, group and feature.

use serde::Serialize;
use serde_json::{Value, json};

use super::intervals::Interval;

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

/// A CSV field, quoted when it holds a comma, quote or line break.
fn field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn number(v: f64) -> String {
    if v.is_nan() {
        String::new()
    } else {
        format!("{v}")
    }
}

/// The CSV text.
pub fn render_csv(rows: &[Row]) -> String {
    let mut out = COLUMNS.join(",") + "\n";
    for r in rows {
        let i = &r.interval;
        let opt = |v: Option<f64>| v.map(number).unwrap_or_default();
        let cells = [
            r.quantity.to_string(),
            field(&r.judge),
            field(&r.judge_b),
            field(&r.group),
            field(&r.feature),
            number(i.point),
            number(i.boot_mean),
            number(i.boot_sd),
            number(i.ci_low),
            number(i.ci_high),
            number(i.basic_low),
            number(i.basic_high),
            opt(i.bca_low),
            opt(i.bca_high),
            number(i.zero_fraction),
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
