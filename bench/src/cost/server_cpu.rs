//! PostgreSQL's CPU time, from /proc: the postmaster, every process whose
//! parent chain reaches it, and the postmaster's reaped children (backends
//! that exited during the run take their time there, not with them).

use std::{collections::HashMap, fs, net::IpAddr};

/// Clock ticks per second of /proc's times: USER_HZ, 100 on every Linux
/// architecture tether builds for.
const TICKS_PER_SEC: f64 = 100.0;

/// The postmaster of the server the bench is connected to.
#[derive(Clone, Debug)]
pub struct Postmaster {
    pid: u32,
}

/// The fields of `/proc/<pid>/stat` we use.
struct Stat {
    comm: String,
    ppid: u32,
    /// utime + stime.
    own: u64,
    /// cutime + cstime: children that exited and were reaped.
    reaped: u64,
    start_ticks: u64,
}

impl Postmaster {
    /// Finds the postmaster through our own backend, only when the server is
    /// on this host: connected over loopback or a Unix socket
    /// (`server_addr` is `None`), and our backend is visible in /proc as a
    /// `postgres` process started when PostgreSQL says it was (a server in a
    /// container has its own process ids).
    pub fn find(backend: i32, server_addr: Option<&str>, backend_start: f64) -> Option<Self> {
        let local = match server_addr {
            None => true,
            Some(addr) => addr.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback()),
        };
        if !local {
            return None;
        }
        let stat = read_stat(u32::try_from(backend).ok()?)?;
        let started = boot_time()? + stat.start_ticks as f64 / TICKS_PER_SEC;
        if stat.comm != "postgres" || (started - backend_start).abs() > 2.0 {
            return None;
        }
        let parent = read_stat(stat.ppid)?;
        (parent.comm == "postgres").then_some(Self { pid: stat.ppid })
    }

    /// CPU ticks used so far by the server's processes, dead children
    /// included; `None` once the postmaster is gone.
    pub fn ticks(&self) -> Option<u64> {
        let postmaster = read_stat(self.pid)?;
        let mut processes: HashMap<u32, Stat> = HashMap::new();
        for entry in fs::read_dir("/proc").ok()?.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
                continue;
            };
            // A process may exit between the listing and the read.
            if let Some(stat) = read_stat(pid) {
                processes.insert(pid, stat);
            }
        }
        let descendants: u64 = processes
            .iter()
            .filter(|(pid, _)| descends_from(**pid, self.pid, &processes))
            .map(|(_, stat)| stat.own)
            .sum();
        Some(postmaster.own + postmaster.reaped + descendants)
    }
}

pub fn secs(ticks: u64) -> f64 {
    ticks as f64 / TICKS_PER_SEC
}

fn descends_from(pid: u32, ancestor: u32, processes: &HashMap<u32, Stat>) -> bool {
    let mut current = pid;
    // Bounded: a chain longer than this is not PostgreSQL's.
    for _ in 0..32 {
        let Some(stat) = processes.get(&current) else {
            return false;
        };
        if stat.ppid == ancestor {
            return true;
        }
        if stat.ppid <= 1 {
            return false;
        }
        current = stat.ppid;
    }
    false
}

fn read_stat(pid: u32) -> Option<Stat> {
    parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// `pid (comm) state ppid ...`: the name may hold spaces and parentheses,
/// so the fields are counted from the last `)`.
fn parse_stat(raw: &str) -> Option<Stat> {
    let open = raw.find('(')?;
    let close = raw.rfind(')')?;
    let comm = raw.get(open + 1..close)?.to_owned();
    let fields: Vec<&str> = raw.get(close + 1..)?.split_whitespace().collect();
    // fields[0] is field 3 of proc(5).
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    Some(Stat {
        comm,
        ppid: u32::try_from(field(4)?).ok()?,
        own: field(14)? + field(15)?,
        reaped: field(16)? + field(17)?,
        start_ticks: field(22)?,
    })
}

/// Seconds since the epoch at which the machine booted.
fn boot_time() -> Option<f64> {
    fs::read_to_string("/proc/stat")
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_from_the_last_parenthesis() {
        let raw = "2210 (postgres: a (b) c) S 1 2210 2210 0 -1 4194560 7517 86404 0 12 \
                   150 230 40 60 20 0 1 0 1234 231243776 6512 18446744073709551615";
        let stat = parse_stat(raw).unwrap();
        assert_eq!(stat.comm, "postgres: a (b) c");
        assert_eq!(stat.ppid, 1);
        assert_eq!(stat.own, 380);
        assert_eq!(stat.reaped, 100);
        assert_eq!(stat.start_ticks, 1234);
    }

    #[test]
    fn a_server_on_another_host_has_no_cpu_reading() {
        assert!(Postmaster::find(1, Some("10.1.2.3"), 0.0).is_none());
    }
}
