//! hyper's own refusals as SCIM errors.
//!
//! hyper answers a request it cannot parse before our code sees it, with an empty body:
//! `400` (malformed request line, method, version or header), `414` (a request target
//! longer than 65,534 bytes, fixed in hyper), `431` (a head that outgrows its read buffer,
//! 408 KiB by default — checked after each read, so a head read at once may be a little
//! larger —, or more than 100 headers), then closes the connection. It has no hook
//! for that response, so [`ScimRefusals`] wraps the connection and replaces those bytes on
//! their way out with the same status and a SCIM error body (RFC 7644 §3.12).
//!
//! A response is recognised as hyper's refusal when one write is a whole head, no longer
//! than 512 bytes, of status 400, 414 or 431 with `content-length: 0`. The handlers never
//! answer those statuses without a body, and hyper writes a head (with the body of a small
//! response) in one piece because the wrapper declares no vectored writes.

use scim_core::ScimError;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// A connection whose hyper refusals leave as SCIM errors.
#[derive(Debug)]
pub struct ScimRefusals<S> {
    inner: S,
    /// A replacement being written, and how much of it is written.
    replacing: Option<(Vec<u8>, usize)>,
}

impl<S> ScimRefusals<S> {
    pub fn new(inner: S) -> Self {
        ScimRefusals {
            inner,
            replacing: None,
        }
    }
}

/// The status of a head hyper writes for a request it refuses, if `buf` is one.
fn refused_status(buf: &[u8]) -> Option<u16> {
    if buf.len() > 512 || !buf.ends_with(b"\r\n\r\n") {
        return None;
    }
    let status = match buf.get(..13)? {
        b"HTTP/1.1 400 " | b"HTTP/1.0 400 " => 400,
        b"HTTP/1.1 414 " | b"HTTP/1.0 414 " => 414,
        b"HTTP/1.1 431 " | b"HTTP/1.0 431 " => 431,
        _ => return None,
    };
    let head = String::from_utf8_lossy(buf).to_ascii_lowercase();
    head.contains("\r\ncontent-length: 0\r\n").then_some(status)
}

/// The SCIM error response that replaces hyper's refusal with `status`.
pub fn refusal_bytes(status: u16) -> Vec<u8> {
    let (reason, detail) = match status {
        414 => (
            "URI Too Long",
            "The request URI is longer than 65534 bytes; send a long filter in the body of \
             POST /Users/.search or /Groups/.search.",
        ),
        431 => (
            "Request Header Fields Too Large",
            "The request's headers are too large (at most 100 headers and about 408 KiB in all).",
        ),
        _ => (
            "Bad Request",
            "The request line or a header is not valid HTTP/1.1.",
        ),
    };
    let body = ScimError::new(status, None, detail).to_json().to_string();
    let mut out = format!(
        "HTTP/1.1 {status} {reason}\r\ncontent-type: application/scim+json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    out.extend_from_slice(body.as_bytes());
    out
}

impl<S: AsyncRead + Unpin> AsyncRead for ScimRefusals<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ScimRefusals<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if this.replacing.is_none() {
            match refused_status(buf) {
                Some(status) => this.replacing = Some((refusal_bytes(status), 0)),
                None => return Pin::new(&mut this.inner).poll_write(cx, buf),
            }
        }
        // Write the whole replacement before telling hyper its head was written.
        while let Some((bytes, done)) = this.replacing.as_mut() {
            if *done == bytes.len() {
                this.replacing = None;
                break;
            }
            let n = ready!(Pin::new(&mut this.inner).poll_write(cx, &bytes[*done..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *done += n;
        }
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        false
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn only_hypers_bodiless_refusals_are_replaced() {
        let hyper = b"HTTP/1.1 414 URI Too Long\r\ncontent-length: 0\r\ndate: x\r\n\r\n";
        assert_eq!(refused_status(hyper), Some(414));
        let ours = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 99\r\n\r\n";
        assert_eq!(refused_status(ours), None);
        let ok = b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n";
        assert_eq!(refused_status(ok), None);
        let text = String::from_utf8(refusal_bytes(431)).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 431 "));
        assert!(head.contains(&format!("content-length: {}", body.len())));
        assert!(body.contains("\"status\":\"431\""), "{body}");
        assert!(body.contains(scim_core::error::ERROR_SCHEMA), "{body}");
    }
}
