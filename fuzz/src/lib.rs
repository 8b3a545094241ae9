//! What the fuzz targets share: each writes the fuzzer's bytes to a file in a directory of its
//! own and calls the reader a user's file would reach, so the whole path (BOM and line-end
//! handling, the file-level checks) is fuzzed, not a string parser beside it.

use std::path::{Path, PathBuf};

/// This process's scratch directory (in RAM where /dev/shm exists), made once.
pub fn scratch() -> &'static Path {
    static DIR: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let base = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let dir = base.join(format!("prefdissect-fuzz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        dir
    })
}

/// Writes `bytes` to `name` inside the scratch directory and returns its path.
pub fn put(name: &str, bytes: &[u8]) -> PathBuf {
    let path = scratch().join(name);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("scratch subdir");
    }
    std::fs::write(&path, bytes).expect("scratch write");
    path
}

/// Splits off the first byte as a small count (for readers that take a size beside the file).
pub fn count_and_rest(data: &[u8]) -> Option<(usize, &[u8])> {
    let (&n, rest) = data.split_first()?;
    Some((n as usize, rest))
}

/// Reads a pairs table as `fit --data` does, then builds the fits' batched design (folds,
/// row weights, chain blocks) from what it accepted: a table the loader lets through must not
/// trip the design.
pub fn table_then_design(path: &Path) {
    let selection = prefdissect::load::Selection::default();
    let Ok(data) = prefdissect::load::Dataset::load(path, &selection) else {
        return;
    };
    if let Ok(design) = prefdissect::design::BatchDesign::build(&data, 10, 0) {
        let _ = design.chain_blocks(&data, 4);
    }
}
