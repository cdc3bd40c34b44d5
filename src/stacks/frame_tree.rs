//! Interned Python frames and the tree of call stacks built from them.
//!
//! Like memray's `Registry<Frame>` and `FrameTree`: a frame (code object, instruction offset,
//! entry flag) gets an id the first time it is seen; a stack is a node of a tree whose root is
//! index 0 (the empty stack) and whose node `i` is reached from its parent by one frame. Node
//! indices are handed out in creation order, which is what aggregated captures rely on.

use crate::dense_set::DenseSet;

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
    frames: DenseSet<Frame>,
}

impl FrameRegistry {
    /// The id of `frame`, registering it if new; `None` past [`crate::dense_set::MAX_KEYS`]
    /// frames.
    #[inline]
    pub fn register(&mut self, frame: Frame) -> Option<u64> {
        self.frames.insert_full(frame).map(|(id, _)| id as u64)
    }

    pub fn get(&self, id: u64) -> Option<&Frame> {
        usize::try_from(id).ok().and_then(|i| self.frames.get(i))
    }

    pub fn len(&self) -> usize {
        self.frames.len()
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

/// A node of the tree: its parent's index and the frame that leads from there to it. 12
/// bytes (the tree is limited to [`crate::dense_set::MAX_KEYS`] nodes; a frame id is whatever the capture uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(C, packed(4))]
struct Node {
    frame_id: u64,
    parent: u32,
}

/// The root's entry: no child has a parent of `u32::MAX` (the set holds fewer nodes).
const ROOT: Node = Node {
    frame_id: 0,
    parent: u32::MAX,
};

/// The tree of stacks; a stack id is a node index, 0 being the empty stack. The nodes are
/// interned `(parent, frame)` pairs, so one [`DenseSet`] is both the nodes by index and the
/// lookup of a node's child by frame.
#[derive(Debug)]
pub struct FrameTree {
    nodes: DenseSet<Node>,
}

impl Default for FrameTree {
    fn default() -> Self {
        let mut nodes = DenseSet::new();
        nodes.insert_full(ROOT);
        FrameTree { nodes }
    }
}

impl FrameTree {
    /// The node reached from `parent` by `frame_id`, created if new. `None` when `parent` is
    /// not a node of the tree, or when the tree is full ([`crate::dense_set::MAX_KEYS`] nodes).
    #[inline]
    pub fn child(&mut self, parent: u64, frame_id: u64) -> Option<u64> {
        if parent >= self.nodes.len() as u64 {
            return None;
        }
        let node = Node {
            frame_id,
            parent: parent as u32,
        };
        self.nodes.insert_full(node).map(|(id, _)| id as u64)
    }

    /// The frame of node `index` and its parent, for `1 <= index < len`.
    pub fn node(&self, index: u64) -> Option<(u64, u64)> {
        if index == 0 {
            return None;
        }
        let n = self.nodes.get(usize::try_from(index).ok()?)?;
        Some((n.frame_id, n.parent as u64))
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
        assert_eq!(reg.register(f(7)), Some(0));
        assert_eq!(reg.register(f(9)), Some(1));
        assert_eq!(reg.register(f(7)), Some(0));
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
