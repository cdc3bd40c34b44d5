//! Interned Python frames and the tree of call stacks built from them.
//!
//! Like memray's `Registry<Frame>` and `FrameTree`: a frame (code object, instruction offset,
//! entry flag) gets an id the first time it is seen; a stack is a node of a tree whose root is
//! index 0 (the empty stack) and whose node `i` is reached from its parent by one frame. Node
//! indices are handed out in creation order, which is what aggregated captures rely on.

use rustc_hash::FxHashMap;

use crate::interner::FxIndexSet;

/// One Python frame as the tracker records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Frame {
    pub code_object_id: u64,
    pub instruction_offset: i32,
    pub is_entry_frame: bool,
}

/// Frames by id and ids by frame.
#[derive(Debug, Default)]
pub struct FrameRegistry {
    /// A frame's id is its index.
    frames: FxIndexSet<Frame>,
}

impl FrameRegistry {
    /// The id of `frame`, registering it if new.
    #[inline]
    pub fn register(&mut self, frame: Frame) -> u64 {
        self.frames.insert_full(frame).0 as u64
    }

    pub fn get(&self, id: u64) -> Option<&Frame> {
        usize::try_from(id)
            .ok()
            .and_then(|i| self.frames.get_index(i))
    }

    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

#[derive(Debug, Clone, Copy)]
struct Node {
    frame_id: u64,
    parent: u64,
}

/// The tree of stacks; a stack id is a node index, 0 being the empty stack.
#[derive(Debug)]
pub struct FrameTree {
    nodes: Vec<Node>,
    children: FxHashMap<(u64, u64), u64>,
}

impl Default for FrameTree {
    fn default() -> Self {
        FrameTree {
            nodes: vec![Node {
                frame_id: 0,
                parent: 0,
            }],
            children: FxHashMap::default(),
        }
    }
}

impl FrameTree {
    /// The node reached from `parent` by `frame_id`, created if new. `None` when `parent` is
    /// not a node of the tree.
    #[inline]
    pub fn child(&mut self, parent: u64, frame_id: u64) -> Option<u64> {
        if parent >= self.nodes.len() as u64 {
            return None;
        }
        let next = self.nodes.len() as u64;
        let id = *self.children.entry((parent, frame_id)).or_insert(next);
        if id == next {
            self.nodes.push(Node { frame_id, parent });
        }
        Some(id)
    }

    /// The frame of node `index` and its parent, for `1 <= index < len`.
    pub fn node(&self, index: u64) -> Option<(u64, u64)> {
        if index == 0 {
            return None;
        }
        let n = self.nodes.get(usize::try_from(index).ok()?)?;
        Some((n.frame_id, n.parent))
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.nodes.len() <= 1
    }

    /// Frame ids of the stack `index`, leaf first.
    pub fn frame_ids(&self, index: u64) -> Vec<u64> {
        let mut out = Vec::new();
        let mut current = index;
        // A well-formed tree only points to lower indices; the bound guards malformed input.
        while let Some((frame, parent)) = self.node(current) {
            out.push(frame);
            if parent >= current {
                break;
            }
            current = parent;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interns_frames_and_stacks_in_creation_order() {
        let mut reg = FrameRegistry::default();
        let f = |c| Frame {
            code_object_id: c,
            instruction_offset: 0,
            is_entry_frame: true,
        };
        assert_eq!(reg.register(f(7)), 0);
        assert_eq!(reg.register(f(9)), 1);
        assert_eq!(reg.register(f(7)), 0);
        let mut tree = FrameTree::default();
        let a = tree.child(0, 0).unwrap();
        let b = tree.child(a, 1).unwrap();
        assert_eq!((a, b), (1, 2));
        assert_eq!(tree.child(0, 0), Some(1));
        assert_eq!(tree.frame_ids(b), vec![1, 0]);
        assert_eq!(tree.frame_ids(0), Vec::<u64>::new());
        assert_eq!(tree.child(99, 0), None);
    }
}
