//! Serde helpers for request fields.

/// For optional request fields that may be left out but never sent as `null`: use with
/// `#[serde(default, deserialize_with = "shared::domain::present")]`. A field that is absent stays
/// `None` (serde's default); one that is present must hold a `T`, so `null` is refused with the
/// same clear error as any other wrong type.
pub fn present<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    T::deserialize(deserializer).map(Some)
}
