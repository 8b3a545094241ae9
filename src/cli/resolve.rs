//! The `resolve` command: the authors' annotation files to the data directory `fit --data`
//! reads (`resolved.jsonl`, `query_aware_idxs.json` and, when the source pairs carry a
//! `winner`, `labels/human.json`). The rules are in [`crate::load::resolve`].

use std::path::PathBuf;

use clap::Args;

use crate::Result;
use crate::base::atomic::write_atomic;
use crate::base::error::Error;
use crate::load::resolve::resolve;

/// Flags of `resolve`.
#[derive(Args)]
pub struct ResolveArgs {
    /// The source pairs, one JSON line each (the authors' `sample_unannotated.jsonl`): their
    /// `response_a word`, `response_b word`, `group` and, if present, `winner`.
    #[arg(long)]
    pub source: PathBuf,
    /// The directory of GPT-4-Turbo's annotation lines (the authors' `annotation_results`):
    /// query_info.jsonl, query-free-features-by-pair.jsonl,
    /// query-aware-once-features-by-pair.jsonl, query-aware-twice-features-by-pair.jsonl,
    /// accuracy-features.jsonl, matched to the source by line.
    #[arg(long)]
    pub annotations: PathBuf,
    /// Output data directory.
    #[arg(long)]
    pub out: PathBuf,
}

impl ResolveArgs {
    /// Runs `resolve`.
    pub fn run(self) -> Result<()> {
        if self.out.exists() && !self.out.is_dir() {
            return Err(Error::Setting {
                name: "out",
                message: format!("{} exists and is not a directory", self.out.display()),
            });
        }
        // Everything is resolved (and checked) before the first file is written.
        let r = resolve(&self.source, &self.annotations)?;
        let mut resolved = String::new();
        for rec in &r.records {
            resolved.push_str(&rec.to_string());
            resolved.push('\n');
        }
        write_atomic(&self.out.join("resolved.jsonl"), resolved.as_bytes())?;
        let groups = serde_json::Value::Object(r.groups.clone()).to_string() + "\n";
        write_atomic(&self.out.join("query_aware_idxs.json"), groups.as_bytes())?;
        if let Some(h) = &r.human {
            let labels = serde_json::to_string(h).expect("json") + "\n";
            write_atomic(&self.out.join("labels/human.json"), labels.as_bytes())?;
        }
        if !r.skipped.is_empty() {
            let first: Vec<String> = r.skipped.iter().take(5).map(|i| i.to_string()).collect();
            eprintln!(
                "warning: {} pairs skipped, as the authors' script does: an annotation output \
                 is not JSON (source lines, 0-based: {}{})",
                r.skipped.len(),
                first.join(", "),
                if r.skipped.len() > 5 { ", …" } else { "" }
            );
        }
        let sentinel = r
            .records
            .iter()
            .filter(|rec| rec["comparison"]["accuracy"]["comparison"] == 999)
            .count();
        eprintln!(
            "wrote {} resolved pairs ({} with the 999 accuracy sentinel), {} groups{} to {}",
            r.records.len(),
            sentinel,
            r.groups.len() - 1,
            if r.human.is_some() {
                ", human labels from `winner`"
            } else {
                ""
            },
            self.out.display()
        );
        Ok(())
    }
}
