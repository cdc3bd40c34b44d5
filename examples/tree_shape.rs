//! The shape of a capture's stack tree: how many children its nodes have, which decides how
//! a child is best found from its parent (docs/performance.md, "The stack tree"):
//! `tree_shape CAPTURE`.
use memform::capture::{read_header, CaptureFile, Decoder};

/// Upper bounds of the histogram's classes of children per node.
const CLASSES: [(u32, &str); 8] = [
    (0, "0"),
    (1, "1"),
    (2, "2"),
    (4, "3-4"),
    (8, "5-8"),
    (64, "9-64"),
    (1024, "65-1024"),
    (u32::MAX, ">1024"),
];

fn main() {
    let path = std::env::args().nth(1).expect("usage: tree_shape CAPTURE");
    let capture = CaptureFile::open(std::path::Path::new(&path)).expect("open");
    let mut stream = capture.stream();
    let header = read_header(&mut stream).expect("header");
    let mut decoder = Decoder::new(&header);
    decoder
        .run(&mut stream, &mut |_| {}, &mut |_| true)
        .expect("decodes");
    let tree = &decoder.stacks.tree;
    let mut children = vec![0u32; tree.len()];
    for node in 1..tree.len() as u64 {
        if let Some((_, parent)) = tree.node(node) {
            children[parent as usize] += 1;
        }
    }
    let mut nodes = [0u64; CLASSES.len()];
    let mut edges = [0u64; CLASSES.len()];
    for &n in &children {
        let class = CLASSES.iter().position(|&(max, _)| n <= max).unwrap_or(0);
        nodes[class] += 1;
        edges[class] += u64::from(n);
    }
    println!(
        "{path}: {} nodes, {} frames",
        tree.len(),
        decoder.stacks.frames.len()
    );
    println!("children  nodes  their children");
    for (i, &(_, name)) in CLASSES.iter().enumerate() {
        println!("{name:>8}  {:>9}  {:>9}", nodes[i], edges[i]);
    }
}
