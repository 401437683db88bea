//! Guest stderr, captured for error messages and bounded: past the limit, further output is
//! dropped (and the cut is marked) instead of failing the guest's write. wasmtime-wasi's own
//! `MemoryOutputPipe` traps on overflow, which would turn a chatty but correct plugin into a
//! failing one.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use bytes::Bytes;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// Marker appended once output was cut.
const TRUNCATED: &str = "\n[stderr truncated]";

/// A shared, bounded capture buffer; clones write to the same buffer.
#[derive(Debug, Clone)]
pub struct CapturedStderr {
    capacity: usize,
    buffer: Arc<Mutex<(Vec<u8>, bool)>>,
}

impl CapturedStderr {
    /// A buffer keeping at most `capacity` bytes.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            buffer: Arc::new(Mutex::new((Vec::new(), false))),
        }
    }

    fn append(&self, bytes: &[u8]) {
        let mut guard = self.buffer.lock().unwrap_or_else(PoisonError::into_inner);
        let (buffer, truncated) = &mut *guard;
        let room = self.capacity.saturating_sub(buffer.len());
        buffer.extend_from_slice(&bytes[..bytes.len().min(room)]);
        *truncated |= bytes.len() > room;
    }

    /// What the guest wrote (lossy UTF-8), with a marker when it was cut.
    pub fn contents(&self) -> String {
        let guard = self.buffer.lock().unwrap_or_else(PoisonError::into_inner);
        let mut text = String::from_utf8_lossy(&guard.0).into_owned();
        if guard.1 {
            text.push_str(TRUNCATED);
        }
        text
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for CapturedStderr {
    async fn ready(&mut self) {}
}

impl OutputStream for CapturedStderr {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        // Always writable: what does not fit is dropped, not refused.
        Ok(64 << 10)
    }
}

impl tokio::io::AsyncWrite for CapturedStderr {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl IsTerminal for CapturedStderr {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CapturedStderr {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_first_bytes_and_marks_the_cut() {
        let capture = CapturedStderr::new(8);
        let mut writer = capture.clone();
        assert!(OutputStream::write(&mut writer, Bytes::from_static(b"hello ")).is_ok());
        assert!(
            OutputStream::write(&mut writer, Bytes::from_static(b"world, a long line")).is_ok()
        );
        assert_eq!(capture.contents(), format!("hello wo{TRUNCATED}"));
    }
}
