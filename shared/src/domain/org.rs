//! The organization (tenant) a caller acts for.

use std::fmt;

use serde::{Deserialize, Serialize};

/// An opaque tenant id of 1–128 characters from `[A-Za-z0-9_.:-]`.
///
/// It comes only from the authorizer's JWT claims (or the AI platform's trusted event) and
/// is part of every storage key, which is what keeps organizations apart.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct OrganizationId(String);

/// The org claim was missing, empty, too long or held a character outside the allowed set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("organization ids are 1-128 characters from A-Z, a-z, 0-9, '_', '.', ':' and '-'")]
pub struct InvalidOrganizationId;

impl OrganizationId {
    pub const MAX_LEN: usize = 128;

    pub fn parse(raw: &str) -> Result<Self, InvalidOrganizationId> {
        let valid = !raw.is_empty()
            && raw.len() <= Self::MAX_LEN
            && raw
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'));
        if valid {
            Ok(Self(raw.to_owned()))
        } else {
            Err(InvalidOrganizationId)
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for OrganizationId {
    type Error = InvalidOrganizationId;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<OrganizationId> for String {
    fn from(value: OrganizationId) -> Self {
        value.0
    }
}

impl fmt::Display for OrganizationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn typical_ids_are_accepted() {
        for id in ["org_123", "a", "tenant:eu-west.1", &"x".repeat(128)] {
            assert_eq!(OrganizationId::parse(id).unwrap().as_str(), id);
        }
    }

    #[test]
    fn empty_long_and_foreign_characters_are_rejected() {
        for id in [
            "",
            &"x".repeat(129),
            "org 1",
            "org/1",
            "org#1",
            "ørg",
            "org\n",
        ] {
            assert!(
                OrganizationId::parse(id).is_err(),
                "{id:?} must be rejected"
            );
        }
    }

    proptest! {
        #[test]
        fn any_character_outside_the_set_is_rejected(prefix in "[a-z]{0,5}", bad in "[^A-Za-z0-9_.:-]", suffix in "[a-z]{0,5}") {
            let id = format!("{prefix}{bad}{suffix}");
            prop_assert!(OrganizationId::parse(&id).is_err());
        }
    }
}
