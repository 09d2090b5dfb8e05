//! The content knowledge sync reads: pages, articles, products (a page at a time, by id or by
//! `updated_at`), their ids, counts, policies (behind `read_legal_policies`), and bulk
//! operations whose JSONL result is served with `Range` support.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use tokio::time::Instant;

use super::model::{BulkStyle, FakeProduct, FakeShop};
use super::search::filter_value;
use super::Shared;

/// A bulk operation the fake runs.
#[derive(Clone, Debug)]
pub struct BulkOp {
    pub shop: String,
    pub started: Instant,
    pub duration: std::time::Duration,
}

fn has_scope(shop: &FakeShop, any_of: &[&str]) -> bool {
    any_of.iter().any(|scope| {
        let write = scope.replacen("read_", "write_", 1);
        shop.scopes.iter().any(|g| g == scope || *g == write)
    })
}

/// Shopify's answer to a field the app's scopes do not reach.
pub fn access_denied(path: &[&str], scope: &str) -> Value {
    json!({"errors": [{
        "message": format!("Access denied for {} field. Required access: `{scope}` access scope.", path.last().unwrap_or(&"")),
        "path": path,
        "extensions": {"code": "ACCESS_DENIED", "requiredAccess": format!("`{scope}` access scope.")},
    }], "data": null})
}

/// `updated_at:>'X'` of a search.
fn changed_since(query: &str) -> Option<String> {
    let start = query.find("updated_at:>'")? + "updated_at:>'".len();
    let end = query[start..].find('\'')? + start;
    Some(query[start..end].to_owned())
}

/// Items after the cursor (an offset), `first` of them, with Shopify's page info.
fn paged<T>(items: Vec<T>, variables: &Value, node: impl Fn(&T) -> Value) -> Value {
    let first = variables["first"].as_u64().unwrap_or(10) as usize;
    let start: usize = variables["after"]
        .as_str()
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let page: Vec<Value> = items.iter().skip(start).take(first).map(node).collect();
    let end = start + page.len();
    json!({"pageInfo": {"hasNextPage": end < items.len(), "endCursor": end.to_string()}, "nodes": page})
}

/// Orders a listing as the request's `sortKey` says (`ID`, or `UPDATED_AT` then id), after
/// applying its `updated_at:>` filter.
fn ordered<T>(
    mut items: Vec<T>,
    variables: &Value,
    id: impl Fn(&T) -> u64,
    updated: impl Fn(&T) -> String,
) -> Vec<T> {
    let query = variables["query"].as_str().unwrap_or_default();
    if let Some(since) = changed_since(query) {
        items.retain(|i| updated(i) > since);
    }
    if variables["sortKey"].as_str() == Some("UPDATED_AT") {
        items.sort_by(|a, b| updated(a).cmp(&updated(b)).then(id(a).cmp(&id(b))));
    } else {
        items.sort_by_key(|i| id(i));
    }
    items
}

fn product_matches(product: &FakeProduct, query: &str) -> bool {
    filter_value(query, "status").is_none_or(|s| product.status.eq_ignore_ascii_case(&s))
        && filter_value(query, "published_status")
            .is_none_or(|value| product.published_status_matches(&value))
}

/// An amount as Shopify writes a `Decimal` (a `MoneyV2` amount): no trailing zeros, at least
/// one decimal (`19.0`, `29.99`, `30.9`), where a variant's `Money` price has two (`19.00`).
fn decimal(amount: f64) -> String {
    let fixed = format!("{amount:.2}");
    let trimmed = fixed.trim_end_matches('0');
    if trimmed.ends_with('.') {
        format!("{trimmed}0")
    } else {
        trimmed.to_owned()
    }
}

fn product_node(shop: &FakeShop, p: &FakeProduct) -> Value {
    let prices: Vec<f64> = p
        .variants
        .iter()
        .map(|v| v.2.parse().unwrap_or(0.0))
        .collect();
    let min = prices.iter().cloned().fold(f64::MAX, f64::min);
    let max = prices.iter().cloned().fold(0.0, f64::max);
    json!({
        "id": format!("gid://shopify/Product/{}", p.id),
        "title": p.title, "handle": p.handle, "status": p.status,
        "onlineStoreUrl": p.online_store_url(shop),
        "descriptionHtml": p.description, "vendor": p.vendor, "productType": p.product_type,
        "tags": p.tags, "updatedAt": p.updated_at,
        "priceRangeV2": {
            "minVariantPrice": {"amount": decimal(min), "currencyCode": shop.currency},
            "maxVariantPrice": {"amount": decimal(max), "currencyCode": shop.currency},
        },
        "variantsCount": {"count": p.variants.len()},
        "totalVariants": p.variants.len(),
        "variants": {"nodes": p.variants.iter().take(20).map(|(t, sku, price, available)| json!({"title": t, "sku": sku, "price": price, "availableForSale": available})).collect::<Vec<_>>()},
    })
}

/// A product's variants as `productVariants` answers them, in id order: their ids run against
/// their positions (as a merchant's reordering leaves them), each names its product by display
/// name and by id.
fn variant_nodes(shop: &FakeShop, p: &FakeProduct) -> Vec<(u64, Value)> {
    let count = p.variants.len() as u64;
    p.variants
        .iter()
        .enumerate()
        .map(|(i, (title, sku, price, available))| {
            let id = p.id * 1000 + (count - i as u64);
            let display_name = if shop.bare_display_names {
                p.title.clone()
            } else {
                format!("{} - {title}", p.title)
            };
            (id, json!({"id": format!("gid://shopify/ProductVariant/{id}"), "title": title, "sku": sku,
                "price": price, "availableForSale": available, "position": i + 1,
                "displayName": display_name,
                "product": {"id": format!("gid://shopify/Product/{}", p.id)}}))
        })
        .collect()
}

/// The product ids of a `productVariants` search (`product_ids:1,2`).
fn searched_products(query: &str) -> Vec<u64> {
    filter_value(query, "product_ids")
        .map(|ids| {
            ids.split(',')
                .filter_map(|id| id.trim().parse().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// Whether `operation` reads the variants of any of `products`: a search of their variants,
/// or the products by id with their variants.
pub fn reads_variants_of(operation: &str, variables: &Value, products: &[u64]) -> bool {
    let asked: Vec<u64> = match operation {
        "VariantsByProduct" | "VariantsWithProduct" => {
            searched_products(variables["query"].as_str().unwrap_or_default())
        }
        "ManyVariantProducts" => variables["ids"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|id| {
                id.as_str()?
                    .strip_prefix("gid://shopify/Product/")?
                    .parse()
                    .ok()
            })
            .collect(),
        _ => return false,
    };
    asked.iter().any(|id| products.contains(id))
}

/// `productVariants(first:, query: "product_ids:1,2 AND id:>N", sortKey: ID)`.
fn product_variants(shop: &FakeShop, variables: &Value) -> Value {
    let query = variables["query"].as_str().unwrap_or_default();
    let wanted = searched_products(query);
    let after: u64 = query
        .split_whitespace()
        .find_map(|term| term.strip_prefix("id:>"))
        .and_then(|id| id.parse().ok())
        .unwrap_or(0);
    let mut variants: Vec<(u64, Value)> = shop
        .products
        .iter()
        .filter(|p| wanted.contains(&p.id))
        .flat_map(|p| {
            let indexed = p.variants.len().saturating_sub(p.unindexed_variants);
            variant_nodes(shop, p).into_iter().take(indexed)
        })
        .filter(|(id, _)| *id > after)
        .collect();
    variants.sort_by_key(|(id, _)| *id);
    let first = variables["first"].as_u64().unwrap_or(50) as usize;
    let more = variants.len() > first;
    let nodes: Vec<Value> = variants.into_iter().take(first).map(|(_, v)| v).collect();
    json!({"productVariants": {"pageInfo": {"hasNextPage": more}, "nodes": nodes}})
}

/// `nodes(ids:)` of products, each with its count, price range and first 20 variants.
fn many_variant_products(shop: &FakeShop, variables: &Value) -> Value {
    let ids = variables["ids"].as_array().cloned().unwrap_or_default();
    let nodes: Vec<Value> = ids
        .iter()
        .map(|id| {
            let id = id.as_str().unwrap_or_default();
            shop.products
                .iter()
                .find(|p| format!("gid://shopify/Product/{}", p.id) == id)
                .map_or(Value::Null, |p| {
                    let mut node = product_node(shop, p);
                    node["variants"] = json!({"nodes": variant_nodes(shop, p).into_iter().take(20).map(|(_, v)| v).collect::<Vec<_>>()});
                    node
                })
        })
        .collect();
    json!({"nodes": nodes})
}

/// Answers a content operation of `document`, cut to what it selects; `None` when `operation`
/// is not one of them. `Err` is a whole GraphQL answer (an access error).
pub fn answer(
    shop: &FakeShop,
    document: &str,
    operation: &str,
    variables: &Value,
) -> Option<Result<Value, Value>> {
    let answered = answer_all(shop, operation, variables)?;
    Some(answered.map(|data| super::select::as_selected(document, operation, data)))
}

fn answer_all(shop: &FakeShop, operation: &str, variables: &Value) -> Option<Result<Value, Value>> {
    let content_scopes = ["read_online_store_pages", "read_content"];
    let query = variables["query"].as_str().unwrap_or_default();
    Some(match operation {
        "KnowledgeShop" => Ok(
            json!({"shop": {"currencyCode": shop.currency, "primaryDomain": {"url": format!("https://{}", shop.primary_domain)}}}),
        ),
        "VariantsByProduct" | "VariantsWithProduct" => Ok(product_variants(shop, variables)),
        "ManyVariantProducts" => Ok(many_variant_products(shop, variables)),
        "PagesPage" | "PageIds" => {
            if !has_scope(shop, &content_scopes) {
                return Some(Err(access_denied(&["pages"], "read_online_store_pages")));
            }
            let pages = ordered(
                shop.pages.clone(),
                variables,
                |p| p.id,
                |p| p.updated_at.clone(),
            );
            let ids_only = operation == "PageIds";
            Ok(json!({"pages": paged(pages, variables, |p| if ids_only {
                json!({"id": format!("gid://shopify/Page/{}", p.id)})
            } else {
                json!({"id": format!("gid://shopify/Page/{}", p.id), "title": p.title, "handle": p.handle, "body": p.body, "isPublished": p.published, "updatedAt": p.updated_at})
            })}))
        }
        "ArticlesPage" | "ArticleIds" => {
            if !has_scope(shop, &content_scopes) {
                return Some(Err(access_denied(&["articles"], "read_online_store_pages")));
            }
            let articles = ordered(
                shop.articles.clone(),
                variables,
                |a| a.id,
                |a| a.updated_at.clone(),
            );
            let ids_only = operation == "ArticleIds";
            Ok(
                json!({"articles": paged(articles, variables, |a| if ids_only {
                    json!({"id": format!("gid://shopify/Article/{}", a.id)})
                } else {
                    json!({"id": format!("gid://shopify/Article/{}", a.id), "title": a.title, "handle": a.handle, "body": a.body,
                        "tags": a.tags, "isPublished": a.published, "publishedAt": a.published_at, "updatedAt": a.updated_at,
                        "author": {"name": a.author}, "blog": {"handle": a.blog_handle}})
                })}),
            )
        }
        "ProductsPage" | "ProductIds" => {
            let products: Vec<FakeProduct> = shop
                .products
                .iter()
                .filter(|p| product_matches(p, query))
                .cloned()
                .collect();
            let products = ordered(products, variables, |p| p.id, |p| p.updated_at.clone());
            let ids_only = operation == "ProductIds";
            Ok(
                json!({"products": paged(products, variables, |p| if ids_only {
                    json!({"id": format!("gid://shopify/Product/{}", p.id)})
                } else {
                    product_node(shop, p)
                })}),
            )
        }
        "PagesCount" => {
            if !has_scope(shop, &content_scopes) {
                return Some(Err(access_denied(
                    &["pagesCount"],
                    "read_online_store_pages",
                )));
            }
            Ok(json!({"pagesCount": {"count": shop.pages.len(), "precision": "EXACT"}}))
        }
        "ActiveProductsCount" => {
            let active = shop
                .products
                .iter()
                .filter(|p| product_matches(p, query))
                .count();
            Ok(json!({"productsCount": {"count": active, "precision": "EXACT"}}))
        }
        "ShopPolicies" => {
            if !has_scope(shop, &["read_legal_policies"]) {
                return Some(Err(access_denied(
                    &["shop", "shopPolicies"],
                    "read_legal_policies",
                )));
            }
            Ok(
                json!({"shop": {"shopPolicies": shop.policies.iter().map(|p| json!({
                "id": format!("gid://shopify/ShopPolicy/{}", p.id), "type": p.kind, "title": p.title, "body": p.body,
                "url": format!("https://{}/policies/{}", shop.primary_domain, p.kind.to_ascii_lowercase().replace('_', "-")),
                "updatedAt": p.updated_at,
            })).collect::<Vec<_>>()}}),
            )
        }
        _ => return None,
    })
}

/// `bulkOperationRunQuery`: starts a bulk read of the shop's active products.
pub fn start_bulk(inner: &mut super::Inner, shop: &FakeShop) -> Value {
    inner.bulk_started += 1;
    let id = format!("gid://shopify/BulkOperation/{}", inner.bulk_started);
    inner.bulk.insert(
        id.clone(),
        BulkOp {
            shop: shop.domain.clone(),
            started: Instant::now(),
            duration: shop.bulk_duration,
        },
    );
    json!({"bulkOperationRunQuery": {"bulkOperation": {"id": id, "status": "CREATED"}, "userErrors": []}})
}

/// `bulkOperation(id:)`: running until its duration passed, then completed with a result URL
/// (none when no product is active then).
pub fn bulk_status(inner: &super::Inner, variables: &Value) -> Value {
    let id = variables["id"].as_str().unwrap_or_default();
    let Some(op) = inner.bulk.get(id) else {
        return json!({"bulkOperation": null});
    };
    let number = id.rsplit('/').next().unwrap_or_default();
    if op.started.elapsed() < op.duration {
        return json!({"bulkOperation": {"id": id, "status": "RUNNING", "errorCode": null, "objectCount": "0", "url": null, "partialDataUrl": null}});
    }
    // A result without a single object has no file: Shopify answers a null `url`.
    let active = inner.shops.get(&op.shop).map_or(0, |shop| {
        shop.products
            .iter()
            .filter(|p| p.status == "ACTIVE")
            .count()
    });
    let url = (active > 0).then(|| format!("{}/bulk-results/{number}.jsonl", inner.base_url));
    json!({"bulkOperation": {"id": id, "status": "COMPLETED", "errorCode": null,
        "objectCount": active.to_string(), "url": url, "partialDataUrl": null}})
}

/// The JSONL result of a bulk operation: each active product (id order; `onlineStoreUrl` null
/// for one not published on the Online Store), then its variants with `__parentId`. Served
/// with `Range: bytes=N-` support, without any Shopify token.
pub async fn bulk_result(
    State(inner): State<Shared>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Response {
    let number = file.trim_end_matches(".jsonl");
    let id = format!("gid://shopify/BulkOperation/{number}");
    let body = {
        let guard = inner.lock().unwrap();
        guard
            .bulk_downloads
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let Some(op) = guard.bulk.get(&id) else {
            return StatusCode::NOT_FOUND.into_response();
        };
        let Some(shop) = guard.shops.get(&op.shop) else {
            return StatusCode::NOT_FOUND.into_response();
        };
        let mut products: Vec<&FakeProduct> = shop
            .products
            .iter()
            .filter(|p| p.status == "ACTIVE")
            .collect();
        products.sort_by_key(|p| p.id);
        if shop.bulk_style == BulkStyle::Reversed {
            products.reverse();
        }
        let mut body = String::new();
        for p in products {
            let mut node = product_node(shop, p);
            node.as_object_mut().unwrap().remove("variants");
            body.push_str(&node.to_string());
            body.push('\n');
            for (i, (title, sku, price, available)) in p.variants.iter().enumerate() {
                body.push_str(&json!({"title": title, "sku": sku, "price": price, "availableForSale": available,
                    "__parentId": format!("gid://shopify/Product/{}", p.id), "id": format!("gid://shopify/ProductVariant/{}{i}", p.id)}).to_string());
                body.push('\n');
            }
        }
        if shop.bulk_style == BulkStyle::NoFinalNewline {
            body.pop();
        }
        body.into_bytes()
    };
    let start: usize = headers
        .get("range")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bytes="))
        .and_then(|v| v.trim_end_matches('-').parse().ok())
        .unwrap_or(0);
    if start == 0 {
        return (
            StatusCode::OK,
            [("content-type", "application/jsonl")],
            body,
        )
            .into_response();
    }
    let slice = body.get(start..).unwrap_or_default().to_vec();
    (
        StatusCode::PARTIAL_CONTENT,
        [
            ("content-type", "application/jsonl".to_owned()),
            (
                "content-range",
                format!("bytes {start}-{}/{}", body.len().max(1) - 1, body.len()),
            ),
        ],
        slice,
    )
        .into_response()
}
