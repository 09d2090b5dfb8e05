//! Why knowledge work failed: the failure vocabulary of runs, removals and requests, which
//! failures a retry cannot fix, and their codes.

use std::time::Duration;

use super::ports::BlobError;
use super::state::ErrorView;
use crate::access::AccessError;
use crate::events::EventError;
use crate::failure::Code;
use crate::queue::QueueError;
use crate::shopify::ShopifyError;
use crate::store::StoreError;

/// Why knowledge work failed.
#[derive(Debug, thiserror::Error)]
pub enum KnowledgeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Blob(#[from] BlobError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Event(#[from] EventError),
    #[error(transparent)]
    Access(AccessError),
    /// Another invocation took the store's run over.
    #[error("the store's sync lease was lost")]
    LeaseLost,
    /// Another invocation holds the store's lease; the message is to come back later.
    #[error("the store's sync is under way in another invocation")]
    Busy,
    /// Wait this long (the bucket is low, a bulk operation runs), then continue.
    #[error("paused")]
    Pause(Duration),
    /// Shopify answered something that cannot be right (a bulk line that is not JSON...).
    #[error("Shopify sent malformed content: {0}")]
    Malformed(&'static str),
}

impl From<ShopifyError> for KnowledgeError {
    fn from(e: ShopifyError) -> Self {
        Self::Access(AccessError::Shopify(e))
    }
}

impl KnowledgeError {
    /// A failure that a retry of the same message cannot fix.
    pub fn is_permanent(&self) -> bool {
        match self {
            Self::Access(e) => matches!(
                e.code(),
                Code::InvalidCredentials
                    | Code::ShopUnavailable
                    | Code::ShopNotFound
                    | Code::Internal
            ),
            Self::Malformed(_) => true,
            _ => false,
        }
    }

    /// How the dashboard shows it.
    pub fn view(&self) -> ErrorView {
        super::views::error_view(self)
    }

    pub fn code(&self) -> Code {
        match self {
            Self::Access(e) => e.code(),
            Self::Store(StoreError::Corrupt(_)) | Self::Malformed(_) => Code::Internal,
            _ => Code::StorageUnavailable,
        }
    }
}

impl From<AccessError> for KnowledgeError {
    fn from(e: AccessError) -> Self {
        Self::Access(e)
    }
}
