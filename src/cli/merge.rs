//! The `merge` command: the outputs of a sharded job (`fit --shard K/N`, `bootstrap --shard
//! K/N`) from its shards' directories, byte for byte the files of the unsharded run.
//!
//! Every shard is checked before anything is written: each must be finished (its `shard.json`
//! is written last), all must come from the same job (data and settings fingerprint), and each
//! of shards 0 … N−1 must be there exactly once. Then their blocks (or replicate chunks) are
//! gathered in OUT's checkpoint and the job is run again from it, computing nothing, which
//! renders every output file exactly as one run would.

use std::path::{Path, PathBuf};

use clap::Args;
use serde_json::Value;

use crate::Result;
use crate::base::error::Error;
use crate::base::lock::OutLock;
use crate::cli::fit::{FitMode, FitRequest, SHARD_MANIFEST, run_fit};
use crate::design::Shard;
use crate::load::Selection;
use crate::report::checkpoint::FIT_CHECKPOINT_DIR;

/// Flags of `merge`.
#[derive(Args)]
pub struct MergeArgs {
    /// Output directory: the whole job's files.
    #[arg(long)]
    pub out: PathBuf,
    /// The shards' output directories, all N of them, in any order.
    #[arg(required = true)]
    pub shards: Vec<PathBuf>,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// One shard's manifest, read and checked.
struct ShardDir {
    dir: PathBuf,
    shard: Shard,
    manifest: Value,
}

fn manifest_error(dir: &Path, message: impl Into<String>) -> Error {
    Error::Checkpoint {
        path: dir.to_owned(),
        message: message.into(),
    }
}

fn read_shard(dir: &Path) -> Result<ShardDir> {
    let path = dir.join(SHARD_MANIFEST);
    if !path.is_file() {
        return Err(manifest_error(
            dir,
            format!("no {SHARD_MANIFEST}: not a finished shard (run it again with --resume)"),
        ));
    }
    let text = crate::base::text::read_text(&path)?;
    let manifest: Value = serde_json::from_str(&text).map_err(|e| Error::Json {
        path: path.clone(),
        line: e.line(),
        message: e.to_string(),
    })?;
    let shard: Shard = serde_json::from_value(manifest["shard"].clone())
        .map_err(|e| manifest_error(&path, format!("field `shard`: {e}")))?;
    if manifest["complete"] != Value::Bool(true) || manifest["fingerprint"].as_str().is_none() {
        return Err(manifest_error(&path, "not a finished shard's manifest"));
    }
    Ok(ShardDir {
        dir: dir.to_owned(),
        shard,
        manifest,
    })
}

/// All shards of one job, each once: else an error naming the shard at fault.
fn check_set(shards: &[ShardDir]) -> Result<()> {
    let first = &shards[0];
    let n = first.shard.count;
    for s in shards {
        for key in ["kind", "fingerprint"] {
            if s.manifest[key] != first.manifest[key] {
                return Err(manifest_error(
                    &s.dir,
                    format!(
                        "a shard of another job (its {key} differs from {}'s)",
                        first.dir.display()
                    ),
                ));
            }
        }
        if s.shard.count != n {
            return Err(manifest_error(
                &s.dir,
                format!(
                    "shard {} of a {}-way split; {} is of a {n}-way split",
                    s.shard,
                    s.shard.count,
                    first.dir.display()
                ),
            ));
        }
    }
    for index in 0..n {
        let holders: Vec<&ShardDir> = shards.iter().filter(|s| s.shard.index == index).collect();
        match holders.as_slice() {
            [] => {
                return Err(Error::Setting {
                    name: "shards",
                    message: format!("shard {index}/{n} is missing"),
                });
            }
            [_] => {}
            [a, b, ..] => {
                return Err(manifest_error(
                    &b.dir,
                    format!(
                        "shard {index}/{n} is given twice (also {})",
                        a.dir.display()
                    ),
                ));
            }
        }
    }
    Ok(())
}

impl MergeArgs {
    /// Runs `merge`.
    pub fn run(self) -> Result<()> {
        let shards = self
            .shards
            .iter()
            .map(|d| read_shard(d))
            .collect::<Result<Vec<_>>>()?;
        check_set(&shards)?;
        match shards[0].manifest["kind"].as_str() {
            Some("fit") => merge_fit(&shards, &self.out, !self.quiet),
            Some("bootstrap") => crate::cli::bootstrap::merge_bootstrap(
                &shards.iter().map(|s| s.dir.clone()).collect::<Vec<_>>(),
                &shards[0].manifest,
                &self.out,
                !self.quiet,
            ),
            other => Err(manifest_error(
                &shards[0].dir,
                format!("unknown shard kind {other:?}"),
            )),
        }
    }
}

/// Gathers the shards' blocks in OUT's checkpoint and renders the whole fit from them.
fn merge_fit(shards: &[ShardDir], out: &Path, progress: bool) -> Result<()> {
    let m = &shards[0].manifest;
    let request = &m["request"];
    let req = FitRequest {
        data: serde_json::from_value(request["data"].clone())
            .map_err(|e| manifest_error(&shards[0].dir, format!("`request.data`: {e}")))?,
        out: out.to_owned(),
        selection: Selection {
            judges: serde_json::from_value(request["judges"].clone()).unwrap_or(None),
            groups: serde_json::from_value(request["groups"].clone()).unwrap_or(None),
        },
        config: serde_json::from_value(request["config"].clone())
            .map_err(|e| manifest_error(&shards[0].dir, format!("`request.config`: {e}")))?,
        progress,
        backend: serde_json::from_value(request["backend"].clone()).unwrap_or_default(),
    };
    if out.exists() && !out.is_dir() {
        return Err(Error::Setting {
            name: "out",
            message: format!("{} exists and is not a directory", out.display()),
        });
    }
    let lock = OutLock::acquire(out)?;
    let ck = out.join(FIT_CHECKPOINT_DIR);
    let gathered = (|| -> Result<()> {
        if ck.exists() {
            std::fs::remove_dir_all(&ck).map_err(|e| Error::io(&ck, e))?;
        }
        std::fs::create_dir_all(&ck).map_err(|e| Error::io(&ck, e))?;
        let fingerprint = serde_json::json!({"fingerprint": m["fingerprint"]}).to_string();
        crate::base::atomic::write_atomic(&ck.join("manifest.json"), fingerprint.as_bytes())?;
        for s in shards {
            let from = s.dir.join(FIT_CHECKPOINT_DIR);
            let entries = std::fs::read_dir(&from).map_err(|e| Error::io(&from, e))?;
            for e in entries {
                let p = e.map_err(|e| Error::io(&from, e))?.path();
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if name.starts_with("block-") && name.ends_with(".json") {
                    std::fs::copy(&p, ck.join(name)).map_err(|e| Error::io(&p, e))?;
                }
            }
        }
        Ok(())
    })();
    drop(lock);
    let outcome = gathered.and_then(|()| run_fit(&req, FitMode::Merge));
    let outcome = match outcome {
        Ok(o) => o,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&ck);
            return Err(e);
        }
    };
    eprintln!(
        "merged {} shards: {} fits; wrote {}",
        shards.len(),
        outcome.summary["counts"]["fits"],
        out.display()
    );
    for w in &outcome.warnings {
        eprintln!("warning: {w}");
    }
    Ok(())
}
