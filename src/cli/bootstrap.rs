//! The `bootstrap` command: intervals for every judge × group model (and the probabilities
//! and similarities read from them) in one batched job.

use std::path::PathBuf;

use clap::Args;

use crate::Result;
use crate::load::Selection;
use crate::solve::settings::FitConfig;

/// Flags of `bootstrap`.
#[derive(Args)]
pub struct BootstrapArgs {
    /// The data: a pairs table (.parquet or .csv), or the authors' directory (resolved.jsonl, query_aware_idxs.json, labels/JUDGE.json).
    #[arg(long)]
    pub data: PathBuf,
    /// Output directory: bootstrap_ci.csv, bootstrap_ci.json, summary.json.
    #[arg(long)]
    pub out: PathBuf,
    /// Replicates per model.
    #[arg(long)]
    pub replicates: usize,
    /// Settings file (configs/*.json) for the estimator; flags override it.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// Judges (comma-separated file stems); default all.
    #[arg(long, value_delimiter = ',')]
    pub judges: Option<Vec<String>>,
    /// Groups (comma-separated); default all 16.
    #[arg(long, value_delimiter = ',')]
    pub groups: Option<Vec<String>>,
    /// Resample rows with independent Poisson(1) counts instead of multinomially.
    #[arg(long)]
    pub poisson: bool,
    /// Resampling scheme (`--poisson` is short for `--resampling poisson`).
    #[arg(
        long,
        value_enum,
        default_value = "multinomial",
        conflicts_with = "poisson"
    )]
    pub resampling: crate::bootstrap::Resampling,
    /// Coverage of the intervals.
    #[arg(long, default_value_t = 0.95)]
    pub level: f64,
    /// Also compute BCa intervals (acceleration from a delete-a-group jackknife).
    #[arg(long)]
    pub bca: bool,
    /// Groups of that jackknife.
    #[arg(long, default_value_t = 20)]
    pub jackknife_groups: usize,
    /// Memory for the kept replicates and those in flight (e.g. 512MiB, 4GiB).
    #[arg(long, default_value = "1GiB", value_parser = crate::bootstrap::parse_size)]
    pub memory_budget: u64,
    /// Continue from the checkpoint an interrupted run left in OUT.
    #[arg(long)]
    pub resume: bool,
    /// Where the solvers run: `auto` (the CPU for now), `cpu`, or `wgpu`.
    #[arg(long, value_enum, default_value = "auto")]
    pub backend: crate::base::device::BackendChoice,
    // No doc comment: clap would print it in --help.
    #[allow(missing_docs)]
    #[command(flatten)]
    pub settings: FitConfig,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
    /// Compute only shard K of N (0-based, `--shard 2/8`): a contiguous range of the chunks of
    /// replicates; OUT gets them and a shard.json for `prefdissect merge`.
    #[arg(long, value_parser = crate::cli::fit::parse_shard)]
    pub shard: Option<crate::design::Shard>,
}

impl BootstrapArgs {
    /// Runs `bootstrap`.
    pub fn run(self) -> Result<()> {
        let BootstrapArgs {
            data,
            out,
            replicates,
            config,
            judges,
            groups,
            poisson,
            resampling,
            level,
            bca,
            jackknife_groups,
            memory_budget,
            resume,
            backend,
            settings: flags,
            quiet,
            shard,
        } = self;

        let config = FitConfig::load(config.as_deref(), &flags)?;
        let resampling = if poisson {
            crate::bootstrap::Resampling::Poisson
        } else {
            resampling
        };
        let params = crate::bootstrap::BootstrapParams::new()
            .replicates(replicates)
            .resampling(resampling)
            .level(level)
            .bca(bca)
            .jackknife_groups(jackknife_groups)
            .memory_budget(memory_budget)
            .seed(config.seed.unwrap_or(0))
            .check()?;
        let req = crate::bootstrap::BootstrapRequest {
            data,
            out: out.clone(),
            selection: Selection { judges, groups },
            config,
            params,
            resume,
            progress: !quiet,
            stop_after_chunks: None,
            shard,
            merging: false,
            backend,
        };
        let outcome = crate::bootstrap::bootstrap(&req)?;
        if let Some(shard) = shard {
            eprintln!(
                "bootstrapped shard {shard}: chunks {} of {}; wrote {} (merge with `prefdissect merge`)",
                outcome.summary["chunks"].as_array().map_or(0, Vec::len),
                outcome.summary["of_chunks"],
                out.join(crate::bootstrap::SHARD_MANIFEST).display()
            );
            return Ok(());
        }
        let s = &outcome.summary;
        eprintln!(
            "bootstrapped {} models × {} replicates ({} fits, {}) in {:.2} s ({:.0} replicate fits/s); wrote {}",
            s["counts"]["models"],
            s["counts"]["replicates"],
            s["counts"]["replicate_fits"],
            s["settings"]["estimator"]["estimator"]
                .as_str()
                .unwrap_or("?"),
            s["timings_s"]["total_this_call"].as_f64().unwrap_or(0.0),
            s["throughput"]["replicate_fits_per_s"]
                .as_f64()
                .unwrap_or(0.0),
            out.display()
        );
        for w in &outcome.warnings {
            eprintln!("warning: {w}");
        }
        Ok(())
    }
}

/// The whole bootstrap's outputs from its shards' replicate chunks (`prefdissect merge`, which
/// has checked that the shards are all of one job, each once): the chunks are gathered in OUT's
/// checkpoint and the run is resumed from it, computing no replicate.
pub fn merge_bootstrap(
    shards: &[std::path::PathBuf],
    manifest: &serde_json::Value,
    out: &std::path::Path,
    progress: bool,
) -> Result<()> {
    use crate::base::error::Error;
    use crate::bootstrap::checkpoint::{Checkpoint, Manifest};
    let bad = |message: String| Error::Checkpoint {
        path: shards[0].join(crate::bootstrap::SHARD_MANIFEST),
        message,
    };
    let request = &manifest["request"];
    let field = |key: &str| request[key].clone();
    let params: crate::bootstrap::BootstrapParams = serde_json::from_value(field("params"))
        .map_err(|e| bad(format!("`request.params`: {e}")))?;
    let req = crate::bootstrap::BootstrapRequest {
        data: serde_json::from_value(field("data"))
            .map_err(|e| bad(format!("`request.data`: {e}")))?,
        out: out.to_owned(),
        selection: Selection {
            judges: serde_json::from_value(field("judges")).unwrap_or(None),
            groups: serde_json::from_value(field("groups")).unwrap_or(None),
        },
        config: serde_json::from_value(field("config"))
            .map_err(|e| bad(format!("`request.config`: {e}")))?,
        params: params.check()?,
        resume: true,
        progress,
        stop_after_chunks: None,
        shard: None,
        merging: true,
        backend: serde_json::from_value(field("backend")).unwrap_or_default(),
    };
    if out.exists() && !out.is_dir() {
        return Err(Error::Setting {
            name: "out",
            message: format!("{} exists and is not a directory", out.display()),
        });
    }
    let lock = crate::base::lock::OutLock::acquire(out)?;
    let target = Checkpoint::new(out);
    let gathered = (|| -> Result<()> {
        target.clear()?;
        let mut chunks = Vec::new();
        for dir in shards {
            let from = Checkpoint::new(dir);
            let m = from.read_manifest()?.ok_or_else(|| Error::Checkpoint {
                path: from.dir().to_owned(),
                message: "missing: the shard's chunks are gone".into(),
            })?;
            for rec in m.chunks {
                let i = rec.index.unwrap_or(0);
                std::fs::create_dir_all(target.dir()).map_err(|e| Error::io(target.dir(), e))?;
                let src = from.chunk_file(i);
                std::fs::copy(&src, target.chunk_file(i)).map_err(|e| Error::io(&src, e))?;
                chunks.push(rec);
            }
        }
        chunks.sort_by_key(|c| c.index);
        if let Some(w) = chunks.windows(2).find(|w| w[0].index == w[1].index) {
            return Err(bad(format!(
                "chunk {} is held by two shards",
                w[0].index.unwrap_or(0)
            )));
        }
        target.write_manifest(&Manifest {
            fingerprint: manifest["fingerprint"].as_str().unwrap_or("").to_owned(),
            chunk_replicates: manifest["chunk_replicates"].as_u64().unwrap_or(1) as usize,
            chunks,
        })
    })();
    drop(lock);
    let outcome = gathered.and_then(|()| crate::bootstrap::bootstrap(&req));
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            let _ = target.clear();
            return Err(e);
        }
    };
    eprintln!(
        "merged {} shards: {} models × {} replicates; wrote {}",
        shards.len(),
        outcome.summary["counts"]["models"],
        outcome.summary["counts"]["replicates"],
        out.display()
    );
    for w in &outcome.warnings {
        eprintln!("warning: {w}");
    }
    Ok(())
}
