//! A request body that checks the sender's claim as the connection writes it: the last look
//! before a write leaves, as late as the HTTP client allows. The client checks the claim
//! before it builds a request ([`crate::clock::claim_ran_out`]), but between that check and
//! the socket lie a connection from the pool, maybe a connect, and the task switches of a
//! loaded machine: a process frozen there and resumed after another replica took the action
//! over would send late. The connection polls this body right before it flushes the request,
//! in the same poll: a claim run out by then fails the body, and the request, cut off before
//! its body, is never applied.

use crate::clock::ClaimEnd;
use bytes::Bytes;
use http_body::{Frame, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// The claim ran out before the body was written.
#[derive(Debug, thiserror::Error)]
#[error("the claim ran out before the request was written")]
pub(super) struct ClaimRanOut;

/// A body of known bytes, written only while `claim` (with its margin) has not run out.
pub(super) struct Fenced {
    data: Option<Bytes>,
    len: u64,
    claim: Option<(Arc<ClaimEnd>, Duration)>,
}

impl Fenced {
    /// `data`, under the claim the current task works under (none outside a claim).
    pub(super) fn new(data: Vec<u8>) -> Self {
        Self {
            len: data.len() as u64,
            data: Some(Bytes::from(data)),
            claim: crate::clock::current_claim(),
        }
    }

    fn ran_out(&self) -> bool {
        self.claim
            .as_ref()
            .is_some_and(|(claim, margin)| tokio::time::Instant::now() + *margin >= claim.end())
    }
}

impl http_body::Body for Fenced {
    type Data = Bytes;
    type Error = ClaimRanOut;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, ClaimRanOut>>> {
        if self.data.is_some() && self.ran_out() {
            return Poll::Ready(Some(Err(ClaimRanOut)));
        }
        Poll::Ready(self.data.take().map(|data| Ok(Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(if self.data.is_some() { self.len } else { 0 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body::Body;

    /// The body's frames, or its error.
    async fn read(mut body: Fenced) -> Result<Vec<u8>, ClaimRanOut> {
        let mut out = Vec::new();
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
            out.extend_from_slice(&frame?.into_data().unwrap_or_default());
        }
        Ok(out)
    }

    #[tokio::test(start_paused = true)]
    async fn the_body_is_written_only_under_a_live_claim() {
        assert_eq!(
            read(Fenced::new(b"{}".to_vec())).await.unwrap(),
            b"{}",
            "outside a claim"
        );
        let claim = Arc::new(ClaimEnd::fixed(
            tokio::time::Instant::now() + Duration::from_secs(3),
        ));
        let (live, late) = crate::clock::under_claim(Arc::clone(&claim), Duration::from_secs(1), async {
            (Fenced::new(b"a".to_vec()), Fenced::new(b"b".to_vec()))
        })
        .await;
        assert_eq!(live.size_hint().exact(), Some(1));
        assert_eq!(read(live).await.unwrap(), b"a");
        // Frozen past the claim's end (less its margin) between the request's build and
        // its write: the body fails.
        tokio::time::advance(Duration::from_secs(2)).await;
        assert!(read(late).await.is_err());
    }
}
