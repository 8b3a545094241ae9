//! Reading users' text files as editors leave them: a UTF-8 byte-order mark (Windows editors
//! write one) is skipped, so a labels or groups file saved by Notepad parses like any other.
//! Every reader of outside JSON goes through [`read_text`]; line endings (LF or CRLF) are the
//! parsers' business and both work.

use std::path::Path;

use crate::base::error::{Error, Result};

/// The UTF-8 encoding of U+FEFF, which some editors put at the start of a file.
pub const UTF8_BOM: &str = "\u{feff}";

/// The file's text without a leading byte-order mark; I/O errors name the file.
pub fn read_text(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    Ok(match text.strip_prefix(UTF8_BOM) {
        Some(rest) => rest.to_owned(),
        None => text,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leading_bom_is_skipped_and_nothing_else_changes() {
        let dir = std::env::temp_dir().join(format!("prefdissect-bom-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("a.json");
        std::fs::write(&p, "\u{feff}[\"A\",\r\n\"B\"]").unwrap();
        assert_eq!(read_text(&p).unwrap(), "[\"A\",\r\n\"B\"]");
        // A BOM elsewhere is content, not a mark.
        std::fs::write(&p, "[\"\u{feff}A\"]").unwrap();
        assert_eq!(read_text(&p).unwrap(), "[\"\u{feff}A\"]");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
