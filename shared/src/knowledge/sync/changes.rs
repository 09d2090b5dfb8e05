//! One document's change, and how it lands: the Markdown and its sidecar in the document
//! store and the index entry with their fingerprint (a new document indexed first, so no file
//! exists that the index does not know of), or the files and then the entry removed.

use super::SyncPorts;
use crate::deadline::Deadline;
use crate::domain::{OrganizationId, ShopDomain};
use crate::knowledge::document::{sidecar_key, Document};
use crate::knowledge::state::IndexEntry;
use crate::knowledge::KnowledgeError;

/// Document writes and removals in flight at once within a page.
pub(super) const WRITE_CONCURRENCY: usize = 8;

/// A change to one document.
pub(super) enum Change {
    /// Write the document unless the index entry (if any) has its fingerprint.
    Write(Document, Option<IndexEntry>),
    Remove(IndexEntry),
}

pub(super) enum Applied {
    Added,
    Updated,
    Removed,
    Unchanged,
}

impl Change {
    /// Writes the Markdown and its sidecar, then the index entry with their fingerprint;
    /// removes the files, then the entry.
    pub(super) async fn apply(
        self,
        ports: &SyncPorts,
        deadline: &Deadline,
        org: &OrganizationId,
        shop: &ShopDomain,
    ) -> Result<Applied, KnowledgeError> {
        match self {
            Change::Write(document, existing) => {
                let Some(entry) = IndexEntry::of(org, shop, &document) else {
                    return Ok(Applied::Unchanged);
                };
                if existing
                    .as_ref()
                    .is_some_and(|e| e.fingerprint == entry.fingerprint)
                {
                    return Ok(Applied::Unchanged);
                }
                // An entry without a fingerprint was indexed by a write that never finished:
                // its document is new all the same.
                let new = existing.as_ref().is_none_or(|e| e.fingerprint.is_empty());
                if existing.is_none() {
                    // A new document is indexed before its files are written, so files never
                    // exist that the index does not know of (and would never remove); the
                    // pending entry's empty fingerprint makes the next run write them again.
                    let pending = IndexEntry {
                        fingerprint: String::new(),
                        ..entry.clone()
                    };
                    deadline.run(ports.repo.put_entry(&pending)).await?;
                }
                let documents = &ports.documents;
                let sidecar = sidecar_key(&entry.key);
                deadline
                    .run(async {
                        futures::try_join!(
                            documents.put(
                                &entry.key,
                                document.markdown_bytes(),
                                "text/markdown; charset=utf-8",
                            ),
                            documents.put(
                                &sidecar,
                                document.sidecar_bytes(org, shop),
                                "application/json",
                            ),
                        )
                    })
                    .await?;
                deadline.run(ports.repo.put_entry(&entry)).await?;
                Ok(if new {
                    Applied::Added
                } else {
                    Applied::Updated
                })
            }
            Change::Remove(entry) => {
                let keys = [entry.key.clone(), sidecar_key(&entry.key)];
                deadline.run(ports.documents.delete(&keys)).await?;
                deadline
                    .run(ports.repo.delete_entry(org, shop, entry.source, entry.id))
                    .await?;
                Ok(Applied::Removed)
            }
        }
    }
}
