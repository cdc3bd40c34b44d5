//! Code objects as the capture describes them: names, file, first line and line table.

use rustc_hash::FxHashMap;

/// One code object (memray's `CodeObjectInfo`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CodeObject {
    pub function_name: String,
    pub filename: String,
    pub firstlineno: i32,
    pub linetable: Vec<u8>,
}

/// Code objects by the id the tracker gave them. A later record with the same id replaces
/// the earlier one, as in memray.
#[derive(Debug, Default)]
pub struct CodeObjects {
    by_id: FxHashMap<u64, CodeObject>,
}

impl CodeObjects {
    pub fn insert(&mut self, id: u64, code: CodeObject) {
        self.by_id.insert(id, code);
    }

    pub fn get(&self, id: u64) -> Option<&CodeObject> {
        self.by_id.get(&id)
    }

    /// Every code object with its id, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &CodeObject)> {
        self.by_id.iter().map(|(&id, code)| (id, code))
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}
