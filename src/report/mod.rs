//! Step 5 of the pipeline: the files a fit writes.
//!
//! - `fitted_paras_comparison/model_<group>_fitted_paras.jsonl`: the authors' exact format
//!   (one line per judge, `{"model_name", "parameters": [29]}`, fold-averaged), which their
//!   Streamlit app and our `analyze` read;
//! - `fits.jsonl`: one line per fit with its diagnostics;
//! - `summary.json`: settings, backend, timings, counts.
//!
//! Everything is rendered in memory first and each file is written atomically, so a failed run
//! leaves no half-written file.

pub mod charts;
pub mod checkpoint;
pub mod html;
pub mod pairs_table;

use std::path::Path;

use serde_json::Value;

use crate::analyse::JudgeGroupWeights;
pub use crate::analyse::fitted::{FITTED_PARAS_DIR, fitted_paras_file};
use crate::base::atomic::write_atomic;
use crate::base::error::Result;

/// Renders one group's `fitted_paras` file: judges in data-set order, byte for byte as the
/// authors' Python (`json.dumps` defaults: `", "` and `": "` separators, `repr` floats) writes it.
pub fn render_fitted_paras(
    entries: &[&JudgeGroupWeights],
    judge_names: &[String],
    k: usize,
) -> String {
    let mut out = String::new();
    for e in entries {
        let params: Vec<String> = e.weights[..k].iter().map(|&v| python_float(v)).collect();
        out.push_str(&format!(
            "{{\"model_name\": {}, \"parameters\": [{}]}}\n",
            python_json_string(&judge_names[e.judge]),
            params.join(", ")
        ));
    }
    out
}

/// A string as Python's `json.dumps` writes it (`ensure_ascii=True`, its default): printable
/// ASCII as is, `"` and `\` escaped, the usual short escapes, and every other character as
/// lowercase `\uXXXX` UTF-16 units (a surrogate pair above U+FFFF), so a judge named in any
/// script gets the authors' bytes.
pub fn python_json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    out.push_str(&format!("\\u{u:04x}"));
                }
            }
        }
    }
    out.push('"');
    out
}

/// A float as Python's `repr` writes it: shortest round-trip digits, exponent form (`1e-05`)
/// when the decimal exponent is below -4 or at least 16.
pub fn python_float(v: f64) -> String {
    if !v.is_finite() {
        return if v.is_nan() {
            "NaN".into()
        } else if v > 0.0 {
            "Infinity".into()
        } else {
            "-Infinity".into()
        };
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0.0" } else { "0.0" }.into();
    }
    let sci = format!("{v:e}"); // shortest round-trip digits, e.g. "-1.7534e-2"
    let (mant, exp) = sci.split_once('e').expect("{:e} has an exponent");
    let exp: i32 = exp.parse().expect("integer exponent");
    if (-4..16).contains(&exp) {
        let s = format!("{v}");
        if s.contains('.') { s } else { s + ".0" }
    } else {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mant}e{sign}{:02}", exp.abs())
    }
}

/// Renders JSON-lines from values.
pub fn render_jsonl(lines: &[Value]) -> String {
    let mut out = String::new();
    for v in lines {
        out.push_str(&v.to_string());
        out.push('\n');
    }
    out
}

/// The `fits.jsonl` fields of a MAP fit.
pub fn map_fit_json(f: &crate::solve::map::MapFit, k: usize) -> Value {
    serde_json::json!({
        "estimator": "map",
        "weights": f.weights[..k].to_vec(),
        "objective": f.objective,
        "kkt": f.kkt,
        "iterations": f.iterations,
        "polish_iterations": f.polish_iterations,
    })
}

/// The `fits.jsonl` fields of a posterior fit: the mean (as `weights`) and its diagnostics.
pub fn posterior_fit_json(f: &crate::solve::posterior::PosteriorFit) -> Value {
    serde_json::json!({
        "estimator": "posterior-mean",
        "mean_from": if f.control_variates { "control-variates" } else { "draws" },
        "weights": f.mean[..f.k].to_vec(),
        "sd": f.sd[..f.k].to_vec(),
        "mcse": f.mcse[..f.k].to_vec(),
        "rhat": f.rhat[..f.k].to_vec(),
        "ess_bulk": f.ess_bulk[..f.k].to_vec(),
        "max_rhat": f.max_rhat(),
        "min_ess": f.min_ess(),
        "accept_rate": f.accept_rate,
        "step_size": f.step_size,
        "divergences": f.divergences,
        "draws": f.draws,
    })
}

/// Writes a set of rendered files under `out` (each atomically, after all were rendered).
pub fn write_all(out: &Path, files: &[(String, String)]) -> Result<()> {
    for (rel, contents) in files {
        write_atomic(&out.join(rel), contents.as_bytes())?;
    }
    Ok(())
}

/// A CSV field, quoted when it holds a comma, quote or line break.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// A CSV number: shortest round-trip form, empty for NaN.
pub fn csv_number(v: f64) -> String {
    if v.is_nan() {
        String::new()
    } else {
        format!("{v}")
    }
}
