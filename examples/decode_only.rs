//! Times decoding alone (no analysis) of a capture: `decode_only CAPTURE`.
//! Batches are recycled as in the real pipeline.
use memform::capture::*;

fn main() {
    let path =
        std::path::PathBuf::from(std::env::args().nth(1).expect("usage: decode_only CAPTURE"));
    let cap = CaptureFile::open(&path).expect("open");
    let mut s = cap.stream();
    let h = read_header(&mut s).expect("header");
    let t = std::time::Instant::now();
    let mut d = Decoder::new(&h);
    let (tx, rx) = std::sync::mpsc::channel();
    d.recycle_batches_from(rx);
    let mut n = 0u64;
    let mut sink = |b: EventBatch| {
        n += b.len() as u64;
        if let Some(c) = b.into_columns() {
            let _ = tx.send(c);
        }
    };
    d.run(&mut s, &mut sink, &mut |_| true).expect("decode");
    println!(
        "{n} events in {:.2?}, {} stack nodes, {} frames",
        t.elapsed(),
        d.stacks.tree.len(),
        d.stacks.frames.len()
    );
}
