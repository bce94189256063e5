//! A module call runs to its end even when whoever asked for it goes away.
//!
//! An HTTP handler's future is dropped when its client hangs up or the server's request
//! deadline answers first. Dropping a call half way dropped its guest and, with it, the
//! invocation record it had not written yet: a call that ran, perhaps for its whole deadline,
//! left no trace. So a call that started is finished as a task of its own once nobody waits
//! for it: the guest ends as it would have (its answer, its deadline, the kill switch), and
//! its writes and its record are committed, or not, together, as for any call; what its caller
//! would have done with the answer, it is told to do without one. A stopping server waits for
//! these calls before it closes the database ([`Unattended::wait`]). A request whose caller
//! stays costs one allocation.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::Notify;

/// Calls finishing on their own after their caller went away.
#[derive(Default)]
pub(crate) struct Unattended {
    running: AtomicUsize,
    ended: Notify,
}

impl Unattended {
    /// Wait until no call finishes on its own, for at most `at_most`; false if some still do.
    pub(crate) async fn wait(&self, at_most: Duration) -> bool {
        let none_left = async {
            loop {
                // Made before the count is read, so an end in between still wakes it.
                let ended = self.ended.notified();
                if self.running.load(Ordering::Acquire) == 0 {
                    return;
                }
                ended.await;
            }
        };
        tokio::time::timeout(at_most, none_left).await.is_ok()
    }

    /// Calls finishing on their own now.
    #[cfg(test)]
    fn running(&self) -> usize {
        self.running.load(Ordering::Acquire)
    }
}

/// Counts one call finishing on its own, until dropped (also when it panics).
struct Counted(Arc<Unattended>);

impl Counted {
    fn new(unattended: Arc<Unattended>) -> Self {
        unattended.running.fetch_add(1, Ordering::AcqRel);
        Self(unattended)
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::AcqRel);
        self.0.ended.notify_waiters();
    }
}

/// A call that can be finished on another task once its caller is gone.
pub(crate) trait Call: Future<Output: Send + 'static> + Send + 'static {}

impl<F> Call for F where F: Future<Output: Send + 'static> + Send + 'static {}

/// What the caller would have done with a call's output, done without it.
pub(crate) trait Unheard<O>: Send + 'static {
    fn hear(self, out: O) -> impl Future<Output = ()> + Send + 'static;
}

impl<O, U, UF> Unheard<O> for U
where
    U: FnOnce(O) -> UF + Send + 'static,
    UF: Future<Output = ()> + Send + 'static,
{
    fn hear(self, out: O) -> impl Future<Output = ()> + Send + 'static {
        self(out)
    }
}

/// Run `fut` to its end: awaited here while the caller waits; if the caller is dropped
/// first, finished on the current tokio runtime, counted in `unattended`, and its output
/// given to `unheard`, which does what the caller would have done with it.
pub(crate) fn to_the_end<F, U, UF>(
    unattended: &Arc<Unattended>,
    fut: F,
    unheard: U,
) -> ToTheEnd<F, U>
where
    F: Call,
    // Spelled out here (the trait's blanket impl covers it) so that a closure's argument type
    // is inferred.
    U: FnOnce(F::Output) -> UF + Send + 'static,
    UF: Future<Output = ()> + Send + 'static,
{
    ToTheEnd {
        fut: Some(Box::pin(fut)),
        unheard: Some(unheard),
        unattended: unattended.clone(),
    }
}

/// See [`to_the_end`].
pub(crate) struct ToTheEnd<F: Call, U: Unheard<F::Output>> {
    fut: Option<Pin<Box<F>>>,
    unheard: Option<U>,
    unattended: Arc<Unattended>,
}

// The call is boxed, and `unheard` is only ever moved, never polled in place.
impl<F: Call, U: Unheard<F::Output>> Unpin for ToTheEnd<F, U> {}

impl<F: Call, U: Unheard<F::Output>> Future for ToTheEnd<F, U> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = self.get_mut();
        // Out while polled: a panic inside drops it on the way up, so `Drop` finds nothing
        // to finish and does not poll it again.
        let mut fut = this.fut.take().expect("polled after it finished");
        let out = fut.as_mut().poll(cx);
        if out.is_pending() {
            this.fut = Some(fut);
        }
        out
    }
}

impl<F: Call, U: Unheard<F::Output>> Drop for ToTheEnd<F, U> {
    fn drop(&mut self) {
        let (Some(fut), Some(unheard)) = (self.fut.take(), self.unheard.take()) else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::warn!("a module call was dropped unfinished outside a runtime");
            return;
        };
        let counted = Counted::new(self.unattended.clone());
        runtime.spawn(async move {
            let out = fut.await;
            unheard.hear(out).await;
            drop(counted);
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_future_whose_caller_goes_away_still_ends_and_is_waited_for() {
        let unattended = Arc::new(Unattended::default());
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (go, wait) = tokio::sync::oneshot::channel::<()>();
        let fut = async move {
            let _ = wait.await;
            "ended"
        };
        let caller = tokio::spawn(to_the_end(&unattended, fut, move |out| async move {
            tx.send(out).unwrap();
        }));
        // The caller goes away while the future waits; the future is then counted until it
        // ends, and its output goes where the caller would have sent it.
        caller.abort();
        assert!(caller.await.unwrap_err().is_cancelled());
        assert_eq!(unattended.running(), 1);
        assert!(!unattended.wait(Duration::from_millis(20)).await);
        go.send(()).unwrap();
        assert_eq!(rx.await.unwrap(), "ended");
        assert!(unattended.wait(Duration::from_secs(10)).await);
        assert_eq!(unattended.running(), 0);
    }

    #[tokio::test]
    async fn a_waiting_caller_gets_the_output_and_nothing_is_counted() {
        let unattended = Arc::new(Unattended::default());
        let got = to_the_end(&unattended, async { 7 }, |_| async {
            unreachable!("the caller heard it")
        });
        assert_eq!(got.await, 7);
        assert_eq!(unattended.running(), 0);
    }

    #[tokio::test]
    async fn a_panicking_future_is_not_finished_again() {
        let unattended = Arc::new(Unattended::default());
        let caller = tokio::spawn(to_the_end(
            &unattended,
            async { panic!("inside the call") },
            |()| async {},
        ));
        assert!(caller.await.unwrap_err().is_panic());
        assert_eq!(unattended.running(), 0);
    }
}
