//! The `convert` command: any accepted input (the authors' directory, a Parquet or CSV pairs
//! table) to a pairs table, so a data set moves into pandas, DuckDB or a Hugging Face dataset
//! and back without changing a fit.

use std::path::PathBuf;

use clap::Args;

use crate::Result;
use crate::base::error::Error;
use crate::load::table::table_kind;
use crate::load::{Dataset, Selection};
use crate::report::pairs_table::write_pairs_table;

/// Flags of `convert`.
#[derive(Args)]
pub struct ConvertArgs {
    /// Input: the authors' data directory, or a pairs table (.parquet or .csv).
    #[arg(long)]
    pub data: PathBuf,
    /// Output table; its extension (.parquet or .csv) picks the format.
    #[arg(long)]
    pub out: PathBuf,
    /// Keep only these judges (comma-separated); default all.
    #[arg(long, value_delimiter = ',')]
    pub judges: Option<Vec<String>>,
    /// Keep only these groups (comma-separated); default all.
    #[arg(long, value_delimiter = ',')]
    pub groups: Option<Vec<String>>,
}

impl ConvertArgs {
    /// Runs `convert`.
    pub fn run(self) -> Result<()> {
        let kind = table_kind(&self.out).ok_or_else(|| Error::Setting {
            name: "out",
            message: format!(
                "{}: the output's extension must be .parquet or .csv",
                self.out.display()
            ),
        })?;
        let selection = Selection {
            judges: self.judges,
            groups: self.groups,
        };
        let data = Dataset::load(&self.data, &selection)?;
        write_pairs_table(&data, &self.out, kind)?;
        eprintln!(
            "wrote {} pairs × {} properties, {} groups, {} judges to {}",
            data.annotations.n_samples(),
            data.annotations.names.len(),
            data.groups.len(),
            data.judges.len(),
            self.out.display()
        );
        Ok(())
    }
}
