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

/// For whole-number request fields: `60` and `60.0` alike (JSON does not tell them apart, and
/// JSON Schema's `integer` takes both), with
/// `#[serde(deserialize_with = "crate::domain::whole_number")]`. A fraction, a negative number
/// or one past `u32` is refused.
pub fn whole_number<'de, D>(deserializer: D) -> Result<u32, D::Error>
where
    D: serde::Deserializer<'de>,
{
    struct WholeNumber;

    impl serde::de::Visitor<'_> for WholeNumber {
        type Value = u32;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("a whole number")
        }

        fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<u32, E> {
            u32::try_from(v)
                .map_err(|_| E::invalid_value(serde::de::Unexpected::Unsigned(v), &self))
        }

        fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<u32, E> {
            u32::try_from(v).map_err(|_| E::invalid_value(serde::de::Unexpected::Signed(v), &self))
        }

        fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<u32, E> {
            if v.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&v) {
                Ok(v as u32)
            } else {
                Err(E::invalid_value(serde::de::Unexpected::Float(v), &self))
            }
        }
    }

    deserializer.deserialize_u32(WholeNumber)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Window {
        #[serde(deserialize_with = "whole_number")]
        minutes: u32,
    }

    fn minutes(json: &str) -> Option<u32> {
        serde_json::from_str::<Window>(json).ok().map(|w| w.minutes)
    }

    #[test]
    fn a_whole_number_may_be_written_with_a_zero_fraction() {
        assert_eq!(minutes(r#"{"minutes": 120}"#), Some(120));
        assert_eq!(minutes(r#"{"minutes": 120.0}"#), Some(120));
        assert_eq!(minutes(r#"{"minutes": 1.2e2}"#), Some(120));
    }

    #[test]
    fn fractions_negatives_and_numbers_past_u32_are_refused() {
        for json in [
            r#"{"minutes": 120.5}"#,
            r#"{"minutes": -1}"#,
            r#"{"minutes": -1.0}"#,
            r#"{"minutes": 4294967296}"#,
            r#"{"minutes": "120"}"#,
        ] {
            assert_eq!(minutes(json), None, "{json}");
        }
    }
}
