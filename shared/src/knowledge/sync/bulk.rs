//! A full products run of a large catalog: a bulk operation started, polled with delayed
//! messages (no invocation held open), and its JSONL result streamed a batch of whole products
//! at a time (never held whole), each batch merged with the index and its byte offset saved.

use std::time::Duration;

use chrono::Utc;

use super::sources::{Rendered, Stepper};
use crate::domain::Source;
use crate::knowledge::document::{product_document, render};
use crate::knowledge::state::{BatchInParts, BulkProgress, Progress, Step};
use crate::knowledge::KnowledgeError;
use crate::shopify::content::{
    numeric_id, BulkOperation, BulkStart, ContentQuery, ShopProduct, ShopVariant,
};

/// Products a bulk result batch holds before it is merged with the index and checkpointed.
const BULK_BATCH: usize = 50;

/// The longest JSONL line accepted from a bulk result.
const MAX_LINE: usize = 4 * 1024 * 1024;

impl Stepper<'_> {
    /// A full products run: a bulk operation for a catalog above the threshold (started,
    /// polled with delayed messages, its result streamed), pages otherwise.
    pub(super) async fn products_full(
        &mut self,
        index: usize,
    ) -> Result<Option<Duration>, KnowledgeError> {
        let progress = self.run.progress[index].clone();
        let (shopify, shop, deadline) = (self.ports.shopify(), self.shop, self.deadline);
        let Some(bulk) = progress.bulk.clone() else {
            let fresh = progress.cursor.is_none() && progress.merged_through.is_none();
            if fresh && !progress.paged && self.ports.config.bulk_threshold > 0 {
                let count = self
                    .with_token(ContentQuery::Small, |token| async move {
                        shopify.active_products(deadline, shop, &token).await
                    })
                    .await?;
                if count > self.ports.config.bulk_threshold {
                    let started = self
                        .with_token(ContentQuery::Small, |token| async move {
                            shopify.start_bulk_products(deadline, shop, &token).await
                        })
                        .await?;
                    match started {
                        BulkStart::Started(id) => {
                            tracing::info!(shop = %shop, count, "products read by a bulk operation");
                            self.run.progress[index].bulk = Some(BulkProgress {
                                id,
                                started_at: Utc::now(),
                                offset: 0,
                                polls: 0,
                                batch_in_parts: None,
                            });
                            return Ok(Some(self.ports.config.bulk_poll));
                        }
                        BulkStart::Refused(code) => {
                            tracing::warn!(shop = %shop, ?code, "bulk operation refused; reading pages");
                            self.run.progress[index].paged = true;
                        }
                    }
                }
            }
            return self.list(index).await;
        };
        let id = bulk.id.clone();
        let operation: Option<BulkOperation> = self
            .with_token(ContentQuery::Small, |token| {
                let id = id.clone();
                async move { shopify.bulk_operation(deadline, shop, &token, &id).await }
            })
            .await?;
        let Some(operation) = operation else {
            return Err(KnowledgeError::Malformed("the bulk operation is gone"));
        };
        match operation.status.as_str() {
            "CREATED" | "RUNNING" | "CANCELING" => {
                let polls = bulk.polls + 1;
                self.run.progress[index].bulk = Some(BulkProgress { polls, ..bulk });
                let wait = self
                    .ports
                    .config
                    .bulk_poll
                    .saturating_mul(1 << polls.min(5))
                    .min(Duration::from_secs(60));
                Ok(Some(wait))
            }
            "COMPLETED" => match operation.url {
                None => {
                    // No active product at all: every entry goes, as many as the time
                    // allows, the rest after the next poll.
                    let stopped = self
                        .merge(
                            Source::Products,
                            Vec::new(),
                            (progress.merged_through, None),
                            true,
                        )
                        .await?;
                    if let Some(last) = stopped {
                        self.run.progress[index].merged_through = Some(last);
                        return Ok(Some(Duration::ZERO));
                    }
                    self.run.progress[index].step = Step::Done;
                    Ok(None)
                }
                Some(url) => self.read_bulk(index, &url, bulk).await,
            },
            _ => {
                tracing::warn!(shop = %shop, status = %operation.status, code = ?operation.error_code, "bulk operation did not complete; reading pages");
                read_pages_instead(&mut self.run.progress[index]);
                self.list(index).await
            }
        }
    }

    /// Streams a bulk result from `bulk.offset`, a batch of whole products at a time, merging
    /// each with the index and saving the offset, until the end or the time runs short.
    async fn read_bulk(
        &mut self,
        index: usize,
        url: &str,
        bulk: BulkProgress,
    ) -> Result<Option<Duration>, KnowledgeError> {
        let mut stream = self
            .ports
            .shopify()
            .bulk_result(self.deadline, url, bulk.offset)
            .await?;
        let primary = self.primary_url().to_owned();
        let mut line_start = bulk.offset;
        let mut buffer: Vec<u8> = Vec::new();
        let mut batch: Vec<(ShopProduct, Vec<ShopVariant>)> = Vec::new();
        // The merge relies on products coming in id order (the query sorts by id); a result
        // that does not is read page by page instead.
        let mut last_id = match &bulk.batch_in_parts {
            Some(batch) => batch.after,
            None => self.run.progress[index].merged_through,
        };
        let mut ended = false;
        loop {
            match self.deadline.run(stream.next_chunk()).await? {
                Some(bytes) => buffer.extend_from_slice(&bytes),
                None => {
                    ended = true;
                    if !buffer.is_empty() && !buffer.ends_with(b"\n") {
                        buffer.push(b'\n');
                    }
                }
            }
            while let Some(newline) = buffer.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = buffer.drain(..=newline).collect();
                let this_start = line_start;
                line_start += line.len() as u64;
                let text = std::str::from_utf8(&line[..line.len() - 1])
                    .map_err(|_| KnowledgeError::Malformed("a bulk line is not UTF-8"))?
                    .trim();
                if text.is_empty() {
                    continue;
                }
                let value: serde_json::Value = serde_json::from_str(text)
                    .map_err(|_| KnowledgeError::Malformed("a bulk line is not JSON"))?;
                if value.get("__parentId").is_some() {
                    let variant: ShopVariant = serde_json::from_value(value).map_err(|_| {
                        KnowledgeError::Malformed("a bulk variant line is malformed")
                    })?;
                    if let Some((_, variants)) = batch.last_mut() {
                        variants.push(variant);
                    }
                    continue;
                }
                let product: ShopProduct = serde_json::from_value(value)
                    .map_err(|_| KnowledgeError::Malformed("a bulk product line is malformed"))?;
                let id = numeric_id(&product.fields.id)
                    .and_then(|id| id.parse::<u64>().ok())
                    .ok_or(KnowledgeError::Malformed("a bulk product without an id"))?;
                if last_id.is_some_and(|last| id <= last) {
                    tracing::warn!(shop = %self.shop, "the bulk result is not in id order; reading pages");
                    read_pages_instead(&mut self.run.progress[index]);
                    return Ok(None);
                }
                last_id = Some(id);
                // A product line: the batch before it is complete.
                if batch.len() >= BULK_BATCH {
                    let merged = self
                        .bulk_batch(
                            index,
                            std::mem::take(&mut batch),
                            &primary,
                            Some(this_start),
                        )
                        .await?;
                    if !merged || self.deadline.remaining() < self.ports.config.step_reserve {
                        return Ok(Some(Duration::ZERO));
                    }
                }
                batch.push((product, Vec::new()));
            }
            if buffer.len() > MAX_LINE {
                return Err(KnowledgeError::Malformed("a bulk line is too long"));
            }
            if ended {
                break;
            }
        }
        // The end: the last batch, and every index entry past it goes.
        if !self.bulk_batch(index, batch, &primary, None).await? {
            return Ok(Some(Duration::ZERO));
        }
        let p = &mut self.run.progress[index];
        p.step = Step::Done;
        p.bulk = None;
        Ok(None)
    }

    /// Merges one batch of bulk products with the index and records where the next batch
    /// starts (`next_offset`; `None` at the end of the result). `false` when the time ran
    /// short before the batch's range was merged whole (many entries to remove in it): what
    /// was merged is recorded, and the next message reads the batch again and goes on.
    async fn bulk_batch(
        &mut self,
        index: usize,
        batch: Vec<(ShopProduct, Vec<ShopVariant>)>,
        primary: &str,
        next_offset: Option<u64>,
    ) -> Result<bool, KnowledgeError> {
        let mut rendered = Rendered::default();
        for (product, variants) in &batch {
            let document = render(&product.fields.description_html, || {
                product_document(product, variants, primary, self.shop)
            });
            rendered.add(self.shop, &product.fields.id, document);
        }
        let mut documents = rendered.documents;
        documents.sort_by_key(|d| d.numeric_id.parse::<u64>().unwrap_or(0));
        let max_id = batch
            .iter()
            .filter_map(|(p, _)| numeric_id(&p.fields.id)?.parse::<u64>().ok())
            .max();
        let after = self.run.progress[index].merged_through;
        let through = match next_offset {
            Some(_) => max_id.or(after),
            None => None,
        };
        let stopped = self
            .merge(Source::Products, documents, (after, through), true)
            .await?;
        let p = &mut self.run.progress[index];
        let bulk = p.bulk.as_mut();
        if let Some(last) = stopped {
            // The batch's products are read again (its skipped ones counted then).
            if let Some(bulk) = bulk {
                bulk.batch_in_parts.get_or_insert(BatchInParts { after });
            }
            p.merged_through = Some(last);
            return Ok(false);
        }
        if let Some(bulk) = bulk {
            bulk.batch_in_parts = None;
            if let Some(offset) = next_offset {
                bulk.offset = offset;
            }
        }
        p.skipped += rendered.skipped;
        if let Some(through) = through {
            p.merged_through = Some(through);
        }
        Ok(true)
    }
}

/// Gives up on a bulk result: the source is read again from the start, page by page.
fn read_pages_instead(progress: &mut Progress) {
    progress.bulk = None;
    progress.cursor = None;
    progress.merged_through = None;
    progress.paged = true;
    progress.skipped = 0;
}
