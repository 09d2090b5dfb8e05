//! An order number as a shopper or the AI model writes it: `#1042`, `1042`, `UK-1042`, `uk1042`,
//! `order 1042`, `Order #UK-1042`.

use std::fmt;

/// A parsed order number: letters before the digits, the digits, letters after them.
/// Parsing keeps only ASCII letters and digits, so it can never carry search syntax.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderNumber {
    /// Upper-case letters before the number (`UK` of `UK-1042`), or letters and digits ended by
    /// a separator (`A1` of `A1-1042`); empty when none were given.
    pub prefix: String,
    pub digits: String,
    /// Upper-case letters after the number (`EU` of `1042-EU`); empty when none were given.
    pub suffix: String,
}

/// Not something that reads as an order number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("An order number looks like #1042, 1042 or UK-1042.")]
pub struct InvalidOrderNumber;

const MAX_INPUT: usize = 40;
const MAX_DIGITS: usize = 15;
const MAX_LETTERS: usize = 10;

fn strip_order_word(s: &str) -> &str {
    let lower = s.to_ascii_lowercase();
    for word in [
        "order number",
        "order no.",
        "order no",
        "order nr.",
        "order nr",
        "order",
    ] {
        if lower.starts_with(word) {
            let rest = &s[word.len()..];
            if rest.starts_with(|c: char| c.is_ascii_whitespace() || c == '#' || c == ':') {
                return rest.trim_start_matches(|c: char| c.is_ascii_whitespace() || c == ':');
            }
        }
    }
    s
}

impl OrderNumber {
    pub fn parse(raw: &str) -> Result<Self, InvalidOrderNumber> {
        let s = raw.trim();
        if s.is_empty() || s.len() > MAX_INPUT || !s.is_ascii() {
            return Err(InvalidOrderNumber);
        }
        let s = strip_order_word(s).trim_start_matches('#').trim();
        let bytes = s.as_bytes();
        let mut i = 0;
        let letters = |i: &mut usize| {
            let start = *i;
            while *i < bytes.len() && bytes[*i].is_ascii_alphabetic() {
                *i += 1;
            }
            s[start..*i].to_ascii_uppercase()
        };
        let separator = |i: &mut usize| {
            if *i < bytes.len() && matches!(bytes[*i], b'-' | b'#' | b' ' | b'_') {
                *i += 1;
            }
        };
        let prefix = letters(&mut i);
        if !prefix.is_empty() {
            separator(&mut i);
        }
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let digits = s[start..i].to_owned();
        let mut suffix = String::new();
        if i < bytes.len() {
            separator(&mut i);
            suffix = letters(&mut i);
        }
        let valid = i == bytes.len()
            && !digits.is_empty()
            && digits.len() <= MAX_DIGITS
            && prefix.len() <= MAX_LETTERS
            && suffix.len() <= MAX_LETTERS
            && (i == start + digits.len() || !suffix.is_empty());
        if valid {
            Ok(Self {
                prefix,
                digits,
                suffix,
            })
        } else {
            Self::with_alphanumeric_prefix(s).ok_or(InvalidOrderNumber)
        }
    }

    /// A prefix of letters and digits, which a separator ends (`A1-1042`, `A1 #1042`): read
    /// only when the plain reading fails, so `1042-EU` stays a number and its suffix. It holds
    /// a letter, so `1042 1043` stays two numbers, not one.
    fn with_alphanumeric_prefix(s: &str) -> Option<Self> {
        let end = s.find(|c: char| !c.is_ascii_alphanumeric())?;
        let (prefix, rest) = (&s[..end], &s[end..]);
        if !prefix.bytes().any(|b| b.is_ascii_alphabetic()) || prefix.len() > MAX_LETTERS {
            return None;
        }
        // Shorter than `s` by the prefix: the recursion ends.
        let rest = Self::parse(rest.strip_prefix(['-', '#', ' ', '_']).unwrap_or(rest)).ok()?;
        let fits = rest.prefix.is_empty() && rest.suffix.is_empty();
        fits.then(|| Self {
            prefix: prefix.to_ascii_uppercase(),
            digits: rest.digits,
            suffix: String::new(),
        })
    }
}

impl fmt::Display for OrderNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.prefix.is_empty(), self.suffix.is_empty()) {
            (true, true) => write!(f, "#{}", self.digits),
            (false, true) => write!(f, "{}-{}", self.prefix, self.digits),
            (true, false) => write!(f, "#{}-{}", self.digits, self.suffix),
            (false, false) => write!(f, "{}-{}-{}", self.prefix, self.digits, self.suffix),
        }
    }
}

/// Letters and digits of an order name or format, upper-cased: `#UK-1042` → `UK1042`.
pub fn canonical(text: &str) -> String {
    text.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parsed(raw: &str) -> (String, String, String) {
        let n = OrderNumber::parse(raw).unwrap_or_else(|_| panic!("{raw:?} should parse"));
        (n.prefix, n.digits, n.suffix)
    }

    fn t(p: &str, d: &str, s: &str) -> (String, String, String) {
        (p.into(), d.into(), s.into())
    }

    #[test]
    fn the_forms_shoppers_use_are_understood() {
        assert_eq!(parsed("#1042"), t("", "1042", ""));
        assert_eq!(parsed("1042"), t("", "1042", ""));
        assert_eq!(parsed("UK-1042"), t("UK", "1042", ""));
        assert_eq!(parsed("uk1042"), t("UK", "1042", ""));
        assert_eq!(parsed("order 1042"), t("", "1042", ""));
        assert_eq!(parsed("Order #UK-1042"), t("UK", "1042", ""));
        assert_eq!(parsed("order number: 77"), t("", "77", ""));
        assert_eq!(parsed("A1-1042"), t("A1", "1042", ""));
        assert_eq!(parsed("order #a1 #1042"), t("A1", "1042", ""));
        assert_eq!(parsed("1042-EU"), t("", "1042", "EU"));
        assert!(OrderNumber::parse("1042 1043").is_err(), "two numbers");
        assert!(OrderNumber::parse("A1-B2-1042").is_err());
        assert_eq!(parsed("Order no. #1042"), t("", "1042", ""));
        assert_eq!(parsed(" #1042-EU "), t("", "1042", "EU"));
        assert_eq!(parsed("UK 1042"), t("UK", "1042", ""));
    }

    #[test]
    fn junk_is_rejected() {
        for raw in [
            "",
            "#",
            "order",
            "abc",
            "1042 OR 1",
            "1042; drop",
            "10 42",
            "UK--1042",
            "status:any",
            "name:1042",
            "1042*",
            "#1042#",
            "١٠٤٢",
            "10\n42",
            "12345678901234567",
            "UK-",
            "-1042",
        ] {
            assert!(OrderNumber::parse(raw).is_err(), "{raw:?} must be rejected");
        }
    }

    #[test]
    fn canonical_names_ignore_punctuation_and_case() {
        assert_eq!(canonical("#UK-1042"), "UK1042");
        assert_eq!(canonical("uk1042"), "UK1042");
        assert_eq!(canonical("#1042"), "1042");
    }

    proptest! {
        #[test]
        fn whatever_parses_holds_only_letters_and_digits(raw in "\\PC{0,40}") {
            if let Ok(n) = OrderNumber::parse(&raw) {
                prop_assert!(n.prefix.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit()));
                prop_assert!(n.prefix.is_empty() || n.prefix.chars().any(|c| c.is_ascii_uppercase()));
                prop_assert!(n.suffix.chars().all(|c| c.is_ascii_uppercase()));
                prop_assert!(!n.digits.is_empty() && n.digits.chars().all(|c| c.is_ascii_digit()));
            }
        }

        #[test]
        fn displayed_numbers_parse_back(prefix in "[A-Z]{0,4}", digits in "[0-9]{1,8}") {
            let n = OrderNumber { prefix, digits, suffix: String::new() };
            prop_assert_eq!(OrderNumber::parse(&n.to_string()).unwrap(), n);
        }
    }
}
