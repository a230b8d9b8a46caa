//! Bounded line reading: a console log may contain a multi-megabyte "line" (binary garbage,
//! a stuck progress bar), and `read_until` would buffer all of it.

use std::io::{self, BufRead};

/// Bytes kept of one line; the rest of the line is skipped. Kernel lines are < 1 KiB.
pub const MAX_LINE: usize = 4096;

pub(crate) struct LineReader<R> {
    inner: R,
    buf: Vec<u8>,
    eof: bool,
}

impl<R: BufRead> LineReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        LineReader { inner, buf: Vec::with_capacity(256), eof: false }
    }

    /// The next line without its `\n`, at most [`MAX_LINE`] bytes; `None` at the end.
    pub(crate) fn next_line(&mut self) -> io::Result<Option<&[u8]>> {
        self.buf.clear();
        if self.eof {
            return Ok(None);
        }
        let mut got_any = false;
        loop {
            let chunk = match self.inner.fill_buf() {
                Ok(c) => c,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if chunk.is_empty() {
                self.eof = true;
                return Ok(if got_any { Some(&self.buf) } else { None });
            }
            got_any = true;
            let nl = chunk.iter().position(|&b| b == b'\n');
            let take = nl.unwrap_or(chunk.len());
            let room = MAX_LINE.saturating_sub(self.buf.len());
            self.buf.extend_from_slice(&chunk[..take.min(room)]);
            let used = if nl.is_some() { take + 1 } else { take };
            self.inner.consume(used);
            if nl.is_some() {
                return Ok(Some(&self.buf));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(input: &[u8], cap: usize) -> Vec<Vec<u8>> {
        let mut r = LineReader::new(io::BufReader::with_capacity(cap, input));
        let mut v = Vec::new();
        while let Some(l) = r.next_line().unwrap() {
            v.push(l.to_vec());
        }
        v
    }

    #[test]
    fn splits_like_lines_whatever_the_buffer_size() {
        for cap in [1, 2, 3, 7, 64, 8192] {
            assert_eq!(all(b"a\nbc\n\nd", cap), vec![b"a".to_vec(), b"bc".to_vec(), vec![], b"d".to_vec()]);
            assert_eq!(all(b"a\n", cap), vec![b"a".to_vec()]);
            assert!(all(b"", cap).is_empty());
        }
    }

    #[test]
    fn caps_long_lines_and_keeps_counting() {
        let mut input = vec![b'x'; MAX_LINE * 3];
        input.extend_from_slice(b"\nnext\n");
        let v = all(&input, 100);
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].len(), MAX_LINE);
        assert_eq!(v[1], b"next");
    }
}
