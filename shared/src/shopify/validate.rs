//! Reading a shop's identity, granted scopes and whether customers' emails are visible: the
//! live check behind connect and verify, in one request.

use secrecy::SecretString;
use serde::Deserialize;

use super::queries::{SHOP_AND_SCOPES, VALIDATE_CREDENTIALS};
use super::{missing_scopes, ShopifyClient, ShopifyError};
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

/// Whether Shopify shows the app customers' and orders' email addresses.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum CustomerData {
    /// Emails come back.
    Visible,
    /// Shopify denies or redacts them: these fields (e.g. `customer email`, `order email`).
    Withheld(Vec<String>),
    /// Not known: required scopes are missing, or the store has too few customers or orders
    /// to tell.
    #[default]
    Unknown,
}

/// The answer to `ShopAndScopes`, and the first half of `ValidateCredentials`'.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Data {
    shop: Shop,
    current_app_installation: AppInstallation,
}

/// The answer to `ValidateCredentials`: the shop and its scopes, and the emails probe.
#[derive(Deserialize)]
struct Validation {
    #[serde(flatten)]
    data: Data,
    #[serde(flatten)]
    probe: Probe,
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

/// The root fields of `ValidateCredentials` that only the emails probe reads.
const PROBED: [&str; 2] = ["customers", "orders"];

impl ShopifyClient {
    /// The live check behind connect and verify: client credentials are exchanged for a fresh
    /// token (never taken from the cache), then one query reads the shop, its scopes and
    /// whether customers' and orders' emails are visible. Only when Shopify denies those
    /// customers or orders (a required scope or protected customer data access is missing)
    /// is the shop read again on its own, since such a denial may take the whole answer.
    pub async fn check_credentials(
        &self,
        deadline: &Deadline,
        shop: &ShopDomain,
        credentials: &Credentials,
    ) -> Result<ShopInfo, ShopifyError> {
        let token = self.fresh_token(deadline, shop, credentials).await?;
        let answer: Result<Validation, ShopifyError> = self
            .query(
                deadline,
                shop,
                &token,
                &VALIDATE_CREDENTIALS,
                serde_json::json!({}),
            )
            .await;
        match answer {
            Ok(validation) => Ok(validation.info()),
            Err(ShopifyError::AccessDenied { fields }) if probe_denied(&fields) => {
                tracing::info!(shop = %shop, denied = fields.len(), "Shopify denied the recent customers or orders; reading the shop alone");
                let mut info = self.shop_info(deadline, shop, &token).await?;
                if missing_scopes(&info.granted_scopes).is_empty() {
                    info.customer_data = withheld(&fields);
                }
                Ok(info)
            }
            Err(error) => Err(error),
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
                &SHOP_AND_SCOPES,
                serde_json::json!({}),
            )
            .await?;
        Ok(data.info())
    }
}

impl Data {
    fn info(self) -> ShopInfo {
        let mut granted_scopes: Vec<String> = self
            .current_app_installation
            .access_scopes
            .into_iter()
            .map(|s| s.handle)
            .collect();
        granted_scopes.sort();
        granted_scopes.dedup();
        ShopInfo {
            name: self.shop.name,
            myshopify_domain: self.shop.myshopify_domain,
            currency: self.shop.currency_code,
            order_number_prefix: self.shop.order_number_format_prefix.unwrap_or_default(),
            order_number_suffix: self.shop.order_number_format_suffix.unwrap_or_default(),
            plan: self.shop.plan.and_then(|p| p.public_display_name),
            granted_scopes,
            customer_data: CustomerData::Unknown,
        }
    }
}

impl Validation {
    /// The shop, with the probe's verdict once every required scope is granted (without them
    /// the connect is refused, and what the probe saw says nothing).
    fn info(self) -> ShopInfo {
        let mut info = self.data.info();
        if missing_scopes(&info.granted_scopes).is_empty() {
            info.customer_data = self.probe.verdict();
        }
        info
    }
}

/// Whether Shopify denied `customers` or `orders` themselves (which cannot be null, so the
/// denial took the whole answer) and nothing but what the emails probe reads. Any other denial,
/// or a denied email alone (which leaves the rest of an answer), is about the token itself.
fn probe_denied(fields: &[String]) -> bool {
    fields.iter().any(|path| PROBED.contains(&path.as_str()))
        && fields
            .iter()
            .all(|path| PROBED.contains(&path.split('.').next().unwrap_or_default()))
}

/// The emails Shopify denied, by the paths of its denials.
fn withheld(fields: &[String]) -> CustomerData {
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
    withheld.sort();
    withheld.dedup();
    CustomerData::Withheld(withheld)
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

    fn validation(scopes: &[&str], probed: serde_json::Value) -> ShopInfo {
        let mut answer = serde_json::json!({
            "shop": {"name": "Demo", "myshopifyDomain": "demo.myshopify.com", "currencyCode": "USD",
                     "orderNumberFormatPrefix": "#", "orderNumberFormatSuffix": null, "plan": null},
            "currentAppInstallation": {"accessScopes": scopes.iter().map(|s| serde_json::json!({"handle": s})).collect::<Vec<_>>()},
        });
        answer
            .as_object_mut()
            .unwrap()
            .extend(probed.as_object().unwrap().clone());
        serde_json::from_value::<Validation>(answer).unwrap().info()
    }

    #[test]
    fn one_answer_gives_the_shop_its_scopes_and_the_emails_verdict() {
        let info = validation(
            &["read_products", "read_customers", "read_orders"],
            nodes(5, 5, None),
        );
        assert_eq!(
            (
                info.name.as_str(),
                info.order_number_prefix.as_str(),
                info.order_number_suffix.as_str()
            ),
            ("Demo", "#", "")
        );
        assert_eq!(
            info.granted_scopes,
            ["read_customers", "read_orders", "read_products"]
        );
        assert_eq!(
            info.customer_data,
            CustomerData::Withheld(vec!["customer email".into(), "order email".into()])
        );
    }

    #[test]
    fn without_the_required_scopes_the_emails_say_nothing() {
        let info = validation(&["read_products"], nodes(5, 5, None));
        assert_eq!(info.customer_data, CustomerData::Unknown);
    }

    #[test]
    fn only_denied_customers_or_orders_are_the_probe_s() {
        let paths = |p: &[&str]| p.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(probe_denied(&paths(&["customers", "orders.nodes.email"])));
        assert!(probe_denied(&paths(&["orders"])));
        assert!(!probe_denied(&[]), "a denial naming nothing is the token's");
        assert!(
            !probe_denied(&paths(&["orders.nodes.email"])),
            "a denied email alone leaves the rest of the answer"
        );
        assert!(!probe_denied(&paths(&["shop"])));
        assert!(!probe_denied(&paths(&[
            "customers",
            "currentAppInstallation"
        ])));
        assert!(!probe_denied(&paths(&["customersX"])));
        assert_eq!(
            withheld(&paths(&["orders.nodes.email", "orders.nodes.email"])),
            CustomerData::Withheld(vec!["order email".into()])
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
