//! Binary fields in serialized packets: lowercase hex strings.

use serde::Serializer;

pub(crate) fn bytes<S: Serializer>(b: &&[u8], s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&Hex(b))
}

pub(crate) fn opt<S: Serializer>(b: &Option<&[u8]>, s: S) -> Result<S::Ok, S::Error> {
    match b {
        Some(b) => s.collect_str(&Hex(b)),
        None => s.serialize_none(),
    }
}

/// Displays bytes as lowercase hex.
pub(crate) struct Hex<'a>(pub &'a [u8]);

impl core::fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}
