//! A strict, minimal bencode reader for checking untrusted .torrent data before librqbit sees it.
//!
//! Why not librqbit's own parser: it reads integers with wrapping arithmetic into the field's
//! type, so a `piece length` of 2^62 silently becomes 0 (and librqbit-core then divides by it),
//! and a negative or overflowing length cannot be told from a real one. This reader keeps every
//! integer exact (or refuses it), bounds nesting, and borrows strings from the input, so checking
//! a torrent costs one pass and no copies of its payload.
//!
//! The tree is bounded before it is built: a first pass counts the values (without allocating)
//! and refuses more than [`MAX_VALUES`]. A 32 MiB info dictionary from a peer can hold ten
//! million tiny values, and as a tree that was 0.5-0.8 GB.

use std::fmt;

/// Deepest nesting accepted. A torrent needs about 5 (dict, info, files, file, path).
const MAX_DEPTH: usize = 64;
/// Most values (keys included) accepted in one document. A torrent of the largest accepted
/// size (100,000 files, see `validate.rs`) with three-level paths has about 900,000.
pub const MAX_VALUES: usize = 1_500_000;
/// Longest integer accepted, in digits: enough for any i64, and refuses absurd ones early.
const MAX_INT_DIGITS: usize = 20;

/// One bencoded value, borrowing its strings from the input.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    Int(i128),
    Bytes(&'a [u8]),
    List(Vec<Value<'a>>),
    /// Keys in input order (bencode requires sorted keys; real torrents sometimes are not).
    Dict(Vec<(&'a [u8], Value<'a>)>),
}

impl<'a> Value<'a> {
    /// The value under `key`, if this is a dictionary that has it.
    pub fn get(&self, key: &str) -> Option<&Value<'a>> {
        match self {
            Value::Dict(entries) => entries
                .iter()
                .find(|(k, _)| *k == key.as_bytes())
                .map(|(_, v)| v),
            _ => None,
        }
    }
}

/// Why bytes are not bencode, and where.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    pub offset: usize,
    pub reason: &'static str,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.reason, self.offset)
    }
}

/// Parses one value from the start of `input`. Bytes after it are ignored (some .torrent files
/// carry trailing padding), as librqbit does.
pub fn parse(input: &[u8]) -> Result<Value<'_>, Error> {
    count_values(input, MAX_VALUES)?;
    let mut reader = Reader { input, pos: 0 };
    reader.value(0)
}

/// Counts the values of the first document in `input` (keys included) without building
/// anything, and refuses more than `limit`. Malformed input is left for the parser to describe,
/// except what this pass cannot step over.
fn count_values(input: &[u8], limit: usize) -> Result<usize, Error> {
    let fail = |offset, reason| Err(Error { offset, reason });
    let mut pos = 0;
    let mut open = 0usize;
    let mut count = 0usize;
    loop {
        match input.get(pos) {
            None => return Ok(count),
            Some(b'e') if open > 0 => {
                open -= 1;
                pos += 1;
                if open == 0 {
                    return Ok(count);
                }
                continue;
            }
            Some(b'l' | b'd') => {
                open += 1;
                pos += 1;
            }
            Some(b'i') => match input[pos..].iter().position(|b| *b == b'e') {
                Some(len) => pos += len + 1,
                None => return Ok(count),
            },
            Some(b'0'..=b'9') => {
                let Some(colon) = input[pos..].iter().position(|b| *b == b':') else {
                    return Ok(count);
                };
                let digits = &input[pos..pos + colon];
                let len = std::str::from_utf8(digits)
                    .ok()
                    .and_then(|d| d.parse::<usize>().ok());
                match len.and_then(|len| (pos + colon + 1).checked_add(len)) {
                    Some(end) if end <= input.len() => pos = end,
                    _ => return Ok(count),
                }
            }
            Some(_) => return Ok(count),
        }
        count += 1;
        if count > limit {
            return fail(pos, "too many values");
        }
        if open == 0 {
            return Ok(count);
        }
    }
}

struct Reader<'a> {
    input: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn fail<T>(&self, reason: &'static str) -> Result<T, Error> {
        Err(Error {
            offset: self.pos,
            reason,
        })
    }

    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn value(&mut self, depth: usize) -> Result<Value<'a>, Error> {
        if depth > MAX_DEPTH {
            return self.fail("nested too deeply");
        }
        match self.peek() {
            Some(b'i') => {
                self.pos += 1;
                let n = self.integer(b'e')?;
                Ok(Value::Int(n))
            }
            Some(b'l') => {
                self.pos += 1;
                let mut items = Vec::new();
                while self.peek() != Some(b'e') {
                    if self.peek().is_none() {
                        return self.fail("unterminated list");
                    }
                    items.push(self.value(depth + 1)?);
                }
                self.pos += 1;
                Ok(Value::List(items))
            }
            Some(b'd') => {
                self.pos += 1;
                let mut entries = Vec::new();
                while self.peek() != Some(b'e') {
                    if self.peek().is_none() {
                        return self.fail("unterminated dictionary");
                    }
                    if !self.peek().is_some_and(|b| b.is_ascii_digit()) {
                        return self.fail("dictionary key is not a string");
                    }
                    let key = self.bytes()?;
                    let value = self.value(depth + 1)?;
                    entries.push((key, value));
                }
                self.pos += 1;
                Ok(Value::Dict(entries))
            }
            Some(b'0'..=b'9') => Ok(Value::Bytes(self.bytes()?)),
            Some(_) => self.fail("not a bencode value"),
            None => self.fail("unexpected end of data"),
        }
    }

    /// `<len>:<bytes>`
    fn bytes(&mut self) -> Result<&'a [u8], Error> {
        let len = self.integer(b':')?;
        if len < 0 {
            return self.fail("negative string length");
        }
        let len = usize::try_from(len).or_else(|_| self.fail("string too long"))?;
        let end = self
            .pos
            .checked_add(len)
            .filter(|end| *end <= self.input.len());
        let Some(end) = end else {
            return self.fail("string runs past the end of the data");
        };
        let bytes = &self.input[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    /// Digits (with an optional `-`) up to `terminator`, exactly.
    fn integer(&mut self, terminator: u8) -> Result<i128, Error> {
        let start = self.pos;
        let rest = &self.input[start..];
        let Some(len) = rest.iter().position(|b| *b == terminator) else {
            return self.fail("unterminated integer");
        };
        let text = &rest[..len];
        let digits = text.strip_prefix(b"-").unwrap_or(text);
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return self.fail("malformed integer");
        }
        if digits.len() > MAX_INT_DIGITS {
            return self.fail("integer too large");
        }
        let mut n: i128 = 0;
        for d in digits {
            n = n * 10 + i128::from(d - b'0');
        }
        if text.len() != digits.len() {
            n = -n;
        }
        self.pos = start + len + 1;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_nested_values_exactly() {
        let v = parse(b"d1:ai-5e1:bl3:xyzi4611686018427387904eee").unwrap();
        assert_eq!(v.get("a"), Some(&Value::Int(-5)));
        assert_eq!(
            v.get("b"),
            Some(&Value::List(vec![
                Value::Bytes(b"xyz"),
                Value::Int(1 << 62)
            ]))
        );
        assert_eq!(v.get("c"), None);
    }

    #[test]
    fn refuses_what_is_not_bencode() {
        for bad in [
            &b""[..],
            b"i12",
            b"ie",
            b"i1x2e",
            b"5:abc",
            b"99999999999999999999999:a",
            b"l",
            b"di1ei2ee",
            b"i123456789012345678901e",
            b"x",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn values_are_counted_before_anything_is_built() {
        assert_eq!(count_values(b"d1:ai-5e1:bl3:xyzi4ee", 100), Ok(7));
        assert_eq!(count_values(b"i5e", 100), Ok(1));
        assert_eq!(count_values(b"le", 100), Ok(1));
        let many = [b"l".to_vec(), b"i0e".repeat(MAX_VALUES), b"e".to_vec()].concat();
        assert_eq!(parse(&many).unwrap_err().reason, "too many values");
        let fits = [b"l".to_vec(), b"i0e".repeat(MAX_VALUES - 1), b"e".to_vec()].concat();
        assert!(parse(&fits).is_ok());
        // Malformed input is still described by the parser.
        assert_eq!(
            parse(b"l5:abc").unwrap_err().reason,
            "string runs past the end of the data"
        );
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let deep = [vec![b'l'; 100_000], vec![b'e'; 100_000]].concat();
        assert_eq!(parse(&deep).unwrap_err().reason, "nested too deeply");
    }
}
