//! Call stacks: interned frames, the stack tree, code objects, and their resolution into
//! `(function, file, line)` locations.

pub mod code_objects;
pub mod frame_tree;
pub mod line_table;
pub mod stack_table;

pub use code_objects::{CodeObject, CodeObjects};
pub use frame_tree::{Frame, FrameRegistry, FrameTree};
pub use stack_table::{Location, StackTable};
