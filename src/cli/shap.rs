//! The `shap` command: exact Shapley values of judges' models for samples of a data set, in
//! one batched pass over samples × judges (`analyse::explain`), written as CSV.

use std::path::PathBuf;

use clap::Args;

use crate::analyse::explain::{ExplainRequest, Explanation};
use crate::base::atomic::write_atomic;
use crate::base::error::Result;
use crate::report::csv_field;

/// Everything a `shap` run needs.
#[derive(Clone, Debug)]
pub struct ShapRequest {
    /// The data: a pairs table (.parquet or .csv), or the authors' directory.
    pub data: PathBuf,
    /// Fitted weights (a `fit` output or the authors' files).
    pub fit: PathBuf,
    /// Judges; default every judge in the fit.
    pub judges: Option<Vec<String>>,
    /// One sample (0-based line of `resolved.jsonl`); default all.
    pub sample: Option<usize>,
    /// The group whose model explains the sample; default the sample's scenario group (a
    /// table's own groups: the first of the sample's groups the fit has weights for).
    pub group: Option<String>,
    /// Output CSV.
    pub out: PathBuf,
}

/// Computes the explanations, writes them to `req.out` as CSV and returns them.
pub fn explain(req: &ShapRequest) -> Result<Vec<Explanation>> {
    let rows = crate::analyse::explain::explain(&ExplainRequest {
        data: req.data.clone(),
        fit: req.fit.clone(),
        judges: req.judges.clone(),
        sample: req.sample,
        group: req.group.clone(),
    })?;
    // A pairs table with an `id` column names its pairs: an `id` column follows `sample`.
    let with_id = rows.iter().any(|e| e.id.is_some());
    let mut text = String::from(if with_id {
        "sample,id,judge,group,f_x,feature,x,contribution,shap\n"
    } else {
        "sample,judge,group,f_x,feature,x,contribution,shap\n"
    });
    for e in &rows {
        let sample = match &e.id {
            Some(id) => format!("{},{}", e.sample, csv_field(id)),
            None => e.sample.to_string(),
        };
        for k in 0..e.properties.len() {
            if e.x[k] != 0.0 {
                text.push_str(&format!(
                    "{},{},{},{},{},{},{},{}\n",
                    sample,
                    csv_field(&e.judge),
                    csv_field(&e.group),
                    e.f_x,
                    csv_field(&e.properties[k]),
                    e.x[k],
                    e.contribution[k],
                    e.shap[k]
                ));
            }
        }
    }
    write_atomic(&req.out, text.as_bytes())?;
    Ok(rows)
}

/// Flags of `shap`.
#[derive(Args)]
pub struct ShapArgs {
    /// The data: a pairs table (.parquet or .csv), or the authors' directory.
    #[arg(long)]
    pub data: PathBuf,
    /// A `fit` output directory, or a directory of `model_<group>_fitted_paras.jsonl` files.
    #[arg(long)]
    pub fit: PathBuf,
    /// Judges (comma-separated); default all in the fit.
    #[arg(long, value_delimiter = ',')]
    pub judge: Option<Vec<String>>,
    /// One sample (0-based line of resolved.jsonl); default all.
    #[arg(long)]
    pub sample: Option<usize>,
    /// The group whose model explains the samples; default each sample's scenario group (a
    /// table's own groups: the first of the sample's groups the fit has weights for).
    #[arg(long)]
    pub group: Option<String>,
    /// Output CSV [default: FIT/shap.csv].
    #[arg(long)]
    pub out: Option<PathBuf>,
}

impl ShapArgs {
    /// Runs the command.
    pub fn run(self) -> Result<()> {
        let ShapArgs {
            data,
            fit,
            judge,
            sample,
            group,
            out,
        } = self;
        let out = out.unwrap_or_else(|| fit.join("shap.csv"));
        let rows = crate::cli::shap::explain(&crate::cli::shap::ShapRequest {
            data,
            fit,
            judges: judge,
            sample,
            group,
            out: out.clone(),
        })?;
        if let [one] = rows.as_slice() {
            println!(
                "sample {} judge {} ({}): P(A) = {:.4}, baseline 0.5",
                one.sample, one.judge, one.group, one.f_x
            );
            let order = one.ranked();
            let svg = crate::report::charts::explanation_waterfall(one);
            let svg_path = out.with_extension("svg");
            crate::base::atomic::write_atomic(&svg_path, svg.as_bytes())?;
            eprintln!("waterfall: {}", svg_path.display());
            for k in order {
                println!(
                    "  {:<26} x = {:+} shap {:+.4}",
                    one.properties[k], one.x[k], one.shap[k]
                );
            }
        }
        let sampled: Vec<&Explanation> = rows.iter().filter(|e| e.shap_error > 0.0).collect();
        if let Some(worst) = sampled.iter().map(|e| e.shap_error).reduce(f64::max) {
            eprintln!(
                "note: {} explanations have more than {} non-zero features: their Shapley values \
                 are estimates from {} orderings (largest standard error {worst:.1e}); the \
                 others are exact",
                sampled.len(),
                crate::analyse::shap::MAX_PLAYERS,
                crate::analyse::shap::ORDERINGS
            );
        }
        eprintln!(
            "{} sample × judge explanations; wrote {}",
            rows.len(),
            out.display()
        );
        Ok(())
    }
}
