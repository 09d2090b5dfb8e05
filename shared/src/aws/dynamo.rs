//! What every DynamoDB adapter of the project shares: items keyed by the strings `pk` and `sk`,
//! the scan cursor handed to callers (`{pk}\n{sk}`), the label a log line names an item by, and
//! the outcome of a conditional write.

use std::collections::HashMap;

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::AttributeValue;

/// One item, or one key, as the SDK takes and gives it.
pub type Item = HashMap<String, AttributeValue>;

/// A string attribute.
pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// A number attribute.
pub fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// The key `(pk, sk)`.
pub fn key(pk: impl Into<String>, sk: impl Into<String>) -> Item {
    HashMap::from([("pk".to_owned(), s(pk)), ("sk".to_owned(), s(sk))])
}

/// An item's `pk` and `sk`, when both are strings.
pub fn key_of(item: &Item) -> Option<(&str, &str)> {
    match (item.get("pk"), item.get("sk")) {
        (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) => Some((pk, sk)),
        _ => None,
    }
}

/// The cursor a scan hands its caller for the page after `key` (its `LastEvaluatedKey`).
pub fn cursor_of(key: &Item) -> Option<String> {
    key_of(key).map(|(pk, sk)| format!("{pk}\n{sk}"))
}

/// The key a scan starts after, from a cursor [`cursor_of`] made.
pub fn cursor_key(cursor: &str) -> Option<Item> {
    let (pk, sk) = cursor.split_once('\n')?;
    Some(key(pk, sk))
}

/// How a log line names an item: `{pk} {sk}`, or nothing when its key is unreadable.
pub fn label(item: &Item) -> String {
    key_of(item)
        .map(|(pk, sk)| format!("{pk} {sk}"))
        .unwrap_or_default()
}

/// Why a conditional write did not land.
#[derive(Debug)]
pub enum WriteFailure<E> {
    /// Its condition did not hold.
    ConditionFailed,
    /// Anything else: DynamoDB failed, could not be reached, or refused the request.
    Other(E),
}

/// The answer of a conditional `PutItem`, `DeleteItem` or `UpdateItem`, told apart by the
/// service error's variant.
pub trait ConditionalWrite {
    type Error: std::error::Error + Send + Sync + 'static;

    fn condition(self) -> Result<(), WriteFailure<Self::Error>>;
}

macro_rules! conditional_write {
    ($($error:ty),*) => {$(
        impl<T> ConditionalWrite for Result<T, SdkError<$error, HttpResponse>> {
            type Error = $error;

            fn condition(self) -> Result<(), WriteFailure<$error>> {
                match self.map_err(SdkError::into_service_error) {
                    Ok(_) => Ok(()),
                    Err(e) if e.is_conditional_check_failed_exception() => {
                        Err(WriteFailure::ConditionFailed)
                    }
                    Err(e) => Err(WriteFailure::Other(e)),
                }
            }
        }
    )*};
}

conditional_write!(PutItemError, DeleteItemError, UpdateItemError);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_names_the_key_it_was_made_from() {
        let start = key("ORG#o", "STORE#a.myshopify.com");
        let cursor = cursor_of(&start).unwrap();
        assert_eq!(cursor, "ORG#o\nSTORE#a.myshopify.com");
        assert_eq!(cursor_key(&cursor), Some(start));
        assert_eq!(cursor_key("no newline"), None);
    }

    #[test]
    fn an_item_without_a_string_key_has_no_cursor_and_no_label() {
        let item = HashMap::from([("pk".to_owned(), n(1))]);
        assert_eq!(cursor_of(&item), None);
        assert_eq!(label(&item), "");
        assert_eq!(label(&key("a", "b")), "a b");
    }
}
