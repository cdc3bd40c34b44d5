//! Shared, immutable byte ranges of mapped files and decompressed sections, and C strings
//! in them: what the ELF and DWARF readers hand each other.

use std::sync::Arc;

/// A shared, immutable byte range: part of a mapped file or of a decompressed buffer.
#[derive(Clone)]
pub struct Bytes {
    owner: Arc<dyn AsRef<[u8]> + Send + Sync>,
    start: usize,
    end: usize,
}

impl Default for Bytes {
    fn default() -> Bytes {
        Bytes::empty()
    }
}

impl Bytes {
    pub fn from_vec(data: Vec<u8>) -> Bytes {
        let end = data.len();
        Bytes {
            owner: Arc::new(data),
            start: 0,
            end,
        }
    }

    pub fn empty() -> Bytes {
        Bytes::from_vec(Vec::new())
    }

    pub(crate) fn from_owner(owner: Arc<dyn AsRef<[u8]> + Send + Sync>) -> Bytes {
        let end = (*owner).as_ref().len();
        Bytes {
            owner,
            start: 0,
            end,
        }
    }

    pub fn as_slice(&self) -> &[u8] {
        (*self.owner)
            .as_ref()
            .get(self.start..self.end)
            .unwrap_or(&[])
    }

    pub fn len(&self) -> usize {
        self.end - self.start
    }

    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// `len` bytes at `offset`, or None when that runs past the end (libbacktrace's
    /// `elf_get_view` failing).
    pub fn view(&self, offset: u64, len: u64) -> Option<Bytes> {
        let offset = usize::try_from(offset).ok()?;
        let len = usize::try_from(len).ok()?;
        let start = self.start.checked_add(offset)?;
        let end = start.checked_add(len)?;
        if end > self.end {
            return None;
        }
        Some(Bytes {
            owner: Arc::clone(&self.owner),
            start,
            end,
        })
    }
}

/// The C string at `offset` (without its NUL; up to the end of `data` if none).
pub fn c_str(data: &[u8], offset: usize) -> &[u8] {
    let tail = data.get(offset..).unwrap_or(&[]);
    match tail.iter().position(|&b| b == 0) {
        Some(nul) => &tail[..nul],
        None => tail,
    }
}
