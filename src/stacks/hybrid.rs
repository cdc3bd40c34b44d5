//! Hybrid stacks of `--native` captures: the native stack with each Python evaluation loop
//! call replaced by the Python frames it evaluated (memray's `hybrid_stack_trace`).
//!
//! Both stacks are paired from the outermost frame inwards. A native frame whose function is
//! a Python frame boundary (`_PyEval_EvalFrameDefault`, or a 3.14 tail-call interpreter
//! function) takes the next Python frame and every following one that is not an entry frame
//! (since 3.11 one evaluation loop call runs a Python caller and its non-entry callees). On the
//! main thread, the frames above the one that started the tracker are dropped. When the
//! native stack runs out of boundaries before the Python frames are used up (a stripped
//! interpreter), memray gives the whole Python stack instead.

use crate::stacks::Location;

/// Which native function names mark a Python evaluation loop call, by capture header version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoundaryRule {
    /// memray 1.7 – 1.18 (header 10, 11): `_PyEval_EvalFrameDefault` only.
    EvalFrameOnly,
    /// memray 1.19 (header 12): also `_TAIL_CALL_*` functions with `.llvm.` in their name.
    TailCallLlvm,
    /// memray 1.20 (header 13): also every `_TAIL_CALL_*` function.
    TailCall,
}

impl BoundaryRule {
    /// The rule of the memray that wrote a capture with header `version`.
    pub fn for_header_version(version: i32) -> BoundaryRule {
        match version {
            ..=11 => BoundaryRule::EvalFrameOnly,
            12 => BoundaryRule::TailCallLlvm,
            _ => BoundaryRule::TailCall,
        }
    }

    /// Whether a native frame of function `symbol` evaluates Python frames.
    pub fn is_boundary(self, symbol: &str) -> bool {
        if symbol.contains("_PyEval_EvalFrameDefault") {
            return true;
        }
        match self {
            BoundaryRule::EvalFrameOnly => false,
            BoundaryRule::TailCallLlvm => {
                symbol.starts_with("_TAIL_CALL_") && symbol.contains(".llvm.")
            }
            BoundaryRule::TailCall => symbol.starts_with("_TAIL_CALL_"),
        }
    }
}

/// Merges `native` (leaf first) and `python` (leaf first, each frame with its entry flag) into
/// memray's hybrid stack, leaf first; `skip` is the number of outermost Python frames hidden
/// on the main thread (0 elsewhere).
pub fn hybrid_stack(
    native: &[Location],
    python: &[(Location, bool)],
    skip: usize,
    rule: BoundaryRule,
) -> Vec<Location> {
    let non_entry = python.iter().filter(|(_, entry)| !entry).count();
    // Filled from the outermost slot inwards; `len` shrinks when the main thread's hidden
    // frames are cut off.
    let mut hybrid: Vec<Option<Location>> = vec![None; native.len() + non_entry];
    let mut len = hybrid.len();
    let mut hidx = len as isize - 1;
    let mut pidx = python.len() as isize - 1;
    let first_kept = pidx - skip as isize;
    for frame in native.iter().rev() {
        if pidx >= 0 && rule.is_boundary(&frame.function) {
            loop {
                if skip != 0 && pidx == first_kept {
                    len = (hidx + 1) as usize;
                }
                if hidx < 0 {
                    // memray fails an assertion here; its stacks never get here.
                    return whole_python_stack(python);
                }
                hybrid[hidx as usize] = Some(python[pidx as usize].0.clone());
                hidx -= 1;
                pidx -= 1;
                if pidx < 0 || python[pidx as usize].1 {
                    break;
                }
            }
        } else {
            if hidx < 0 {
                return whole_python_stack(python);
            }
            hybrid[hidx as usize] = Some(frame.clone());
            hidx -= 1;
        }
    }
    if pidx >= 0 {
        return whole_python_stack(python);
    }
    hybrid.truncate(len);
    hybrid.into_iter().flatten().collect()
}

fn whole_python_stack(python: &[(Location, bool)]) -> Vec<Location> {
    python
        .iter()
        .map(|(location, _)| location.clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn loc(function: &str) -> Location {
        Location {
            function: Arc::from(function),
            file: Arc::from("f"),
            line: 1,
        }
    }

    fn names(stack: &[Location]) -> Vec<&str> {
        stack.iter().map(|l| &*l.function).collect()
    }

    const EVAL: &str = "_PyEval_EvalFrameDefault";

    #[test]
    fn eval_calls_take_their_python_frames() {
        // main -> eval(a, b non-entry) -> call -> eval(c) -> malloc
        let native = [
            loc("malloc"),
            loc(EVAL),
            loc("call"),
            loc(EVAL),
            loc("main"),
        ];
        let python = [(loc("c"), true), (loc("b"), false), (loc("a"), true)];
        let h = hybrid_stack(&native, &python, 0, BoundaryRule::TailCall);
        assert_eq!(names(&h), ["malloc", "c", "call", "b", "a", "main"]);
    }

    #[test]
    fn main_thread_drops_frames_above_the_tracker() {
        // Python frames: runner (hidden), user code below it.
        let native = [
            loc("malloc"),
            loc(EVAL),
            loc("pymain"),
            loc(EVAL),
            loc("main"),
        ];
        let python = [(loc("user"), true), (loc("runner"), true)];
        let h = hybrid_stack(&native, &python, 1, BoundaryRule::TailCall);
        assert_eq!(names(&h), ["malloc", "user"]);
    }

    #[test]
    fn missing_boundaries_give_the_python_stack() {
        let native = [loc("malloc"), loc("main")];
        let python = [(loc("user"), true), (loc("runner"), true)];
        let h = hybrid_stack(&native, &python, 1, BoundaryRule::TailCall);
        assert_eq!(names(&h), ["user", "runner"]);
    }

    #[test]
    fn surplus_boundaries_stay_native() {
        let native = [loc("malloc"), loc(EVAL), loc(EVAL)];
        let python = [(loc("only"), true)];
        let h = hybrid_stack(&native, &python, 0, BoundaryRule::TailCall);
        assert_eq!(names(&h), ["malloc", EVAL, "only"]);
    }

    #[test]
    fn boundary_rules_follow_the_memray_version() {
        let tail = "_TAIL_CALL_LOAD_FAST";
        let llvm = "_TAIL_CALL_LOAD_FAST.llvm.123";
        assert!(BoundaryRule::for_header_version(13).is_boundary(tail));
        assert!(!BoundaryRule::for_header_version(12).is_boundary(tail));
        assert!(BoundaryRule::for_header_version(12).is_boundary(llvm));
        assert!(!BoundaryRule::for_header_version(10).is_boundary(llvm));
        assert!(BoundaryRule::for_header_version(10).is_boundary("x_PyEval_EvalFrameDefaulty"));
    }
}
