//! A Parquet file as arrow-rs reads it, except that reading past its end is an error.
//!
//! arrow-rs parses page headers from a `Read` and skips the fields it does not need with
//! `io::copy`, which takes a read of 0 bytes as the end and returns success: a damaged header
//! that declares a list of 2³¹ eight-byte values then costs 2³¹ reads of nothing (found by the
//! fuzz target `table_parquet`: one 11 KB file ran for minutes). Reading through
//! [`BoundedFile`] turns the first read at the end of the file into an error, so such a header
//! fails at once, as a truncated file should.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};

use bytes::Bytes;
use parquet::errors::Result;
use parquet::file::reader::{ChunkReader, Length};

/// A file whose readers fail, instead of returning 0 bytes, once they reach its end.
pub(super) struct BoundedFile(pub(super) File);

impl Length for BoundedFile {
    fn len(&self) -> u64 {
        self.0.len()
    }
}

impl ChunkReader for BoundedFile {
    type T = EndIsError<BufReader<File>>;

    fn get_read(&self, start: u64) -> Result<Self::T> {
        let mut reader = self.0.try_clone()?;
        reader.seek(SeekFrom::Start(start))?;
        Ok(EndIsError(BufReader::new(reader)))
    }

    fn get_bytes(&self, start: u64, length: usize) -> Result<Bytes> {
        // Already an error when the file holds fewer than `length` bytes from `start`.
        self.0.get_bytes(start, length)
    }
}

/// A reader whose read at the end of its input is an `UnexpectedEof` error.
pub(super) struct EndIsError<R>(R);

impl<R: Read> Read for EndIsError<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        match self.0.read(buf)? {
            0 => Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "a page header runs past the end of the file",
            )),
            n => Ok(n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_at_the_end_is_an_error_and_before_it_is_not() {
        let mut r = EndIsError(&b"abc"[..]);
        let mut buf = [0u8; 2];
        assert_eq!(r.read(&mut buf).unwrap(), 2);
        assert_eq!(r.read(&mut buf).unwrap(), 1);
        let e = r.read(&mut buf).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof);
        assert_eq!(r.read(&mut []).unwrap(), 0);
    }
}
