//! Knowledge sync: each connected store's pages, articles, products and policies kept in S3 as
//! Markdown documents for an Amazon Bedrock Knowledge Base, incrementally.
//!
//! - [`document`]: how an item becomes a document (Markdown + `.metadata.json`), and the keys;
//! - [`html`]: merchant HTML parsed with its nesting bounded, so no body can exhaust the stack;
//! - [`state`]: per store sync state, and the document index;
//! - [`ports`] with [`aws`] and [`memory`] adapters;
//! - [`sync`]: the `knowledge-sync` worker;
//! - [`requests`]: asking for runs and removals (what connect, disconnect, settings and the
//!   dashboard's sync route call);
//! - [`views`]: what the dashboard reads;
//! - [`error`]: why knowledge work failed.

pub mod aws;
pub mod document;
pub mod error;
pub mod html;
pub mod memory;
pub mod ports;
pub mod requests;
pub mod state;
pub mod sync;
pub mod views;

pub use self::document::store_uri;
pub use self::error::KnowledgeError;
pub use self::requests::{request_run, KnowledgePorts, STALE_QUEUED, STALLED};
pub use self::sync::OVERLAP;
pub use self::views::{
    DocumentCursor, DocumentPage, DocumentQuery, DocumentView, KnowledgeStatus, RunProgress,
    SourceState, SourceView, StoreKnowledge,
};
