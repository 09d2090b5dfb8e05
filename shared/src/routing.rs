//! Which stores to ask for an order number: the ones whose order-number format matches first,
//! the others only when the number leaves room for them.

use crate::domain::order_number::{canonical, OrderNumber};
use crate::store::StoreRecord;

/// One store to ask, and the exact order name (canonical form) that counts as a match there.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub index: usize,
    /// `UK1042` for `UK-1042`: compared with [`canonical`] of each order's name.
    pub expected: String,
    /// The search term for Shopify's (fuzzy) name search, in the store's own format.
    pub search_name: String,
}

/// Stores to ask, in rounds: the second round only runs when every store of the first answered
/// that the order is not there (none failed or was left out).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    pub first: Vec<Target>,
    pub then: Vec<Target>,
}

fn target(index: usize, store: &StoreRecord, number: &OrderNumber) -> Target {
    let store_prefix = canonical(&store.order_number_prefix);
    let store_suffix = canonical(&store.order_number_suffix);
    let prefix = if number.prefix.is_empty() {
        &store_prefix
    } else {
        &number.prefix
    };
    let suffix = if number.suffix.is_empty() {
        &store_suffix
    } else {
        &number.suffix
    };
    let search_name = if *prefix == store_prefix && *suffix == store_suffix {
        format!(
            "{}{}{}",
            store.order_number_prefix, number.digits, store.order_number_suffix
        )
    } else {
        format!("{prefix}{}{suffix}", number.digits)
    };
    Target {
        index,
        expected: format!("{prefix}{}{suffix}", number.digits),
        search_name,
    }
}

/// Stores whose prefix (and suffix, when given) match are asked first. Without such a store,
/// every store is asked at once. When the number has no letters (a shopper may leave out
/// `UK-`), stores with another prefix are asked after the matching ones all answered that they
/// do not have it.
pub fn plan(stores: &[StoreRecord], number: &OrderNumber) -> Plan {
    let matches = |store: &StoreRecord| {
        canonical(&store.order_number_prefix) == number.prefix
            && (number.suffix.is_empty() || canonical(&store.order_number_suffix) == number.suffix)
    };
    let (matching, others): (Vec<_>, Vec<_>) = stores
        .iter()
        .enumerate()
        .partition(|(_, store)| matches(store));
    let to_targets = |list: Vec<(usize, &StoreRecord)>| {
        list.into_iter()
            .map(|(i, store)| target(i, store, number))
            .collect::<Vec<_>>()
    };
    if matching.is_empty() {
        Plan {
            first: to_targets(others),
            then: Vec::new(),
        }
    } else if number.prefix.is_empty() {
        Plan {
            first: to_targets(matching),
            then: to_targets(others),
        }
    } else {
        Plan {
            first: to_targets(matching),
            then: Vec::new(),
        }
    }
}

/// Whether an order's name is exactly the one looked for (Shopify's search is fuzzy).
pub fn is_exact(order_name: &str, target: &Target) -> bool {
    canonical(order_name) == target.expected
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_record;

    fn stores() -> Vec<StoreRecord> {
        vec![
            test_record("us-store", "#", ""),
            test_record("uk-store", "UK-", ""),
            test_record("eu-store", "#", "-EU"),
        ]
    }

    fn shops(targets: &[Target], stores: &[StoreRecord]) -> Vec<String> {
        targets
            .iter()
            .map(|t| stores[t.index].shop_domain.handle().to_owned())
            .collect()
    }

    #[test]
    fn a_prefixed_number_goes_to_the_store_with_that_prefix_only() {
        let stores = stores();
        let plan = plan(&stores, &OrderNumber::parse("uk1042").unwrap());
        assert_eq!(shops(&plan.first, &stores), ["uk-store"]);
        assert!(plan.then.is_empty());
        assert_eq!(plan.first[0].search_name, "UK-1042");
        assert_eq!(plan.first[0].expected, "UK1042");
    }

    #[test]
    fn a_bare_number_asks_unprefixed_stores_first_then_the_rest() {
        let stores = stores();
        let plan = plan(&stores, &OrderNumber::parse("#1042").unwrap());
        assert_eq!(shops(&plan.first, &stores), ["us-store", "eu-store"]);
        assert_eq!(shops(&plan.then, &stores), ["uk-store"]);
        assert_eq!(plan.first[1].search_name, "#1042-EU");
        assert_eq!(plan.then[0].expected, "UK1042");
    }

    #[test]
    fn an_unknown_prefix_asks_every_store_for_that_exact_name() {
        let stores = stores();
        let plan = plan(&stores, &OrderNumber::parse("FR-7").unwrap());
        assert_eq!(plan.first.len(), 3);
        let expected: Vec<_> = plan.first.iter().map(|t| t.expected.as_str()).collect();
        assert_eq!(
            expected,
            ["FR7", "FR7", "FR7EU"],
            "a missing suffix takes the store's own"
        );
    }

    #[test]
    fn a_prefix_holding_digits_routes_and_matches() {
        let mut stores = stores();
        stores.push(test_record("a1-store", "A1-", ""));
        let plan = plan(&stores, &OrderNumber::parse("a1-1042").unwrap());
        assert_eq!(shops(&plan.first, &stores), ["a1-store"]);
        assert!(plan.then.is_empty());
        assert_eq!(plan.first[0].search_name, "A1-1042");
        assert!(is_exact("A1-1042", &plan.first[0]));

        let bare = super::plan(&stores, &OrderNumber::parse("1042").unwrap());
        let a1 = bare
            .then
            .iter()
            .find(|t| stores[t.index].shop_domain.handle() == "a1-store")
            .expect("asked after the unprefixed stores");
        assert_eq!(a1.search_name, "A1-1042");
        assert!(is_exact("A1-1042", a1), "{a1:?}");
    }

    #[test]
    fn only_exact_names_match() {
        let stores = stores();
        let plan = plan(&stores, &OrderNumber::parse("1042").unwrap());
        let us = &plan.first[0];
        assert!(is_exact("#1042", us));
        assert!(!is_exact("#10420", us));
        assert!(!is_exact("#1042-EU", us));
        assert!(!is_exact("UK-1042", us));
    }
}
