//! Memory and CPU of provider processes. Ours append a usage line at exit
//! (`TF_PLUGIN_USAGE_FILE`); hashicorp/aws does not, so a sampler thread walks
//! the terraform process's descendants in /proc while it runs. The kernel keeps
//! each process's peak RSS (`VmHWM`), so sampling finds the true peak as long as
//! it sees the process alive once; PSS and CPU are the last values seen.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// One provider process as last seen.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Proc {
    pub peak_rss_kb: u64,
    pub pss_kb: u64,
    pub cpu_ms: u64,
}

/// Provider processes of one terraform run, with what was measured of each.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Usage {
    pub procs: Vec<Proc>,
}

impl Usage {
    pub fn processes(&self) -> usize {
        self.procs.len()
    }
    pub fn max_peak_kb(&self) -> u64 {
        self.procs.iter().map(|p| p.peak_rss_kb).max().unwrap_or(0)
    }
    pub fn sum_peak_kb(&self) -> u64 {
        self.procs.iter().map(|p| p.peak_rss_kb).sum()
    }
    pub fn sum_pss_kb(&self) -> u64 {
        self.procs.iter().map(|p| p.pss_kb).sum()
    }
    pub fn cpu_seconds(&self) -> f64 {
        self.procs.iter().map(|p| p.cpu_ms).sum::<u64>() as f64 / 1000.0
    }
}

/// `key=value` of one usage line, 0 when absent.
fn field(line: &str, name: &str) -> u64 {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The usage lines our provider's processes appended (tfplugin's server writes them).
pub fn parse_usage_lines(text: &str) -> Usage {
    Usage {
        procs: text
            .lines()
            .filter(|l| l.contains("peak_rss_kb="))
            .map(|line| Proc {
                peak_rss_kb: field(line, "peak_rss_kb"),
                pss_kb: field(line, "pss_kb"),
                cpu_ms: field(line, "cpu_ms"),
            })
            .collect(),
    }
}

pub fn read_usage_file(path: &Path) -> Usage {
    parse_usage_lines(&std::fs::read_to_string(path).unwrap_or_default())
}

/// The value in kB of `Name:   123 kB` in a /proc status-like text.
fn kb_line(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|rest| rest.trim_start_matches(':').split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn children(pid: u32) -> Vec<u32> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for task in tasks.flatten() {
        let text = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        out.extend(text.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
    }
    out
}

/// Terraform names provider binaries `terraform-provider-*`; the kernel keeps 15 characters.
fn is_provider(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.starts_with("terraform-prov"))
}

fn sample_process(pid: u32) -> Option<Proc> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<u64> = after_name.split_whitespace().map(|f| f.parse().unwrap_or(0)).collect();
    // utime + stime (fields 14 and 15, counted from 1), in ticks of 10 ms.
    let ticks = fields.get(11..13).map_or(0, |f| f.iter().sum::<u64>());
    Some(Proc {
        peak_rss_kb: kb_line(&status, "VmHWM"),
        pss_kb: kb_line(&rollup, "Pss"),
        cpu_ms: ticks * 10,
    })
}

/// Samples the provider processes below one terraform process until stopped.
pub struct Sampler {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<BTreeMap<u32, Proc>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Sampler {
    pub fn start(root: u32, every: Duration) -> Sampler {
        let stop = Arc::new(AtomicBool::new(false));
        let seen = Arc::new(Mutex::new(BTreeMap::new()));
        let (flag, store) = (stop.clone(), seen.clone());
        let thread = std::thread::spawn(move || {
            while !flag.load(Ordering::Relaxed) {
                let mut pending = children(root);
                while let Some(pid) = pending.pop() {
                    pending.extend(children(pid));
                    if !is_provider(pid) {
                        continue;
                    }
                    if let Some(now) = sample_process(pid)
                        && let Ok(mut map) = store.lock()
                    {
                        let entry = map.entry(pid).or_insert(now);
                        entry.peak_rss_kb = entry.peak_rss_kb.max(now.peak_rss_kb);
                        entry.pss_kb = entry.pss_kb.max(now.pss_kb);
                        entry.cpu_ms = entry.cpu_ms.max(now.cpu_ms);
                    }
                }
                std::thread::sleep(every);
            }
        });
        Sampler {
            stop,
            seen,
            thread: Some(thread),
        }
    }

    /// Stops sampling; every provider process seen, with its largest values.
    pub fn finish(mut self) -> Usage {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let procs = self
            .seen
            .lock()
            .map(|m| m.values().copied().collect())
            .unwrap_or_default();
        Usage { procs }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_lines_sum_and_max() {
        let usage = parse_usage_lines(
            "pid=1 peak_rss_kb=4000 rss_anon_kb=900 rss_file_kb=3100 pss_kb=1500 cpu_ms=20\n\
             pid=2 peak_rss_kb=6000 rss_anon_kb=1000 rss_file_kb=5000 pss_kb=2500 cpu_ms=30\n\
             not a usage line\n",
        );
        assert_eq!(usage.processes(), 2);
        assert_eq!(
            (usage.max_peak_kb(), usage.sum_peak_kb(), usage.sum_pss_kb()),
            (6000, 10000, 4000)
        );
        assert!((usage.cpu_seconds() - 0.05).abs() < 1e-9);
    }

    #[test]
    fn status_lines_in_kb() {
        let status = "Name:\tx\nVmHWM:\t  645120 kB\nVmRSS:\t 1 kB\n";
        assert_eq!(kb_line(status, "VmHWM"), 645_120);
        assert_eq!(kb_line("Rss: 5 kB\nPss:  17 kB\nPss_Anon: 3 kB\n", "Pss"), 17);
        assert_eq!(kb_line("", "VmHWM"), 0);
    }

    #[test]
    fn the_sampler_sees_this_process_children() {
        // `sleep` is no provider: the walk runs and finds none.
        let mut child = std::process::Command::new("sleep").arg("0.3").spawn().expect("sleep");
        let sampler = Sampler::start(std::process::id(), Duration::from_millis(20));
        let _ = child.wait();
        assert!(sampler.finish().procs.is_empty());
    }
}
