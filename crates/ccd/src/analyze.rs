//! `ccd analyze FILE`: rolls up a compile journal (one JSON object per line,
//! as written for a session started with `--journal`).

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use anyhow::Context as _;

#[derive(Default)]
struct Rollup {
    compiles: u64,
    hits: u64,
    misses: u64,
    non_cacheable: u64,
    errors: u64,
    saved_ms: u64,
    reasons: BTreeMap<String, u64>,
    slowest: Vec<(u64, String, String)>,
    bad_lines: u64,
}

pub fn run(file: &Path, json: bool) -> anyhow::Result<String> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let mut r = Rollup::default();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            r.bad_lines += 1;
            continue;
        };
        let verdict = v["verdict"].as_str().unwrap_or("?").to_string();
        let reason = v["reason"].as_str().unwrap_or("").to_string();
        let ms = v["duration_ms"].as_u64().unwrap_or(0);
        r.compiles += 1;
        r.saved_ms += v["saved_ms"].as_u64().unwrap_or(0);
        match verdict.as_str() {
            "Hit" => r.hits += 1,
            "NonCacheable" => {
                r.non_cacheable += 1;
                *r.reasons
                    .entry(format!("not cacheable: {reason}"))
                    .or_default() += 1;
            }
            other => {
                r.misses += 1;
                if other == "Error" {
                    r.errors += 1;
                }
                *r.reasons.entry(format!("{other}: {reason}")).or_default() += 1;
            }
        }
        let unit = v["source"].as_str().unwrap_or("-").to_string();
        r.slowest.push((ms, unit, verdict));
    }
    r.slowest.sort_by_key(|s| std::cmp::Reverse(s.0));
    r.slowest.truncate(10);
    let mut reasons: Vec<(String, u64)> = r.reasons.into_iter().collect();
    reasons.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let cacheable = r.hits + r.misses;
    let rate = if cacheable > 0 {
        r.hits as f64 / cacheable as f64
    } else {
        0.0
    };
    if json {
        let v = serde_json::json!({
            "compiles": r.compiles,
            "hits": r.hits,
            "misses": r.misses,
            "non_cacheable": r.non_cacheable,
            "errors": r.errors,
            "hit_rate": rate,
            "time_saved_ms": r.saved_ms,
            "reasons": reasons.iter().map(|(k, n)| serde_json::json!({"reason": k, "count": n})).collect::<Vec<_>>(),
            "slowest": r.slowest.iter().map(|(ms, unit, verdict)| serde_json::json!({"source": unit, "verdict": verdict, "duration_ms": ms})).collect::<Vec<_>>(),
            "unreadable_lines": r.bad_lines,
        });
        return Ok(format!("{v}\n"));
    }
    let mut o = String::new();
    let _ = writeln!(o, "compiles        {}", r.compiles);
    let _ = writeln!(
        o,
        "hit rate        {:.1}% ({} hits, {} misses)",
        rate * 100.0,
        r.hits,
        r.misses
    );
    let _ = writeln!(o, "non-cacheable   {}", r.non_cacheable);
    let _ = writeln!(o, "failed compiles {}", r.errors);
    let _ = writeln!(o, "time saved      {:.1} s", r.saved_ms as f64 / 1000.0);
    let _ = writeln!(o, "\ntop reasons for not hitting:");
    for (reason, n) in reasons.iter().take(10) {
        let _ = writeln!(o, "  {n:>6}  {reason}");
    }
    let _ = writeln!(o, "\nslowest units:");
    for (ms, unit, verdict) in &r.slowest {
        let _ = writeln!(o, "  {ms:>7} ms  {verdict:<15} {unit}");
    }
    if r.bad_lines > 0 {
        let _ = writeln!(o, "\n{} unreadable lines skipped", r.bad_lines);
    }
    Ok(o)
}
