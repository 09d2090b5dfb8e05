//! Reading a source: one step of a run reads one page from Shopify (everything in id order, or
//! what changed since the last sync), renders it, and merges it with the document index (new
//! and changed documents written, entries without an item removed); an incremental run then
//! sweeps the ids alone to find deletions. Policies are read whole.

use std::collections::HashMap;
use std::time::Duration;

use super::changes::{Applied, Change, WRITE_CONCURRENCY};
use super::pacing::pace;
use super::removal::remove_documents;
use super::run::access_denied;
use super::SyncPorts;
use crate::deadline::Deadline;
use crate::domain::{OrganizationId, ShopDomain, Source};
use crate::knowledge::document::{
    article_document, page_document, policy_document, product_document, render, Document,
    RenderError,
};
use crate::knowledge::state::{IndexEntry, Run, RunKind, Step};
use crate::knowledge::KnowledgeError;
use crate::shopify::content::{
    numeric_id, Content, ContentQuery, ListedProduct, Order, ShopArticle, ShopPage,
};
use crate::shopify::types::Page;
use crate::store::StoreRecord;

/// One source's step of a run.
pub(super) struct Stepper<'a> {
    pub(super) ports: &'a SyncPorts,
    pub(super) deadline: &'a Deadline,
    pub(super) record: &'a StoreRecord,
    pub(super) org: &'a OrganizationId,
    pub(super) shop: &'a ShopDomain,
    pub(super) run: &'a mut Run,
}

/// A page of rendered items: documents to keep, the ids of items that must not have one (a
/// product that left `ACTIVE`, an item that could not be rendered), and how many could not.
#[derive(Default)]
pub(super) struct Rendered {
    pub(super) documents: Vec<Document>,
    pub(super) drop: Vec<u64>,
    pub(super) skipped: u64,
}

impl Rendered {
    /// Adds one item's [`render`]ing. An item that cannot be rendered is skipped, not what was
    /// read with it: logged by id (never its content), counted, and left without a document
    /// (an older one goes, as it no longer says what the item does).
    pub(super) fn add(
        &mut self,
        shop: &ShopDomain,
        id: &str,
        rendered: Result<Option<Document>, RenderError>,
    ) {
        let numeric = numeric_id(id).and_then(|n| n.parse::<u64>().ok());
        match rendered {
            Ok(Some(document)) => self.documents.push(document),
            Ok(None) => self.drop.extend(numeric),
            Err(error) => {
                tracing::warn!(shop = %shop, shopify_id = id, %error, "an item could not be rendered; it is skipped");
                self.skipped += 1;
                self.drop.extend(numeric);
            }
        }
    }
}

impl Stepper<'_> {
    /// Does one step of the source at `index`; `Some(delay)` to pause the run.
    pub(super) async fn step(&mut self, index: usize) -> Result<Option<Duration>, KnowledgeError> {
        let progress = self.run.progress[index].clone();
        let result = match (progress.source, progress.step) {
            (_, Step::Purge) => self.purge(index).await,
            (source, _) if self.run.primary_url.is_none() && source != Source::Policies => {
                // The shop's domain needs no scope of the source's: a denial there is not the
                // source's scope withdrawn, and never removes its documents.
                self.read_primary_url().await.map_err(|error| {
                    if access_denied(&error) {
                        KnowledgeError::Malformed("Shopify denied reading the shop's domain")
                    } else {
                        error
                    }
                })
            }
            (Source::Policies, _) => self.policies(index).await,
            (Source::Products, Step::List) if progress.kind == RunKind::Full => {
                self.products_full(index).await
            }
            (_, Step::List) => self.list(index).await,
            (_, Step::Sweep) => self.sweep(index).await,
            (_, Step::Done) => Ok(None),
        };
        match result {
            Err(KnowledgeError::Pause(delay)) => Ok(Some(delay)),
            other => other,
        }
    }

    /// Removes the documents of a source whose scope the store no longer grants, as many as
    /// the time allows; the run announces them.
    async fn purge(&mut self, index: usize) -> Result<Option<Duration>, KnowledgeError> {
        let source = self.run.progress[index].source;
        let mut removed = 0;
        let outcome = remove_documents(
            self.ports,
            self.deadline,
            (self.org, self.shop),
            &[source],
            false,
            None,
            &mut removed,
        )
        .await;
        self.run.removed += removed;
        if outcome?.is_some() {
            return Ok(Some(Duration::ZERO));
        }
        self.run.progress[index].step = Step::Done;
        Ok(None)
    }

    /// The storefront's primary domain, which document URLs start with, and the currency of
    /// its prices; read once per run.
    async fn read_primary_url(&mut self) -> Result<Option<Duration>, KnowledgeError> {
        let (shopify, shop, deadline) = (self.ports.shopify(), self.shop, self.deadline);
        let storefront = self
            .with_token(ContentQuery::Small, |token| async move {
                shopify.storefront(deadline, shop, &token).await
            })
            .await?;
        self.run.primary_url = Some(storefront.url);
        self.run.currency = Some(storefront.currency);
        Ok(None)
    }

    pub(super) fn primary_url(&self) -> &str {
        self.run.primary_url.as_deref().unwrap_or_default()
    }

    /// The currency of the shop's prices.
    pub(super) fn currency(&self) -> &str {
        self.run
            .currency
            .as_deref()
            .unwrap_or(&self.record.currency)
    }

    pub(super) async fn with_token<T, F, Fut>(
        &self,
        kind: ContentQuery,
        call: F,
    ) -> Result<T, KnowledgeError>
    where
        F: Fn(secrecy::SecretString) -> Fut,
        Fut: std::future::Future<Output = Result<T, crate::shopify::ShopifyError>>,
    {
        pace(self.ports, self.record, kind, self.deadline).await?;
        Ok(self
            .ports
            .access
            .with_token(self.record, self.deadline, call)
            .await?)
    }

    /// Policies: few, read whole every run, merged with the index at once.
    async fn policies(&mut self, index: usize) -> Result<Option<Duration>, KnowledgeError> {
        let (shopify, shop, deadline) = (self.ports.shopify(), self.shop, self.deadline);
        let policies = self
            .with_token(ContentQuery::Small, |token| async move {
                shopify.shop_policies(deadline, shop, &token).await
            })
            .await?;
        let mut rendered = Rendered::default();
        for policy in policies.iter().filter(|p| !p.body.trim().is_empty()) {
            let document = render(&policy.body, || policy_document(policy));
            rendered.add(shop, &policy.id, document);
        }
        let mut documents = rendered.documents;
        documents.sort_by_key(|d| d.numeric_id.parse::<u64>().unwrap_or(0));
        self.merge(Source::Policies, documents, (None, None), false)
            .await?;
        self.run.progress[index].skipped += rendered.skipped;
        self.run.progress[index].step = Step::Done;
        Ok(None)
    }

    /// Reads one page of pages, articles or products (everything in id order, or what
    /// changed) and applies it.
    pub(super) async fn list(&mut self, index: usize) -> Result<Option<Duration>, KnowledgeError> {
        let progress = self.run.progress[index].clone();
        let order = match (progress.kind, progress.since) {
            (RunKind::Incremental, Some(since)) => {
                Order::ChangedSince(since.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            }
            _ => Order::ById,
        };
        let (rendered, has_next, cursor) = self
            .read_page(progress.source, &order, progress.cursor.as_deref())
            .await?;
        let skipped = rendered.skipped;
        let max_id = rendered
            .documents
            .iter()
            .filter_map(|d| d.numeric_id.parse::<u64>().ok())
            .chain(rendered.drop.iter().copied())
            .max();
        match order {
            Order::ById => {
                let through = if has_next { max_id } else { None };
                if has_next && through.is_none() {
                    return Err(KnowledgeError::Malformed(
                        "a page with more to come held nothing",
                    ));
                }
                let stopped = self
                    .merge(
                        progress.source,
                        rendered.documents,
                        (progress.merged_through, through),
                        true,
                    )
                    .await?;
                if let Some(last) = stopped {
                    // The same page is read again and merged on from `last` (its skipped
                    // items are counted then).
                    self.run.progress[index].merged_through = Some(last);
                    return Ok(None);
                }
                let p = &mut self.run.progress[index];
                p.merged_through = through.or(p.merged_through);
                p.cursor = cursor;
                if !has_next {
                    p.step = Step::Done;
                }
            }
            Order::ChangedSince(_) => {
                self.apply_changes(progress.source, rendered).await?;
                let p = &mut self.run.progress[index];
                p.cursor = cursor;
                if !has_next {
                    p.step = Step::Sweep;
                    p.cursor = None;
                    p.merged_through = None;
                }
            }
        }
        self.run.progress[index].skipped += skipped;
        Ok(None)
    }

    async fn read_page(
        &self,
        source: Source,
        order: &Order,
        after: Option<&str>,
    ) -> Result<(Rendered, bool, Option<String>), KnowledgeError> {
        let url = self.primary_url().to_owned();
        let shop = self.shop;
        match source {
            Source::Pages => {
                self.read_items(ContentQuery::Pages, order, after, |p: &ShopPage| {
                    (p.id.clone(), render(&p.body, || page_document(p, &url)))
                })
                .await
            }
            Source::Articles => {
                self.read_items(ContentQuery::Articles, order, after, |a: &ShopArticle| {
                    (a.id.clone(), render(&a.body, || article_document(a, &url)))
                })
                .await
            }
            Source::Products => {
                let page = self
                    .read_content::<ListedProduct>(ContentQuery::Products, order, after)
                    .await?;
                let mut variants = self.page_variants(&page.nodes).await?;
                let currency = self.currency().to_owned();
                let mut rendered = Rendered::default();
                for listed in page.nodes {
                    let id = listed.fields.id.clone();
                    let document = match variants.take(listed, &currency) {
                        Some((product, rows)) => render(&product.fields.description_html, || {
                            product_document(&product, &rows, &url, shop)
                        }),
                        None => Ok(None),
                    };
                    rendered.add(shop, &id, document);
                }
                let next = page.page_info.has_next_page;
                Ok((rendered, next, page.page_info.end_cursor))
            }
            Source::Policies => unreachable!("policies are read whole"),
        }
    }

    /// One page of `T` in `order` after `after`.
    async fn read_content<T: Content + Send + Sync>(
        &self,
        kind: ContentQuery,
        order: &Order,
        after: Option<&str>,
    ) -> Result<Page<T>, KnowledgeError> {
        let (shopify, shop, deadline) = (self.ports.shopify(), self.shop, self.deadline);
        self.with_token(kind, |token| async move {
            shopify
                .content_page::<T>(deadline, shop, &token, order, after)
                .await
        })
        .await
    }

    /// One page of `T` in `order` after `after`, each item rendered on its own: the documents,
    /// whether more pages follow, and the cursor of the next.
    async fn read_items<T: Content + Send + Sync>(
        &self,
        kind: ContentQuery,
        order: &Order,
        after: Option<&str>,
        render_one: impl Fn(&T) -> (String, Result<Option<Document>, RenderError>),
    ) -> Result<(Rendered, bool, Option<String>), KnowledgeError> {
        let shop = self.shop;
        let page = self.read_content::<T>(kind, order, after).await?;
        let mut rendered = Rendered::default();
        for item in &page.nodes {
            let (id, document) = render_one(item);
            rendered.add(shop, &id, document);
        }
        let next = page.page_info.has_next_page;
        Ok((rendered, next, page.page_info.end_cursor))
    }

    /// Incremental: writes what changed, removes what must no longer have a document.
    async fn apply_changes(
        &mut self,
        source: Source,
        rendered: Rendered,
    ) -> Result<(), KnowledgeError> {
        let ids: Vec<u64> = rendered
            .documents
            .iter()
            .filter_map(|d| d.numeric_id.parse().ok())
            .chain(rendered.drop.iter().copied())
            .collect();
        let mut existing: HashMap<u64, IndexEntry> = self
            .deadline
            .run(
                self.ports
                    .repo
                    .entries_by_id(self.org, self.shop, source, &ids),
            )
            .await?
            .into_iter()
            .map(|e| (e.id, e))
            .collect();
        let mut changes = Vec::new();
        for document in rendered.documents {
            let id = document.numeric_id.parse::<u64>().unwrap_or_default();
            changes.push(Change::Write(document, existing.remove(&id)));
        }
        for id in rendered.drop {
            changes.extend(existing.remove(&id).map(Change::Remove));
        }
        self.apply(changes).await
    }

    /// Merges `documents` (sorted by id, all of Shopify's items with `after < id <= through`)
    /// with the index entries of the same range: new or changed documents are written,
    /// entries without an item are removed. With `may_stop`, a range holding more entries
    /// than the time left allows (many items deleted at once) is merged in part:
    /// `Some(last)` when everything through `last` is merged, for the caller to go on from
    /// there with the same items (those through `last` are left out then).
    pub(super) async fn merge(
        &mut self,
        source: Source,
        documents: Vec<Document>,
        (after, through): (Option<u64>, Option<u64>),
        may_stop: bool,
    ) -> Result<Option<u64>, KnowledgeError> {
        let mut wanted: HashMap<u64, Document> = documents
            .into_iter()
            .filter_map(|d| Some((d.numeric_id.parse::<u64>().ok()?, d)))
            .filter(|(id, _)| after.is_none_or(|after| *id > after))
            .collect();
        let mut cursor = after;
        loop {
            let entries = self
                .deadline
                .run(
                    self.ports
                        .repo
                        .entries(self.org, self.shop, source, cursor, through, 500),
                )
                .await?;
            let Some(last) = entries.last().map(|e| e.id) else {
                break;
            };
            let full = entries.len() == 500;
            let changes = entries
                .into_iter()
                .map(|entry| match wanted.remove(&entry.id) {
                    Some(document) => Change::Write(document, Some(entry)),
                    None => Change::Remove(entry),
                })
                .collect();
            self.apply(changes).await?;
            cursor = Some(last);
            if !full {
                break;
            }
            if may_stop && self.deadline.remaining() < self.ports.config.step_reserve {
                // The new documents through `last` are written, then the merge stops there.
                let (now, _): (Vec<u64>, Vec<u64>) = wanted.keys().partition(|id| **id <= last);
                let new = now.into_iter().filter_map(|id| wanted.remove(&id));
                self.apply(new.map(|d| Change::Write(d, None)).collect())
                    .await?;
                return Ok(Some(last));
            }
        }
        let mut rest: Vec<Document> = wanted.into_values().collect();
        rest.sort_by_key(|d| d.numeric_id.parse::<u64>().unwrap_or(0));
        self.apply(rest.into_iter().map(|d| Change::Write(d, None)).collect())
            .await?;
        Ok(None)
    }

    /// Carries out `changes`, [`WRITE_CONCURRENCY`] at a time, and counts each one done into
    /// the run. One that fails does not stop those under way; the first failure is returned
    /// once they all ended.
    async fn apply(&mut self, changes: Vec<Change>) -> Result<(), KnowledgeError> {
        use futures::StreamExt;
        let (ports, deadline, org, shop) = (self.ports, self.deadline, self.org, self.shop);
        let mut done = futures::stream::iter(changes)
            .map(|change| change.apply(ports, deadline, org, shop))
            .buffer_unordered(WRITE_CONCURRENCY);
        let mut failure = None;
        while let Some(applied) = done.next().await {
            match applied {
                Ok(Applied::Added) => self.run.added += 1,
                Ok(Applied::Updated) => self.run.updated += 1,
                Ok(Applied::Removed) => self.run.removed += 1,
                Ok(Applied::Unchanged) => {}
                Err(error) => {
                    failure.get_or_insert(error);
                }
            }
        }
        failure.map_or(Ok(()), Err)
    }

    /// Incremental: finds deletions by merging the ids Shopify lists with the index. Skipped
    /// for pages and products when Shopify's count equals the index's and no item of the
    /// source may be without a document (such an item would balance a deleted item's
    /// document in the counts).
    async fn sweep(&mut self, index: usize) -> Result<Option<Duration>, KnowledgeError> {
        let progress = self.run.progress[index].clone();
        let source = progress.source;
        let (shopify, shop, deadline) = (self.ports.shopify(), self.shop, self.deadline);
        if progress.cursor.is_none()
            && progress.merged_through.is_none()
            && source != Source::Articles
            && progress.skipped == 0
            && !progress.unindexed_before
        {
            let theirs = self
                .with_token(ContentQuery::Small, |token| async move {
                    shopify.exact_count(deadline, shop, &token, source).await
                })
                .await?;
            let ours = deadline
                .run(self.ports.repo.count_entries(self.org, self.shop, source))
                .await?;
            if theirs == Some(ours) {
                self.run.progress[index].step = Step::Done;
                return Ok(None);
            }
        }
        let after = progress.cursor.as_deref();
        let page = self
            .with_token(ContentQuery::Ids, |token| async move {
                shopify
                    .ids_page(deadline, shop, &token, source, after)
                    .await
            })
            .await?;
        let ids: Vec<u64> = page
            .nodes
            .iter()
            .filter_map(|n| numeric_id(&n.id)?.parse().ok())
            .collect();
        let has_next = page.page_info.has_next_page;
        let through = if has_next {
            ids.iter().max().copied()
        } else {
            None
        };
        if has_next && through.is_none() {
            return Err(KnowledgeError::Malformed(
                "an id page with more to come held nothing",
            ));
        }
        let present: std::collections::HashSet<u64> = ids.into_iter().collect();
        let mut indexed = 0;
        let mut cursor = progress.merged_through;
        loop {
            let entries = deadline
                .run(
                    self.ports
                        .repo
                        .entries(self.org, self.shop, source, cursor, through, 500),
                )
                .await?;
            let Some(last) = entries.last().map(|e| e.id) else {
                break;
            };
            let full = entries.len() == 500;
            let (kept, gone): (Vec<_>, Vec<_>) =
                entries.into_iter().partition(|e| present.contains(&e.id));
            indexed += kept.len() as u64;
            let gone = gone.into_iter().map(Change::Remove).collect();
            self.apply(gone).await?;
            cursor = Some(last);
            if !full {
                break;
            }
            if self.deadline.remaining() < self.ports.config.step_reserve {
                // More entries than the time left allows (many items deleted at once): the
                // same ids page is read again and merged on from `last`.
                let p = &mut self.run.progress[index];
                p.swept_indexed += indexed;
                p.merged_through = Some(last);
                return Ok(None);
            }
        }
        let p = &mut self.run.progress[index];
        p.swept_ids += present.len() as u64;
        p.swept_indexed += indexed;
        p.merged_through = through.or(p.merged_through);
        p.cursor = page.page_info.end_cursor;
        if !has_next {
            p.step = Step::Done;
        }
        Ok(None)
    }
}
