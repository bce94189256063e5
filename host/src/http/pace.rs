//! Refusals on the anonymous password routes are answered after a pause.
//!
//! Login, registration and password reset are open to anyone and each costs a password hash,
//! so a flood meets a per-address limit (429) and the process-wide hashing gate (503 `BUSY`)
//! before any hash. Those refusals are cheap, but not free: answered at once, a burst of 900
//! of them on 150 connections kept both request threads busy for its whole length, and
//! another tenant's slowest reads took 4-6 ms longer (issue 12; docs/PERFORMANCE.md).
//!
//! So a refusal is answered half a second to a second after its request came in. A client
//! waits for each answer before it sends again on the same connection (HTTP/1), so a flood
//! makes at most two refused requests per connection a second: what it can make the server
//! do is bounded by how many connections it holds (at most `max_connections`, 4,096 by
//! default), not by how fast it can send, and the pause costs a timer, no thread. That bound
//! is what makes a flood on a few hundred connections harmless; one on thousands can still
//! keep two cores busy (4,096 connections are about 8,000 refusals a second).

use std::time::Duration;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;

/// The least time between a refused request's arrival and its answer. Unnoticeable beside
/// the `Retry-After` a refused client is given (a second for `BUSY`, a minute for a limited
/// address).
pub const REFUSAL_PAUSE: Duration = Duration::from_millis(500);

/// Each refusal waits up to this much more, at random: a flood's connections, started
/// together, would otherwise be answered together and come back as one burst after every
/// pause, which is what a neighbour's request must not meet.
const SPREAD: Duration = Duration::from_millis(500);

/// Hold a 429 or 503 until [`REFUSAL_PAUSE`] and a random part of [`SPREAD`] after the
/// request came in.
pub(crate) async fn pace_refusals(req: Request, next: Next) -> Response {
    let came_in = tokio::time::Instant::now();
    let mut response = next.run(req).await;
    let hold = hold_for(response.status(), came_in.elapsed(), rand::random::<f64>());
    if !hold.is_zero() {
        tokio::time::sleep(hold).await;
        response.extensions_mut().insert(Held(hold));
    }
    response
}

/// On a response: how long it was held on purpose. `http_request_duration_seconds` leaves it
/// out, so that a flood's paced refusals do not read as a slow API (and page somebody).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Held(pub(crate) Duration);

/// How much longer to hold an answer with `status`, `taken` after its request came in, with
/// `spread` (in 0..1) the random part: what is left of the pause for a refusal (a request
/// that already waited that long for the hashing gate is answered at once), nothing for any
/// other answer.
fn hold_for(status: StatusCode, taken: Duration, spread: f64) -> Duration {
    match status {
        StatusCode::TOO_MANY_REQUESTS | StatusCode::SERVICE_UNAVAILABLE => {
            (REFUSAL_PAUSE + SPREAD.mul_f64(spread)).saturating_sub(taken)
        }
        _ => Duration::ZERO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_wait_out_the_pause_and_nothing_else_does() {
        for refused in [
            StatusCode::TOO_MANY_REQUESTS,
            StatusCode::SERVICE_UNAVAILABLE,
        ] {
            assert_eq!(hold_for(refused, Duration::ZERO, 0.0), REFUSAL_PAUSE);
            assert_eq!(
                hold_for(refused, Duration::ZERO, 0.5),
                REFUSAL_PAUSE + SPREAD / 2
            );
            // Time spent waiting for the hashing gate counts towards the pause...
            assert_eq!(
                hold_for(refused, REFUSAL_PAUSE / 4, 0.0),
                REFUSAL_PAUSE * 3 / 4
            );
            // ...and a request that waited longer is not held any more.
            let long = (REFUSAL_PAUSE + SPREAD) * 2;
            assert_eq!(hold_for(refused, long, 0.99), Duration::ZERO);
        }
        for answered in [
            StatusCode::OK,
            StatusCode::ACCEPTED,
            StatusCode::BAD_REQUEST,
            StatusCode::UNAUTHORIZED,
            StatusCode::INTERNAL_SERVER_ERROR,
        ] {
            assert_eq!(hold_for(answered, Duration::ZERO, 0.5), Duration::ZERO);
        }
    }
}
