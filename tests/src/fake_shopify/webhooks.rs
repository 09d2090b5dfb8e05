//! The app's webhook subscriptions, per shop, as Shopify keeps them: created
//! (`webhookSubscriptionCreate`, one per topic and address), listed (`webhookSubscriptions`,
//! filtered by topic), re-pointed (`webhookSubscriptionUpdate`), and deleted the way Shopify
//! deletes a subscription whose deliveries keep failing.

use serde_json::{json, Value};

/// One subscription.
#[derive(Clone, Debug)]
pub struct FakeSubscription {
    pub id: u64,
    pub topic: String,
    pub uri: String,
}

fn gid(id: u64) -> String {
    format!("gid://shopify/WebhookSubscription/{id}")
}

/// `webhookSubscriptionCreate`: one subscription per (topic, address); a second one is refused
/// with the user error Shopify gives.
pub fn create(inner: &mut super::Inner, shop: &str, vars: &Value) -> Value {
    let topic = vars["topic"].as_str().unwrap_or_default().to_owned();
    let uri = vars["uri"].as_str().unwrap_or_default().to_owned();
    inner.webhook_ids += 1;
    let id = inner.webhook_ids;
    let subscriptions = inner.webhooks.entry(shop.to_owned()).or_default();
    if subscriptions
        .iter()
        .any(|s| s.topic == topic && s.uri == uri)
    {
        return json!({"webhookSubscriptionCreate": {
            "webhookSubscription": null,
            "userErrors": [{"field": ["webhookSubscription", "callbackUrl"], "message": "Address for this topic has already been taken"}]
        }});
    }
    subscriptions.push(FakeSubscription { id, topic, uri });
    json!({"webhookSubscriptionCreate": {
        "webhookSubscription": {"id": gid(id)},
        "userErrors": []
    }})
}

/// `webhookSubscriptions(topics:)`: the app's subscriptions to those topics.
pub fn list(inner: &super::Inner, shop: &str, vars: &Value) -> Value {
    let topics: Vec<&str> = vars["topics"]
        .as_array()
        .map(|t| t.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let nodes: Vec<Value> = inner
        .webhooks
        .get(shop)
        .into_iter()
        .flatten()
        .filter(|s| topics.is_empty() || topics.contains(&s.topic.as_str()))
        .map(|s| json!({"id": gid(s.id), "topic": s.topic, "uri": s.uri}))
        .collect();
    json!({"webhookSubscriptions": {"nodes": nodes}})
}

/// `webhookSubscriptionUpdate(id:, webhookSubscription: {uri:})`.
pub fn repoint(inner: &mut super::Inner, shop: &str, vars: &Value) -> Value {
    let id = vars["id"].as_str().unwrap_or_default();
    let uri = vars["uri"].as_str().unwrap_or_default();
    let subscriptions = inner.webhooks.entry(shop.to_owned()).or_default();
    let taken = |s: &FakeSubscription, topic: &str| s.topic == topic && s.uri == uri;
    let Some(at) = subscriptions.iter().position(|s| gid(s.id) == id) else {
        return json!({"webhookSubscriptionUpdate": {
            "webhookSubscription": null,
            "userErrors": [{"field": ["id"], "message": "Webhook subscription does not exist"}]
        }});
    };
    let topic = subscriptions[at].topic.clone();
    if subscriptions.iter().any(|s| taken(s, &topic)) {
        return json!({"webhookSubscriptionUpdate": {
            "webhookSubscription": null,
            "userErrors": [{"field": ["webhookSubscription", "callbackUrl"], "message": "Address for this topic has already been taken"}]
        }});
    }
    subscriptions[at].uri = uri.to_owned();
    json!({"webhookSubscriptionUpdate": {
        "webhookSubscription": {"id": id},
        "userErrors": []
    }})
}
