//! A server's CPU time by thread, read from `/proc/<pid>/task`: what each of its threads
//! (request workers, the committer, the checkpointer, …) spent per answered request in a
//! round, so a round's figure says where the time went without a profiler attached.

use std::collections::BTreeMap;

/// CPU seconds per thread name since the process started; threads of one kind (`nova-guest3`,
/// `nova-guest7`) count as one.
pub fn snapshot(pid: u32) -> BTreeMap<String, f64> {
    // SAFETY: sysconf has no preconditions; it only reads a constant of the system.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let mut by_name = BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return by_name;
    };
    for task in tasks.flatten() {
        // A thread may end between the listing and the read.
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // The name is in parentheses and may hold spaces; the fields after it are plain.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let name = stat[open + 1..close].trim_end_matches(|c: char| c.is_ascii_digit());
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        // utime and stime: fields 14 and 15 of the line, 12 and 13 after the name.
        let busy: f64 = [11, 12]
            .iter()
            .filter_map(|&i| fields.get(i)?.parse::<f64>().ok())
            .sum();
        *by_name.entry(name.to_string()).or_insert(0.0) += busy / ticks;
    }
    by_name
}

/// The CPU between two snapshots in µs per request, in total and for the threads that
/// spent the most.
pub fn per_request(
    before: &BTreeMap<String, f64>,
    after: &BTreeMap<String, f64>,
    requests: f64,
) -> String {
    let mut spent: Vec<(&str, f64)> = after
        .iter()
        .map(|(name, &t)| {
            let earlier = before.get(name).copied().unwrap_or(0.0);
            (name.as_str(), (t - earlier) * 1e6 / requests.max(1.0))
        })
        .filter(|(_, us)| *us >= 0.05)
        .collect();
    spent.sort_by(|a, b| b.1.total_cmp(&a.1));
    let total: f64 = spent.iter().map(|(_, us)| us).sum();
    let top: Vec<String> = spent
        .iter()
        .take(5)
        .map(|(name, us)| format!("{name} {us:.1}"))
        .collect();
    format!("server CPU {total:.1} µs a request ({})", top.join(", "))
}
