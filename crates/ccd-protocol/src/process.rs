//! Whether a process still runs: not gone, and not a zombie (a daemon
//! killed after its starter exited may stay one for good where nothing
//! reaps orphans, and a zombie holds no lock and serves nothing).

/// Whether process `pid` exists and is not a zombie.
pub fn alive(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // `pid (comm) S ...`: the state follows the last parenthesis (comm
    // may hold parentheses and spaces).
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next())
        .is_some_and(|state| state != 'Z' && state != 'X')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_is_alive_and_a_reaped_one_is_not() {
        assert!(alive(std::process::id() as i32));
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id() as i32;
        // Exited, not yet reaped: a zombie.
        std::thread::sleep(std::time::Duration::from_millis(100));
        assert!(!alive(pid), "a zombie is not alive");
        child.wait().unwrap();
        assert!(!alive(pid));
    }
}
