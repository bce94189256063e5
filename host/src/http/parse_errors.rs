//! hyper answers requests it cannot parse (headers too large, a garbled request line, a path
//! too long) itself, before any of our layers run: a bare status with an empty body and no
//! request id. This connection wrapper recognises those answers on their way out and sends
//! the same status in the standard error shape instead.
//!
//! They are told apart from our own answers by their empty body: every error our router
//! sends carries a JSON body (see `shape::reshape`).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The statuses hyper sends for parse errors.
const HYPER_ERRORS: &[(&[u8], u16)] = &[
    (b"HTTP/1.1 400 ", 400),
    (b"HTTP/1.1 414 ", 414),
    (b"HTTP/1.1 431 ", 431),
];

/// A connection whose parse-error answers are rewritten.
pub(crate) struct ShapedErrors<S> {
    inner: S,
    /// The rewritten answer still to be written, and how much of it was.
    pending: Vec<u8>,
    written: usize,
}

impl<S> ShapedErrors<S> {
    pub(crate) fn new(inner: S) -> Self {
        Self {
            inner,
            pending: Vec::new(),
            written: 0,
        }
    }
}

/// The status of `head` when it is one of hyper's own parse-error answers.
fn hyper_error(head: &[u8]) -> Option<u16> {
    let (_, status) = HYPER_ERRORS
        .iter()
        .find(|(prefix, _)| head.starts_with(prefix))?;
    let end = head.windows(4).position(|w| w == b"\r\n\r\n")?;
    let headers = &head[..end];
    let empty = headers
        .split(|b| *b == b'\n')
        .map(|line| line.strip_suffix(b"\r").unwrap_or(line))
        .any(|line| line.eq_ignore_ascii_case(b"content-length: 0"));
    // Only a head with nothing after it: our own errors always have a body.
    (empty && end + 4 == head.len()).then_some(*status)
}

/// Our answer for a parse error with `status`: the same code, message and body as any
/// other layer's error for that status.
fn shaped(status: u16) -> Vec<u8> {
    let status =
        axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::BAD_REQUEST);
    let (code, message) = super::shape::code_for(status);
    let id = uuid::Uuid::now_v7().to_string();
    let body = super::error::REQUEST_ID
        .sync_scope(id.clone(), || {
            super::error::error_body(code.as_str(), message, None)
        })
        .to_string();
    format!(
        "HTTP/1.1 {} {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\
         x-request-id: {id}\r\nconnection: close\r\n\r\n{body}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error"),
        body.len()
    )
    .into_bytes()
}

impl<S: AsyncWrite + Unpin> ShapedErrors<S> {
    /// Write what is pending; ready once it is all out.
    fn drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.written < self.pending.len() {
            let n =
                ready!(Pin::new(&mut self.inner).poll_write(cx, &self.pending[self.written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.written += n;
        }
        self.pending.clear();
        self.written = 0;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ShapedErrors<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ShapedErrors<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        ready!(self.drain(cx))?;
        if let Some(status) = hyper_error(buf) {
            // hyper's whole answer is taken as written; ours goes out in its place.
            self.pending = shaped(status);
            self.written = 0;
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    // Not vectored: hyper then hands over each answer's head as one buffer, which is what
    // `hyper_error` inspects.
    fn is_write_vectored(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error_code::ErrorCode;

    #[test]
    fn only_hypers_empty_error_heads_are_recognised() {
        let hyper =
            b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        assert_eq!(hyper_error(hyper), Some(431));
        let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: 80\r\n\r\n{\"error\":{}}";
        assert_eq!(hyper_error(ours), None);
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(hyper_error(ok), None);
    }

    #[tokio::test]
    async fn a_parse_error_goes_out_in_the_error_shape() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (client, server) = tokio::io::duplex(4096);
        let mut server = ShapedErrors::new(server);
        server
            .write_all(b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\n")
            .await
            .unwrap();
        server.shutdown().await.unwrap();
        let mut got = String::new();
        let mut client = client;
        client.read_to_string(&mut got).await.unwrap();
        let (head, body) = got.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 431 "), "{head}");
        assert!(head.contains("x-request-id: "), "{head}");
        let v: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["error"]["code"], ErrorCode::HEADERS_TOO_LARGE.as_str());
    }
}
