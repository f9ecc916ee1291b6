//! The program of the Rust workload of bench/run.py. Its output is compared
//! between the tools, so it must not depend on where it was built.

use anyhow::{bail, Context, Result};
use clap::Parser;
use regex::Regex;
use serde::de::value::{Error as DeError, MapDeserializer};
use serde::{Deserialize, Serialize};

/// Count the words that match a pattern.
#[derive(Parser, Debug)]
#[command(name = "ccd-bench-rust")]
struct Args {
    /// The pattern (a regex).
    #[arg(short, long, default_value = r"\b\w{5,}\b")]
    pattern: String,
    /// How many matches to print at most.
    #[arg(short, long, default_value_t = 3)]
    limit: usize,
    /// The text.
    text: Vec<String>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Rule {
    name: String,
    pattern: String,
}

fn rule(name: &str, pattern: &str) -> Result<Rule> {
    let pairs = vec![("name", name), ("pattern", pattern)];
    Rule::deserialize(MapDeserializer::<_, DeError>::new(pairs.into_iter()))
        .context("deserializing the rule")
}

fn needs_serialize<T: Serialize>(_: &T) {}

fn main() -> Result<()> {
    let args = Args::parse();
    let r = rule("words", &args.pattern)?;
    needs_serialize(&r);
    let re = Regex::new(&r.pattern).with_context(|| format!("bad pattern {:?}", r.pattern))?;
    let text = if args.text.is_empty() {
        "the quick brown fox jumps over the lazy dog, compiled twice and cached once".to_string()
    } else {
        args.text.join(" ")
    };
    let found: Vec<&str> = re.find_iter(&text).map(|m| m.as_str()).collect();
    if found.is_empty() {
        bail!("no match for {}", r.name);
    }
    println!(
        "{}: {} matches, first {:?}",
        r.name,
        found.len(),
        &found[..found.len().min(args.limit)]
    );
    Ok(())
}
