//! `cargo run --release -p assistant-stream-benches --bin synth-stream -- BYTES FILE`:
//! writes the generated stream of the criterion benches to FILE, so that
//! programs outside Rust (the peers in `benches/peers/`) read the very same
//! bytes as `assistant-stream bench FILE`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [size, path] = args.as_slice() else {
        eprintln!("usage: synth-stream BYTES FILE (about BYTES bytes of a generated stream)");
        return ExitCode::from(2);
    };
    let Ok(size) = size.parse::<usize>() else {
        eprintln!("synth-stream: BYTES must be a whole number, not {size:?}");
        return ExitCode::from(2);
    };
    let stream = synth::generate(size);
    if let Err(err) = std::fs::write(path, &stream) {
        eprintln!("synth-stream: writing {path}: {err}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
