//! Runs the engine's unit tests (`democratising::self_test`, compiled into the release
//! library rather than a second test-mode build of it). Arguments filter by substring of the
//! test's path: `cargo test --release -p democratising --test units -- gemm_bf16`.

use std::panic;
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let all = democratising::self_test::all();
    let chosen: Vec<_> = all
        .iter()
        .filter(|c| filters.is_empty() || filters.iter().any(|f| c.name.contains(f.as_str())))
        .collect();
    println!("\nrunning {} unit tests", chosen.len());
    let start = Instant::now();
    let mut failed = Vec::new();
    for case in &chosen {
        let t = Instant::now();
        let passed = panic::catch_unwind(case.run).is_ok();
        let verdict = if passed { "ok" } else { "FAILED" };
        println!("test {} ... {verdict} ({:.2?})", case.name, t.elapsed());
        if !passed {
            failed.push(case.name);
        }
    }
    if !failed.is_empty() {
        println!("\nfailures:");
        failed.iter().for_each(|name| println!("    {name}"));
    }
    println!(
        "\ntest result: {}. {} passed; {} failed; {} filtered out; finished in {:.2?}\n",
        if failed.is_empty() { "ok" } else { "FAILED" },
        chosen.len() - failed.len(),
        failed.len(),
        all.len() - chosen.len(),
        start.elapsed()
    );
    if failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
