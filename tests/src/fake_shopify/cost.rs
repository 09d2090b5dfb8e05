//! Query cost and the rate-limit bucket, the way Shopify describes them: scalars cost nothing,
//! an object 1, a connection or list `2 + first × (cost of one element)`. The requested cost
//! comes from the document and its variables; the actual cost from what was returned. A query
//! is admitted when the bucket holds its requested cost; the difference to the actual cost is
//! refunded.

use std::collections::HashMap;

use graphql_parser::query::{
    parse_query, Definition, Document, Field, FragmentDefinition, OperationDefinition, Selection,
    SelectionSet, Value as GqlValue,
};
use serde_json::Value;
use tokio::time::Instant;

type Doc = Document<'static, String>;
type Set = SelectionSet<'static, String>;
type FieldNode = Field<'static, String>;
type Fragment = FragmentDefinition<'static, String>;

/// The requested and (given the answer's data) actual cost of `operation` in `document`.
pub fn costs(
    document: &str,
    operation: Option<&str>,
    variables: &Value,
    data: &Value,
) -> (f64, f64) {
    let Ok(doc) = parse_query::<String>(document).map(|d| d.into_static()) else {
        return (1.0, 1.0);
    };
    let fragments: HashMap<&str, &Fragment> = doc
        .definitions
        .iter()
        .filter_map(|d| match d {
            Definition::Fragment(f) => Some((f.name.as_str(), f)),
            _ => None,
        })
        .collect();
    let Some((selection, mutation)) = operation_selection(&doc, operation) else {
        return (1.0, 1.0);
    };
    let estimator = Estimator {
        variables,
        fragments: &fragments,
    };
    if mutation {
        // Shopify charges a mutation 10 points, plus what its payload selects beyond the
        // payload object itself; the whole of it, whatever comes back.
        let roots = estimator.fields(selection).len() as f64;
        let requested = 10.0 + estimator.selection(selection, None) - roots;
        return (requested, requested);
    }
    let requested = estimator.selection(selection, None).max(1.0);
    let actual = estimator.selection(selection, Some(data)).max(1.0);
    (requested, actual.min(requested))
}

/// The operation's selection, and whether it is a mutation.
fn operation_selection<'a>(doc: &'a Doc, name: Option<&str>) -> Option<(&'a Set, bool)> {
    doc.definitions.iter().find_map(|d| match d {
        Definition::Operation(OperationDefinition::Query(q))
            if name.is_none() || q.name.as_deref() == name =>
        {
            Some((&q.selection_set, false))
        }
        Definition::Operation(OperationDefinition::Mutation(m))
            if name.is_none() || m.name.as_deref() == name =>
        {
            Some((&m.selection_set, true))
        }
        Definition::Operation(OperationDefinition::SelectionSet(s)) if name.is_none() => {
            Some((s, false))
        }
        _ => None,
    })
}

struct Estimator<'a> {
    variables: &'a Value,
    fragments: &'a HashMap<&'a str, &'a Fragment>,
}

impl Estimator<'_> {
    fn fields<'b>(&'b self, set: &'b Set) -> Vec<&'b FieldNode> {
        let mut out = Vec::new();
        for item in &set.items {
            match item {
                Selection::Field(field) => out.push(field),
                Selection::InlineFragment(inline) => out.extend(self.fields(&inline.selection_set)),
                Selection::FragmentSpread(spread) => {
                    if let Some(fragment) = self.fragments.get(spread.fragment_name.as_str()) {
                        out.extend(self.fields(&fragment.selection_set));
                    }
                }
            }
        }
        out
    }

    fn int_argument(&self, field: &FieldNode, names: &[&str]) -> Option<f64> {
        field.arguments.iter().find_map(|(name, value)| {
            if !names.contains(&name.as_str()) {
                return None;
            }
            match value {
                GqlValue::Int(n) => n.as_i64().map(|n| n as f64),
                GqlValue::Variable(var) => self.variables.get(var).and_then(Value::as_f64),
                _ => None,
            }
        })
    }

    fn ids_argument(&self, field: &FieldNode) -> Option<f64> {
        field
            .arguments
            .iter()
            .find_map(|(name, value)| match (name.as_str(), value) {
                ("ids", GqlValue::Variable(var)) => self
                    .variables
                    .get(var)
                    .and_then(Value::as_array)
                    .map(|a| a.len() as f64),
                ("ids", GqlValue::List(list)) => Some(list.len() as f64),
                _ => None,
            })
    }

    /// The cost of a selection; with `data`, of what was actually returned.
    fn selection(&self, set: &Set, data: Option<&Value>) -> f64 {
        self.fields(set)
            .into_iter()
            .map(|field| {
                let child = data.map(|d| {
                    d.get(field.alias.as_ref().unwrap_or(&field.name))
                        .unwrap_or(&Value::Null)
                });
                self.field(field, child)
            })
            .sum()
    }

    fn field(&self, field: &FieldNode, data: Option<&Value>) -> f64 {
        if field.selection_set.items.is_empty() || field.name.starts_with("__") {
            return 0.0;
        }
        if matches!(data, Some(Value::Null)) {
            return 0.0;
        }
        let set = &field.selection_set;
        let is_connection = self
            .fields(set)
            .iter()
            .any(|f| f.name == "nodes" || f.name == "edges");
        let first = self.int_argument(field, &["first", "last"]);
        if is_connection {
            // 2 + first × (one node object), whatever of nodes/edges/pageInfo is selected.
            let node_set = self
                .fields(set)
                .into_iter()
                .find(|f| f.name == "nodes")
                .map(|f| &f.selection_set);
            let per_node =
                |node: Option<&Value>| node_set.map_or(1.0, |s| 1.0 + self.selection(s, node));
            return match data {
                None => 2.0 + first.unwrap_or(1.0) * per_node(None),
                Some(value) => {
                    let nodes = value
                        .get("nodes")
                        .and_then(Value::as_array)
                        .cloned()
                        .unwrap_or_default();
                    2.0 + nodes.iter().map(|n| per_node(Some(n))).sum::<f64>()
                }
            };
        }
        let count = first.or_else(|| self.ids_argument(field));
        match (data, count) {
            (None, Some(n)) => 2.0 + n * (1.0 + self.selection(set, None)),
            (None, None) => 1.0 + self.selection(set, None),
            (Some(Value::Array(items)), _) => {
                2.0 + items
                    .iter()
                    .map(|item| 1.0 + self.selection(set, Some(item)))
                    .sum::<f64>()
            }
            (Some(value), _) => 1.0 + self.selection(set, Some(value)),
        }
    }
}

/// A shop's leaky bucket.
#[derive(Clone, Copy, Debug)]
pub struct Bucket {
    pub capacity: f64,
    pub restore_rate: f64,
    available: f64,
    at: Instant,
}

impl Bucket {
    pub fn new(capacity: f64, restore_rate: f64) -> Self {
        Self {
            capacity,
            restore_rate,
            available: capacity,
            at: Instant::now(),
        }
    }

    /// Points available now.
    pub fn available(&mut self) -> f64 {
        let now = Instant::now();
        self.available = (self.available
            + now.duration_since(self.at).as_secs_f64() * self.restore_rate)
            .min(self.capacity);
        self.at = now;
        self.available
    }

    /// Takes `requested` points if available; otherwise leaves the bucket as it is.
    pub fn admit(&mut self, requested: f64) -> bool {
        if self.available() >= requested {
            self.available -= requested;
            true
        } else {
            false
        }
    }

    /// Gives back what a query requested beyond its actual cost.
    pub fn refund(&mut self, points: f64) {
        self.available();
        self.available = (self.available + points.max(0.0)).min(self.capacity);
    }

    /// Sets the points available now (another app spent the rest).
    pub fn set_available(&mut self, points: f64) {
        self.available();
        self.available = points.clamp(0.0, self.capacity);
    }

    /// Reconfigures the bucket (a plan change); it starts full.
    pub fn resize(&mut self, capacity: f64, restore_rate: f64) {
        *self = Self::new(capacity, restore_rate);
    }
}

/// One admitted query's hold on its shop's bucket: its requested points, from admission until
/// the difference to its actual cost flowed back (while it ran).
#[derive(Clone, Debug)]
pub struct Held {
    pub shop: String,
    pub operation: String,
    pub requested: f64,
    pub from: Instant,
    pub to: Instant,
}

/// The most the `holds` held at one moment: (points, queries). Holds that only touch do not
/// overlap.
pub fn peak<'a>(holds: impl IntoIterator<Item = &'a Held>) -> (f64, usize) {
    // (when, starts, points): at one instant, ends come before starts.
    let mut events: Vec<(Instant, bool, f64)> = holds
        .into_iter()
        .flat_map(|h| [(h.from, true, h.requested), (h.to, false, h.requested)])
        .collect();
    events.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    let (mut points, mut queries, mut peak) = (0.0, 0usize, (0.0f64, 0usize));
    for (_, starts, requested) in events {
        if starts {
            points += requested;
            queries += 1;
            peak = (peak.0.max(points), peak.1.max(queries));
        } else {
            points -= requested;
            queries -= 1;
        }
    }
    peak
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn connections_cost_two_plus_first_times_one_node() {
        let document = "query Q($first: Int!) { orders(first: $first) { pageInfo { hasNextPage } nodes { name totalPriceSet { shopMoney { amount } } lineItems(first: 10) { nodes { title } } } } }";
        let data = json!({"orders": {"pageInfo": {"hasNextPage": false}, "nodes": [{"name": "#1", "totalPriceSet": {"shopMoney": {"amount": "1"}}, "lineItems": {"nodes": [{"title": "a"}]}}]}});
        let (requested, actual) = costs(document, Some("Q"), &json!({"first": 3}), &data);
        // one order: 1 + money 2 + line items (2 + 10 × 1) = 15 requested, 1 + 2 + 3 = 6 actual
        assert_eq!(requested, 2.0 + 3.0 * 15.0);
        assert_eq!(actual, 2.0 + 6.0);
    }

    #[test]
    fn a_mutation_costs_ten_plus_what_its_payload_selects() {
        let document = "mutation M($id: ID!) { orderCancel(orderId: $id) { job { id done } orderCancelUserErrors { field message code } } }";
        let (requested, actual) = costs(document, Some("M"), &json!({"id": "x"}), &json!({}));
        // 10, plus the job object (1) and the error list (1) below the payload
        assert_eq!((requested, actual), (12.0, 12.0));
    }

    #[test]
    fn the_peak_counts_holds_that_overlap_not_those_that_touch() {
        let t = Instant::now();
        let ms = |n| t + std::time::Duration::from_millis(n);
        let hold = |from, to, requested| Held {
            shop: "s".into(),
            operation: "Q".into(),
            requested,
            from: ms(from),
            to: ms(to),
        };
        let holds = [
            hold(0, 10, 100.0),
            hold(5, 20, 50.0),
            hold(10, 30, 40.0),
            hold(20, 25, 1.0),
        ];
        assert_eq!(peak(&holds), (150.0, 2));
    }

    #[test]
    fn the_bucket_admits_while_points_last_and_restores_over_time() {
        let mut bucket = Bucket::new(100.0, 50.0);
        assert!(bucket.admit(60.0));
        assert!(!bucket.admit(60.0));
        bucket.refund(30.0);
        assert!(bucket.admit(60.0));
    }
}
