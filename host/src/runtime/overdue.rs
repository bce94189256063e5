//! Answering for a call whose guest cannot stop in time by itself.
//!
//! A guest sees its deadline and the kill switch at its own epoch ticks, so it stops only
//! when it runs. A call that has computed for a while runs on the long-call threads, at the
//! lowest priority ([`super::executors`]), and on a saturated host those may not run for
//! seconds: its 504 or 503 came that late. So the requester, at normal priority, watches a
//! call that has left its task, and once the deadline or the switch is a grace old it answers
//! without the guest. The guest still stops the next time it runs, and what it wrote goes
//! with it: a call's writes stand only when its requester commits them, which it no longer
//! will (the capability uses it was refused are still audited, from the guest's side). Its
//! instance, pool place and tenant slot stay taken until it has stopped, as the caps count
//! what runs, not what has been answered; so does its registration (`running.rs`), which the
//! console counts in flight and the kill switch reaches.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// How long after its deadline, or after the kill switch, the requester waits for the guest
/// to stop by itself (its answer also tells the fuel it burned) before answering without it:
/// many epoch ticks for a guest that gets the CPU at all.
pub(crate) const GRACE: Duration = Duration::from_millis(50);

/// How often the requester of a call that left its task looks at the kill switch: half the
/// grace, so a starved call is answered 50-75 ms after the switch, and the requester's
/// thread, at normal priority on a host that may be saturated, wakes 40 times a second.
const WATCH_EVERY: Duration = Duration::from_millis(25);

/// Why a requester stopped waiting for its guest.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Overdue {
    /// The guest's deadline passed, with the grace.
    Deadline,
    /// The module was switched off for the tenant, a grace ago.
    Interrupted,
}

/// The guest's answer from `answered`, or why it is overdue: the call's `deadline` (an
/// instant) passed, or `switch` was set, each a [`GRACE`] ago. `None` if the guest's side
/// went away without answering.
pub(crate) async fn answer_or_overdue<T>(
    mut answered: oneshot::Receiver<T>,
    switch: &AtomicBool,
    deadline: Instant,
) -> Result<Option<T>, Overdue> {
    let give_up = tokio::time::sleep_until((deadline + GRACE).into());
    tokio::pin!(give_up);
    let mut switched_at = None;
    let mut watch = tokio::time::interval(WATCH_EVERY);
    watch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let overdue = tokio::select! {
            // An answer that is there wins over a grace that ran out at the same time.
            biased;
            done = &mut answered => return Ok(done.ok()),
            _ = &mut give_up => Some(Overdue::Deadline),
            _ = watch.tick() => None,
        };
        let overdue = overdue.or_else(|| {
            if !switch.load(Ordering::Acquire) {
                return None;
            }
            let at = *switched_at.get_or_insert_with(Instant::now);
            (at.elapsed() >= GRACE).then_some(Overdue::Interrupted)
        });
        if let Some(why) = overdue {
            // Closed first, then looked at once more: an answer sent in between is taken, and
            // one sent after fails, so the guest's side knows nobody heard it.
            answered.close();
            return match answered.try_recv() {
                Ok(done) => Ok(Some(done)),
                Err(_) => Err(why),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_answer_in_time_is_taken() {
        let (tx, rx) = oneshot::channel();
        let switch = AtomicBool::new(false);
        let deadline = Instant::now() + Duration::from_secs(60);
        tokio::spawn(async move {
            tokio::time::sleep(WATCH_EVERY * 3).await;
            tx.send(7).unwrap();
        });
        assert_eq!(answer_or_overdue(rx, &switch, deadline).await, Ok(Some(7)));
    }

    #[tokio::test]
    async fn a_silent_guest_is_overdue_at_its_deadline_and_not_before() {
        let (_tx, rx) = oneshot::channel::<()>();
        let switch = AtomicBool::new(false);
        let deadline = Instant::now() + Duration::from_millis(30);
        assert_eq!(
            answer_or_overdue(rx, &switch, deadline).await,
            Err(Overdue::Deadline)
        );
        assert!(Instant::now() >= deadline + GRACE);
    }

    #[tokio::test]
    async fn the_kill_switch_makes_a_silent_guest_overdue_before_its_deadline() {
        let (_tx, rx) = oneshot::channel::<()>();
        let switch = AtomicBool::new(true);
        let deadline = Instant::now() + Duration::from_secs(60);
        let started = Instant::now();
        assert_eq!(
            answer_or_overdue(rx, &switch, deadline).await,
            Err(Overdue::Interrupted)
        );
        assert!(started.elapsed() >= GRACE);
    }

    #[tokio::test]
    async fn a_guest_gone_without_answering_is_told_apart() {
        let (tx, rx) = oneshot::channel::<()>();
        drop(tx);
        let switch = AtomicBool::new(false);
        let deadline = Instant::now() + Duration::from_secs(60);
        assert_eq!(answer_or_overdue(rx, &switch, deadline).await, Ok(None));
    }
}
