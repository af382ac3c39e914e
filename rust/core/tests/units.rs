//! Runs the engine's unit tests (`democratising::self_test`, compiled into the release
//! library rather than a second test-mode build of it), each on a thread of its own as libtest
//! would, so a failing test's thread-local state (autocast, say) cannot leak into the next.
//!
//! `cargo test --release -p democratising -p democratising-py --test units -- [FILTER...]
//! [--exact] [--skip FILTER] [--list]`: filters match a substring of the test's path (`exact`:
//! the whole path), as libtest's do. Other libtest flags are accepted and ignored.

use std::process::ExitCode;
use std::time::Instant;

/// The libtest flags that take a value, accepted and ignored.
const IGNORED_WITH_VALUE: &[&str] = &["--test-threads", "--color", "--format", "-Z"];

#[derive(Default)]
struct Selection {
    filters: Vec<String>,
    skips: Vec<String>,
    exact: bool,
    list: bool,
}

impl Selection {
    fn parse(args: impl Iterator<Item = String>) -> Result<Selection, String> {
        let mut sel = Selection::default();
        let mut args = args.peekable();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--exact" => sel.exact = true,
                "--list" => sel.list = true,
                "--skip" => sel.skips.push(args.next().ok_or("--skip needs a value")?),
                flag if IGNORED_WITH_VALUE.contains(&flag) => {
                    args.next();
                }
                flag if flag.starts_with('-') && !flag.contains('=') => {
                    if !matches!(flag, "--nocapture" | "--quiet" | "-q" | "--show-output") {
                        return Err(format!("unknown flag {flag}"));
                    }
                }
                flag if flag.starts_with("--") => {} // --flag=value forms of the above
                _ => sel.filters.push(arg),
            }
        }
        Ok(sel)
    }

    fn matches(&self, name: &str, pattern: &str) -> bool {
        if self.exact {
            name == pattern
        } else {
            name.contains(pattern)
        }
    }

    fn chooses(&self, name: &str) -> bool {
        (self.filters.is_empty() || self.filters.iter().any(|f| self.matches(name, f)))
            && !self.skips.iter().any(|s| self.matches(name, s))
    }
}

fn main() -> ExitCode {
    let sel = match Selection::parse(std::env::args().skip(1)) {
        Ok(sel) => sel,
        Err(e) => {
            eprintln!("units: {e}");
            return ExitCode::from(2);
        }
    };
    let all = democratising::self_test::all();
    // Paths without the crate's name, which every one of them starts with.
    let name = |c: &democratising::self_test::Case| c.name.trim_start_matches("democratising::");
    let chosen: Vec<_> = all.iter().filter(|c| sel.chooses(name(c))).collect();
    if sel.list {
        chosen.iter().for_each(|c| println!("{}: test", name(c)));
        return ExitCode::SUCCESS;
    }
    println!("\nrunning {} unit tests", chosen.len());
    let start = Instant::now();
    let mut failed = Vec::new();
    for case in &chosen {
        let t = Instant::now();
        let passed = std::thread::Builder::new()
            .name(name(case).to_string())
            .spawn(case.run)
            .is_ok_and(|test| test.join().is_ok());
        let verdict = if passed { "ok" } else { "FAILED" };
        println!("test {} ... {verdict} ({:.2?})", name(case), t.elapsed());
        if !passed {
            failed.push(name(case));
        }
    }
    if !failed.is_empty() {
        println!("\nfailures:");
        failed.iter().for_each(|n| println!("    {n}"));
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
