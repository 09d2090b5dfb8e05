//! Reading a shop's identity and granted scopes: the live check behind connect and verify.

use secrecy::SecretString;
use serde::Deserialize;

use super::queries::{PROTECTED_DATA_PROBE, VALIDATE_CREDENTIALS};
use super::{ShopifyClient, ShopifyError};
use crate::deadline::Deadline;
use crate::domain::{Credentials, ShopDomain};

/// What Shopify says about a shop and the app's access to it.
#[derive(Clone, Debug, PartialEq)]
pub struct ShopInfo {
    pub name: String,
    pub myshopify_domain: String,
    pub currency: String,
    pub order_number_prefix: String,
    pub order_number_suffix: String,
    pub plan: Option<String>,
    pub granted_scopes: Vec<String>,
    /// Whether customers' and orders' emails come back (protected customer data).
    pub customer_data: CustomerData,
}

/// What the protected-data probe may add to a connect or verify.
pub const PROBE_BUDGET: std::time::Duration = std::time::Duration::from_secs(3);

/// Whether Shopify shows the app customers' and orders' email addresses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum CustomerData {
    /// Emails come back.
    Visible,
    /// Shopify denies or redacts them: these fields (e.g. `customer email`, `order email`).
    Withheld(Vec<String>),
    /// Not known: the probe did not run (scopes missing), failed in a way that says nothing,
    /// or the store has no customers or orders yet.
    #[default]
    Unknown,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data {
    shop: Shop,
    current_app_installation: AppInstallation,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Shop {
    name: String,
    myshopify_domain: String,
    currency_code: String,
    #[serde(default)]
    order_number_format_prefix: Option<String>,
    #[serde(default)]
    order_number_format_suffix: Option<String>,
    plan: Option<Plan>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Plan {
    public_display_name: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct AppInstallation {
    access_scopes: Vec<Scope>,
}

#[derive(Deserialize)]
struct Scope {
    handle: String,
}

impl ShopifyClient {
    /// The live check behind connect and verify: client credentials are exchanged for a fresh
    /// token (never taken from the cache), then one query reads the shop and its scopes.
    pub async fn check_credentials(
        &self,
        deadline: &Deadline,
        shop: &ShopDomain,
        credentials: &Credentials,
    ) -> Result<ShopInfo, ShopifyError> {
        let token = self.fresh_token(deadline, shop, credentials).await?;
        let mut info = self.shop_info(deadline, shop, &token).await?;
        if super::missing_scopes(&info.granted_scopes).is_empty() {
            // Within a few seconds of its own: a slow probe costs the connect nothing more.
            let probe = deadline.within(PROBE_BUDGET);
            info.customer_data = self.probe_customer_data(&probe, shop, &token).await;
        }
        Ok(info)
    }

    /// Reads a few recent customers' and orders' emails: none at all, or `ACCESS_DENIED`,
    /// means Shopify withholds protected customer data from the app.
    pub async fn probe_customer_data(
        &self,
        deadline: &Deadline,
        shop: &ShopDomain,
        token: &SecretString,
    ) -> CustomerData {
        let answer: Result<Probe, ShopifyError> = self
            .query(
                deadline,
                shop,
                token,
                &PROTECTED_DATA_PROBE,
                serde_json::json!({}),
            )
            .await;
        match answer {
            Ok(probe) => probe.verdict(),
            Err(ShopifyError::AccessDenied { fields }) => {
                let mut withheld: Vec<String> = fields
                    .iter()
                    .map(|path| {
                        if path.starts_with("customers") {
                            "customer email".to_owned()
                        } else {
                            "order email".to_owned()
                        }
                    })
                    .collect();
                if withheld.is_empty() {
                    withheld = vec!["customer email".into(), "order email".into()];
                }
                withheld.sort();
                withheld.dedup();
                CustomerData::Withheld(withheld)
            }
            Err(error) => {
                tracing::info!(shop = %shop, %error, "could not tell whether customer data is visible");
                CustomerData::Unknown
            }
        }
    }

    /// One query reading the shop and the scopes granted to the token.
    pub async fn shop_info(
        &self,
        deadline: &Deadline,
        shop: &ShopDomain,
        token: &SecretString,
    ) -> Result<ShopInfo, ShopifyError> {
        let data: Data = self
            .query(
                deadline,
                shop,
                token,
                &VALIDATE_CREDENTIALS,
                serde_json::json!({}),
            )
            .await?;
        let mut granted_scopes: Vec<String> = data
            .current_app_installation
            .access_scopes
            .into_iter()
            .map(|s| s.handle)
            .collect();
        granted_scopes.sort();
        granted_scopes.dedup();
        Ok(ShopInfo {
            name: data.shop.name,
            myshopify_domain: data.shop.myshopify_domain,
            currency: data.shop.currency_code,
            order_number_prefix: data.shop.order_number_format_prefix.unwrap_or_default(),
            order_number_suffix: data.shop.order_number_format_suffix.unwrap_or_default(),
            plan: data.shop.plan.and_then(|p| p.public_display_name),
            granted_scopes,
            customer_data: CustomerData::Unknown,
        })
    }
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Probe {
    #[serde(default)]
    customers: Option<Nodes<ProbeCustomer>>,
    #[serde(default)]
    orders: Option<Nodes<ProbeOrder>>,
}

#[derive(Deserialize)]
struct Nodes<T> {
    nodes: Vec<T>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ProbeCustomer {
    default_email_address: Option<EmailAddress>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct EmailAddress {
    email_address: Option<String>,
}

#[derive(Deserialize)]
struct ProbeOrder {
    email: Option<String>,
}

fn present(email: Option<&str>) -> bool {
    email.is_some_and(|e| !e.trim().is_empty())
}

impl ProbeCustomer {
    fn has_email(&self) -> bool {
        present(
            self.default_email_address
                .as_ref()
                .and_then(|a| a.email_address.as_deref()),
        )
    }
}

impl Probe {
    /// Withheld when there are customers and orders, at least six together, and not one of
    /// them shows an email: a customer or a point-of-sale order without an email is normal,
    /// none among the five most recent customers and the five most recent orders is Shopify
    /// redacting them. (Shopify's ACCESS_DENIED answer is the sure sign; this catches the
    /// silent redaction.)
    fn verdict(&self) -> CustomerData {
        let customers = self.customers.as_ref().map_or(&[][..], |c| &c.nodes[..]);
        let orders = self.orders.as_ref().map_or(&[][..], |o| &o.nodes[..]);
        // Too few to tell a store whose customers simply have no email from redaction.
        if customers.is_empty() || orders.is_empty() || customers.len() + orders.len() < 6 {
            return CustomerData::Unknown;
        }
        let customer_emails = customers.iter().any(ProbeCustomer::has_email);
        let order_emails = orders.iter().any(|o| present(o.email.as_deref()));
        let mut withheld = Vec::new();
        if !customers.is_empty() && !customer_emails {
            withheld.push("customer email".to_owned());
        }
        if !orders.is_empty() && !order_emails {
            withheld.push("order email".to_owned());
        }
        // Emails on one side prove they are not withheld; a store whose few customers simply
        // have none is not flagged.
        if withheld.is_empty() || customer_emails || order_emails {
            CustomerData::Visible
        } else {
            CustomerData::Withheld(withheld)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn probe(value: serde_json::Value) -> CustomerData {
        serde_json::from_value::<Probe>(value).unwrap().verdict()
    }

    fn nodes(customers: usize, orders: usize, email: Option<&str>) -> serde_json::Value {
        serde_json::json!({
            "customers": {"nodes": (0..customers).map(|_| serde_json::json!({"defaultEmailAddress": email.map(|e| serde_json::json!({"emailAddress": e}))})).collect::<Vec<_>>()},
            "orders": {"nodes": (0..orders).map(|_| serde_json::json!({"email": email})).collect::<Vec<_>>()},
        })
    }

    #[test]
    fn emails_anywhere_mean_visible() {
        assert_eq!(probe(nodes(5, 5, Some("a@b.c"))), CustomerData::Visible);
        let mut one = nodes(5, 5, None);
        one["orders"]["nodes"][4]["email"] = serde_json::json!("a@b.c");
        assert_eq!(
            probe(one),
            CustomerData::Visible,
            "one email proves they are shown"
        );
    }

    #[test]
    fn no_email_at_all_means_withheld() {
        assert_eq!(
            probe(nodes(5, 5, None)),
            CustomerData::Withheld(vec!["customer email".into(), "order email".into()])
        );
    }

    #[test]
    fn too_little_to_judge_is_unknown() {
        assert_eq!(probe(nodes(0, 0, None)), CustomerData::Unknown);
        assert_eq!(
            probe(nodes(2, 2, None)),
            CustomerData::Unknown,
            "four records"
        );
        assert_eq!(
            probe(nodes(5, 0, None)),
            CustomerData::Unknown,
            "point-of-sale customers, no orders"
        );
        assert_eq!(
            probe(nodes(0, 5, None)),
            CustomerData::Unknown,
            "orders without customers"
        );
    }
}
