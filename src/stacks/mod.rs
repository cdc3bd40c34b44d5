//! Call stacks: interned frames, the stack tree, code objects (or, in captures of memray
//! 1.7 – 1.18, indexed frames), and their resolution into `(function, file, line)` locations.

pub mod code_objects;
pub mod frame_tree;
pub mod hybrid;
pub mod line_table;
pub mod native_stacks;
pub mod stack_table;

pub use code_objects::{CodeObject, CodeObjects};
pub use frame_tree::{Frame, FrameRegistry, FrameTree};
pub use native_stacks::NativeStacks;
pub use stack_table::{IndexedFrames, Location, LocationSource, StackTable};
