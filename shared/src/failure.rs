//! The one failure vocabulary: every code of the contract, what HTTP status it is, and how it is
//! worded for a merchant (dashboard), for a rep (inbox sidebar) and for the AI (lookup).
//!
//! Module errors (`ShopifyError`, `StoreError`, ...) are sorted into a [`Code`] in exactly one
//! place each (`ShopifyError::code`, `From<StoreError> for ApiError`, ...); every function
//! reports failures through it.

use serde::Serialize;

/// A contract error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Code {
    InvalidRequest,
    Unauthorized,
    Forbidden,
    StoreNotFound,
    PayloadTooLarge,
    InvalidShopDomain,
    ShopNotFound,
    InvalidCredentials,
    MissingScopes,
    ShopUnavailable,
    ShopifyRateLimited,
    ShopifyUnavailable,
    StorageUnavailable,
    Internal,
    // Answers of the AI event (`lookup`).
    InvalidArguments,
    NoStoreConnected,
    ActionDisabled,
    OrderNotFound,
    VerificationRequired,
    /// The store withholds customer emails, so an order's owner cannot be checked.
    VerificationUnavailable,
    /// A sidebar section of a store that withholds customer emails.
    ProtectedCustomerDataUnavailable,
    // Answers of order actions.
    /// The policy or the order's state refuses the action (`details.reason`).
    ActionNotAllowed,
    /// The store's app lacks a scope the action needs (`details.missing`).
    ActionUnavailable,
    ProposalExpired,
    /// An unknown proposal, or one of another organization, contact or conversation.
    ProposalNotFound,
    /// An approval or decline of an action that is not waiting for one.
    ActionNotPending,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidRequest => "invalid_request",
            Self::Unauthorized => "unauthorized",
            Self::Forbidden => "forbidden",
            Self::StoreNotFound => "store_not_found",
            Self::PayloadTooLarge => "payload_too_large",
            Self::InvalidShopDomain => "invalid_shop_domain",
            Self::ShopNotFound => "shop_not_found",
            Self::InvalidCredentials => "invalid_credentials",
            Self::MissingScopes => "missing_scopes",
            Self::ShopUnavailable => "shop_unavailable",
            Self::ShopifyRateLimited => "shopify_rate_limited",
            Self::ShopifyUnavailable => "shopify_unavailable",
            Self::StorageUnavailable => "storage_unavailable",
            Self::Internal => "internal",
            Self::InvalidArguments => "invalid_arguments",
            Self::NoStoreConnected => "no_store_connected",
            Self::ActionDisabled => "action_disabled",
            Self::OrderNotFound => "order_not_found",
            Self::VerificationRequired => "verification_required",
            Self::VerificationUnavailable => "verification_unavailable",
            Self::ProtectedCustomerDataUnavailable => "protected_customer_data_unavailable",
            Self::ActionNotAllowed => "action_not_allowed",
            Self::ActionUnavailable => "action_unavailable",
            Self::ProposalExpired => "proposal_expired",
            Self::ProposalNotFound => "proposal_not_found",
            Self::ActionNotPending => "action_not_pending",
        }
    }

    /// The HTTP status of the dashboard routes for this code.
    pub fn http_status(self) -> u16 {
        match self {
            Self::InvalidRequest | Self::InvalidArguments => 400,
            Self::Unauthorized => 401,
            Self::Forbidden | Self::ActionDisabled => 403,
            Self::StoreNotFound
            | Self::NoStoreConnected
            | Self::OrderNotFound
            | Self::ProposalNotFound => 404,
            Self::ActionNotPending => 409,
            Self::ProposalExpired => 410,
            Self::PayloadTooLarge => 413,
            Self::InvalidShopDomain
            | Self::ShopNotFound
            | Self::InvalidCredentials
            | Self::MissingScopes
            | Self::ShopUnavailable
            | Self::VerificationRequired
            | Self::VerificationUnavailable
            | Self::ProtectedCustomerDataUnavailable
            | Self::ActionNotAllowed
            | Self::ActionUnavailable => 422,
            Self::ShopifyRateLimited => 429,
            Self::ShopifyUnavailable => 502,
            Self::StorageUnavailable => 503,
            Self::Internal => 500,
        }
    }

    /// What a merchant reads in the dashboard: what happened and what to do next.
    pub fn merchant_message(self) -> &'static str {
        match self {
            Self::InvalidRequest => "The request is not valid.",
            Self::Unauthorized => "Sign in again: the request did not say which organization it is for.",
            Self::Forbidden => "Only an organization admin can do this. Ask an admin of your organization.",
            Self::StoreNotFound => "This Shopify store is not connected to your organization.",
            Self::PayloadTooLarge => "The request body is larger than 64 KiB.",
            Self::InvalidShopDomain => "Enter your store's .myshopify.com domain, for example example.myshopify.com.",
            Self::ShopNotFound => "Shopify has no store at this domain. Check the .myshopify.com domain in your Shopify admin (Settings → Domains).",
            Self::InvalidCredentials => "Shopify rejected these credentials. Copy the Admin API access token (or the client ID and secret) again from the app and make sure the app is installed on this store.",
            Self::MissingScopes => "The app is missing required access scopes. Add them in the app's configuration, reinstall or release the app on the store, and connect again.",
            Self::ShopUnavailable => "Shopify says this store is frozen or locked (for example an unpaid bill). Resolve it in the Shopify admin, then try again.",
            Self::ShopifyRateLimited => "Shopify is rate-limiting requests for this store. Wait a moment and try again.",
            Self::ShopifyUnavailable => "Shopify is not answering properly right now. Try again in a few minutes.",
            Self::StorageUnavailable => "Our storage is temporarily unavailable. Nothing was changed; please try again in a moment.",
            Self::Internal => "Something went wrong on our side. Please try again; if it keeps happening, contact support.",
            Self::InvalidArguments => "The arguments are not valid.",
            Self::NoStoreConnected => "No Shopify store is connected yet.",
            Self::ActionDisabled => "This action is turned off in the Shopify settings.",
            Self::OrderNotFound => "The order was not found.",
            Self::VerificationRequired => "The customer's email address is needed first.",
            Self::ActionNotAllowed => "The store's policy does not allow this action for this order.",
            Self::ActionUnavailable => "The store's app lacks an access scope this action needs. Add it in the app's configuration, then verify the store.",
            Self::ProposalExpired => "This proposal has expired. Ask again to get a new one.",
            Self::ProposalNotFound => "There is no such action.",
            Self::ActionNotPending => "This action is not waiting for an approval.",
            Self::VerificationUnavailable | Self::ProtectedCustomerDataUnavailable => "Shopify withholds customer emails from this store's app. Enable protected customer data for the app in the Dev Dashboard, then verify the store.",
        }
    }

    /// What a rep reads in an inbox sidebar section that could not be loaded.
    pub fn sidebar_message(self) -> &'static str {
        match self {
            Self::InvalidCredentials => "Shopify no longer accepts this store's credentials. An admin can reconnect it in the Shopify settings.",
            Self::ProtectedCustomerDataUnavailable => "Shopify withholds customer emails from this store's app, so no customer can be found by email here. An admin can enable protected customer data for the app in the Dev Dashboard (the store's warning says how).",
            Self::ShopUnavailable | Self::ShopNotFound => "Shopify says this store is frozen, locked or closed.",
            Self::ShopifyRateLimited => "Shopify is rate-limiting this store right now. Try again in a minute.",
            Self::ShopifyUnavailable => "Shopify did not answer for this store in time. Try again in a few minutes.",
            _ => "This store could not be read right now. Try again in a moment.",
        }
    }

    /// What the AI may relay to a shopper when every store it asked failed this way.
    pub fn ai_message(self) -> &'static str {
        match self {
            Self::ShopifyRateLimited => {
                "The store is receiving too many requests right now. Please try again in a minute."
            }
            Self::Internal | Self::StorageUnavailable => {
                "Store information is temporarily unavailable. Please try again shortly."
            }
            Self::InvalidCredentials => {
                "The store's connection to Shopify needs attention, so I can't look this up right now. Please try again later, or ask for a team member to follow up."
            }
            _ => "I couldn't reach the store's system just now. Please try again in a few minutes.",
        }
    }
}

impl std::fmt::Display for Code {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialize_as_the_contract_spells_them() {
        for code in [
            Code::InvalidShopDomain,
            Code::ShopifyRateLimited,
            Code::OrderNotFound,
        ] {
            assert_eq!(
                serde_json::to_value(code).unwrap(),
                serde_json::json!(code.as_str())
            );
        }
    }

    #[test]
    fn statuses_follow_the_contract_table() {
        let table = [
            (Code::InvalidRequest, 400),
            (Code::Unauthorized, 401),
            (Code::Forbidden, 403),
            (Code::StoreNotFound, 404),
            (Code::PayloadTooLarge, 413),
            (Code::InvalidShopDomain, 422),
            (Code::ShopNotFound, 422),
            (Code::InvalidCredentials, 422),
            (Code::MissingScopes, 422),
            (Code::ShopUnavailable, 422),
            (Code::ShopifyRateLimited, 429),
            (Code::ShopifyUnavailable, 502),
            (Code::StorageUnavailable, 503),
            (Code::Internal, 500),
        ];
        for (code, status) in table {
            assert_eq!(code.http_status(), status, "{code}");
        }
    }
}
