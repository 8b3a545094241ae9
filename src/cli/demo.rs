//! `prefdissect demo`: simulate a paper-shaped data set, fit its 5,280 models as the paper does
//! (the posterior mean, with `configs/fast.json`'s sampler) and as a MAP beside it, and show
//! what each judge prefers next to how well each fit recovers the simulator's true weights.

use clap::Args;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use crate::analyse::{fold_average, pearson, probability_of_preferred, top_bottom};
use crate::base::error::Result;
use crate::base::features::{FEATURE_NAMES, PAPER_K, SCENARIO_GROUPS};
use crate::cli::fit::{FitRequest, fit};
use crate::load::Selection;
use crate::simulate::{simulate, write_simulated};
use crate::solve::settings::FitConfig;

/// Per-judge line of the demo table.
#[derive(Clone, Debug)]
pub struct DemoRow {
    /// Judge name.
    pub judge: String,
    /// Pearson r of the posterior means vs true weights over the 11 scenarios × 29 properties.
    pub r_truth: f64,
    /// The same for the MAP.
    pub r_truth_map: f64,
    /// Three most preferred properties (name, probability of preferred, scenario average).
    pub top: Vec<(String, f64)>,
    /// Three least preferred.
    pub bottom: Vec<(String, f64)>,
}

/// What the demo ran: the table rows and the two fits' summaries (posterior mean, MAP).
pub struct DemoOutcome {
    /// One row per judge.
    pub rows: Vec<DemoRow>,
    /// `summary.json` of the posterior-mean fit.
    pub posterior: serde_json::Value,
    /// `summary.json` of the MAP fit.
    pub map: serde_json::Value,
    /// The fits' warnings, to print.
    pub warnings: Vec<String>,
    /// The posterior fits' mixing diagnostics, expected under the demo's fast settings.
    pub notes: Vec<String>,
}

/// Runs the demo into `root` (`root/data`; `root/fit`, the posterior means, with `analysis/`;
/// `root/fit-map`; `root/bootstrap`; `root/report.html`) and returns what to show.
pub fn demo(
    root: &Path,
    seed: u64,
    backend: crate::base::device::BackendChoice,
    progress: bool,
) -> Result<DemoOutcome> {
    let data_dir = root.join("data");
    let fit_dir = root.join("fit");
    let sim = simulate(seed);
    write_simulated(&sim, &data_dir, seed)?;
    let run = |out: PathBuf, config: FitConfig, progress: bool| {
        fit(&FitRequest {
            data: data_dir.clone(),
            out,
            selection: Selection::default(),
            config,
            progress,
            backend,
        })
    };
    let outcome = run(fit_dir.clone(), FitConfig::preset("fast")?, progress)?;
    let map = run(root.join("fit-map"), FitConfig::preset("map")?, false)?;
    let per_fit = outcome.solution.weights();
    let averaged = fold_average(&outcome.design, &per_fit);
    let map_averaged = fold_average(&map.design, &map.solution.weights());
    let mut rows = Vec::new();
    for (j, judge) in outcome.data.judges.iter().enumerate() {
        let map_fitted: Vec<f64> = map_averaged
            .iter()
            .filter(|e| e.judge == j)
            .filter(|e| SCENARIO_GROUPS.contains(&map.design.groups[e.group].name.as_str()))
            .flat_map(|e| e.weights)
            .collect();
        let (mut fitted, mut truth) = (Vec::new(), Vec::new());
        let mut prob_sum = [0f64; PAPER_K];
        let mut n_scen = 0;
        for e in averaged.iter().filter(|e| e.judge == j) {
            let name = &outcome.design.groups[e.group].name;
            if !SCENARIO_GROUPS.contains(&name.as_str()) {
                continue;
            }
            n_scen += 1;
            for k in 0..PAPER_K {
                prob_sum[k] += probability_of_preferred(e.weights[k]);
            }
            fitted.extend_from_slice(&e.weights);
            truth.extend_from_slice(&sim.truth[name][&judge.name]);
        }
        let probs: Vec<f64> = prob_sum.iter().map(|p| p / n_scen.max(1) as f64).collect();
        let (top, bottom) = top_bottom(&probs, 3);
        let label = |i: &usize| (FEATURE_NAMES[*i].to_string(), probs[*i]);
        rows.push(DemoRow {
            judge: judge.name.clone(),
            r_truth: pearson(&fitted, &truth),
            r_truth_map: pearson(&map_fitted, &truth),
            top: top.iter().map(label).collect(),
            bottom: bottom.iter().map(label).collect(),
        });
    }
    // The user-facing files: 200 bootstrap replicates, the tables and the HTML report.
    let config = FitConfig {
        estimator: Some(crate::solve::settings::Estimator::Map),
        ..FitConfig::default()
    };
    crate::bootstrap::bootstrap(&crate::bootstrap::BootstrapRequest {
        data: data_dir.clone(),
        out: root.join("bootstrap"),
        selection: Selection::default(),
        config,
        params: crate::bootstrap::BootstrapParams::new()
            .replicates(200)
            .seed(seed)
            .check()?,
        resume: false,
        progress: false,
        stop_after_chunks: None,
        shard: None,
        merging: false,
        backend,
    })?;
    crate::cli::analyze::analyze(&crate::cli::analyze::AnalyzeRequest {
        fit: fit_dir.clone(),
        out: fit_dir.join("analysis"),
        k: 3,
        similarity_groups: Vec::new(),
        bootstrap: Some(root.join("bootstrap")),
    })?;
    crate::report::html::report(&crate::report::html::ReportRequest {
        fit: fit_dir,
        bootstrap: Some(root.join("bootstrap")),
        data: Some(data_dir),
        judges: None,
        sample: 0,
        out: root.join("report.html"),
    })?;
    // The demo chose fast settings: their mixing diagnostics are expected, a note, not a
    // warning the user must act on.
    let mut warnings: Vec<String> = outcome
        .warnings
        .iter()
        .filter(|w| !outcome.mixing.contains(w))
        .cloned()
        .collect();
    warnings.extend(map.warnings.iter().cloned());
    Ok(DemoOutcome {
        rows,
        posterior: outcome.summary,
        map: map.summary,
        warnings,
        notes: outcome.mixing,
    })
}

/// Renders the demo table.
pub fn render(rows: &[DemoRow]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:<27} {:>7} {:>7}  {:<64} least preferred (prob. %)",
        "judge", "r(mean)", "r(MAP)", "most preferred (prob. %, posterior means)"
    );
    for r in rows {
        let fmt = |v: &[(String, f64)]| {
            v.iter()
                .map(|(n, p)| format!("{n} {p:.1}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let _ = writeln!(
            s,
            "{:<27} {:>7.3} {:>7.3}  {:<64} {}",
            r.judge,
            r.r_truth,
            r.r_truth_map,
            fmt(&r.top),
            fmt(&r.bottom)
        );
    }
    s
}

/// Flags of `demo`.
#[derive(Args)]
pub struct DemoArgs {
    /// Where to put the data and the fit.
    #[arg(long, default_value = "prefdissect-demo")]
    pub dir: PathBuf,
    /// Simulator seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where the fits run.
    #[arg(long, value_enum, default_value = "auto")]
    pub backend: crate::base::device::BackendChoice,
}

impl DemoArgs {
    /// Runs `demo`.
    pub fn run(self) -> Result<()> {
        let DemoArgs { dir, seed, backend } = self;

        let outcome = demo(&dir, seed, backend, true)?;
        for w in &outcome.warnings {
            eprintln!("warning: {w}");
        }
        for n in &outcome.notes {
            eprintln!("note: as expected of the demo's fast settings, {n}");
        }
        println!("{}", render(&outcome.rows));
        let (p, m) = (&outcome.posterior, &outcome.map);
        let secs = |s: &serde_json::Value| s["timings_s"]["solve"].as_f64().unwrap_or(0.0);
        println!(
            "{} posterior-mean fits (configs/fast.json) in {:.1} s and {} MAP fits in {:.3} s, \
             on {}; data in {d}/data, fits in {d}/fit and {d}/fit-map; open {d}/report.html",
            p["counts"]["fits"],
            secs(p),
            m["counts"]["fits"],
            secs(m),
            p["backend"].as_str().unwrap_or("?"),
            d = dir.display(),
        );
        Ok(())
    }
}
