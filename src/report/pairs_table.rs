//! Writes a data set as a pairs table (Parquet or CSV): what `prefdissect convert` produces and
//! `--data` reads back to the same job, fit for fit.
//!
//! Columns: `id` (when the data set has ids), `groups`, `property:<name>` in feature order,
//! `label:<judge>` in judge order. A cell without a value (a 999 row's accuracy properties, a
//! table's null) is written as a null; so is a pair a judge did not label. Each property value
//! is written exactly: Float64 in Parquet, the shortest round-trip decimal in CSV.

use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{Float64Builder, ListBuilder, StringBuilder};
use arrow_array::{Array, ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema};
use parquet::arrow::ArrowWriter;
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;

use crate::base::atomic::write_atomic;
use crate::base::error::{Error, Result};
use crate::load::Dataset;
use crate::load::table::{GROUPS_COLUMN, ID_COLUMN, LABEL_PREFIX, PROPERTY_PREFIX, TableKind};

/// Each sample's groups (names, in the data set's group order) and which cells are null.
struct Rows<'d> {
    data: &'d Dataset,
    groups: Vec<Vec<&'d str>>,
    null: Vec<bool>,
}

impl<'d> Rows<'d> {
    fn new(data: &'d Dataset) -> Rows<'d> {
        let n = data.annotations.n_samples();
        let k = data.annotations.names.len();
        let mut groups = vec![Vec::new(); n];
        for g in &data.groups {
            for &s in &g.samples {
                groups[s].push(g.name.as_str());
            }
        }
        let mut null = vec![false; n * k];
        for &(r, p) in &data.annotations.missing_cells {
            null[r * k + p] = true;
        }
        Rows { data, groups, null }
    }

    fn value(&self, r: usize, p: usize) -> Option<f32> {
        let k = self.data.annotations.names.len();
        (!self.null[r * k + p]).then(|| self.data.annotations.values[[r, p]])
    }

    fn label(&self, r: usize, j: usize) -> Option<&'static str> {
        let judge = &self.data.judges[j];
        judge
            .has_label(r)
            .then(|| if judge.prefers_a[r] { "A" } else { "B" })
    }
}

/// Writes `data` to `path` as a table of `kind`, atomically.
pub fn write_pairs_table(data: &Dataset, path: &Path, kind: TableKind) -> Result<()> {
    let rows = Rows::new(data);
    let bytes = match kind {
        TableKind::Csv => csv_bytes(&rows),
        TableKind::Parquet => parquet_bytes(&rows).map_err(|message| Error::Table {
            path: path.to_owned(),
            row: 0,
            column: "(file)".into(),
            message,
        })?,
    };
    write_atomic(path, &bytes)
}

/// The header names, in column order.
fn header(data: &Dataset) -> Vec<String> {
    let mut names = Vec::new();
    if data.ids.is_some() {
        names.push(ID_COLUMN.to_owned());
    }
    names.push(GROUPS_COLUMN.to_owned());
    names.extend(
        data.annotations
            .names
            .iter()
            .map(|p| format!("{PROPERTY_PREFIX}{p}")),
    );
    names.extend(
        data.judges
            .iter()
            .map(|j| format!("{LABEL_PREFIX}{}", j.name)),
    );
    names
}

fn csv_bytes(rows: &Rows) -> Vec<u8> {
    let data = rows.data;
    let mut w = ::csv::Writer::from_writer(Vec::new());
    let io = "writing CSV to memory cannot fail";
    w.write_record(header(data)).expect(io);
    let k = data.annotations.names.len();
    let mut record: Vec<String> = Vec::new();
    for r in 0..data.annotations.n_samples() {
        record.clear();
        if let Some(ids) = &data.ids {
            record.push(ids[r].clone());
        }
        record.push(rows.groups[r].join(";"));
        record.extend((0..k).map(|p| rows.value(r, p).map_or(String::new(), |v| v.to_string())));
        record.extend((0..data.judges.len()).map(|j| rows.label(r, j).unwrap_or("").to_owned()));
        w.write_record(&record).expect(io);
    }
    w.into_inner().expect(io)
}

fn parquet_bytes(rows: &Rows) -> std::result::Result<Vec<u8>, String> {
    let data = rows.data;
    let n = data.annotations.n_samples();
    let k = data.annotations.names.len();
    let names = header(data);
    let mut fields = Vec::new();
    let mut columns: Vec<ArrayRef> = Vec::new();
    let mut name = names.iter();
    if let Some(ids) = &data.ids {
        let mut b = StringBuilder::new();
        ids.iter().for_each(|id| b.append_value(id));
        fields.push(Field::new(name.next().unwrap(), DataType::Utf8, false));
        columns.push(Arc::new(b.finish()));
    }
    let mut groups = ListBuilder::new(StringBuilder::new());
    for names in &rows.groups {
        names.iter().for_each(|g| groups.values().append_value(g));
        groups.append(true);
    }
    let groups = groups.finish();
    fields.push(Field::new(
        name.next().unwrap(),
        groups.data_type().clone(),
        false,
    ));
    columns.push(Arc::new(groups));
    for p in 0..k {
        let mut b = Float64Builder::with_capacity(n);
        (0..n).for_each(|r| b.append_option(rows.value(r, p).map(f64::from)));
        fields.push(Field::new(name.next().unwrap(), DataType::Float64, true));
        columns.push(Arc::new(b.finish()));
    }
    for j in 0..data.judges.len() {
        let mut b = StringBuilder::new();
        (0..n).for_each(|r| b.append_option(rows.label(r, j)));
        fields.push(Field::new(name.next().unwrap(), DataType::Utf8, true));
        columns.push(Arc::new(b.finish()));
    }
    let schema = Arc::new(Schema::new(fields));
    let batch = RecordBatch::try_new(schema.clone(), columns).map_err(|e| e.to_string())?;
    let props = WriterProperties::builder()
        .set_compression(Compression::SNAPPY)
        .build();
    let mut buf = Vec::new();
    let mut writer =
        ArrowWriter::try_new(&mut buf, schema, Some(props)).map_err(|e| e.to_string())?;
    writer.write(&batch).map_err(|e| e.to_string())?;
    writer.close().map_err(|e| e.to_string())?;
    Ok(buf)
}
