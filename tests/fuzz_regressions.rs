//! Every input the fuzz targets (fuzz/) found that crashed a reader, kept in
//! `tests/data/fuzz/` and run through the command a user would run: each must now be an error
//! naming the file, exit 1, without a panic.

mod common;

use std::path::Path;

fn refused(data: &Path, expect: &str) {
    let out = common::temp_dir("fuzz-regression").join("out");
    let o = common::bin()
        .args([
            "fit",
            "--quiet",
            "--estimator",
            "map",
            "--backend",
            "cpu",
            "--data",
        ])
        .arg(data)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{}: {stderr}", data.display());
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains(&data.display().to_string()),
        "names the file: {stderr}"
    );
    assert!(stderr.contains(expect), "{stderr}");
    assert!(!out.join("fits.jsonl").exists());
}

/// arrow-rs 60.1 asserts that a column chunk's start is not negative (a panic in
/// `ColumnChunkMetaData::byte_range`); found by `table_parquet` after 80,000 executions.
#[test]
fn a_parquet_column_chunk_outside_the_file() {
    refused(
        Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/fuzz/table_parquet-negative-column-start.parquet"
        )),
        "row group 0, column 11 claims bytes -8..-8+68",
    );
}

/// arrow-rs 60.1 indexes past a buffer while decoding damaged definition levels (a panic in
/// `bit_chunk_iterator`); found by `table_parquet` after 80,000 executions. The dictionary
/// check now reads this file's damaged page header first, so the error names that instead.
#[test]
fn parquet_definition_levels_out_of_bounds() {
    refused(
        Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/fuzz/table_parquet-definition-levels-out-of-bounds.parquet"
        )),
        "not a readable Parquet file: row group 0, column \"property:correct mistakes\"",
    );
}

/// arrow-rs 60.1 sizes a dictionary by its page header's value count before decoding a value,
/// so one changed byte asked for 7.5 GB (`DictDecoder::set_dict`); found by `table_parquet`
/// after 410,000 executions (CI's smoke run found another such file after 48,000).
#[test]
fn a_parquet_dictionary_page_counting_more_values_than_its_bytes() {
    refused(
        Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/fuzz/table_parquet-dictionary-count-past-its-bytes.parquet"
        )),
        "its dictionary page declares",
    );
}

/// arrow-rs 60.1 skips a page header's unknown fields with `io::copy`, which takes reading 0
/// bytes for success: a damaged header declaring a list of 2³¹ doubles read nothing 2³¹ times
/// (minutes on an 11 KB file); found by `table_parquet` after 1,000,000 executions. Reading past
/// the file's end is now an error (`load::table::bounded`).
#[test]
fn a_parquet_page_header_that_runs_past_the_end_of_the_file() {
    refused(
        Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/data/fuzz/table_parquet-page-header-list-past-the-end.parquet"
        )),
        "a page header runs past the end of the file",
    );
}
