//! Locking a mutex that another thread may have panicked while holding.

use std::sync::{Mutex, MutexGuard};

/// Locks `m`, going on with the data when another thread panicked while
/// holding it: every structure the daemon guards stays consistent between
/// statements, and one failed request must not stop all the others.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
