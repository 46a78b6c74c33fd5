//! What this process accepted into the inbox and has not claimed yet: a hint list the
//! webhook writes and the worker reads, kept in memory (the inbox itself is the durable part).

use tokio::sync::Notify;

/// The events this process's webhook accepted and its worker has not claimed yet, oldest
/// first: claimed by id ([`super::Store::claim_arrived`], an index probe) rather than found by
/// searching the inbox ([`super::Store::claim_next`]), whose cost grows with the entries the
/// inbox's indexes still hold for events decided since PostgreSQL's last vacuum. Only a
/// hint: an id that cannot be claimed is dropped, and what the list leaves out (past
/// [`Arrivals::CAP`] ids) the worker's search finds.
#[derive(Debug, Default)]
pub struct Arrivals {
    ids: std::sync::Mutex<std::collections::VecDeque<i64>>,
    overflowed: std::sync::atomic::AtomicBool,
    notify: Notify,
}

impl Arrivals {
    /// Ids held at most; past it, the worker is told to search.
    pub const CAP: usize = 65_536;

    /// Notes that event `event_id` was accepted, and wakes the worker.
    pub fn arrived(&self, event_id: i64) {
        {
            let mut ids = self.ids.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if ids.len() < Self::CAP {
                ids.push_back(event_id);
            } else {
                self.overflowed.store(true, std::sync::atomic::Ordering::Release);
            }
        }
        self.notify.notify_one();
    }

    /// The oldest id noted.
    pub(crate) fn pop(&self) -> Option<i64> {
        self.ids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .pop_front()
    }

    /// Returns an id taken but not claimed to the front.
    pub(crate) fn put_back(&self, event_id: i64) {
        self.ids
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push_front(event_id);
    }

    /// Whether ids were left out since the last call.
    pub(crate) fn take_overflow(&self) -> bool {
        self.overflowed.swap(false, std::sync::atomic::Ordering::AcqRel)
    }

    /// Waits for the next arrival.
    pub(crate) async fn notified(&self) {
        self.notify.notified().await;
    }
}

#[cfg(test)]
mod tests {
    use super::Arrivals;

    #[test]
    fn arrivals_come_out_oldest_first_and_one_put_back_comes_out_next() {
        let arrivals = Arrivals::default();
        for id in [3, 4, 5] {
            arrivals.arrived(id);
        }
        assert_eq!(arrivals.pop(), Some(3));
        let taken = arrivals.pop();
        arrivals.put_back(taken.unwrap());
        assert_eq!(std::iter::from_fn(|| arrivals.pop()).collect::<Vec<_>>(), [4, 5]);
        assert!(!arrivals.take_overflow());
    }

    #[test]
    fn past_the_cap_arrivals_are_left_out_and_the_worker_is_told_once() {
        let arrivals = Arrivals::default();
        for id in 0..=Arrivals::CAP as i64 {
            arrivals.arrived(id);
        }
        assert!(arrivals.take_overflow());
        assert!(!arrivals.take_overflow(), "told once");
        assert_eq!(
            std::iter::from_fn(|| arrivals.pop()).count(),
            Arrivals::CAP,
            "the last one was left out"
        );
    }
}
