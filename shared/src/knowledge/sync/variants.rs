//! A page of products' variants, read after the page for all its active products at once: a
//! variant read this way costs one point, where each product's own `variants` connection costs
//! two more per product and its price range three.
//!
//! The page tells how many variants each product has. Those with at most a document's worth
//! ([`MAX_VARIANTS`]) have their variants read whole, a request holding as many products as
//! its variants fit; their price range is their variants' lowest and highest price, and their
//! document lists them by position. Each variant names its product by display name
//! ("{product title} - {variant title}"), which tells products apart only by title: products
//! sharing a title within the page, and every product of a request whose display names did not
//! name each product's variants exactly, are read again naming the product by id. A product
//! with more variants, prices that give no range, or variants that the search did not find
//! all of (Shopify's search index trails its writes) is read again by id with its count, its
//! price range and its first variants, as the document shows them: from the product itself.

use std::collections::{HashMap, HashSet};

use super::sources::Stepper;
use crate::knowledge::KnowledgeError;
use crate::shopify::content::{
    numeric_id, price_range, ContentQuery, ListedProduct, ManyVariants, ShopProduct, ShopVariant,
    VariantLink, LINKED_VARIANTS_PER_REQUEST, MANY_VARIANT_PRODUCTS_PER_REQUEST, MAX_VARIANTS,
    VARIANTS_PER_REQUEST,
};

/// Each product's variants with their positions.
type Rows = HashMap<String, Vec<(u32, ShopVariant)>>;

/// What a page of products needs beside itself.
pub(super) struct PageVariants {
    /// Products whose variants were read whole.
    rows: Rows,
    /// Products read again by id.
    many: HashMap<String, ManyVariants>,
}

impl PageVariants {
    /// `listed` with its price range, and the variants its document lists in the order the
    /// product lists them; `None` for a product that is not active, or that Shopify no longer
    /// has.
    pub(super) fn take(
        &mut self,
        listed: ListedProduct,
        currency: &str,
    ) -> Option<(ShopProduct, Vec<ShopVariant>)> {
        if !listed.fields.is_active() {
            return None;
        }
        if let Some(many) = self.many.remove(&listed.fields.id) {
            let count = many.variants_count.map(|c| c.count);
            let product = listed.into_product(many.price_range_v2, count);
            return Some((product, many.variants.nodes));
        }
        let mut rows = self.rows.remove(&listed.fields.id)?;
        rows.sort_by_key(|(position, _)| *position);
        let variants: Vec<ShopVariant> = rows.into_iter().map(|(_, v)| v).collect();
        let range = price_range(&variants, currency)?;
        Some((listed.into_product(range, None), variants))
    }
}

/// `products` in requests of at most `per_request` variants (a product never split).
fn requests<'a>(products: &[&'a ListedProduct], per_request: u64) -> Vec<Vec<&'a ListedProduct>> {
    let mut out: Vec<Vec<&ListedProduct>> = Vec::new();
    let mut size = 0;
    for product in products {
        let count = product.total_variants.max(1);
        match out.last_mut() {
            Some(last) if size + count <= per_request => {
                last.push(product);
                size += count;
            }
            _ => {
                out.push(vec![product]);
                size = count;
            }
        }
    }
    out
}

impl Stepper<'_> {
    /// The variants of the active ones among `products` (a page), and whatever else their
    /// documents need.
    pub(super) async fn page_variants(
        &self,
        products: &[ListedProduct],
    ) -> Result<PageVariants, KnowledgeError> {
        let active: Vec<&ListedProduct> =
            products.iter().filter(|p| p.fields.is_active()).collect();
        let few: Vec<&ListedProduct> = active
            .iter()
            .copied()
            .filter(|p| p.total_variants <= MAX_VARIANTS as u64)
            .collect();
        let mut titles: HashMap<&str, usize> = HashMap::new();
        for product in &few {
            *titles.entry(product.fields.title.as_str()).or_default() += 1;
        }
        let (by_name, mut by_id): (Vec<&ListedProduct>, Vec<&ListedProduct>) = few
            .iter()
            .copied()
            .partition(|p| titles[p.fields.title.as_str()] == 1);
        let mut rows = Rows::new();
        for request in requests(&by_name, u64::from(VARIANTS_PER_REQUEST)) {
            match self
                .read_variants(&request, VariantLink::DisplayName)
                .await?
            {
                Some(read) if exactly(&request, &read) => rows.extend(read),
                _ => {
                    tracing::info!(shop = %self.shop, products = request.len(), "variants' display names did not name their products; reading them by product id");
                    by_id.extend(request);
                }
            }
        }
        for request in requests(&by_id, u64::from(LINKED_VARIANTS_PER_REQUEST)) {
            let read = self
                .read_variants(&request, VariantLink::ProductId)
                .await?
                .ok_or(KnowledgeError::Malformed(
                    "a variant named a product it was not asked for",
                ))?;
            rows.extend(read);
        }
        let currency = self.currency();
        let again: Vec<String> = active
            .iter()
            .filter(|p| {
                rows.get(&p.fields.id).is_none_or(|read| {
                    let variants: Vec<ShopVariant> = read.iter().map(|(_, v)| v.clone()).collect();
                    variants.len() as u64 != p.total_variants
                        || variants.len() > MAX_VARIANTS
                        || price_range(&variants, currency).is_none()
                })
            })
            .map(|p| p.fields.id.clone())
            .collect();
        for id in &again {
            rows.remove(id);
        }
        let (shopify, shop, deadline) = (self.ports.shopify(), self.shop, self.deadline);
        let mut many = HashMap::new();
        for ids in again.chunks(MANY_VARIANT_PRODUCTS_PER_REQUEST) {
            let found = self
                .with_token(ContentQuery::ManyVariants, |token| async move {
                    shopify
                        .many_variant_products(deadline, shop, &token, ids)
                        .await
                })
                .await?;
            many.extend(found.into_iter().map(|m| (m.id.clone(), m)));
        }
        Ok(PageVariants { rows, many })
    }

    /// Every variant of `products`, in variant id order, each naming its product as `link`
    /// says; `None` when a variant named no product of the request (nothing of it can then
    /// be trusted).
    async fn read_variants(
        &self,
        products: &[&ListedProduct],
        link: VariantLink,
    ) -> Result<Option<Rows>, KnowledgeError> {
        let by_title: HashMap<&str, &str> = products
            .iter()
            .map(|p| (p.fields.title.as_str(), p.fields.id.as_str()))
            .collect();
        let asked: HashSet<&str> = products.iter().map(|p| p.fields.id.as_str()).collect();
        let ids: Vec<u64> = products
            .iter()
            .filter_map(|p| numeric_id(&p.fields.id)?.parse().ok())
            .collect();
        let expected: u64 = products.iter().map(|p| p.total_variants.max(1)).sum();
        let first = u32::try_from(expected).unwrap_or(u32::MAX);
        let (shopify, shop, deadline) = (self.ports.shopify(), self.shop, self.deadline);
        let mut rows = Rows::new();
        let mut after: Option<u64> = None;
        loop {
            let page = self
                .with_token(ContentQuery::Variants, |token| {
                    let ids = &ids;
                    async move {
                        shopify
                            .product_variants(deadline, shop, &token, ids, (first, after), link)
                            .await
                    }
                })
                .await?;
            let last = page
                .variants
                .last()
                .and_then(|v| numeric_id(&v.id)?.parse::<u64>().ok());
            for variant in page.variants {
                let owner = match link {
                    VariantLink::DisplayName => variant
                        .display_name
                        .as_deref()
                        .and_then(|name| name.strip_suffix(variant.variant.title.as_str()))
                        .and_then(|rest| rest.strip_suffix(" - "))
                        .and_then(|title| by_title.get(title).copied()),
                    VariantLink::ProductId => variant
                        .product
                        .as_ref()
                        .map(|p| p.id.as_str())
                        .filter(|id| asked.contains(id)),
                };
                let Some(owner) = owner else {
                    return Ok(None);
                };
                rows.entry(owner.to_owned())
                    .or_default()
                    .push((variant.position, variant.variant));
            }
            if !page.has_next {
                return Ok(Some(rows));
            }
            after = Some(last.ok_or(KnowledgeError::Malformed(
                "a page of variants with more to come held none",
            ))?);
        }
    }
}

/// Whether each of `products` got exactly as many variants as it has.
fn exactly(products: &[&ListedProduct], read: &Rows) -> bool {
    products.iter().all(|p| {
        let got = read.get(&p.fields.id).map_or(0, Vec::len);
        got as u64 == p.total_variants
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn listed(id: u64, variants: u64) -> ListedProduct {
        serde_json::from_value(serde_json::json!({
            "id": format!("gid://shopify/Product/{id}"), "title": format!("P{id}"), "handle": "p",
            "status": "ACTIVE", "onlineStoreUrl": null, "descriptionHtml": "", "vendor": "",
            "productType": "", "tags": [], "updatedAt": "2026-10-01T10:00:00Z",
            "totalVariants": variants,
        }))
        .unwrap()
    }

    #[test]
    fn a_request_holds_whole_products_up_to_its_size() {
        let products: Vec<ListedProduct> = [(1, 100), (2, 40), (3, 8), (4, 1), (5, 148)]
            .into_iter()
            .map(|(id, n)| listed(id, n))
            .collect();
        let refs: Vec<&ListedProduct> = products.iter().collect();
        let ids = |requests: Vec<Vec<&ListedProduct>>| {
            requests
                .into_iter()
                .map(|r| {
                    r.iter()
                        .map(|p| p.fields.id.clone())
                        .collect::<Vec<_>>()
                        .len()
                })
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(requests(&refs, 148)), [3, 1, 1]);
        assert_eq!(
            ids(requests(&refs, 10)),
            [1, 1, 2, 1],
            "a product larger than a request has one of its own"
        );
    }
}
