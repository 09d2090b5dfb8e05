//! The documents the AI learns from: Markdown with a `# title` and the item's public URL, and a
//! `.metadata.json` sidecar, in the layout an Amazon Bedrock Knowledge Base S3 data source
//! ingests as is. The same content always gives the same bytes.

use serde::Serialize;

use crate::domain::{OrganizationId, ShopDomain, Source};
use crate::shopify::content::{
    numeric_id, ShopArticle, ShopPage, ShopPolicy, ShopProduct, ShopVariant, MAX_VARIANTS,
};

/// Whether the AI may quote a document to shoppers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    Public,
    Internal,
}

/// One rendered document, ready to store.
#[derive(Clone, Debug, PartialEq)]
pub struct Document {
    pub source: Source,
    /// The numeric tail of the Shopify id: the document's name.
    pub numeric_id: String,
    pub shopify_id: String,
    pub title: String,
    pub url: String,
    pub visibility: Visibility,
    pub updated_at: String,
    pub markdown: String,
}

#[derive(Serialize)]
struct Sidecar<'a> {
    #[serde(rename = "metadataAttributes")]
    attributes: Attributes<'a>,
}

#[derive(Serialize)]
struct Attributes<'a> {
    org_id: &'a str,
    shop_domain: &'a str,
    source: &'a str,
    shopify_id: &'a str,
    title: &'a str,
    url: &'a str,
    visibility: Visibility,
    updated_at: &'a str,
}

/// `{org_id}/{shop_domain}/`: everything of one store.
pub fn store_prefix(org: &OrganizationId, shop: &ShopDomain) -> String {
    format!("{org}/{shop}/")
}

/// `s3://{bucket}/{org}/{shop}/`.
pub fn store_uri(bucket: &str, org: &OrganizationId, shop: &ShopDomain) -> String {
    format!("s3://{bucket}/{}", store_prefix(org, shop))
}

/// `{org_id}/{shop_domain}/{source}/`: one source of one store.
pub fn source_prefix(org: &OrganizationId, shop: &ShopDomain, source: Source) -> String {
    format!("{org}/{shop}/{source}/")
}

/// `{org_id}/{shop_domain}/{source}/{numeric id}.md`.
pub fn document_key(
    org: &OrganizationId,
    shop: &ShopDomain,
    source: Source,
    numeric_id: &str,
) -> String {
    format!("{}{numeric_id}.md", source_prefix(org, shop, source))
}

/// The sidecar's key: the document's key with `.metadata.json` appended.
pub fn sidecar_key(document_key: &str) -> String {
    format!("{document_key}.metadata.json")
}

impl Document {
    pub fn key(&self, org: &OrganizationId, shop: &ShopDomain) -> String {
        document_key(org, shop, self.source, &self.numeric_id)
    }

    /// The Markdown body's bytes.
    pub fn markdown_bytes(&self) -> Vec<u8> {
        self.markdown.as_bytes().to_vec()
    }

    /// The `.metadata.json` sidecar's bytes (fields in a fixed order).
    pub fn sidecar_bytes(&self, org: &OrganizationId, shop: &ShopDomain) -> Vec<u8> {
        let sidecar = Sidecar {
            attributes: Attributes {
                org_id: org.as_str(),
                shop_domain: shop.as_str(),
                source: self.source.as_str(),
                shopify_id: &self.shopify_id,
                title: &self.title,
                url: &self.url,
                visibility: self.visibility,
                updated_at: &self.updated_at,
            },
        };
        serde_json::to_vec(&sidecar).expect("a sidecar always serializes")
    }

    /// What decides whether a stored document must be written again: the Markdown and every
    /// sidecar field but `updated_at` (Shopify moves it for changes that do not show, such as
    /// inventory), as a SHA-256 hex digest.
    pub fn fingerprint(&self) -> String {
        let mut input = Vec::with_capacity(self.markdown.len() + 256);
        for part in [
            self.markdown.as_str(),
            &self.shopify_id,
            &self.title,
            &self.url,
            match self.visibility {
                Visibility::Public => "public",
                Visibility::Internal => "internal",
            },
        ] {
            input.extend_from_slice(part.as_bytes());
            input.push(0);
        }
        let digest = ring::digest::digest(&ring::digest::SHA256, &input);
        digest.as_ref().iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// The most HTML one item may hold: a longer body is not converted, and the item is skipped.
/// It bounds the time and memory one item takes: the conversion's work grows with the size
/// times the nesting ([`super::html::MAX_DEPTH`] bounds that), and with the square of the
/// inline elements written back to back (`<b>x</b><b>x</b>…`: under half a second in release
/// at this size), so a page of items renders within an invocation.
pub const MAX_HTML_BYTES: usize = 512 * 1024;

/// The longest document kept: HTML under [`MAX_HTML_BYTES`] can still give far more Markdown
/// (deeply nested lists indent every line), more than is of use to the knowledge base.
pub const MAX_MARKDOWN_BYTES: usize = 4 * 1024 * 1024;

/// Why one item has no document although it is knowledge: it is skipped and reported, and
/// everything read with it is not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RenderError {
    #[error("its HTML is {0} bytes, more than the {MAX_HTML_BYTES} converted")]
    TooLarge(usize),
    #[error("its Markdown is {0} bytes, more than the {MAX_MARKDOWN_BYTES} kept")]
    TooLong(usize),
    #[error(
        "its HTML has a tag with more than {} attributes",
        super::html::MAX_ATTRIBUTES
    )]
    TooManyAttributes,
    #[error("its HTML could not be converted")]
    Failed,
}

/// Renders one item in isolation: `render` builds its document from `html`, its HTML body.
/// `Err` when that body is over [`MAX_HTML_BYTES`], has a tag with more than
/// [`super::html::MAX_ATTRIBUTES`] attributes, its Markdown is over [`MAX_MARKDOWN_BYTES`],
/// or rendering fails (a panic in the converter stops only this item); `Ok(None)` for an
/// item that is no knowledge.
pub fn render(
    html: &str,
    render: impl FnOnce() -> Option<Document>,
) -> Result<Option<Document>, RenderError> {
    if html.len() > MAX_HTML_BYTES {
        return Err(RenderError::TooLarge(html.len()));
    }
    if super::html::has_too_many_attributes(html) {
        return Err(RenderError::TooManyAttributes);
    }
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(render)) {
        Ok(Some(document)) if document.markdown.len() > MAX_MARKDOWN_BYTES => {
            Err(RenderError::TooLong(document.markdown.len()))
        }
        Ok(document) => Ok(document),
        Err(_) => Err(RenderError::Failed),
    }
}

/// HTML as Markdown: headings, lists, links, tables and image alt text kept; scripts, styles,
/// iframes and the like dropped; blank-line runs collapsed, so output is stable. Links and
/// images relative to the storefront (`/pages/contact`) are made absolute against `base`
/// (`https://example.com`), so every link the AI quotes works outside the store.
///
/// Any input converts within a bounded stack ([`super::html`]); call it through [`render`],
/// which also bounds the input's size.
pub fn html_to_markdown(html: &str, base: &str) -> String {
    let converter = htmd::HtmlToMarkdown::builder()
        .skip_tags(super::html::SKIPPED.to_vec())
        .build();
    let markdown = converter.tree_to_markdown(&super::html::parse(html));
    let mut out = String::with_capacity(markdown.len());
    let mut blank = 0;
    for line in markdown.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank > 0 { "\n\n" } else { "\n" });
        }
        blank = 0;
        out.push_str(line);
    }
    absolute_links(&out, base)
}

/// `](/path)` → `]({base}/path)` and `](//host/path)` → `](https://host/path)`.
fn absolute_links(markdown: &str, base: &str) -> String {
    let base = base.trim_end_matches('/');
    let mut out = String::with_capacity(markdown.len());
    let mut rest = markdown;
    while let Some(at) = rest.find("](/") {
        out.push_str(&rest[..at + 2]);
        rest = &rest[at + 2..];
        if let Some(host) = rest.strip_prefix("//") {
            out.push_str("https://");
            rest = host;
        } else if !base.is_empty() {
            out.push_str(base);
        }
    }
    out.push_str(rest);
    out
}

/// `https://example.com` of `https://example.com/policies/refund-policy`.
fn origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(slash) => &url[..after_scheme + slash],
        None => url,
    }
}

/// One line of a Markdown table cell: pipes escaped, line breaks flattened.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace(['\n', '\r'], " ")
}

fn title_line(title: &str) -> String {
    format!("# {}", title.replace(['\n', '\r'], " ").trim())
}

fn page_text(parts: &[String]) -> String {
    let mut text = parts
        .iter()
        .filter(|p| !p.is_empty())
        .cloned()
        .collect::<Vec<_>>()
        .join("\n\n");
    text.push('\n');
    text
}

fn date_of(rfc3339: &str) -> &str {
    rfc3339.get(..10).unwrap_or(rfc3339)
}

/// A page: published → public, unpublished → internal. URL: `{primary}/pages/{handle}`.
pub fn page_document(page: &ShopPage, primary_url: &str) -> Option<Document> {
    let url = format!("{primary_url}/pages/{}", page.handle);
    Some(Document {
        source: Source::Pages,
        numeric_id: numeric_id(&page.id)?.to_owned(),
        shopify_id: page.id.clone(),
        title: page.title.clone(),
        markdown: page_text(&[
            title_line(&page.title),
            format!("Source: {url}"),
            html_to_markdown(&page.body, primary_url),
        ]),
        url,
        visibility: if page.is_published {
            Visibility::Public
        } else {
            Visibility::Internal
        },
        updated_at: page.updated_at.clone(),
    })
}

/// An article, with author, publish date and tags. URL:
/// `{primary}/blogs/{blog handle}/{article handle}`.
pub fn article_document(article: &ShopArticle, primary_url: &str) -> Option<Document> {
    let url = format!(
        "{primary_url}/blogs/{}/{}",
        article.blog.handle, article.handle
    );
    let mut byline = Vec::new();
    if let Some(author) = &article.author {
        byline.push(format!("Author: {}", author.name));
    }
    if let Some(published) = &article.published_at {
        byline.push(format!("Published: {}", date_of(published)));
    }
    if !article.tags.is_empty() {
        byline.push(format!("Tags: {}", article.tags.join(", ")));
    }
    let updated_at = article
        .updated_at
        .clone()
        .or_else(|| article.published_at.clone())
        .unwrap_or_default();
    Some(Document {
        source: Source::Articles,
        numeric_id: numeric_id(&article.id)?.to_owned(),
        shopify_id: article.id.clone(),
        title: article.title.clone(),
        markdown: page_text(&[
            title_line(&article.title),
            format!("Source: {url}"),
            byline.join(" · "),
            html_to_markdown(&article.body, primary_url),
        ]),
        url,
        visibility: if article.is_published {
            Visibility::Public
        } else {
            Visibility::Internal
        },
        updated_at,
    })
}

/// An active product: vendor, type, tags, price range with currency, a variants table and its
/// description. Published on the Online Store: public, at its Online Store URL. Active but not
/// published there (a scheduled launch, POS- or B2B-only): internal, naming its admin page
/// (`https://admin.shopify.com/store/{handle}/products/{id}`), since it has no public URL to
/// name and a storefront URL made up for it would lead shoppers to a page that does not exist.
/// `None` for a product that is not active (it is no knowledge).
pub fn product_document(
    product: &ShopProduct,
    variants: &[ShopVariant],
    primary_url: &str,
    shop: &ShopDomain,
) -> Option<Document> {
    let fields = &product.fields;
    if !fields.is_active() {
        return None;
    }
    let numeric_id = numeric_id(&fields.id)?.to_owned();
    let (url, visibility, source_line) = match fields.published_url() {
        Some(url) => (url.to_owned(), Visibility::Public, format!("Source: {url}")),
        None => {
            let admin = format!(
                "https://admin.shopify.com/store/{}/products/{numeric_id}",
                shop.handle()
            );
            let line =
                format!("Not published on the online store (no public page). Admin: {admin}");
            (admin, Visibility::Internal, line)
        }
    };
    let range = &product.price_range_v2;
    let (min, max) = (&range.min_variant_price, &range.max_variant_price);
    let price = if min.amount == max.amount {
        format!("Price: {} {}", min.amount, min.currency_code)
    } else {
        format!("Price: {}–{} {}", min.amount, max.amount, min.currency_code)
    };
    let mut facts = Vec::new();
    if !fields.vendor.is_empty() {
        facts.push(format!("Vendor: {}", fields.vendor));
    }
    if !fields.product_type.is_empty() {
        facts.push(format!("Type: {}", fields.product_type));
    }
    if !fields.tags.is_empty() {
        facts.push(format!("Tags: {}", fields.tags.join(", ")));
    }
    let mut table = String::new();
    if !variants.is_empty() {
        table.push_str("| Variant | SKU | Price | Available |\n| --- | --- | --- | --- |");
        for variant in variants.iter().take(MAX_VARIANTS) {
            table.push_str(&format!(
                "\n| {} | {} | {} {} | {} |",
                cell(&variant.title),
                cell(variant.sku.as_deref().unwrap_or("")),
                cell(&variant.price),
                min.currency_code,
                if variant.available_for_sale {
                    "yes"
                } else {
                    "no"
                }
            ));
        }
        let total = product
            .variants_count
            .as_ref()
            .map_or(variants.len() as u64, |c| c.count)
            .max(variants.len() as u64);
        if total > MAX_VARIANTS as u64 {
            table.push_str(&format!(
                "\n\n{} more variants are not listed.",
                total - MAX_VARIANTS as u64
            ));
        }
    }
    Some(Document {
        source: Source::Products,
        numeric_id,
        shopify_id: fields.id.clone(),
        title: fields.title.clone(),
        markdown: page_text(&[
            title_line(&fields.title),
            source_line,
            facts.join(" · "),
            price,
            table,
            html_to_markdown(&fields.description_html, primary_url),
        ]),
        url,
        visibility,
        updated_at: fields.updated_at.clone(),
    })
}

/// A shop policy: always public, at its own URL.
pub fn policy_document(policy: &ShopPolicy) -> Option<Document> {
    Some(Document {
        source: Source::Policies,
        numeric_id: numeric_id(&policy.id)?.to_owned(),
        shopify_id: policy.id.clone(),
        title: policy.title.clone(),
        markdown: page_text(&[
            title_line(&policy.title),
            format!("Source: {}", policy.url),
            html_to_markdown(&policy.body, origin(&policy.url)),
        ]),
        url: policy.url.clone(),
        visibility: Visibility::Public,
        updated_at: policy.updated_at.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::shopify::content::{Handled, Named, PriceRange, ProductFields};
    use crate::shopify::types::{Money, Nodes};

    fn page(body: &str, published: bool) -> ShopPage {
        ShopPage {
            id: "gid://shopify/Page/42".into(),
            title: "Returns".into(),
            handle: "returns".into(),
            body: body.into(),
            is_published: published,
            updated_at: "2026-11-01T10:00:00Z".into(),
        }
    }

    #[test]
    fn html_keeps_structure_and_drops_scripts() {
        let markdown = html_to_markdown(
            "<h2>Returns</h2><p>Within <a href=\"/pages/x\">30 days</a>.</p><script>steal()</script>\
             <style>p{}</style><iframe src=\"https://evil\"></iframe><ul><li>Unworn</li></ul>\
             <table><tr><th>Size</th><th>EU</th></tr><tr><td>M</td><td>42</td></tr></table>\
             <img src=\"x.jpg\" alt=\"A runner on rocks\"><a href=\"//cdn.example/size.pdf\">sizes</a>\
             <a href=\"https://other.example/a\">elsewhere</a>",
            "https://shop.example",
        );
        assert!(markdown.contains("## Returns"), "{markdown}");
        assert!(
            markdown.contains("[30 days](https://shop.example/pages/x)"),
            "{markdown}"
        );
        assert!(
            markdown.contains("[sizes](https://cdn.example/size.pdf)"),
            "{markdown}"
        );
        assert!(
            markdown.contains("[elsewhere](https://other.example/a)"),
            "{markdown}"
        );
        assert!(markdown.contains("Unworn"));
        assert!(markdown.contains("| Size | EU |"));
        assert!(markdown.contains("A runner on rocks"));
        assert!(
            !markdown.contains("steal") && !markdown.contains("evil") && !markdown.contains("p{}")
        );
    }

    #[test]
    fn a_page_names_its_url_and_visibility() {
        let doc = page_document(&page("<p>Hi</p>", false), "https://shop.example").unwrap();
        assert_eq!(
            doc.markdown,
            "# Returns\n\nSource: https://shop.example/pages/returns\n\nHi\n"
        );
        assert_eq!(doc.visibility, Visibility::Internal);
        assert_eq!(doc.numeric_id, "42");
        let org = OrganizationId::parse("org_1").unwrap();
        let shop = ShopDomain::parse("demo").unwrap();
        assert_eq!(doc.key(&org, &shop), "org_1/demo.myshopify.com/pages/42.md");
        let sidecar: serde_json::Value =
            serde_json::from_slice(&doc.sidecar_bytes(&org, &shop)).unwrap();
        assert_eq!(
            sidecar,
            serde_json::json!({"metadataAttributes": {"org_id": "org_1", "shop_domain": "demo.myshopify.com", "source": "pages",
                "shopify_id": "gid://shopify/Page/42", "title": "Returns", "url": "https://shop.example/pages/returns",
                "visibility": "internal", "updated_at": "2026-11-01T10:00:00Z"}})
        );
    }

    #[test]
    fn the_same_content_gives_the_same_bytes_and_fingerprint() {
        let a = page_document(&page("<p>Same</p>", true), "https://s").unwrap();
        let mut moved = page("<p>Same</p>", true);
        moved.updated_at = "2026-12-01T00:00:00Z".into();
        let b = page_document(&moved, "https://s").unwrap();
        assert_eq!(a.markdown_bytes(), b.markdown_bytes());
        assert_eq!(
            a.fingerprint(),
            b.fingerprint(),
            "a moved updated_at alone rewrites nothing"
        );
        let c = page_document(&page("<p>Changed</p>", true), "https://s").unwrap();
        assert_ne!(a.fingerprint(), c.fingerprint());
    }

    #[test]
    fn a_product_carries_its_facts_prices_and_variants() {
        let money = |a: &str| Money {
            amount: a.into(),
            currency_code: "USD".into(),
        };
        let fields = ProductFields {
            id: "gid://shopify/Product/7".into(),
            title: "Trail Runner".into(),
            handle: "trail-runner".into(),
            status: "ACTIVE".into(),
            online_store_url: Some("https://s/products/trail-runner".into()),
            description_html: "<p>Light and <strong>waterproof</strong>.</p>".into(),
            vendor: "Demo".into(),
            product_type: "Shoes".into(),
            tags: vec!["trail".into(), "running".into()],
            updated_at: "2026-11-01T10:00:00Z".into(),
        };
        let product = ShopProduct {
            fields: fields.clone(),
            price_range_v2: PriceRange {
                min_variant_price: money("89.00"),
                max_variant_price: money("99.00"),
            },
            variants: Nodes { nodes: vec![] },
            variants_count: None,
        };
        let variants = [ShopVariant {
            title: "42 | Blue".into(),
            sku: Some("TR-42".into()),
            price: "89.00".into(),
            available_for_sale: true,
        }];
        let shop = ShopDomain::parse("demo").unwrap();
        let doc = product_document(&product, &variants, "https://s", &shop).unwrap();
        assert_eq!(doc.visibility, Visibility::Public);
        assert!(doc.markdown.starts_with("# Trail Runner\n\nSource: https://s/products/trail-runner\n\nVendor: Demo · Type: Shoes · Tags: trail, running\n\nPrice: 89.00–99.00 USD\n\n| Variant | SKU | Price | Available |"), "{}", doc.markdown);
        assert!(doc
            .markdown
            .contains("| 42 \\| Blue | TR-42 | 89.00 USD | yes |"));
        assert!(doc.markdown.contains("Light and **waterproof**."));
        let many: Vec<ShopVariant> = (0..25)
            .map(|i| ShopVariant {
                title: format!("Size {i}"),
                ..variants[0].clone()
            })
            .collect();
        let listed = product_document(&product, &many, "https://s", &shop).unwrap();
        assert!(
            listed.markdown.contains("| Size 19 |") && !listed.markdown.contains("| Size 20 |")
        );
        assert!(
            listed.markdown.contains("5 more variants are not listed."),
            "{}",
            listed.markdown
        );
        let paged = ShopProduct {
            variants_count: Some(crate::shopify::content::Count {
                count: 25,
                precision: String::new(),
            }),
            ..product.clone()
        };
        assert_eq!(
            product_document(&paged, &many[..20], "https://s", &shop)
                .unwrap()
                .markdown,
            listed.markdown,
            "a page (20 variants and the count) and a bulk result (all of them) give the same bytes"
        );
        let draft = ShopProduct {
            fields: ProductFields {
                status: "DRAFT".into(),
                ..fields.clone()
            },
            ..product.clone()
        };
        assert!(product_document(&draft, &variants, "https://s", &shop).is_none());

        let launching = ShopProduct {
            fields: ProductFields {
                online_store_url: None,
                ..fields
            },
            ..product
        };
        let internal = product_document(&launching, &variants, "https://s", &shop).unwrap();
        assert_eq!(internal.visibility, Visibility::Internal);
        assert_eq!(
            internal.url,
            "https://admin.shopify.com/store/demo/products/7"
        );
        assert!(
            internal.markdown.starts_with("# Trail Runner\n\nNot published on the online store (no public page). Admin: https://admin.shopify.com/store/demo/products/7\n\nVendor: Demo"),
            "{}",
            internal.markdown
        );
        assert!(!internal.markdown.contains("https://s/products/"));
        assert_ne!(
            internal.fingerprint(),
            doc.fingerprint(),
            "taking a product off the online store rewrites its document"
        );
    }

    #[test]
    fn an_article_names_its_blog_author_date_and_tags() {
        let article = ShopArticle {
            id: "gid://shopify/Article/9".into(),
            title: "Care guide".into(),
            handle: "care".into(),
            body: "<p>Rinse.</p>".into(),
            tags: vec!["care".into()],
            is_published: true,
            published_at: Some("2026-10-02T08:00:00Z".into()),
            updated_at: None,
            author: Some(Named { name: "Ana".into() }),
            blog: Handled {
                handle: "news".into(),
            },
        };
        let doc = article_document(&article, "https://s").unwrap();
        assert_eq!(doc.url, "https://s/blogs/news/care");
        assert!(doc
            .markdown
            .contains("Author: Ana · Published: 2026-10-02 · Tags: care"));
        assert_eq!(doc.updated_at, "2026-10-02T08:00:00Z");
    }
}
