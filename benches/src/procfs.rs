//! Minimal `/proc` readers (Linux): CPU time from `/proc/<pid>/stat` and memory from
//! `/proc/<pid>/status`. `pid` may be `"self"`.

use std::sync::OnceLock;

/// Clock ticks per second for `utime`/`stime` (from `getconf CLK_TCK`, else 100).
pub fn clock_ticks_per_sec() -> f64 {
    static TICKS: OnceLock<f64> = OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse::<f64>().ok())
            .filter(|t| *t > 0.0)
            .unwrap_or(100.0)
    })
}

/// User and system CPU seconds of a process (all its threads).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CpuTimes {
    pub user: f64,
    pub system: f64,
}

impl CpuTimes {
    pub fn total(&self) -> f64 {
        self.user + self.system
    }

    pub fn since(&self, earlier: &CpuTimes) -> CpuTimes {
        CpuTimes {
            user: self.user - earlier.user,
            system: self.system - earlier.system,
        }
    }
}

/// Reads `/proc/<pid>/stat` fields 14 (utime) and 15 (stime).
pub fn cpu_times(pid: &str) -> Option<CpuTimes> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may contain spaces.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3 (state), so field N is at index N - 3.
    let utime: f64 = fields.get(14 - 3)?.parse().ok()?;
    let stime: f64 = fields.get(15 - 3)?.parse().ok()?;
    let hz = clock_ticks_per_sec();
    Some(CpuTimes {
        user: utime / hz,
        system: stime / hz,
    })
}

/// Whether the process exists and has not exited (a zombie counts as exited).
pub fn is_running(pid: &str) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rfind(')')
        .and_then(|i| stat[i + 1..].split_whitespace().next());
    !matches!(state, None | Some("Z") | Some("X") | Some("x"))
}

/// Memory figures of a process, in KiB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Memory {
    /// Peak resident set size (`VmHWM`).
    pub hwm_kib: u64,
    /// Current resident set size (`VmRSS`).
    pub rss_kib: u64,
}

/// Reads `VmHWM` and `VmRSS` from `/proc/<pid>/status`.
pub fn memory(pid: &str) -> Option<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    };
    Some(Memory {
        hwm_kib: field("VmHWM:")?,
        rss_kib: field("VmRSS:")?,
    })
}

/// Number of threads of a process (`Threads:` in `/proc/<pid>/status`).
pub fn threads(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
}

/// Per-thread CPU seconds of a process, by thread name (`/proc/<pid>/task/*/stat`),
/// summed over threads of the same name and sorted, largest first.
pub fn cpu_by_thread_name(pid: &str) -> Vec<(String, f64)> {
    let mut by_name: Vec<(String, f64)> = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return by_name;
    };
    for task in tasks.flatten() {
        let tid = task.file_name().to_string_lossy().to_string();
        let path = format!("{pid}/task/{tid}");
        let name = std::fs::read_to_string(format!("/proc/{path}/comm"))
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        if let Some(t) = cpu_times(&path) {
            match by_name.iter_mut().find(|(n, _)| *n == name) {
                Some(e) => e.1 += t.total(),
                None => by_name.push((name, t.total())),
            }
        }
    }
    by_name.sort_by(|a, b| b.1.total_cmp(&a.1));
    by_name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_own_process() {
        let t = cpu_times("self").expect("stat");
        assert!(t.total() >= 0.0);
        let m = memory("self").expect("status");
        assert!(m.hwm_kib >= m.rss_kib || m.rss_kib > 0);
        assert!(threads("self").expect("threads") >= 1);
        assert!(is_running("self"));
        assert!(!is_running("999999999"));
    }
}
