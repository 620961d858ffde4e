//! Borrowed lists: the repeated parts of a packet (user properties, topic
//! filters, reason codes, ...) without allocating.
//!
//! A decoded list points at its bytes in the packet and parses items as it
//! is iterated (they were validated when the packet was decoded). A list
//! built by a caller for encoding borrows a slice of items. Both compare,
//! print and encode by their items.

use core::fmt;

use bytes::BufMut;

/// An item that can be read back from its wire form.
pub trait Item<'a>: Copy + fmt::Debug + PartialEq + 'a {
    /// Reads the next item from `wire`, advancing it; `None` at the end.
    fn next_from_wire(wire: &mut &'a [u8]) -> Option<Self>;
    /// Bytes this item takes on the wire.
    fn encoded_len(&self) -> usize;
    /// Writes the item.
    fn write<B: BufMut>(&self, buf: &mut B);
}

/// A list of `T` that borrows either packet bytes or a slice.
#[derive(Clone, Copy)]
pub struct List<'a, T> {
    repr: Repr<'a, T>,
}

#[derive(Clone, Copy)]
enum Repr<'a, T> {
    Wire(&'a [u8]),
    Items(&'a [T]),
}

impl<'a, T: Item<'a>> List<'a, T> {
    /// An empty list.
    pub const fn new() -> Self {
        List {
            repr: Repr::Items(&[]),
        }
    }

    /// A list of the given items.
    pub const fn from_slice(items: &'a [T]) -> Self {
        List {
            repr: Repr::Items(items),
        }
    }

    /// A list read lazily from validated wire bytes.
    pub(crate) const fn wire(bytes: &'a [u8]) -> Self {
        List {
            repr: Repr::Wire(bytes),
        }
    }

    /// The items in order.
    pub fn iter(&self) -> Iter<'a, T> {
        Iter {
            repr: match self.repr {
                Repr::Wire(w) => IterRepr::Wire(w),
                Repr::Items(s) => IterRepr::Items(s.iter()),
            },
        }
    }

    /// Number of items (counts by walking a decoded list).
    pub fn len(&self) -> usize {
        match self.repr {
            Repr::Items(s) => s.len(),
            Repr::Wire(_) => self.iter().count(),
        }
    }

    /// True when there are no items.
    #[inline]
    pub fn is_empty(&self) -> bool {
        match self.repr {
            Repr::Items(s) => s.is_empty(),
            Repr::Wire(_) => self.iter().next().is_none(),
        }
    }

    /// The length of what the list borrows: items for a built list, bytes
    /// for a decoded one. Zero implies the list is empty (no bytes hold no
    /// item), which is all the encoder's fast path asks; nonzero does not
    /// imply items (the bytes may hold other properties only). Both
    /// variants keep the length in the same place, so this is one load.
    #[inline(always)]
    pub(crate) fn raw_len(&self) -> usize {
        match self.repr {
            Repr::Items(s) => s.len(),
            Repr::Wire(w) => w.len(),
        }
    }

    /// Bytes the items take on the wire.
    pub fn encoded_len(&self) -> usize {
        self.iter().map(|i| i.encoded_len()).sum()
    }

    /// Writes every item.
    pub fn write<B: BufMut>(&self, buf: &mut B) {
        for i in self.iter() {
            i.write(buf);
        }
    }
}

impl<'a, T: Item<'a>> Default for List<'a, T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<'a, T: Item<'a>> From<&'a [T]> for List<'a, T> {
    fn from(s: &'a [T]) -> Self {
        Self::from_slice(s)
    }
}

impl<'a, T: Item<'a>, const N: usize> From<&'a [T; N]> for List<'a, T> {
    fn from(s: &'a [T; N]) -> Self {
        Self::from_slice(s)
    }
}

impl<'a, T: Item<'a>> PartialEq for List<'a, T> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl<'a, T: Item<'a>> fmt::Debug for List<'a, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<'a, T: Item<'a>> IntoIterator for List<'a, T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

impl<'a, T: Item<'a>> IntoIterator for &List<'a, T> {
    type Item = T;
    type IntoIter = Iter<'a, T>;
    fn into_iter(self) -> Iter<'a, T> {
        self.iter()
    }
}

#[cfg(feature = "serde")]
impl<'a, T: Item<'a> + serde::Serialize> serde::Serialize for List<'a, T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(self.iter())
    }
}

/// Iterator over a [`List`].
#[derive(Clone)]
pub struct Iter<'a, T> {
    repr: IterRepr<'a, T>,
}

#[derive(Clone)]
enum IterRepr<'a, T> {
    Wire(&'a [u8]),
    Items(core::slice::Iter<'a, T>),
}

impl<'a, T: Item<'a>> Iterator for Iter<'a, T> {
    type Item = T;
    #[inline]
    fn next(&mut self) -> Option<T> {
        match &mut self.repr {
            IterRepr::Wire(w) => T::next_from_wire(w),
            IterRepr::Items(it) => it.next().copied(),
        }
    }
}

impl<'a, T> fmt::Debug for Iter<'a, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Iter")
    }
}

/// Reads a length-prefixed string from validated wire bytes, for list
/// iteration (keeps the valid prefix of a string a lenient decode let
/// through).
pub(crate) fn wire_str<'a>(wire: &mut &'a [u8]) -> Option<&'a str> {
    let w: &'a [u8] = wire;
    if w.len() < 2 {
        return None;
    }
    let len = u16::from_be_bytes([w[0], w[1]]) as usize;
    let data = w.get(2..2 + len)?;
    *wire = &w[2 + len..];
    Some(match core::str::from_utf8(data) {
        Ok(s) => s,
        Err(e) => core::str::from_utf8(&data[..e.valid_up_to()]).unwrap_or_default(),
    })
}

/// Writes a length-prefixed string or binary field (length checked by the
/// encoder's validation pass).
#[inline]
pub(crate) fn put_bin<B: BufMut>(buf: &mut B, data: &[u8]) {
    buf.put_u16(data.len() as u16);
    buf.put_slice(data);
}

impl<'a> Item<'a> for &'a str {
    fn next_from_wire(wire: &mut &'a [u8]) -> Option<Self> {
        wire_str(wire)
    }
    fn encoded_len(&self) -> usize {
        2 + self.len()
    }
    fn write<B: BufMut>(&self, buf: &mut B) {
        put_bin(buf, self.as_bytes());
    }
}
