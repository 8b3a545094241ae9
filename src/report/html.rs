//! The `report` command: one self-contained static HTML page (inline SVG, no script, no
//! network) with the dissection chart, the similarity heatmap, the tables and a SHAP
//! waterfall.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

pub use super::charts::shap_waterfall as waterfall_svg;
use super::charts::{dissection_chart, similarity_heatmap};
use crate::analyse::explain::{ExplainRequest, explain};
use crate::analyse::fitted::FittedWeights;
use crate::analyse::tables::{SCENARIO_MEAN, probabilities, scenarios, similarity, top_bottom_k};
use crate::base::atomic::write_atomic;
use crate::base::error::{Error, Result};

/// Everything a `report` run needs.
#[derive(Clone, Debug)]
pub struct ReportRequest {
    /// A `fit` output (or the authors' weight files).
    pub fit: PathBuf,
    /// A `bootstrap` output, for intervals.
    pub bootstrap: Option<PathBuf>,
    /// A data directory, for the SHAP waterfall.
    pub data: Option<PathBuf>,
    /// Judges in the dissection chart (default: up to 4, `human` first).
    pub judges: Option<Vec<String>>,
    /// Sample of the SHAP waterfall.
    pub sample: usize,
    /// The HTML file to write.
    pub out: PathBuf,
}

fn fmt3(v: f64) -> String {
    if v.is_finite() {
        format!("{v:.3}")
    } else {
        "–".into()
    }
}

fn span(lo: f64, hi: f64) -> String {
    if lo.is_finite() && hi.is_finite() {
        format!("{lo:.3} – {hi:.3}")
    } else {
        "–".into()
    }
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `judge,scenarios,n,accuracy,log_loss` rows of a fit's `heldout.csv`, if it has one.
fn read_heldout(fit: &Path) -> Vec<(String, f64, f64)> {
    let Ok(text) = std::fs::read_to_string(fit.join("heldout.csv")) else {
        return Vec::new();
    };
    text.lines()
        .skip(1)
        .filter_map(|l| {
            // rsplitn gives log_loss, accuracy, n, then "judge,group".
            let c: Vec<&str> = l.rsplitn(4, ',').collect();
            let (judge, group) = c.get(3)?.rsplit_once(',')?;
            if group != SCENARIO_MEAN {
                return None;
            }
            let accuracy: f64 = c[1].parse().ok()?;
            let log_loss: f64 = c[0].parse().ok()?;
            Some((judge.trim_matches('"').to_string(), accuracy, log_loss))
        })
        .collect()
}

/// The default judges of the dissection chart: `human` first, up to 4.
pub fn default_judges(fw: &FittedWeights) -> Vec<String> {
    let mut js: Vec<String> = fw
        .judges
        .iter()
        .filter(|j| *j == "human")
        .cloned()
        .collect();
    js.extend(
        fw.judges
            .iter()
            .filter(|j| *j != "human")
            .take(4 - js.len())
            .cloned(),
    );
    js
}

/// The dissection chart of `judges` (scenario means), if they have all scenario groups.
pub fn dissection_svg(fw: &FittedWeights, judges: &[String]) -> Option<String> {
    let probs = probabilities(fw);
    let series: Vec<(String, Vec<f64>)> = judges
        .iter()
        .filter_map(|j| {
            let mut p = vec![f64::NAN; fw.k()];
            for q in probs
                .iter()
                .filter(|q| &q.judge == j && q.group == SCENARIO_MEAN)
            {
                p[q.feature] = q.probability;
            }
            p.iter().all(|v| v.is_finite()).then(|| (j.clone(), p))
        })
        .collect();
    (!series.is_empty()).then(|| dissection_chart(&series, &fw.properties))
}

/// The similarity heatmap of all judges (scenario means), if there is a scenario group.
pub fn similarity_svg(fw: &FittedWeights) -> Option<String> {
    if scenarios(fw).is_empty() {
        return None;
    }
    let sim: Vec<Vec<f64>> = fw
        .judges
        .iter()
        .map(|a| fw.judges.iter().map(|b| similarity(fw, a, b)).collect())
        .collect();
    Some(similarity_heatmap(&fw.judges, &sim))
}

/// Writes the report; returns the judges charted.
pub fn report(req: &ReportRequest) -> Result<Vec<String>> {
    let fw = FittedWeights::read(&req.fit)?;
    let charted: Vec<String> = match &req.judges {
        Some(js) => {
            for j in js {
                if !fw.judges.contains(j) {
                    return Err(Error::Setting {
                        name: "judges",
                        message: format!("`{j}` has no weights in {}", fw.dir.display()),
                    });
                }
            }
            js.clone()
        }
        None => default_judges(&fw),
    };
    let probs = probabilities(&fw);
    let scen = scenarios(&fw);
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>prefdissect report</title><style>\
         body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}\
         table{{border-collapse:collapse;font-size:13px;margin:1em 0}}\
         td,th{{border:1px solid #ccc;padding:3px 8px;text-align:left}}\
         th{{background:#f0f0f0}} .num{{text-align:right}} svg{{max-width:100%;height:auto}}\
         </style></head><body>\n<h1>What the judges prefer</h1>\n<p>Weights from <code>{}</code>: \
         {} judges × {} groups ({} scenario groups). Probability of preferred = 100·σ(w): the \
         chance that a response better only in that property wins; above 50 the judge likes it.\
         </p>\n",
        esc(&fw.dir.display().to_string()),
        fw.judges.len(),
        fw.groups.len(),
        scen.len()
    );

    // Dissection chart.
    if let Some(svg) = dissection_svg(&fw, &charted) {
        html.push_str("<h2>Dissection</h2>\n");
        html.push_str(&svg);
    }

    // Top / bottom properties and held-out accuracy.
    let held = read_heldout(&req.fit);
    html.push_str(
        "<h2>Most and least preferred properties (scenario mean)</h2>\n<table><tr>\
                   <th>judge</th><th>most preferred</th><th>least preferred</th>",
    );
    if !held.is_empty() {
        html.push_str("<th>held-out accuracy</th><th>log-loss</th>");
    }
    html.push_str("</tr>\n");
    let tb = top_bottom_k(&probs, 3, &fw.properties);
    for judge in &fw.judges {
        let list = |dir: &str| -> String {
            tb.iter()
                .filter(|t| &t.0 == judge && t.1 == SCENARIO_MEAN && t.2 == dir)
                .map(|t| format!("{} ({:.1})", esc(t.4), t.5))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = write!(
            html,
            "<tr><td>{}</td><td>{}</td><td>{}</td>",
            esc(judge),
            list("most"),
            list("least")
        );
        if !held.is_empty() {
            match held.iter().find(|h| &h.0 == judge) {
                Some((_, acc, ll)) => {
                    let _ = write!(
                        html,
                        "<td class=\"num\">{:.2}%</td><td class=\"num\">{ll:.3}</td>",
                        100.0 * acc
                    );
                }
                None => html.push_str("<td></td><td></td>"),
            }
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</table>\n");

    // Similarity.
    if let Some(svg) = similarity_svg(&fw) {
        html.push_str("<h2>Judge similarity</h2>\n");
        html.push_str(&svg);
        if let Some(b) = &req.bootstrap {
            let file = if b.is_dir() {
                b.join("bootstrap_ci.json")
            } else {
                b.clone()
            };
            let text = crate::base::text::read_text(&file)?;
            let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| Error::Json {
                path: file.clone(),
                line: 0,
                message: e.to_string(),
            })?;
            html.push_str(
                "<h3>Similarity of the charted judges with bootstrap intervals</h3>\n\
                <table><tr><th>judge</th><th>judge</th><th>similarity</th><th>bootstrap mean</th>\
                <th>percentile interval</th><th>basic interval</th></tr>\n",
            );
            for row in doc["rows"].as_array().into_iter().flatten() {
                let s = |k: &str| row[k].as_str().unwrap_or("");
                let f = |k: &str| row[k].as_f64().unwrap_or(f64::NAN);
                if s("quantity") == "similarity_scenario_mean"
                    && charted.iter().any(|j| j == s("judge"))
                    && charted.iter().any(|j| j == s("judge_b"))
                {
                    let _ = writeln!(
                        html,
                        "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td>\
                         <td class=\"num\">{}</td><td class=\"num\">{}</td>\
                         <td class=\"num\">{}</td></tr>",
                        esc(s("judge")),
                        esc(s("judge_b")),
                        fmt3(f("point")),
                        fmt3(f("boot_mean")),
                        span(f("ci_low"), f("ci_high")),
                        span(f("basic_low"), f("basic_high"))
                    );
                }
            }
            html.push_str(
                "</table>\n<p>The similarity of noisy weights is attenuated in every \
                replicate, so the percentile interval can sit below the point estimate; see the \
                README.</p>\n",
            );
        }
    }

    // SHAP waterfall.
    if let Some(data) = &req.data {
        let judge = charted
            .first()
            .cloned()
            .unwrap_or_else(|| fw.judges[0].clone());
        let rows = explain(&ExplainRequest {
            data: data.clone(),
            fit: req.fit.clone(),
            judges: Some(vec![judge.clone()]),
            sample: Some(req.sample),
            group: None,
        })?;
        if let Some(e) = rows.first() {
            html.push_str(
                "<h2>Why one verdict</h2>\n<p>Exact Shapley values of the judge's \
                model σ(w·x) against the baseline where no property differs (0.5); + means \
                response 1 is better in that property.</p>\n",
            );
            html.push_str(&super::charts::explanation_waterfall(e));
        }
    }
    html.push_str("\n<p><small>Written by prefdissect. Static page: no script, no network.</small></p>\n</body></html>\n");
    write_atomic(&req.out, html.as_bytes())?;
    Ok(charted)
}
