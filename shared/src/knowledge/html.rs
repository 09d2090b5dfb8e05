//! Merchant HTML parsed into a DOM whose nesting is bounded, whatever the input.
//!
//! html5ever puts no limit on how deep elements nest, its tree builder's work per tag grows
//! with the depth, and `htmd` walks the DOM recursively: 9,000 nested `<div>`, 8,000 unclosed
//! `<b>` (a Word paste) or 1,800 nested tables overflow an 8 MiB stack. Two bounds make the
//! stack a conversion needs, and its time, independent of the input:
//!
//! - while parsing, a start tag that would open an element deeper than [`MAX_DEPTH`] is left
//!   out (its text is kept, in the element it would have been in), and so is its end tag
//!   while no element of its name is open; a skipped element (a `<template>`, a `<form>`)
//!   that deep is left out with all it holds;
//! - after parsing, what the tree builder still nested deeper (it may move and clone
//!   formatting elements) is flattened into one text node per element at [`MAX_DEPTH`].
//!
//! Three more bounds keep time and memory in step with the input: tables within tables become
//! their text (`htmd` converts a table's parts several times over), only the attributes
//! `htmd` reads reach the tree builder (which copies formatting elements whole), and at most
//! [`MAX_FORMATTING`] formatting elements may be left unclosed at once. A tag with more than
//! [`MAX_ATTRIBUTES`] attributes is refused before parsing ([`has_too_many_attributes`]).
//!
//! HTML that stays within the bounds parses exactly as `htmd` parses it itself.

use std::cell::RefCell;
use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::rc::Rc;

use html5ever::buffer_queue::BufferQueue;
use html5ever::interface::Tracer;
use html5ever::tendril::StrTendril;
use html5ever::tokenizer::states::RawKind;
use html5ever::tokenizer::{TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts};
use html5ever::tree_builder::{TreeBuilder, TreeBuilderOpts};
use html5ever::{ns, Attribute, LocalName, QualName, TokenizerResult};
use markup5ever_rcdom::{Handle, Node, NodeData, RcDom};

/// The deepest an element of the parsed DOM may be (the document node is 0, `<html>` 1,
/// `<body>` 2). Converting needs up to about 4 KiB of stack a level in a debug build (nested
/// tables need the most) and less in release: about 256 KiB at most, well within a 1 MiB
/// thread and an eighth of a tokio worker's 2 MiB. Content people write, page builders'
/// included, nests far less; what nests deeper keeps its text.
pub const MAX_DEPTH: usize = 64;

/// Elements whose content never becomes Markdown; flattened text leaves it out too.
pub const SKIPPED: &[&str] = &[
    "script", "style", "iframe", "noscript", "object", "embed", "template", "svg", "form", "head",
];

/// The most formatting elements `htmd` renders (`<b>`, `<a>`…), and the most of the others
/// (`<font>`, `<u>`…), left unclosed at once (as the tree builder's list of formatting
/// elements holds them): it reopens every one of them in each block that follows, so a
/// further one is left out (its text is kept) rather than copied into every paragraph after
/// it. 58 unclosed `<b>` before 65,000 paragraphs made 2 million elements (490 MB).
pub const MAX_FORMATTING: usize = 4;

/// The most attributes one tag may have: html5ever compares each attribute of a tag with the
/// ones before it, in time that grows with their square.
pub const MAX_ATTRIBUTES: usize = 256;

/// The tags the tree builder reopens (its formatting elements): 0 for those `htmd` renders,
/// 1 for the others (which a Word paste leaves unclosed in every paragraph).
fn formatting(name: &str) -> Option<usize> {
    match name {
        "a" | "b" | "code" | "em" | "i" | "strong" => Some(0),
        "big" | "font" | "nobr" | "s" | "small" | "strike" | "tt" | "u" => Some(1),
        _ => None,
    }
}

/// Skipped elements that may hold tags: past the bound, what they hold is left out with them.
const SKIPPED_SUBTREES: &[&str] = &["form", "object", "svg", "template"];

/// The attributes `htmd` reads (links, images, list starts, code languages and math spans)
/// and those that change how the tree builder builds the DOM; the others are left out before
/// the tree builder copies them.
const READ_ATTRIBUTES: &[&str] = &[
    "alt",
    "charset",
    "class",
    "color",
    "content",
    "encoding",
    "face",
    "href",
    "http-equiv",
    "shadowrootmode",
    "size",
    "src",
    "start",
    "title",
    "type",
];

/// Parses `html` as `htmd` does, with its nesting bounded by [`MAX_DEPTH`] and tables within
/// tables turned into text.
pub fn parse(html: &str) -> Handle {
    let builder = TreeBuilder::new(
        RcDom::default(),
        TreeBuilderOpts {
            scripting_enabled: true,
            ..Default::default()
        },
    );
    let tokenizer = Tokenizer::new(
        Bounded {
            builder,
            left_out: RefCell::default(),
            skipping: RefCell::default(),
        },
        TokenizerOpts::default(),
    );
    let input = BufferQueue::default();
    input.push_back(StrTendril::from_slice(html));
    while !matches!(tokenizer.feed(&input), TokenizerResult::Done) {}
    tokenizer.end();
    let document = tokenizer.sink.builder.sink.document.clone();
    flatten_below(&document, MAX_DEPTH);
    document
}

/// Whether a tag of `html` has more than [`MAX_ATTRIBUTES`] attributes, in one linear pass
/// that reads tags, attributes and quoted values as the tokenizer does, and skips comments
/// and what scripts and styles hold.
pub fn has_too_many_attributes(html: &str) -> bool {
    let bytes = html.as_bytes();
    let space = |b: u8| matches!(b, b' ' | b'\t' | b'\n' | b'\r' | b'\x0c');
    let mut at = 0;
    while let Some(offset) = bytes[at..].iter().position(|&b| b == b'<') {
        at += offset + 1;
        if bytes[at..].starts_with(b"!--") {
            at = find(bytes, at + 3, b"-->").map_or(bytes.len(), |end| end + 3);
            continue;
        }
        let end_tag = bytes.get(at) == Some(&b'/');
        let name_at = at + usize::from(end_tag);
        if !bytes.get(name_at).is_some_and(u8::is_ascii_alphabetic) {
            continue;
        }
        at = name_at;
        while at < bytes.len() && !space(bytes[at]) && !matches!(bytes[at], b'/' | b'>') {
            at += 1;
        }
        let name = html[name_at..at].to_ascii_lowercase();
        let mut attributes = 0;
        // One attribute (or a stray `/`) at a time, up to the `>` that ends the tag.
        while at < bytes.len() && bytes[at] != b'>' {
            let b = bytes[at];
            if space(b) || b == b'/' {
                at += 1;
                continue;
            }
            attributes += 1;
            if attributes > MAX_ATTRIBUTES {
                return true;
            }
            at += 1;
            while at < bytes.len() && !space(bytes[at]) && !matches!(bytes[at], b'/' | b'>' | b'=')
            {
                at += 1;
            }
            while at < bytes.len() && space(bytes[at]) {
                at += 1;
            }
            if bytes.get(at) != Some(&b'=') {
                continue;
            }
            at += 1;
            while at < bytes.len() && space(bytes[at]) {
                at += 1;
            }
            match bytes.get(at) {
                Some(&quote @ (b'"' | b'\'')) => {
                    at = bytes[at + 1..]
                        .iter()
                        .position(|&b| b == quote)
                        .map_or(bytes.len(), |end| at + 1 + end + 1);
                }
                _ => {
                    while at < bytes.len() && !space(bytes[at]) && bytes[at] != b'>' {
                        at += 1;
                    }
                }
            }
        }
        if !end_tag && is_raw_text(&name) {
            at = (at..bytes.len())
                .find(|&i| {
                    bytes[i..].starts_with(b"</")
                        && bytes
                            .get(i + 2..i + 2 + name.len())
                            .is_some_and(|tag| tag.eq_ignore_ascii_case(name.as_bytes()))
                })
                .unwrap_or(bytes.len());
        }
    }
    false
}

fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    bytes
        .get(from..)?
        .windows(needle.len())
        .position(|window| window == needle)
        .map(|at| from + at)
}

fn is_raw_text(name: &str) -> bool {
    matches!(
        name,
        "script"
            | "style"
            | "textarea"
            | "title"
            | "xmp"
            | "iframe"
            | "noembed"
            | "noframes"
            | "noscript"
            | "plaintext"
    )
}

/// The tree builder behind a filter that leaves out start tags that would nest too deep, and
/// the attributes nothing reads.
struct Bounded {
    builder: TreeBuilder<Handle, RcDom>,
    /// Start tags left out, by name: an end tag of that name is left out too while no element
    /// of that name is held.
    left_out: RefCell<HashMap<LocalName, usize>>,
    /// A skipped element past the bound whose content is being left out, and how many
    /// elements of its name are open within it.
    skipping: RefCell<Option<(LocalName, usize)>>,
}

impl Bounded {
    /// What the tree builder holds, each element once: its open elements, the formatting
    /// elements it may reopen, the head and form pointers. Their number bounds the depth a new
    /// element gets.
    fn held(&self) -> Held {
        let handles = Handles(RefCell::default());
        self.builder.trace_handles(&handles);
        let traced = handles.0.into_inner();
        // The document and the open elements come first, each the parent of the next (but
        // for the few a table moves), then the formatting elements it may reopen.
        let open = 1
            + (1..traced.len())
                .take_while(|&i| is_parent(&traced[i - 1], &traced[i]))
                .count();
        let mut reopened = [0; 2];
        let mut elements = traced.clone();
        elements.sort_by_key(Rc::as_ptr);
        elements.dedup_by(|a, b| Rc::ptr_eq(a, b));
        let mut counted: Vec<*const Node> = Vec::new();
        for handle in &traced[open..] {
            let Some(class) = name_of(handle).and_then(formatting) else {
                continue;
            };
            let at = Rc::as_ptr(handle);
            if !counted.contains(&at) {
                counted.push(at);
                reopened[class] += 1;
            }
        }
        Held { elements, reopened }
    }

    /// Where a tag left out began or ended a block, a space keeps the words around it apart.
    fn apart(&self, name: &LocalName, line_number: u64) -> TokenSinkResult<Handle> {
        if is_inline(name) {
            return TokenSinkResult::Continue;
        }
        self.builder
            .process_token(Token::CharacterTokens(" ".into()), line_number)
    }

    /// Leaves out `token` while skipping a subtree past the bound; `None` for a token to
    /// process. An end tag of an element the tree builder holds (other than in a template)
    /// ends the subtree as it would end the element.
    fn skip(&self, token: &Token) -> Option<TokenSinkResult<Handle>> {
        let mut skipping = self.skipping.borrow_mut();
        let (skipped, open) = skipping.as_mut()?;
        let Token::TagToken(tag) = token else {
            return Some(TokenSinkResult::Continue);
        };
        match tag.kind {
            TagKind::StartTag if tag.name == *skipped && !tag.self_closing => *open += 1,
            TagKind::StartTag => return Some(raw_text(&tag.name)),
            TagKind::EndTag if tag.name == *skipped && *open > 0 => *open -= 1,
            TagKind::EndTag if tag.name == *skipped => *skipping = None,
            TagKind::EndTag => {
                if &**skipped == "template" || !holds(&self.held().elements, &tag.name) {
                    return Some(TokenSinkResult::Continue);
                }
                *skipping = None;
                return None;
            }
        }
        Some(TokenSinkResult::Continue)
    }
}

impl TokenSink for Bounded {
    type Handle = Handle;

    fn process_token(&self, token: Token, line_number: u64) -> TokenSinkResult<Handle> {
        if let Some(result) = self.skip(&token) {
            return result;
        }
        let Token::TagToken(mut tag) = token else {
            return self.builder.process_token(token, line_number);
        };
        match tag.kind {
            TagKind::StartTag if nests(&tag.name) => {
                let held = self.held();
                let too_deep = held.elements.len() >= MAX_DEPTH;
                if too_deep && SKIPPED_SUBTREES.contains(&&*tag.name) {
                    if !tag.self_closing {
                        *self.skipping.borrow_mut() = Some((tag.name.clone(), 0));
                    }
                    return TokenSinkResult::Continue;
                }
                let reopened = formatting(&tag.name).map(|class| held.reopened[class]);
                if too_deep || reopened.is_some_and(|n| n >= MAX_FORMATTING) {
                    *self
                        .left_out
                        .borrow_mut()
                        .entry(tag.name.clone())
                        .or_default() += 1;
                    return self.apart(&tag.name, line_number);
                }
            }
            TagKind::StartTag => {}
            TagKind::EndTag => {
                let mut left_out = self.left_out.borrow_mut();
                if let Some(open) = left_out.get_mut(&tag.name).filter(|open| **open > 0) {
                    if !holds(&self.held().elements, &tag.name) {
                        *open -= 1;
                        drop(left_out);
                        return self.apart(&tag.name, line_number);
                    }
                }
            }
        }
        if tag.kind == TagKind::StartTag {
            tag.attrs = read_attributes(std::mem::take(&mut tag.attrs));
        }
        self.builder
            .process_token(Token::TagToken(tag), line_number)
    }

    fn end(&self) {
        self.builder.end();
    }

    fn adjusted_current_node_present_but_not_in_html_namespace(&self) -> bool {
        self.builder
            .adjusted_current_node_present_but_not_in_html_namespace()
    }
}

/// What the tree builder holds: each element once, and how many formatting elements it may
/// reopen, of those `htmd` renders and of the others.
struct Held {
    elements: Vec<Handle>,
    reopened: [usize; 2],
}

struct Handles(RefCell<Vec<Handle>>);

impl Tracer for Handles {
    type Handle = Handle;

    fn trace_handle(&self, handle: &Handle) {
        self.0.borrow_mut().push(handle.clone());
    }
}

fn name_of(node: &Handle) -> Option<&str> {
    match &node.data {
        NodeData::Element { name, .. } => Some(&name.local),
        _ => None,
    }
}

fn is_parent(parent: &Handle, child: &Handle) -> bool {
    let weak = child.parent.take();
    let is = weak
        .as_ref()
        .is_some_and(|weak| std::ptr::eq(weak.as_ptr(), Rc::as_ptr(parent)));
    child.parent.set(weak);
    is
}

fn holds(held: &[Handle], name: &LocalName) -> bool {
    held.iter().any(|h| name_of(h) == Some(&**name))
}

/// How the tokenizer reads what a start tag opens while its subtree is skipped: the code of
/// a script as text, not as tags.
fn raw_text(name: &LocalName) -> TokenSinkResult<Handle> {
    match &**name {
        "title" | "textarea" => TokenSinkResult::RawData(RawKind::Rcdata),
        "script" => TokenSinkResult::RawData(RawKind::ScriptData),
        "plaintext" => TokenSinkResult::Plaintext,
        name if is_raw_text(name) => TokenSinkResult::RawData(RawKind::Rawtext),
        _ => TokenSinkResult::Continue,
    }
}

/// The [`READ_ATTRIBUTES`] of `attrs`, and in place of the others one that tells them apart
/// (a digest of all of them), so elements compare as before (`htmd` merges `<b>x</b><b>y</b>`
/// only when their attributes are equal).
fn read_attributes(attrs: Vec<Attribute>) -> Vec<Attribute> {
    if attrs
        .iter()
        .all(|attr| READ_ATTRIBUTES.contains(&&*attr.name.local))
    {
        return attrs;
    }
    let mut digest = DefaultHasher::new();
    for attr in &attrs {
        (&attr.name, &*attr.value).hash(&mut digest);
    }
    let mut kept: Vec<Attribute> = attrs
        .into_iter()
        .filter(|attr| READ_ATTRIBUTES.contains(&&*attr.name.local))
        .collect();
    kept.push(Attribute {
        name: QualName::new(None, ns!(), LocalName::from("data-left-out")),
        value: format!("{:016x}", digest.finish()).into(),
    });
    kept
}

/// Whether a start tag may leave an element open. Void elements close at once, and the raw
/// text ones (a script, a style) hold no tags: they are never left out, so a script's code
/// is never read as text.
fn nests(name: &LocalName) -> bool {
    !matches!(
        &**name,
        "area"
            | "base"
            | "br"
            | "col"
            | "embed"
            | "hr"
            | "img"
            | "input"
            | "keygen"
            | "link"
            | "meta"
            | "param"
            | "source"
            | "track"
            | "wbr"
            | "script"
            | "style"
            | "textarea"
            | "title"
            | "xmp"
            | "iframe"
            | "noembed"
            | "noframes"
            | "noscript"
            | "plaintext"
    )
}

/// Every element at `max` that still holds elements, and every table within a table, gets
/// its text instead, without recursion (`htmd` converts a table's caption and rows each
/// several times: tables within tables take time that grows exponentially with their
/// nesting).
fn flatten_below(root: &Handle, max: usize) {
    let mut stack = vec![(root.clone(), 0, false)];
    while let Some((node, depth, in_table)) = stack.pop() {
        let table = name_of(&node) == Some("table");
        let children = node.children.borrow().clone();
        if depth < max && !(table && in_table) {
            stack.extend(
                children
                    .into_iter()
                    .map(|child| (child, depth + 1, in_table || table)),
            );
        } else if children.iter().any(is_element) {
            let text = text_of(&node);
            let mut kept = node.children.borrow_mut();
            kept.clear();
            if !text.is_empty() {
                let leaf = Node::new(NodeData::Text {
                    contents: RefCell::new(text.into()),
                });
                leaf.parent.set(Some(Rc::downgrade(&node)));
                kept.push(leaf);
            }
        }
    }
}

fn is_element(node: &Handle) -> bool {
    matches!(node.data, NodeData::Element { .. })
}

/// The text under `node` in document order, without what [`SKIPPED`] elements hold; a space
/// where an element other than an inline one begins or ends, so words stay apart.
fn text_of(node: &Handle) -> String {
    let mut text = String::new();
    // `None` marks an element boundary.
    let mut stack: Vec<Option<Handle>> = node
        .children
        .borrow()
        .iter()
        .rev()
        .cloned()
        .map(Some)
        .collect();
    while let Some(item) = stack.pop() {
        let Some(node) = item else {
            if !text.is_empty() && !text.ends_with(char::is_whitespace) {
                text.push(' ');
            }
            continue;
        };
        match &node.data {
            NodeData::Text { contents } => text.push_str(&contents.borrow()),
            NodeData::Element { name, .. } => {
                let tag = &*name.local;
                if SKIPPED.contains(&tag) {
                    continue;
                }
                let block = !is_inline(tag);
                if block {
                    stack.push(None);
                }
                stack.extend(node.children.borrow().iter().rev().cloned().map(Some));
                if block {
                    stack.push(None);
                }
            }
            _ => {}
        }
    }
    text.trim().to_owned()
}

fn is_inline(tag: &str) -> bool {
    matches!(
        tag,
        "a" | "abbr"
            | "b"
            | "bdi"
            | "bdo"
            | "cite"
            | "code"
            | "data"
            | "del"
            | "dfn"
            | "em"
            | "font"
            | "i"
            | "ins"
            | "kbd"
            | "label"
            | "mark"
            | "q"
            | "s"
            | "samp"
            | "small"
            | "span"
            | "strike"
            | "strong"
            | "sub"
            | "sup"
            | "time"
            | "u"
            | "var"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::knowledge::document::{
        html_to_markdown, page_document, render, RenderError, MAX_HTML_BYTES,
    };
    use crate::shopify::content::ShopPage;

    /// Converts `html` on a thread of `stack` bytes; a stack overflow aborts the test binary.
    fn convert_on(stack: usize, html: String) -> String {
        std::thread::Builder::new()
            .stack_size(stack)
            .spawn(move || html_to_markdown(&html, "https://shop.example"))
            .expect("a thread")
            .join()
            .expect("the conversion ends")
    }

    const MIB: usize = 1024 * 1024;

    /// The review's hostile bodies, and worse: each overflowed an 8 MiB stack.
    fn hostile() -> Vec<(&'static str, String, usize)> {
        vec![
            ("9,000 nested div", "<div>x".repeat(9_000), 9_000),
            (
                "8,000 unclosed b (a Word paste)",
                "<b>x".repeat(8_000),
                8_000,
            ),
            (
                "1,800 nested tables",
                "<table><tr><td>x".repeat(1_800),
                1_800,
            ),
            (
                "100,000 nested spans",
                format!("{}x", "<span>".repeat(100_000)),
                1,
            ),
            ("20,000 nested lists", "<ul><li>x".repeat(20_000), 20_000),
            (
                "10,000 nested quotes in cells",
                "<table><tr><td><blockquote><i>x".repeat(10_000),
                10_000,
            ),
            (
                "40,000 divs closed again",
                format!("{}x{}", "<div>".repeat(40_000), "</div>".repeat(40_000)),
                1,
            ),
        ]
    }

    #[test]
    fn hostile_nesting_converts_on_an_8_mib_stack() {
        for (name, html, xs) in hostile() {
            let markdown = convert_on(8 * MIB, html);
            assert_eq!(
                markdown.matches('x').count(),
                xs,
                "{name}: every word is kept"
            );
        }
    }

    #[test]
    fn hostile_nesting_converts_on_a_1_mib_stack() {
        for (name, html, xs) in hostile() {
            let markdown = convert_on(MIB, html);
            assert_eq!(
                markdown.matches('x').count(),
                xs,
                "{name}: every word is kept"
            );
        }
    }

    #[test]
    fn the_deepest_body_under_the_size_cap_converts_on_a_1_mib_stack() {
        let tables = "<table><tr><td>x".repeat(MAX_HTML_BYTES / 16);
        assert!(tables.len() <= MAX_HTML_BYTES);
        let markdown = convert_on(MIB, tables);
        assert_eq!(markdown.matches('x').count(), MAX_HTML_BYTES / 16);
    }

    #[test]
    fn content_within_the_bound_parses_as_htmd_parses_it() {
        let converter = htmd::HtmlToMarkdown::builder()
            .skip_tags(SKIPPED.to_vec())
            .build();
        for html in [
            "<h2>Returns</h2><p>Within <a href=\"/x\">30 days</a>.</p><ul><li>Unworn<ul><li>Tags on</li></ul></li></ul>".to_owned(),
            "<p><b>bold <i>both</b> italic</i> <b id=1><b id=2><b id=3><b id=4>four</b></b></b></b></p>".to_owned(),
            "<table><tr><th>Size</th></tr><tr><td>M <script>x()</script></td></tr></table><p>after".to_owned(),
            format!("{}deep{}", "<div>".repeat(58), "</div>".repeat(58)),
            format!("{}deep", "<table><tr><td>".repeat(14)),
            format!("{}deep", "<b>".repeat(56)),
            "<p><b id=1>x</b><b id=2>y</b> <b style=s>z</b><b style=s>w</b> <span class=\"math math-inline\" id=m>e</span></p><pre class=c><code class=\"language-rust\" data-x=1>fn x()</code></pre><ol start=3 id=o><li>c</li></ol><img src=/i alt=A title=T width=3>".to_owned(),
            format!("{}<p>See <a href=\"/pages/size-guide\">the size guide</a> or <b>ask us</b>.</p>", (0..30).map(|n| format!("<p><font color=\"#{n:06x}\">Line {n}</p>")).collect::<String>()),
            "<table><caption>Sizes</caption><thead><tr><th>Size</th><th>Chest</th></tr></thead><tbody><tr><td>M</td><td>96</td></tr></tbody></table>".to_owned(),
        ] {
            let ours = converter.tree_to_markdown(&parse(&html));
            let theirs = converter.convert(&html).unwrap();
            assert_eq!(ours, theirs, "{html}");
        }
    }

    /// The elements under `node` (itself included), each with whether a table holds it.
    fn elements(node: &Handle) -> Vec<(Handle, bool)> {
        let (mut stack, mut found) = (vec![(node.clone(), false)], Vec::new());
        while let Some((node, in_table)) = stack.pop() {
            let table = name_of(&node) == Some("table");
            stack.extend(
                node.children
                    .borrow()
                    .iter()
                    .map(|child| (child.clone(), in_table || table)),
            );
            if is_element(&node) {
                found.push((node, in_table));
            }
        }
        found
    }

    #[test]
    fn tables_within_tables_are_turned_into_text() {
        // `htmd` converts each level of this several times: 30 levels took about an hour.
        let html = format!(
            "{}x{}",
            "<table><caption>".repeat(30),
            "</caption><thead></thead></table>".repeat(30)
        );
        let dom = parse(&html);
        let nested: Vec<_> = elements(&dom)
            .into_iter()
            .filter(|(node, in_table)| *in_table && name_of(node) == Some("table"))
            .collect();
        assert_eq!(nested.len(), 1, "the outer table holds text only");
        assert!(nested[0].0.children.borrow().iter().all(|c| !is_element(c)));
        assert_eq!(convert_on(MIB, html), "x");
        let cells = parse("<table><tr><td>a<table><tr><th>b</th></tr><tr><td>c</td></tr></table></td></tr></table>");
        let nested: Vec<_> = elements(&cells)
            .into_iter()
            .filter(|(node, in_table)| *in_table && name_of(node) == Some("table"))
            .collect();
        assert_eq!(nested.len(), 1);
        assert_eq!(text_of(&nested[0].0), "b c");
        assert!(nested[0].0.children.borrow().iter().all(|c| !is_element(c)));
    }

    #[test]
    fn an_item_with_a_tag_of_too_many_attributes_is_refused() {
        let attributes = |n: usize| {
            (0..n)
                .map(|i| format!(" a{i}=\"v {i}\""))
                .collect::<String>()
        };
        let tag = |n: usize| format!("<p>before</p><p{}>text</p>", attributes(n));
        assert_eq!(
            render(&tag(MAX_ATTRIBUTES + 1), || unreachable!("not converted")),
            Err(RenderError::TooManyAttributes)
        );
        assert_eq!(
            render(&tag(100_000)[..MAX_HTML_BYTES], || unreachable!(
                "not converted"
            )),
            Err(RenderError::TooManyAttributes),
            "a tag the body ends in is counted too"
        );
        let end_tag = format!("<p>x</p{}>", attributes(MAX_ATTRIBUTES + 1));
        assert!(has_too_many_attributes(&end_tag));
        for fine in [
            tag(MAX_ATTRIBUTES),
            format!("<p title=\"{}\">x</p>", "a b ".repeat(1_000)),
            format!("<p title='{}'>x</p>", "a=b ".repeat(1_000)),
            format!("<!-- <p{}> --><p>x</p>", attributes(1_000)),
            format!(
                "<script>if (a <b{}) {{}}</script><p>x</p>",
                " && c".repeat(1_000)
            ),
            format!("<p>{}</p>", "1 < 2 and ".repeat(1_000)),
        ] {
            assert!(!has_too_many_attributes(&fine), "{}", &fine[..40]);
            assert!(render(&fine, || None).is_ok());
        }
    }

    #[test]
    fn only_the_attributes_htmd_reads_reach_the_tree_builder() {
        let dom = parse(&format!(
            "<p><b{}>x</b><a href=/x title=t onclick=y>l</a><img src=/i alt=A width=3><font color=red face=f>y</font><i>z</i></p>",
            (0..200).map(|i| format!(" data-{i}=v")).collect::<String>()
        ));
        let names = |tag: &str| {
            let (node, _) = elements(&dom)
                .into_iter()
                .find(|(node, _)| name_of(node) == Some(tag))
                .expect("the element");
            let NodeData::Element { attrs, .. } = &node.data else {
                unreachable!()
            };
            let names: Vec<String> = attrs
                .borrow()
                .iter()
                .map(|a| a.name.local.to_string())
                .collect();
            names
        };
        assert_eq!(names("b"), ["data-left-out"]);
        assert_eq!(names("a"), ["href", "title", "data-left-out"]);
        assert_eq!(names("img"), ["src", "alt", "data-left-out"]);
        assert_eq!(names("font"), ["color", "face"]);
        assert!(names("i").is_empty());
    }

    /// How many `<b>` each paragraph holds, `<b>` within `<b>` included.
    fn bold_in_paragraphs(dom: &Handle) -> Vec<usize> {
        elements(dom)
            .into_iter()
            .filter(|(node, _)| name_of(node) == Some("p"))
            .map(|(p, _)| {
                elements(&p)
                    .iter()
                    .filter(|(node, _)| name_of(node) == Some("b"))
                    .count()
            })
            .collect()
    }

    #[test]
    fn formatting_left_unclosed_is_reopened_in_the_blocks_after_it_a_bounded_number_of_times() {
        // Each `<b>` left unclosed is copied into every paragraph that follows: 58 of them
        // before 65,000 paragraphs made 2 million elements (490 MB).
        let bold: String = (0..58).map(|i| format!("<b id={i}>")).collect();
        let html = format!("<div>{bold}x</div>{}", "<p>x</p>".repeat(2_000));
        let per_paragraph = bold_in_paragraphs(&parse(&html));
        assert_eq!(per_paragraph.len(), 2_000);
        assert!(
            per_paragraph.iter().all(|&b| b == MAX_FORMATTING),
            "{per_paragraph:?}"
        );
        let close = format!("<p>{bold}x</p>{}", "<p>x</p>".repeat(2_000));
        let per_paragraph = bold_in_paragraphs(&parse(&close));
        assert!(per_paragraph.iter().all(|&b| b <= MAX_FORMATTING));
        let markdown = convert_on(MIB, close);
        assert_eq!(markdown.matches('x').count(), 2_001, "every word is kept");
        let body = format!("<div>{bold}x</div>{}", "<p>x</p>".repeat(65_000));
        assert!(body.len() <= MAX_HTML_BYTES);
        let page = ShopPage {
            id: "gid://shopify/Page/1".into(),
            title: "Bold".into(),
            handle: "bold".into(),
            body,
            is_published: true,
            updated_at: "2026-11-01T10:00:00Z".into(),
        };
        let rendered = render(&page.body, || page_document(&page, "https://s"));
        assert!(rendered.is_ok(), "{rendered:?}");
    }

    #[test]
    fn a_word_paste_that_leaves_fonts_unclosed_keeps_its_links_and_bold() {
        let html = format!(
            "{}<p>See <a href=\"/pages/size-guide\">the size guide</a> or <b>ask us</b>.</p>",
            (0..30)
                .map(|n| format!("<p><font color=\"#{n:06x}\">Line {n}</p>"))
                .collect::<String>()
        );
        let markdown = convert_on(MIB, html);
        assert!(
            markdown.ends_with(
                "See [the size guide](https://shop.example/pages/size-guide) or **ask us**."
            ),
            "{markdown}"
        );
    }

    #[test]
    fn an_end_tag_of_a_tag_left_out_never_closes_an_element_that_is_open() {
        let html = format!(
            "{}<p>deep <a href=/x>unclosed{}<p>Read <a href=/y>the guide</a> before ordering.</p><p>Contact us.</p>",
            "<div>".repeat(62),
            "</div>".repeat(62)
        );
        let markdown = convert_on(MIB, html);
        assert_eq!(markdown.matches("](").count(), 1, "{markdown}");
        assert!(
            markdown.ends_with(
                "Read [the guide](https://shop.example/y) before ordering.\n\nContact us."
            ),
            "{markdown}"
        );
    }

    #[test]
    fn what_skipped_elements_past_the_bound_hold_stays_out() {
        let html = format!(
            "{}<template><p>HIDDEN TEMPLATE</p></template><form><button>HIDDEN FORM</button></form><svg><text>SVG TEXT</text></svg><object><p>HIDDEN OBJECT</p></object><svg/>after{}<p>end</p>",
            "<div>".repeat(62),
            "</div>".repeat(62)
        );
        let markdown = convert_on(MIB, html);
        assert_eq!(markdown, "after\n\nend");
        let unclosed = format!(
            "{}<p>one<form><p>HIDDEN <script>x = '</form>HIDDEN'</script></div><p>two",
            "<div>".repeat(62)
        );
        let markdown = convert_on(MIB, unclosed);
        assert!(
            markdown.contains("one") && markdown.contains("two"),
            "{markdown}"
        );
        assert!(!markdown.contains("HIDDEN"), "{markdown}");
    }

    #[test]
    fn content_past_the_bound_is_kept_as_text_without_scripts() {
        let html = format!(
            "{}<p>one</p><p>two <b>three</b></p><h2>four</h2><script>steal()</script><style>p{{}}</style>{}<p>after</p>",
            "<div>".repeat(300),
            "</div>".repeat(300),
        );
        let markdown = convert_on(MIB, html);
        assert!(markdown.contains("one two"), "{markdown}");
        assert!(markdown.contains("four"), "{markdown}");
        assert!(markdown.contains("after"), "{markdown}");
        assert!(
            !markdown.contains("steal") && !markdown.contains("p{}"),
            "{markdown}"
        );
    }

    #[test]
    fn a_dom_nested_past_the_bound_is_flattened_to_its_text() {
        let dom = htmd::HtmlToMarkdown::new()
            .html_to_tree(&format!(
                "{}<p>one</p><p>two <b>three</b></p><script>steal()</script>",
                "<div>".repeat(MAX_DEPTH)
            ))
            .unwrap();
        flatten_below(&dom, MAX_DEPTH);
        let (mut stack, mut deepest) = (vec![(dom.clone(), 0)], 0);
        while let Some((node, depth)) = stack.pop() {
            deepest = deepest.max(depth);
            stack.extend(
                node.children
                    .borrow()
                    .iter()
                    .map(|c| (c.clone(), depth + 1)),
            );
        }
        assert_eq!(
            deepest,
            MAX_DEPTH + 1,
            "elements at the bound hold text only"
        );
        let markdown = htmd::HtmlToMarkdown::new().tree_to_markdown(&dom);
        assert_eq!(markdown, "one two three");
    }

    #[test]
    fn an_item_over_the_size_cap_or_failing_to_render_is_refused() {
        let big = "a".repeat(MAX_HTML_BYTES + 1);
        assert_eq!(
            render(&big, || unreachable!("not converted")),
            Err(RenderError::TooLarge(MAX_HTML_BYTES + 1))
        );
        assert_eq!(
            render("<p>a</p>", || panic!("a converter bug")),
            Err(RenderError::Failed)
        );
        assert_eq!(render(&big[1..], || None), Ok(None));
        let page = ShopPage {
            id: "gid://shopify/Page/1".into(),
            title: "Lists".into(),
            handle: "lists".into(),
            body: "<ul><li>".repeat(MAX_DEPTH / 2 - 4) + &"<li>x".repeat(MAX_HTML_BYTES / 6),
            is_published: true,
            updated_at: "2026-11-01T10:00:00Z".into(),
        };
        assert!(page.body.len() <= MAX_HTML_BYTES);
        assert!(
            matches!(
                render(&page.body, || page_document(&page, "https://s")),
                Err(RenderError::TooLong(_))
            ),
            "indenting every line of deep lists makes too much Markdown"
        );
        let fine = ShopPage {
            body: "<p>Fine</p>".into(),
            ..page
        };
        let document = render(&fine.body, || page_document(&fine, "https://s"));
        assert_eq!(
            document.unwrap().unwrap().markdown,
            "# Lists\n\nSource: https://s/pages/lists\n\nFine\n"
        );
    }
}
