//! Every way a run can fail, as enum variants that name the file, line or field at fault.
//!
//! Bad input must give the user a message they can act on and a non-zero exit, never a panic;
//! keeping the causes as variants (not strings) lets tests assert which check fired.

use std::path::PathBuf;

/// The one error type of the crate.
#[derive(Debug, thiserror::Error)]
#[allow(missing_docs)] // fields are named for what they hold; each variant's doc says when
pub enum Error {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A required file is absent.
    #[error("{path}: file not found ({what})")]
    MissingFile { path: PathBuf, what: &'static str },
    /// Text that is not valid JSON (line is 1-based; 0 = whole-file document).
    #[error("{}: malformed JSON: {message}", at(path, *line))]
    Json {
        path: PathBuf,
        line: usize,
        message: String,
    },
    /// A JSON document parsed but lacks a field we need, or has the wrong shape.
    #[error("{}: field `{field}`: {message}", at(path, *line))]
    Field {
        path: PathBuf,
        line: usize,
        field: String,
        message: String,
    },
    /// A property comparison outside {-1, 0, 1}.
    #[error("{path}:{line}: field `{field}`: value {value} is not a sign in {{-1, 0, 1}}")]
    BadFeature {
        path: PathBuf,
        line: usize,
        field: String,
        value: String,
    },
    /// The 999 "could not check" sentinel somewhere other than `accuracy.comparison`.
    #[error(
        "{path}:{line}: field `{field}`: the 999 sentinel is only allowed as the whole `accuracy.comparison`"
    )]
    MisplacedSentinel {
        path: PathBuf,
        line: usize,
        field: String,
    },
    /// A blank line inside `resolved.jsonl`: it would shift every later sample index.
    #[error("{path}:{line}: empty line inside the file (sample indices would shift)")]
    EmptyLine { path: PathBuf, line: usize },
    /// A group refers to a sample that does not exist.
    #[error("{path}: group `{group}`: sample index {index} out of range 0..{n_samples}")]
    GroupIndexOutOfRange {
        path: PathBuf,
        group: String,
        index: i64,
        n_samples: usize,
    },
    /// A group lists a sample twice.
    #[error("{path}: group `{group}`: sample index {index} listed more than once")]
    DuplicateIndex {
        path: PathBuf,
        group: String,
        index: usize,
    },
    /// A group with no samples (or none left once the 999 rows are dropped).
    #[error("{path}: group `{group}` has {usable} usable samples; at least {needed} are needed")]
    EmptyGroup {
        path: PathBuf,
        group: String,
        usable: usize,
        needed: usize,
    },
    /// A labels file whose length differs from the number of samples.
    #[error("{path}: {got} labels, but resolved.jsonl has {expected} samples")]
    LabelCount {
        path: PathBuf,
        expected: usize,
        got: usize,
    },
    /// A label that is neither "A" nor "B".
    #[error("{path}: label #{index} is {value}, expected \"A\" or \"B\"")]
    BadLabel {
        path: PathBuf,
        index: usize,
        value: String,
    },
    /// `--judges` named a judge without a `labels/<judge>.json` file.
    #[error("judge `{judge}`: no labels file {path}")]
    MissingJudge { judge: String, path: PathBuf },
    /// `--groups` named a group that `query_aware_idxs.json` does not define.
    #[error("group `{group}` is not defined in {path} (known: {known})")]
    UnknownGroup {
        group: String,
        path: PathBuf,
        known: String,
    },
    /// No judges to fit.
    #[error("{path}: no labels/<judge>.json files found")]
    NoJudges { path: PathBuf },
    /// A setting out of its valid range (from a flag or a config file).
    #[error("setting `{name}`: {message}")]
    Setting { name: &'static str, message: String },
    /// A config file that is not valid for its schema.
    #[error("{path}: {message}")]
    Config { path: PathBuf, message: String },
    /// A bootstrap checkpoint that cannot be used to resume.
    #[error("{path}: {message}")]
    Checkpoint { path: PathBuf, message: String },
    /// The solver could not reach the requested accuracy (reported, not hidden).
    #[error("{count} fits did not reach KKT <= {tol:e} within {max_iter} iterations")]
    NotConverged {
        count: usize,
        tol: f64,
        max_iter: usize,
    },

    /// A pairs table (Parquet or CSV) that is not in the layout `--data` accepts: the column
    /// and, for a value, the 1-based data row (0 = the column or the file as a whole).
    #[error("{}`{column}`: {message}", table_at(path, *row))]
    Table {
        path: PathBuf,
        row: usize,
        column: String,
        message: String,
    },
    /// A property set the engine does not fit (it fits 1 to 64 properties).
    #[error("{path}: {message}")]
    PropertySet { path: PathBuf, message: String },

    /// The job was asked to stop (Ctrl-C in Python) before it finished; nothing was written.
    #[error("interrupted before the job finished; nothing was written")]
    Interrupted,

    /// A run that would write NaN or infinity: nothing is written.
    #[error("fit {fit}: {field} is {value}; nothing was written")]
    NonFinite {
        fit: String,
        field: &'static str,
        value: f64,
    },
}

/// `file:line`, or just `file` for whole-document problems (line 0).
fn at(path: &std::path::Path, line: usize) -> String {
    if line == 0 {
        path.display().to_string()
    } else {
        format!("{}:{line}", path.display())
    }
}

/// `file: column ` or `file: row N, column ` for a pairs-table message.
fn table_at(path: &std::path::Path, row: usize) -> String {
    if row == 0 {
        format!("{}: column ", path.display())
    } else {
        format!("{}: row {row}, column ", path.display())
    }
}

/// Result alias used across the crate.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}
