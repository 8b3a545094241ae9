//! The rerankers' input files: DPO-ready pairs (`{"prompt", "chosen", "rejected"}` per line, as
//! `manipulate pairs --texts` writes them) and candidate lists (`{"prompt", "responses": [..]}`
//! per line). Bad lines are errors naming the file, line and field.

use std::collections::HashMap;
use std::path::Path;

use serde_json::Value;

use crate::base::error::{Error, Result};

/// Distinct (prompt, response) texts, each stored once and referred to by index.
#[derive(Clone, Debug, Default)]
pub struct TextTable {
    /// (prompt, response) in first-seen order.
    pub texts: Vec<(String, String)>,
    index: HashMap<(String, String), u32>,
}

impl TextTable {
    /// Index of (prompt, response), added if new.
    pub fn intern(&mut self, prompt: &str, response: &str) -> u32 {
        let key = (prompt.to_string(), response.to_string());
        if let Some(&i) = self.index.get(&key) {
            return i;
        }
        let i = self.texts.len() as u32;
        self.texts.push(key.clone());
        self.index.insert(key, i);
        i
    }

    /// The texts as borrowed pairs, for featurization.
    pub fn as_refs(&self) -> Vec<(&str, &str)> {
        self.texts
            .iter()
            .map(|(p, r)| (p.as_str(), r.as_str()))
            .collect()
    }
}

fn lines(path: &Path) -> Result<Vec<(usize, Value)>> {
    let text = crate::base::text::read_text(path)?;
    let out = crate::load::json_lines(path, &text)?;
    if out.is_empty() {
        return Err(Error::Field {
            path: path.to_owned(),
            line: 0,
            field: "(file)".into(),
            message: "holds no records".into(),
        });
    }
    Ok(out)
}

fn string<'a>(path: &Path, line: usize, v: &'a Value, field: &str) -> Result<&'a str> {
    v[field].as_str().ok_or_else(|| Error::Field {
        path: path.to_owned(),
        line,
        field: field.into(),
        message: "missing or not a string".into(),
    })
}

/// Reads a DPO pairs file into `table`; returns (chosen, rejected) text indices.
pub fn read_pairs(path: &Path, table: &mut TextTable) -> Result<Vec<(u32, u32)>> {
    let mut pairs = Vec::new();
    for (line, v) in lines(path)? {
        let prompt = string(path, line, &v, "prompt")?;
        let chosen = string(path, line, &v, "chosen")?;
        let rejected = string(path, line, &v, "rejected")?;
        pairs.push((table.intern(prompt, chosen), table.intern(prompt, rejected)));
    }
    Ok(pairs)
}

/// One prompt and its candidate responses.
#[derive(Clone, Debug)]
pub struct Candidates {
    /// The prompt.
    pub prompt: String,
    /// The candidates.
    pub responses: Vec<String>,
}

/// Reads a candidates file.
pub fn read_candidates(path: &Path) -> Result<Vec<Candidates>> {
    let mut out = Vec::new();
    for (line, v) in lines(path)? {
        let prompt = string(path, line, &v, "prompt")?.to_string();
        let bad = |message: &str| Error::Field {
            path: path.to_owned(),
            line,
            field: "responses".into(),
            message: message.into(),
        };
        let list = v["responses"]
            .as_array()
            .ok_or_else(|| bad("missing or not a list"))?;
        if list.is_empty() {
            return Err(bad("is empty"));
        }
        let responses = list
            .iter()
            .map(|r| r.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| bad("holds something that is not a string"))?;
        out.push(Candidates { prompt, responses });
    }
    Ok(out)
}
