//! BLAKE2b-512 digests, printed exactly as coreutils `b2sum` prints them.

use blake2::{Blake2b512, Digest};
use std::fmt::Write as _;

/// Lower-case hex BLAKE2b-512 of `bytes` (what `b2sum` prints before the file name).
pub fn b2sum(bytes: &[u8]) -> String {
    to_hex(&Blake2b512::digest(bytes))
}

/// An incremental hasher for content that arrives in pieces.
#[derive(Default)]
pub struct B2Hasher(Blake2b512);

impl B2Hasher {
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
    pub fn finish(self) -> String {
        to_hex(&self.0.finalize())
    }
}

/// Size and b2sum of a file, read in pieces (kernel packages are large).
pub fn file_digest(path: &std::path::Path) -> crate::Result<(u64, String)> {
    use std::io::Read;
    let io = |e| crate::Error::io(path, e);
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut h = B2Hasher::default();
    let mut buf = vec![0u8; 1 << 16];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        h.update(&buf[..n]);
    }
    Ok((size, h.finish()))
}

fn to_hex(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn empty_input_matches_b2sum() {
        // `printf '' | b2sum`
        assert_eq!(
            super::b2sum(b""),
            "786a02f742015903c6c6fd852552d272912f4740e15847618a86e217f71f5419d25e1031afee585313896444934eb04b903a685b1448b755d56f701afe9be2ce"
        );
    }
}
