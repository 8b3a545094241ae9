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

mod atomic;

pub use atomic::write_atomic;

use std::path::Path;

use serde_json::{Value, json};

use crate::analyse::JudgeGroupWeights;
use crate::error::Result;

/// Directory (inside the output) of the authors'-format files.
pub const FITTED_PARAS_DIR: &str = "fitted_paras_comparison";

/// File name of a group's fold-averaged weights, as the authors name it.
pub fn fitted_paras_file(group: &str) -> String {
    format!("model_{group}_fitted_paras.jsonl")
}

/// Renders one group's `fitted_paras` file: judges in data-set order.
pub fn render_fitted_paras(entries: &[&JudgeGroupWeights], judge_names: &[String]) -> String {
    let mut out = String::new();
    for e in entries {
        let line = json!({
            "model_name": judge_names[e.judge],
            "parameters": e.weights.to_vec(),
        });
        out.push_str(&line.to_string());
        out.push('\n');
    }
    out
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

/// Writes a set of rendered files under `out` (each atomically, after all were rendered).
pub fn write_all(out: &Path, files: &[(String, String)]) -> Result<()> {
    for (rel, contents) in files {
        write_atomic(&out.join(rel), contents.as_bytes())?;
    }
    Ok(())
}
