//! Shopify's search syntax, as far as the connector relies on it: `OR` separates alternatives,
//! `field:value` filters, quoted phrases are literal terms.

use std::collections::HashMap;

/// One token of Shopify's search syntax.
#[derive(Debug, PartialEq)]
pub enum Token {
    /// A quoted phrase: always a literal term.
    Quoted(String),
    /// An unquoted word: a term, an operator (`OR`, `AND`) or a `field:value` filter.
    Bare(String),
}

pub fn tokenize(query: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = query.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() || c == '(' || c == ')' {
            chars.next();
        } else if c == '"' {
            chars.next();
            let mut phrase = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => phrase.extend(chars.next()),
                    '"' => break,
                    c => phrase.push(c),
                }
            }
            tokens.push(Token::Quoted(phrase));
        } else {
            let mut word = String::new();
            while let Some(&c) = chars.peek() {
                if c.is_whitespace() || c == '(' || c == ')' {
                    break;
                }
                if c == '"' {
                    // field:"value"
                    chars.next();
                    while let Some(c) = chars.next() {
                        match c {
                            '\\' => word.extend(chars.next()),
                            '"' => break,
                            c => word.push(c),
                        }
                    }
                    continue;
                }
                word.push(c);
                chars.next();
            }
            tokens.push(Token::Bare(word));
        }
    }
    tokens
}

/// Evaluates a search: `OR` separates alternatives, everything else must hold; `field:value`
/// filters, other words and quoted phrases must appear in `text`.
pub fn matches(query: &str, fields: &HashMap<&str, String>, text: &str) -> bool {
    let text = text.to_lowercase();
    let mut groups: Vec<Vec<Token>> = vec![Vec::new()];
    for token in tokenize(query) {
        match &token {
            Token::Bare(w) if w == "OR" => groups.push(Vec::new()),
            Token::Bare(w) if w == "AND" => {}
            _ => groups.last_mut().unwrap().push(token),
        }
    }
    groups.iter().any(|group| {
        group.iter().all(|token| match token {
            Token::Quoted(term) => text.contains(&term.to_lowercase()),
            Token::Bare(word) => match word.split_once(':') {
                Some((field, value)) => fields
                    .get(field)
                    .is_some_and(|actual| actual.eq_ignore_ascii_case(value)),
                None => text.contains(&word.to_lowercase()),
            },
        })
    })
}

/// The value of a `field:value` filter in `query`, if any.
pub fn filter_value(query: &str, field: &str) -> Option<String> {
    tokenize(query).into_iter().find_map(|t| match t {
        Token::Bare(w) => w
            .strip_prefix(field)
            .and_then(|rest| rest.strip_prefix(':'))
            .map(str::to_owned),
        Token::Quoted(_) => None,
    })
}

/// Letters and digits, upper-cased.
pub fn canonical(text: &str) -> String {
    text.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}
