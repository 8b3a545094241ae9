//! The `analyze` command: tables a user can open, share and script, from fitted weights in the
//! authors' format (a `fit` output or the paper's released files), optionally with the
//! intervals of a `bootstrap` run.

use clap::Args;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::analyse::fitted::FittedWeights;
use crate::analyse::tables::{
    SCENARIO_MEAN, probabilities, scenarios, similarity, similarity_in, top_bottom_k,
};
use crate::base::atomic::write_atomic;
use crate::base::error::{Error, Result};
use crate::report::{csv_field, csv_number};

/// Everything an `analyze` run needs.
#[derive(Clone, Debug)]
pub struct AnalyzeRequest {
    /// A `fit` output directory or a `fitted_paras_comparison` directory.
    pub fit: PathBuf,
    /// Where the tables go.
    pub out: PathBuf,
    /// Properties listed as most and least preferred.
    pub k: usize,
    /// Groups whose own similarity matrix is also written (`all` for every group).
    pub similarity_groups: Vec<String>,
    /// A `bootstrap` output directory (its `bootstrap_ci.json`) for intervals.
    pub bootstrap: Option<PathBuf>,
}

/// What `analyze` wrote and a few headline figures.
#[derive(Clone, Debug)]
pub struct AnalyzeOutcome {
    /// The fitted weights read.
    pub fitted: FittedWeights,
    /// Files written (relative to `out`).
    pub files: Vec<String>,
}

/// Bootstrap intervals keyed by (quantity, judge, judge_b, group, feature).
type Intervals = HashMap<(String, String, String, String, String), [f64; 5]>;

fn read_bootstrap(path: &Path) -> Result<Intervals> {
    let file = if path.is_dir() {
        path.join("bootstrap_ci.json")
    } else {
        path.to_owned()
    };
    let text = crate::base::text::read_text(&file)?;
    let doc: Value = serde_json::from_str(&text).map_err(|e| Error::Json {
        path: file.clone(),
        line: 0,
        message: e.to_string(),
    })?;
    let rows = doc["rows"].as_array().ok_or_else(|| Error::Field {
        path: file.clone(),
        line: 0,
        field: "rows".into(),
        message: "missing: not a bootstrap_ci.json".into(),
    })?;
    let mut out = Intervals::new();
    for r in rows {
        let s = |k: &str| r[k].as_str().unwrap_or("").to_string();
        let f = |k: &str| r[k].as_f64().unwrap_or(f64::NAN);
        out.insert(
            (
                s("quantity"),
                s("judge"),
                s("judge_b"),
                s("group"),
                s("feature"),
            ),
            [
                f("ci_low"),
                f("ci_high"),
                f("basic_low"),
                f("basic_high"),
                f("boot_sd"),
            ],
        );
    }
    Ok(out)
}

/// Runs the analyses and writes `probabilities.csv`, `similarity.csv`, `top_bottom.csv`, and
/// the pictures `dissection.svg` (human first, up to 4 judges) and `similarity.svg`.
pub fn analyze(req: &AnalyzeRequest) -> Result<AnalyzeOutcome> {
    let fw = FittedWeights::read(&req.fit)?;
    for g in &req.similarity_groups {
        if g != "all" && !fw.groups.contains(g) {
            return Err(Error::UnknownGroup {
                group: g.clone(),
                path: fw.dir.clone(),
                known: fw.groups.join(", "),
            });
        }
    }
    let boot = req.bootstrap.as_deref().map(read_bootstrap).transpose()?;
    let ci_header = if boot.is_some() {
        ",ci_low,ci_high,basic_low,basic_high,boot_sd"
    } else {
        ""
    };
    let ci = |key: (&str, &str, &str, &str, &str)| -> String {
        match &boot {
            None => String::new(),
            Some(b) => {
                let k = (
                    key.0.to_string(),
                    key.1.to_string(),
                    key.2.to_string(),
                    key.3.to_string(),
                    key.4.to_string(),
                );
                let v = b.get(&k).copied().unwrap_or([f64::NAN; 5]);
                v.iter().map(|&x| format!(",{}", csv_number(x))).collect()
            }
        }
    };

    let probs = probabilities(&fw);
    // Weights read from a file are finite (the JSON reader takes no NaN), so a NaN here is a
    // bug: fail naming the fit rather than write it (an empty cell reads as "undefined").
    if let Some(p) = probs
        .iter()
        .find(|p| !p.weight.is_finite() || !p.probability.is_finite())
    {
        let (field, value) = if p.weight.is_finite() {
            ("probability", p.probability)
        } else {
            ("weight", p.weight)
        };
        return Err(Error::NonFinite {
            fit: format!("{} / {} / {}", p.judge, p.group, fw.properties[p.feature]),
            field,
            value,
        });
    }
    let mut text = format!("judge,group,feature,weight,probability{ci_header}\n");
    for p in &probs {
        let quantity = if p.group == SCENARIO_MEAN {
            "probability_scenario_mean"
        } else {
            "probability"
        };
        let feature = fw.properties[p.feature].as_str();
        text.push_str(&format!(
            "{},{},{},{},{}{}\n",
            csv_field(&p.judge),
            csv_field(&p.group),
            csv_field(feature),
            csv_number(p.weight),
            csv_number(p.probability),
            ci((quantity, &p.judge, "", &p.group, feature))
        ));
    }
    let mut files = vec![("probabilities.csv".to_string(), text)];

    let mut groups: Vec<String> = vec![SCENARIO_MEAN.into()];
    if req.similarity_groups.iter().any(|g| g == "all") {
        groups.extend(fw.groups.iter().cloned());
    } else {
        groups.extend(req.similarity_groups.iter().cloned());
    }
    let mut text = format!("judge_a,judge_b,group,similarity{ci_header}\n");
    for g in &groups {
        if g == SCENARIO_MEAN && scenarios(&fw).is_empty() {
            continue;
        }
        for a in &fw.judges {
            for b in &fw.judges {
                let s = if g == SCENARIO_MEAN {
                    similarity(&fw, a, b)
                } else {
                    similarity_in(&fw, g, a, b)
                };
                // The bootstrap lists each pair once, in judge order.
                let (x, y) = if fw.judges.iter().position(|j| j == a)
                    <= fw.judges.iter().position(|j| j == b)
                {
                    (a, b)
                } else {
                    (b, a)
                };
                let interval = if g == SCENARIO_MEAN && a != b {
                    ci(("similarity_scenario_mean", x, y, SCENARIO_MEAN, ""))
                } else {
                    ci(("", "", "", "", ""))
                };
                text.push_str(&format!(
                    "{},{},{},{}{}\n",
                    csv_field(a),
                    csv_field(b),
                    csv_field(g),
                    csv_number(s),
                    interval
                ));
            }
        }
    }
    files.push(("similarity.csv".into(), text));

    let mut text = String::from("judge,group,direction,rank,feature,probability\n");
    for (judge, group, direction, rank, feature, p) in top_bottom_k(&probs, req.k, &fw.properties) {
        text.push_str(&format!(
            "{},{},{direction},{rank},{},{}\n",
            csv_field(&judge),
            csv_field(&group),
            csv_field(feature),
            csv_number(p)
        ));
    }
    files.push(("top_bottom.csv".into(), text));

    // The pictures, also as files of their own to share.
    let charted = crate::report::html::default_judges(&fw);
    if let Some(svg) = crate::report::html::dissection_svg(&fw, &charted) {
        files.push(("dissection.svg".into(), svg));
    }
    if let Some(svg) = crate::report::html::similarity_svg(&fw) {
        files.push(("similarity.svg".into(), svg));
    }
    for (name, contents) in &files {
        write_atomic(&req.out.join(name), contents.as_bytes())?;
    }
    Ok(AnalyzeOutcome {
        fitted: fw,
        files: files.into_iter().map(|(n, _)| n).collect(),
    })
}

/// Flags of `analyze`.
#[derive(Args)]
pub struct AnalyzeArgs {
    /// A `fit` output directory, or a directory of `model_<group>_fitted_paras.jsonl` files.
    #[arg(long)]
    pub fit: PathBuf,
    /// Where the tables go [default: FIT/analysis].
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Most and least preferred properties listed per judge and group.
    #[arg(long, default_value_t = 3)]
    pub k: usize,
    /// Also write these groups' own similarity matrices (comma-separated, or `all`).
    #[arg(long = "group", value_delimiter = ',')]
    pub groups: Vec<String>,
    /// A `bootstrap` output directory: adds its intervals to the tables.
    #[arg(long)]
    pub bootstrap: Option<PathBuf>,
}

impl AnalyzeArgs {
    /// Runs the command.
    pub fn run(self) -> Result<()> {
        let AnalyzeArgs {
            fit,
            out,
            k,
            groups,
            bootstrap,
        } = self;
        let out = out.unwrap_or_else(|| fit.join("analysis"));
        let outcome = crate::cli::analyze::analyze(&crate::cli::analyze::AnalyzeRequest {
            fit,
            out: out.clone(),
            k,
            similarity_groups: groups,
            bootstrap,
        })?;
        eprintln!(
            "{} judges × {} groups from {}; wrote {} to {}",
            outcome.fitted.judges.len(),
            outcome.fitted.groups.len(),
            outcome.fitted.dir.display(),
            outcome.files.join(", "),
            out.display()
        );
        Ok(())
    }
}
