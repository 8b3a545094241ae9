//! The CSV pairs table: a header row, then one pair per record; groups joined by `;`, an empty
//! field is a null.

use std::path::Path;

use super::{Builder, Layout, Role};
use crate::base::error::{Error, Result};

/// Reads `path` record by record into a [`Builder`]; a record of the wrong length or invalid
/// UTF-8 is an error naming its row.
pub(super) fn read(path: &Path) -> Result<Builder> {
    let file = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    // The csv crate drops a UTF-8 byte-order mark (Excel writes one) from the header.
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(std::io::BufReader::with_capacity(1 << 20, file));
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| csv_error(path, 0, e))?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    let layout = Layout::new(path, &header)?;
    let roles = layout.roles.clone();
    let mut builder = Builder::new(path, layout);
    let mut record = ::csv::StringRecord::new();
    let mut row = 0;
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(csv_error(path, row + 1, e)),
        }
        builder.grow(row + 1);
        for (field, &role) in record.iter().zip(&roles) {
            match role {
                Role::Groups => builder.groups_text(row, field)?,
                Role::Property(k) => builder.property_text(row, k, field)?,
                Role::Label(j) => builder.label_text(row, j, field)?,
                Role::Id => builder.id(row, field)?,
                Role::Ignored => {}
            }
        }
        row += 1;
    }
    Ok(builder)
}

/// A reader error (wrong field count, invalid UTF-8, I/O) as a table error at `row`.
fn csv_error(path: &Path, row: usize, e: ::csv::Error) -> Error {
    let message = match e.kind() {
        ::csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("{len} fields, but the header has {expected_len}"),
        ::csv::ErrorKind::Utf8 { .. } => "not valid UTF-8".into(),
        _ => e.to_string(),
    };
    Error::Table {
        path: path.to_owned(),
        row,
        column: if row == 0 { "(header)" } else { "(record)" }.into(),
        message,
    }
}
