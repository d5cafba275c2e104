//! How busy the machine was while a group ran. On a shared VM the tails of the figures move with the host's load;
//! printing it beside the table tells a slow build from a noisy neighbour.
//!
//! Two Linux counters, read before and after: the vCPUs' *steal* time (`/proc/stat`: the hypervisor ran something
//! else while this VM wanted a CPU, which nothing inside the VM causes) and CPU pressure (`/proc/pressure/cpu`,
//! "some": the share of wall time in which at least one task here waited for a CPU, which the benchmark's own
//! processes add to).

use std::time::Instant;

pub struct Snapshot {
    at: Instant,
    /// (steal, all) jiffies summed over CPUs.
    stat: Option<(u64, u64)>,
    /// "some" stall, microseconds since boot.
    pressure_us: Option<u64>,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Load {
    pub group: String,
    /// Percent of the CPU time the hypervisor took away.
    pub steal_percent: Option<f64>,
    /// Percent of wall time some task waited for a CPU.
    pub cpu_pressure_percent: Option<f64>,
}

impl Snapshot {
    pub fn take() -> Snapshot {
        Snapshot {
            at: Instant::now(),
            stat: std::fs::read_to_string("/proc/stat").ok().as_deref().and_then(parse_stat),
            pressure_us: std::fs::read_to_string("/proc/pressure/cpu").ok().as_deref().and_then(parse_pressure),
        }
    }

    pub fn load_since(&self, earlier: &Snapshot, group: &str) -> Load {
        let steal_percent = self.stat.zip(earlier.stat).and_then(|((s1, a1), (s0, a0))| {
            let all = a1.checked_sub(a0)?;
            (all > 0).then(|| 100.0 * s1.saturating_sub(s0) as f64 / all as f64)
        });
        let wall_us = (self.at - earlier.at).as_micros() as f64;
        let cpu_pressure_percent = self
            .pressure_us
            .zip(earlier.pressure_us)
            .and_then(|(p1, p0)| (wall_us > 0.0).then(|| 100.0 * p1.saturating_sub(p0) as f64 / wall_us));
        Load { group: group.to_owned(), steal_percent, cpu_pressure_percent }
    }
}

impl Load {
    pub fn describe(&self) -> String {
        let percent = |v: Option<f64>| v.map_or("unknown".to_owned(), |v| format!("{v:.1} %"));
        format!(
            "{}: steal {}, CPU pressure {}",
            self.group,
            percent(self.steal_percent),
            percent(self.cpu_pressure_percent)
        )
    }
}

/// The first line of `/proc/stat`: `cpu user nice system idle iowait irq softirq steal guest guest_nice`. Guest time
/// is already inside user and nice, so it is not added again.
fn parse_stat(text: &str) -> Option<(u64, u64)> {
    let line = text.lines().next()?.strip_prefix("cpu ")?;
    let fields: Vec<u64> = line.split_whitespace().map(str::parse).collect::<Result<_, _>>().ok()?;
    let steal = *fields.get(7)?;
    Some((steal, fields.iter().take(8).sum()))
}

/// `some avg10=… avg60=… avg300=… total=<µs>`.
fn parse_pressure(text: &str) -> Option<u64> {
    let some = text.lines().find(|l| l.starts_with("some "))?;
    some.split_whitespace().find_map(|f| f.strip_prefix("total="))?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_are_read_from_the_kernels_formats() {
        let stat = "cpu  5106290 12288 706517 5666147 69649 0 25166 106362 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n";
        assert_eq!(parse_stat(stat), Some((106362, 5106290 + 12288 + 706517 + 5666147 + 69649 + 25166 + 106362)));
        assert_eq!(parse_stat("intr 1 2\n"), None);
        let pressure = "some avg10=0.22 avg60=5.63 avg300=7.36 total=5726765748\nfull avg10=0.00 avg60=0.00 \
                        avg300=0.00 total=0\n";
        assert_eq!(parse_pressure(pressure), Some(5726765748));
        assert_eq!(parse_pressure("full total=3\n"), None);
    }
}
