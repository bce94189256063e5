//! A server's CPU time by thread, read from `/proc/<pid>`: what each kind of thread (request
//! workers, the committer, the checkpointer, …) spent per answered request in a round, so a
//! round's figure says where the time went without a profiler attached.

use std::collections::BTreeMap;

/// The process's CPU seconds in all (threads that have ended included), and each live
/// thread's name and CPU seconds by thread id.
pub struct Snapshot {
    total: f64,
    threads: BTreeMap<String, (String, f64)>,
}

/// CPU seconds (user and system) from a `stat` line, at `per_second` clock ticks a second,
/// and the name in its parentheses.
fn busy(stat: &str, per_second: f64) -> Option<(String, f64)> {
    // The name is in parentheses and may hold spaces; the fields after it are plain.
    let (open, close) = (stat.find('(')?, stat.rfind(')')?);
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    // utime and stime: fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|&i| fields.get(i)?.parse::<f64>().ok())
        .sum();
    Some((stat[open + 1..close].to_string(), ticks / per_second))
}

pub fn snapshot(pid: u32) -> Snapshot {
    // SAFETY: sysconf has no preconditions; it only reads a constant of the system.
    let per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let total = std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| busy(&s, per_second))
        .map_or(0.0, |(_, t)| t);
    let mut threads = BTreeMap::new();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            // A thread may end between the listing and the read.
            if let Some(named) = std::fs::read_to_string(task.path().join("stat"))
                .ok()
                .and_then(|s| busy(&s, per_second))
            {
                threads.insert(task.file_name().to_string_lossy().into_owned(), named);
            }
        }
    }
    Snapshot { total, threads }
}

/// The CPU between two snapshots in µs per request, in total and for the kinds of thread
/// that spent the most; what threads that ended meanwhile spent shows as "ended".
pub fn per_request(before: &Snapshot, after: &Snapshot, requests: f64) -> String {
    let per = |seconds: f64| seconds * 1e6 / requests.max(1.0);
    let mut by_name: BTreeMap<&str, f64> = BTreeMap::new();
    for (tid, (name, t)) in &after.threads {
        // A thread that started during the round spent all its time in it.
        let earlier = before.threads.get(tid).map_or(0.0, |(_, t)| *t);
        *by_name.entry(name.as_str()).or_insert(0.0) += per(t - earlier);
    }
    let total = per(after.total - before.total);
    let ended = total - by_name.values().sum::<f64>();
    // Below half a µs this is the two readings' rounding, not a thread.
    if ended >= 0.5 {
        by_name.insert("ended", ended);
    }
    let mut spent: Vec<(&str, f64)> = by_name.into_iter().filter(|(_, us)| *us >= 0.05).collect();
    spent.sort_by(|a, b| b.1.total_cmp(&a.1));
    let top: Vec<String> = spent
        .iter()
        .take(5)
        .map(|(name, us)| format!("{name} {us:.1}"))
        .collect();
    format!("server CPU {total:.1} µs a request ({})", top.join(", "))
}
