//! The Python stacks of a capture as the records of a header-13 aggregated capture: code
//! objects, frames (code object, instruction offset, entry flag) and the stack tree.
//!
//! A capture of header 12 or 13 already has these: they are written as the decoder interned
//! them, so stack ids (tree nodes) stay the same. A capture of header 10 or 11 (memray 1.7 –
//! 1.18) has no code objects: its frames are numbered by the tracker and carry their
//! function, file and line. memray 1.20 reads only header 13, so each such frame becomes a
//! code object of its own — its function and file, its line as first line, and a one-entry
//! `co_lnotab` line table (`[0, 0]`: from instruction 0 on, no line change) — and a frame at
//! instruction offset 0 of it. The header keeps those captures' unknown Python version (0),
//! for which memray 1.20 (and memform) decode line tables as `co_lnotab`, so every frame
//! resolves to exactly its original line. One code object per frame id (not per location)
//! keeps two ids with equal contents two frames, and so two stacks, as memray 1.7 – 1.18
//! reported them. A frame id without a FRAME_INDEX record gets no code object: memray then
//! gives empty names and line 0, as it did.

use rustc_hash::FxHashMap;

use crate::stacks::{CodeObject, Frame, LocationSource, StackTable};

/// The line table of a synthesized code object: `co_lnotab` with one pair, offset delta 0,
/// line delta 0 (memray's reader gives line 0 for an empty table, so it cannot be empty).
pub const ONE_LINE_LNOTAB: [u8; 2] = [0, 0];

/// Stacks ready to write.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct PythonStacks {
    /// Code objects by id, in increasing id order.
    pub code_objects: Vec<(u64, CodeObject)>,
    /// Frame `i` of the capture's frame registry.
    pub frames: Vec<Frame>,
    /// `(frame id, parent node)` of tree nodes 1, 2, …: node `i` is stack id `i`.
    pub nodes: Vec<(u64, u64)>,
}

impl PythonStacks {
    /// The stacks of `table`, whichever source its frames come from.
    pub fn from_table(table: &StackTable) -> PythonStacks {
        match table.source {
            LocationSource::CodeObjects => Self::from_code_objects(table),
            LocationSource::FrameIndex => Self::from_indexed_frames(table),
        }
    }

    fn nodes(table: &StackTable, frame_of: &mut dyn FnMut(u64) -> u64) -> Vec<(u64, u64)> {
        (1..table.tree.len() as u64)
            .filter_map(|i| table.tree.node(i))
            .map(|(frame, parent)| (frame_of(frame), parent))
            .collect()
    }

    fn from_code_objects(table: &StackTable) -> PythonStacks {
        let mut code_objects: Vec<(u64, CodeObject)> = table
            .code_objects
            .iter()
            .map(|(id, code)| (id, code.clone()))
            .collect();
        code_objects.sort_unstable_by_key(|&(id, _)| id);
        let frames = (0..table.frames.len() as u64)
            .filter_map(|i| table.frames.get(i).copied())
            .collect();
        PythonStacks {
            code_objects,
            frames,
            nodes: Self::nodes(table, &mut |frame| frame),
        }
    }

    fn from_indexed_frames(table: &StackTable) -> PythonStacks {
        let mut code_objects = Vec::new();
        let mut frames = Vec::new();
        // The capture's frame ids, numbered in order of first use by the tree.
        let mut new_id: FxHashMap<u64, u64> = FxHashMap::default();
        let nodes = Self::nodes(table, &mut |capture_id| {
            let next = frames.len() as u64;
            *new_id.entry(capture_id).or_insert_with(|| {
                // Code object ids follow the frame ids.
                if let Some(location) = table.indexed_frames.get(capture_id) {
                    code_objects.push((
                        next,
                        CodeObject {
                            function_name: location.function.to_string(),
                            filename: location.file.to_string(),
                            firstlineno: location.line,
                            linetable: ONE_LINE_LNOTAB.to_vec(),
                        },
                    ));
                }
                frames.push(Frame {
                    code_object_id: next,
                    instruction_offset: 0,
                    is_entry_frame: table.indexed_frames.is_entry_frame(capture_id),
                });
                next
            })
        });
        PythonStacks {
            code_objects,
            frames,
            nodes,
        }
    }

    /// The stack table a reader of these records builds (header 13, `python_version`).
    #[cfg(test)]
    pub fn to_table(&self, python_version: u32) -> StackTable {
        let mut table = StackTable::new(python_version);
        for (id, code) in &self.code_objects {
            table.code_objects.insert(*id, code.clone());
        }
        for frame in &self.frames {
            table.frames.register(*frame);
        }
        for &(frame, parent) in &self.nodes {
            table.tree.child(parent, frame);
        }
        table
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stacks::Location;

    #[test]
    fn indexed_frames_become_one_code_object_each_with_their_lines() {
        let mut t = StackTable::with_indexed_frames();
        let loc = Location::new;
        t.indexed_frames.insert(70, loc("main", "a.py", 12), true);
        // Same contents as 70, another id: stays a distinct frame.
        t.indexed_frames.insert(90, loc("main", "a.py", 12), false);
        t.indexed_frames.insert(5, loc("f", "b.py", -3), false);
        let a = t.push_indexed(0, 70).unwrap();
        let b = t.push_indexed(a, 5).unwrap();
        let c = t.push_indexed(0, 90).unwrap();
        let d = t.push_indexed(c, 5).unwrap();
        // A frame id with no FRAME_INDEX record.
        let e = t.push_indexed(d, 12345).unwrap();
        let stacks = PythonStacks::from_table(&t);
        assert_eq!(stacks.frames.len(), 4);
        assert_eq!(stacks.code_objects.len(), 3);
        let mut back = stacks.to_table(0);
        for id in [a, b, c, d, e] {
            assert_eq!(back.stack(id, 0), t.stack(id, 0), "stack {id}");
            assert_eq!(
                back.stack_with_entry_flags(id),
                t.stack_with_entry_flags(id),
                "stack {id}"
            );
        }
        assert_eq!(back.tree.len(), t.tree.len());
    }
}
