//! The binary's handlers of the dissection, bootstrap-check, report and bench commands: their flags
//! (clap `Args`) and what each does with them.

use std::path::PathBuf;

use clap::Args;

use prefdissect::Result;

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
        let outcome = prefdissect::analyze::analyze(&prefdissect::analyze::AnalyzeRequest {
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

/// Flags of `shap`.
#[derive(Args)]
pub struct ShapArgs {
    /// Data directory (resolved.jsonl, query_aware_idxs.json).
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
    /// The group whose model explains the samples; default each sample's scenario group.
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
        let rows = prefdissect::explain::explain(&prefdissect::explain::ShapRequest {
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
            let svg = one.waterfall_svg();
            let svg_path = out.with_extension("svg");
            prefdissect::report::write_atomic(&svg_path, svg.as_bytes())?;
            eprintln!("waterfall: {}", svg_path.display());
            for k in order {
                println!(
                    "  {:<26} x = {:+} shap {:+.4}",
                    prefdissect::features::FEATURE_NAMES[k],
                    one.x[k],
                    one.shap[k]
                );
            }
        }
        eprintln!(
            "{} sample × judge explanations; wrote {}",
            rows.len(),
            out.display()
        );
        Ok(())
    }
}

/// Flags of `labels`.
#[derive(Args)]
pub struct LabelsArgs {
    /// Log-probabilities with response 1 shown as "A" (JSON Lines of {"A": .., "B": ..}).
    #[arg(long)]
    pub logprobs: PathBuf,
    /// The same with the responses swapped (response 1 shown as "B").
    #[arg(long)]
    pub logprobs_swapped: PathBuf,
    /// A data directory whose resolved.jsonl must have as many samples.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Output, e.g. DATA/labels/<judge>.json.
    #[arg(long)]
    pub out: PathBuf,
}

impl LabelsArgs {
    /// Runs the command.
    pub fn run(self) -> Result<()> {
        let LabelsArgs {
            logprobs,
            logprobs_swapped,
            data,
            out,
        } = self;
        let resolved = data.map(|d| d.join("resolved.jsonl"));
        let expected = match &resolved {
            Some(path) => Some((
                prefdissect::load::read_resolved(path)?.n_samples(),
                path.as_path(),
            )),
            None => None,
        };
        let labels =
            prefdissect::judge_labels::make_labels(&logprobs, &logprobs_swapped, expected, &out)?;
        let a = labels.iter().filter(|&&l| l).count();
        eprintln!(
            "{} labels ({a} \"A\", {} \"B\"); wrote {}",
            labels.len(),
            labels.len() - a,
            out.display()
        );
        Ok(())
    }
}

/// Flags of `report`.
#[derive(Args)]
pub struct ReportArgs {
    /// A `fit` output directory, or a directory of `model_<group>_fitted_paras.jsonl` files.
    #[arg(long)]
    pub fit: PathBuf,
    /// A `bootstrap` output directory: adds similarity intervals.
    #[arg(long)]
    pub bootstrap: Option<PathBuf>,
    /// A data directory: adds a SHAP waterfall for `--sample`.
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// Judges in the dissection chart (comma-separated; default up to 4, human first).
    #[arg(long, value_delimiter = ',')]
    pub judges: Option<Vec<String>>,
    /// Sample of the SHAP waterfall.
    #[arg(long, default_value_t = 0)]
    pub sample: usize,
    /// The HTML file.
    #[arg(long)]
    pub out: PathBuf,
}

impl ReportArgs {
    /// Runs the command.
    pub fn run(self) -> Result<()> {
        let ReportArgs {
            fit,
            bootstrap,
            data,
            judges,
            sample,
            out,
        } = self;
        let charted =
            prefdissect::report::html::report(&prefdissect::report::html::ReportRequest {
                fit,
                bootstrap,
                data,
                judges,
                sample,
                out: out.clone(),
            })?;
        eprintln!("wrote {} (charted: {})", out.display(), charted.join(", "));
        Ok(())
    }
}

/// Flags of `calibrate`.
#[derive(Args)]
pub struct CalibrateArgs {
    /// Fresh simulated data sets.
    #[arg(long, default_value_t = 200)]
    pub refits: usize,
    /// Bootstrap replicates per data set.
    #[arg(long, default_value_t = 200)]
    pub replicates: usize,
    /// Judges.
    #[arg(long, default_value_t = 8)]
    pub judges: usize,
    /// Rows of each group (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "400,400,820")]
    pub group_sizes: Vec<usize>,
    /// Interval coverage.
    #[arg(long, default_value_t = 0.95)]
    pub level: f64,
    /// Seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Also write the full report (every weight) as JSON here.
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Where the fits run.
    #[arg(long, value_enum, default_value = "auto")]
    pub backend: prefdissect::device::BackendChoice,
}

impl CalibrateArgs {
    /// Runs the command.
    pub fn run(self) -> Result<()> {
        let CalibrateArgs {
            refits,
            replicates,
            judges,
            group_sizes,
            level,
            seed,
            json,
            backend,
        } = self;
        use prefdissect::bootstrap::calibrate;
        if refits < 3 || replicates < 2 || judges == 0 || group_sizes.iter().any(|&n| n < 2) {
            return Err(prefdissect::Error::Setting {
                name: "calibrate",
                message: "needs refits >= 3, replicates >= 2, judges >= 1, groups of >= 2 rows"
                    .into(),
            });
        }
        let report = calibrate::calibrate(&calibrate::CalibrationParams {
            refits,
            replicates,
            judges,
            group_sizes,
            level,
            seed,
            backend,
        })?;
        print!("{}", calibrate::render(&report));
        if let Some(path) = json {
            let text = serde_json::to_string_pretty(&report).expect("json");
            prefdissect::report::write_atomic(&path, text.as_bytes())?;
        }
        Ok(())
    }
}

/// Flags of `bench`.
#[derive(Args)]
pub struct BenchArgs {
    /// Timed runs (median reported).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Simulator seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Folds of the MAP job.
    #[arg(long, default_value_t = 10)]
    pub folds: usize,
    /// Skip the (slow) burn plain-ops reference pass.
    #[arg(long)]
    pub no_reference: bool,
    /// Instead: time the manipulation experiment's 66 rerankers trained in one batch against
    /// the same set trained one at a time (--runs each, alternating).
    #[arg(long)]
    pub rerank: bool,
    /// Adam steps per reranker training (with --rerank).
    #[arg(long, default_value_t = 100)]
    pub rerank_steps: usize,
    /// Where the --rerank work runs.
    #[arg(long, value_enum, default_value = "auto")]
    pub backend: prefdissect::device::BackendChoice,
    /// Instead: the same jobs (gradient pass, MAP job, rerankers) on each of --backends, one
    /// table.
    #[arg(long)]
    pub table: bool,
    /// Backends of --table (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',', default_value = "cpu,wgpu")]
    pub backends: Vec<prefdissect::device::BackendChoice>,
    /// Judges of --table's simulated MAP job (33 = the paper's 5,280 fits).
    #[arg(long, default_value_t = 33)]
    pub judges: usize,
    /// Instead: CPU vs wgpu on this data directory's fits of --judge (MAP: max |Δw|; posterior
    /// mean: max |z| in combined MCSE); JSON out, exit 1 if a check fails.
    #[arg(long, value_name = "DATA")]
    pub agreement: Option<std::path::PathBuf>,
    /// Judge of --agreement.
    #[arg(long, default_value = "human")]
    pub judge: String,
}

impl BenchArgs {
    /// Runs the command.
    pub fn run(self) -> Result<()> {
        if let Some(dir) = &self.agreement {
            let report = prefdissect::bench_agreement::agreement(dir, &self.judge)?;
            println!("{}", serde_json::to_string_pretty(&report).expect("json"));
            if report["map"]["pass"] != true || report["posterior_mean"]["pass"] != true {
                return Err(prefdissect::Error::Setting {
                    name: "agreement",
                    message: "CPU and wgpu disagree beyond the required bounds (see above)".into(),
                });
            }
            return Ok(());
        }
        if self.table {
            let rows = prefdissect::bench_table::run(&prefdissect::bench_table::TableRequest {
                backends: self.backends,
                runs: self.runs,
                judges: self.judges,
                seed: self.seed,
            })?;
            print!("{}", prefdissect::bench_table::render(&rows));
            return Ok(());
        }
        let report = if self.rerank {
            let (device, backend) = prefdissect::device::tensor_device(self.backend);
            prefdissect::rerank::benchmark::run(
                &prefdissect::rerank::benchmark::RerankBenchRequest {
                    runs: self.runs,
                    prompts: 200,
                    params: prefdissect::rerank::params::RerankParams::new()
                        .steps(self.rerank_steps)
                        .seed(self.seed)
                        .check()?,
                    seed: self.seed,
                },
                &device,
                &backend,
            )?
        } else {
            prefdissect::bench::run(&prefdissect::bench::BenchRequest {
                runs: self.runs,
                seed: self.seed,
                folds: self.folds,
                reference: !self.no_reference,
            })?
        };
        println!("{}", serde_json::to_string_pretty(&report).expect("json"));
        Ok(())
    }
}
