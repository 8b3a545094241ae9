//! The Parquet pairs table, read with arrow-rs batch by batch.
//!
//! Types are taken as writers produce them: `groups` a list of strings (or one `;`-joined
//! string), properties any numeric type (or numbers as strings), labels strings, integers,
//! floats or booleans; dictionary-encoded strings (pandas categoricals) are cast to plain ones.

use std::path::Path;

use arrow_array::cast::AsArray;
use arrow_array::types::Float64Type;
use arrow_array::{Array, ArrayRef};
use arrow_schema::{DataType, Field};
use parquet::arrow::ProjectionMask;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::basic::Type as Physical;
use parquet::column::page::{Page, PageReader};
use parquet::file::metadata::ParquetMetaData;
use parquet::file::serialized_reader::SerializedPageReader;

use super::bounded::BoundedFile;
use super::{Builder, Layout, Role};
use crate::base::error::{Error, Result};

/// Rows per batch: big enough to amortise the decoder, small enough to keep memory flat.
const BATCH_ROWS: usize = 1 << 16;

fn file_error(path: &Path, message: String) -> Error {
    Error::Table {
        path: path.to_owned(),
        row: 0,
        column: "(file)".into(),
        message,
    }
}

/// Reads `path` into a [`Builder`]; a file that is not Parquet, or a column of a type no
/// reading of the layout admits, is an error naming the column.
///
/// arrow-rs asserts some facts of a file's metadata instead of returning an error (a column
/// chunk's byte range, its definition levels; found by the fuzz target `table_parquet`): the
/// byte ranges are checked first, and any panic left in the reader on a damaged file becomes
/// this file's error, not a crash and not a `panicked at` line. It also sizes a dictionary by
/// its page header's count before decoding it, so a few damaged bytes could ask for gigabytes:
/// each dictionary page read is checked against the bytes it holds first
/// ([`check_dictionaries`]). Ignored columns are not decoded at all.
pub(super) fn read(path: &Path) -> Result<Builder> {
    crate::base::guarded::catch_quietly(|| read_unguarded(path)).unwrap_or_else(|what| {
        Err(file_error(
            path,
            format!("not a readable Parquet file: {what}"),
        ))
    })
}

fn read_unguarded(path: &Path) -> Result<Builder> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let file_len = file.metadata().map_err(|e| Error::io(path, e))?.len();
    let file_error = |message: String| file_error(path, message);
    let reader = ParquetRecordBatchReaderBuilder::try_new(BoundedFile(file))
        .map_err(|e| file_error(format!("not a readable Parquet file: {e}")))?
        .with_batch_size(BATCH_ROWS);
    // Every column chunk must lie inside the file (arrow-rs asserts it while reading).
    for (g, rg) in reader.metadata().row_groups().iter().enumerate() {
        for (c, col) in rg.columns().iter().enumerate() {
            let start = col
                .dictionary_page_offset()
                .unwrap_or(col.data_page_offset());
            let len = col.compressed_size();
            let inside = start >= 0
                && len >= 0
                && (start as u64)
                    .checked_add(len as u64)
                    .is_some_and(|end| end <= file_len);
            if !inside {
                return Err(file_error(format!(
                    "not a readable Parquet file: row group {g}, column {c} claims bytes \
                     {start}..{start}+{len} of a {file_len}-byte file"
                )));
            }
        }
    }
    let schema = reader.schema().clone();
    let header: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let layout = Layout::new(path, &header)?;
    let roles = layout.roles.clone();
    let mut builder = Builder::new(path, layout);
    for (i, &role) in roles.iter().enumerate() {
        check_type(&builder, role, schema.field(i).data_type())?;
    }
    // Only the columns with a role are decoded; a batch holds them in schema order.
    let used: Vec<usize> = (0..roles.len())
        .filter(|&i| roles[i] != Role::Ignored)
        .collect();
    let mask = ProjectionMask::roots(reader.parquet_schema(), used.iter().copied());
    let declared_rows = u64::try_from(reader.metadata().file_metadata().num_rows()).unwrap_or(0);
    check_dictionaries(path, reader.metadata(), &mask)?;
    let batches = reader
        .with_projection(mask)
        .build()
        .map_err(|e| file_error(format!("not a readable Parquet file: {e}")))?;
    let mut first = 0;
    for batch in batches {
        let batch = batch.map_err(|e| file_error(format!("rows after {first}: {e}")))?;
        let n = batch.num_rows();
        // The pages may not hold more rows than the metadata declares: a damaged page header
        // must not grow the table past what the file says it is.
        if (first + n) as u64 > declared_rows {
            return Err(file_error(format!(
                "not a readable Parquet file: its pages hold more than the {declared_rows} \
                 rows its metadata declares"
            )));
        }
        builder.grow(first + n);
        for (at, &i) in used.iter().enumerate() {
            read_column(&mut builder, roles[i], batch.column(at), first)?;
        }
        first += n;
    }
    Ok(builder)
}

/// Refuses a dictionary page whose value count its bytes cannot hold. The reader allocates a
/// dictionary of the count its header declares before decoding a value (found by the fuzz
/// target `table_parquet`: a changed byte asked for 7.5 GB), so every decoded column chunk's
/// dictionary page is read here first and its count held to its size: each PLAIN value takes
/// at least its physical width (a byte string its 4-byte length, a boolean one bit).
fn check_dictionaries(path: &Path, meta: &ParquetMetaData, mask: &ProjectionMask) -> Result<()> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    let file = std::sync::Arc::new(BoundedFile(file));
    let schema = meta.file_metadata().schema_descr();
    for (g, rg) in meta.row_groups().iter().enumerate() {
        let rows = usize::try_from(rg.num_rows()).unwrap_or(0);
        for (c, col) in rg.columns().iter().enumerate() {
            if !mask.leaf_included(c) || col.dictionary_page_offset().is_none() {
                continue;
            }
            let problem = |what: String| {
                file_error(
                    path,
                    format!(
                        "not a readable Parquet file: row group {g}, column {}: {what}",
                        schema.column(c).path()
                    ),
                )
            };
            let mut pages = SerializedPageReader::new(file.clone(), col, rows, None)
                .map_err(|e| problem(e.to_string()))?;
            let is_dict = pages
                .peek_next_page()
                .map_err(|e| problem(e.to_string()))?
                .is_some_and(|p| p.is_dict);
            if !is_dict {
                continue;
            }
            if let Some(Page::DictionaryPage {
                buf, num_values, ..
            }) = pages.get_next_page().map_err(|e| problem(e.to_string()))?
            {
                let bits: u64 = match col.column_type() {
                    Physical::BOOLEAN => 1,
                    Physical::INT32 | Physical::FLOAT | Physical::BYTE_ARRAY => 32,
                    Physical::INT64 | Physical::DOUBLE => 64,
                    Physical::INT96 => 96,
                    Physical::FIXED_LEN_BYTE_ARRAY => {
                        (schema.column(c).type_length().max(1) as u64) * 8
                    }
                };
                if u64::from(num_values) * bits > buf.len() as u64 * 8 {
                    return Err(problem(format!(
                        "its dictionary page declares {num_values} values in {} bytes",
                        buf.len()
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Whether `t` holds text (plain, large, view or dictionary-encoded).
fn is_text(t: &DataType) -> bool {
    match t {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => true,
        DataType::Dictionary(_, v) => is_text(v),
        _ => false,
    }
}

/// Refuses, before reading any row, a column whose type cannot hold its role's values.
fn check_type(builder: &Builder, role: Role, t: &DataType) -> Result<()> {
    let ok = match role {
        Role::Groups => match t {
            DataType::List(f) | DataType::LargeList(f) | DataType::ListView(f) => {
                is_text(f.data_type())
            }
            DataType::Null => true,
            other => is_text(other),
        },
        Role::Property(_) => t.is_numeric() || is_text(t) || *t == DataType::Null,
        Role::Label(_) => {
            t.is_numeric() || is_text(t) || matches!(t, DataType::Boolean | DataType::Null)
        }
        Role::Id => t.is_integer() || is_text(t),
        Role::Ignored => true,
    };
    if ok {
        return Ok(());
    }
    let want = match role {
        Role::Groups => "a list of strings (or `;`-joined names)",
        Role::Property(_) => "numbers",
        Role::Label(_) => "A/B strings, 1/0 or booleans",
        _ => "strings or integers",
    };
    Err(builder.column_error(role, format!("holds {t}; expected {want}")))
}

/// Reads one column of a batch whose first row is table row `first`.
fn read_column(builder: &mut Builder, role: Role, array: &ArrayRef, first: usize) -> Result<()> {
    let cast = |to: &DataType| {
        arrow_cast::cast(array.as_ref(), to)
            .map_err(|e| builder.column_error(role, format!("cannot be read as {to}: {e}")))
    };
    match role {
        Role::Ignored => {}
        Role::Groups if matches!(array.data_type(), DataType::Null) => {}
        Role::Groups if is_text(array.data_type()) => {
            let text = cast(&DataType::Utf8)?;
            let text = text.as_string::<i32>();
            for r in 0..text.len() {
                if text.is_valid(r) {
                    builder.groups_text(first + r, text.value(r))?;
                }
            }
        }
        Role::Groups => {
            let lists = cast(&DataType::List(
                Field::new_list_field(DataType::Utf8, true).into(),
            ))?;
            let lists = lists.as_list::<i32>();
            for r in 0..lists.len() {
                if !lists.is_valid(r) {
                    continue;
                }
                let names = lists.value(r);
                let names = names.as_string::<i32>();
                for i in 0..names.len() {
                    if !names.is_valid(i) {
                        return Err(builder.error(first + r, role, "a null group name".into()));
                    }
                    builder.group(first + r, names.value(i))?;
                }
            }
        }
        Role::Property(k) if is_text(array.data_type()) => {
            let text = cast(&DataType::Utf8)?;
            let text = text.as_string::<i32>();
            for r in 0..text.len() {
                let v = if text.is_valid(r) { text.value(r) } else { "" };
                builder.property_text(first + r, k, v)?;
            }
        }
        Role::Property(k) => {
            let v = cast(&DataType::Float64)?;
            let v = v.as_primitive::<Float64Type>();
            for r in 0..v.len() {
                builder.property(first + r, k, v.is_valid(r).then(|| v.value(r)))?;
            }
        }
        Role::Label(j) if *array.data_type() == DataType::Boolean => {
            let v = array.as_boolean();
            for r in 0..v.len() {
                builder.label(first + r, j, v.is_valid(r).then(|| v.value(r)));
            }
        }
        Role::Label(j) if is_text(array.data_type()) => {
            let text = cast(&DataType::Utf8)?;
            let text = text.as_string::<i32>();
            for r in 0..text.len() {
                let v = if text.is_valid(r) { text.value(r) } else { "" };
                builder.label_text(first + r, j, v)?;
            }
        }
        Role::Label(j) => {
            let v = cast(&DataType::Float64)?;
            let v = v.as_primitive::<Float64Type>();
            for r in 0..v.len() {
                if v.is_valid(r) {
                    builder.label_number(first + r, j, v.value(r))?;
                }
            }
        }
        Role::Id => {
            let text = cast(&DataType::Utf8)?;
            let text = text.as_string::<i32>();
            for r in 0..text.len() {
                let v = if text.is_valid(r) { text.value(r) } else { "" };
                builder.id(first + r, v)?;
            }
        }
    }
    Ok(())
}
