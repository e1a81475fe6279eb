//! Documents on the wire: a stage reads a stream of JSON documents (one per host,
//! usually one per line) and writes one compact document per line.

use crate::error::{Error, Result, contract};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::io::{BufRead, Read, Write};

/// Read every document of type `T` from `input`. `source` names the input in
/// errors (`stdin`, a file name). An empty input is zero documents: a stage
/// whose upstream refused every host has nothing to do, and the upstream's
/// exit status carries the refusal. A document cut off in the middle is a
/// contract error.
pub fn read_docs<T: DeserializeOwned>(input: impl Read, source: &str) -> Result<Vec<T>> {
    let mut docs = Vec::new();
    let de = serde_json::Deserializer::from_reader(std::io::BufReader::new(input));
    for (i, doc) in de.into_iter::<T>().enumerate() {
        match doc {
            Ok(d) => docs.push(d),
            Err(e) if e.is_io() => return Err(Error::io(source, std::io::Error::other(e))),
            Err(e) => {
                return Err(contract(format!(
                    "{source}: document {}: {}{}",
                    i + 1,
                    crate::error::clip_quoted(&e.to_string()),
                    if e.is_eof() {
                        " (truncated: did the stage before this one fail?)"
                    } else {
                        ""
                    }
                )));
            }
        }
    }
    Ok(docs)
}

/// Read exactly one document.
pub fn read_one<T: DeserializeOwned>(input: impl Read, source: &str) -> Result<T> {
    let mut docs = read_docs::<T>(input, source)?;
    if docs.is_empty() {
        return Err(contract(format!("{source}: empty; expected one document")));
    }
    if docs.len() != 1 {
        return Err(contract(format!(
            "{source}: expected one document, got {}",
            docs.len()
        )));
    }
    Ok(docs.pop().expect("one document"))
}

/// Read one document from a file.
pub fn read_file<T: DeserializeOwned>(path: &std::path::Path) -> Result<T> {
    let f = std::fs::File::open(path).map_err(|e| Error::io(path, e))?;
    read_one(f, &path.display().to_string())
}

/// Write one document as a single JSON line.
pub fn write_doc<T: Serialize>(out: &mut impl Write, doc: &T) -> std::io::Result<()> {
    serde_json::to_writer(&mut *out, doc)?;
    out.write_all(b"\n")
}

/// Write documents, one per line, and flush.
pub fn write_docs<T: Serialize>(docs: &[T]) -> std::io::Result<()> {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for d in docs {
        write_doc(&mut out, d)?;
    }
    out.flush()
}

/// Lines of a text input, for stages that take lists.
pub fn lines(input: impl BufRead) -> std::io::Result<Vec<String>> {
    input.lines().collect()
}
