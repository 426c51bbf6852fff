//! Quick throughput check of `Model::embed`, batch and one text at a time.
//!
//! `cargo run --release -p ember-encoder --example throughput -- MODEL_DIR SENTENCES_FILE [N]`
//! reads up to N (default 500) lines of SENTENCES_FILE and prints sentences per second.

use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let dir = args
        .get(1)
        .ok_or("usage: throughput MODEL_DIR SENTENCES_FILE [N]")?;
    let file = args
        .get(2)
        .ok_or("usage: throughput MODEL_DIR SENTENCES_FILE [N]")?;
    let n: usize = args.get(3).map(|s| s.parse()).transpose()?.unwrap_or(500);
    let text = std::fs::read_to_string(file)?;
    let texts: Vec<&str> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .take(n)
        .collect();
    let t = Instant::now();
    let model = encoder::Model::load(std::path::Path::new(dir))?;
    println!(
        "load: {:.1} ms ({} MB of weights used in place)",
        t.elapsed().as_secs_f64() * 1e3,
        model.mapped_weight_bytes() >> 20
    );
    let never = || Ok(());
    model.embed(&texts[..texts.len().min(32)], &never)?; // warm-up
    let t = Instant::now();
    let out = model.embed(&texts, &never)?;
    let batch = t.elapsed().as_secs_f64();
    println!(
        "batch: {} texts in {:.3} s = {:.1} texts/s",
        out.len(),
        batch,
        out.len() as f64 / batch
    );
    if let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps_rollup") {
        let keep = ["Rss:", "Private_Clean:", "Private_Dirty:", "Anonymous:"];
        let lines: Vec<String> = smaps
            .lines()
            .filter(|l| keep.iter().any(|k| l.starts_with(k)))
            .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        println!("memory after embed: {}", lines.join(", "));
    }
    if std::env::var_os("SKIP_SINGLE").is_some() {
        return Ok(());
    }
    let t = Instant::now();
    for s in &texts {
        model.embed(&[s], &never)?;
    }
    let single = t.elapsed().as_secs_f64();
    println!(
        "one at a time: {:.3} s = {:.1} texts/s, {:.2} ms per text",
        single,
        texts.len() as f64 / single,
        single * 1e3 / texts.len() as f64
    );
    Ok(())
}
