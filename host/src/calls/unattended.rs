//! A module call runs to its end even when whoever asked for it goes away.
//!
//! An HTTP handler's future is dropped when its client hangs up or the server's request
//! deadline answers first. Dropping a call half way dropped its guest and, with it, the
//! invocation record it had not written yet: a call that ran, perhaps for its whole deadline,
//! left no trace. So a call that started is finished as a task of its own once nobody waits
//! for it: the guest ends as it would have (its answer, its deadline, the kill switch), and
//! its writes and its record are committed, or not, together, as for any call. A request whose
//! caller stays costs one allocation.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// Run `fut` to its end: awaited here while the caller waits, finished on the current tokio
/// runtime if the caller is dropped first.
pub(crate) fn to_the_end<F>(fut: F) -> ToTheEnd<F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    ToTheEnd(Some(Box::pin(fut)))
}

/// See [`to_the_end`].
pub(crate) struct ToTheEnd<F: Future + Send + 'static>(Option<Pin<Box<F>>>)
where
    F::Output: Send + 'static;

impl<F> Future for ToTheEnd<F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let fut = self.0.as_mut().expect("polled after it finished");
        let out = fut.as_mut().poll(cx);
        if out.is_ready() {
            self.0 = None;
        }
        out
    }
}

impl<F> Drop for ToTheEnd<F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    fn drop(&mut self) {
        if let Some(fut) = self.0.take() {
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    runtime.spawn(fut);
                }
                // Only when a runtime itself is going away, with everything on it.
                Err(_) => tracing::warn!("a module call was dropped unfinished outside a runtime"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_future_whose_caller_goes_away_still_ends() {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let (go, wait) = tokio::sync::oneshot::channel::<()>();
        let caller = tokio::spawn(to_the_end(async move {
            let _ = wait.await;
            tx.send("ended").unwrap();
        }));
        // The caller goes away while the future waits; then the future may go on.
        caller.abort();
        assert!(caller.await.unwrap_err().is_cancelled());
        go.send(()).unwrap();
        assert_eq!(rx.await.unwrap(), "ended");
    }

    #[tokio::test]
    async fn a_waiting_caller_gets_the_output() {
        assert_eq!(to_the_end(async { 7 }).await, 7);
    }
}
