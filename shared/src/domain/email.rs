//! An email address as the inbox knows a contact by.

use std::fmt;

/// A plausible email address: one `@`, a dotted domain, no spaces, quotes, brackets or control
/// characters. Kept as given (trimmed); compared case-insensitively.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("email must be an email address such as jane@example.com")]
pub struct InvalidEmail;

impl Email {
    pub fn parse(raw: &str) -> Result<Self, InvalidEmail> {
        let email = raw.trim();
        let (local, domain) = email.split_once('@').ok_or(InvalidEmail)?;
        let forbidden =
            |c: char| c.is_whitespace() || c.is_control() || "\"(),:;<>[\\]@".contains(c);
        let valid = email.chars().count() <= 254
            && !local.is_empty()
            && local.len() <= 64
            && !local.chars().any(forbidden)
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !domain.contains("..")
            && !domain.chars().any(forbidden);
        if valid {
            Ok(Self(email.to_owned()))
        } else {
            Err(InvalidEmail)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form used to compare and to key caches: ASCII letters folded, as every comparison
    /// of emails here is ASCII-case-insensitive (Unicode folding would make `\u{212A}ate@…`,
    /// with a Kelvin sign, the same contact as `kate@…`).
    pub fn normalized(&self) -> String {
        self.0.to_ascii_lowercase()
    }

    /// `j***@example.com`, for log lines.
    pub fn masked(&self) -> String {
        crate::telemetry::mask_email(&self.0)
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_addresses_parse() {
        for raw in [
            "jane@example.com",
            " Jane.Doe+vip@mail.example.co.uk ",
            "o'neil@example.ie",
        ] {
            assert!(Email::parse(raw).is_ok(), "{raw}");
        }
        assert_eq!(
            Email::parse(" Jane@Example.com ").unwrap().normalized(),
            "jane@example.com"
        );
    }

    #[test]
    fn only_ascii_letters_are_folded() {
        let kelvin = Email::parse("\u{212A}ate@example.com").unwrap();
        assert_ne!(
            kelvin.normalized(),
            Email::parse("kate@example.com").unwrap().normalized(),
            "a look-alike letter is another contact"
        );
        assert_eq!(
            Email::parse("ÉLODIE@Example.com").unwrap().normalized(),
            "Élodie@example.com"
        );
    }

    #[test]
    fn anything_else_is_refused() {
        for raw in [
            "",
            "jane",
            "jane@",
            "@example.com",
            "jane@example",
            "jane@@example.com",
            "ja ne@example.com",
            "jane@example..com",
            "\"jane\"@example.com",
            "jane@example.com)",
            "jane@.example.com",
        ] {
            assert!(Email::parse(raw).is_err(), "{raw:?}");
        }
    }
}
