//! Answers cut to what the query selects, as Shopify answers: a field the document does not ask
//! for is not in the answer, so a client that reads one it never asked for fails here too.

use std::collections::HashMap;

use graphql_parser::query::{
    parse_query, Definition, FragmentDefinition, OperationDefinition, Selection, SelectionSet,
};
use serde_json::{Map, Value};

type Fragments<'a> = HashMap<&'a str, &'a FragmentDefinition<'a, String>>;

/// `data` with only what `operation` of `document` selects (fragments and inline fragments
/// included); unchanged when the document does not parse or has no such operation.
pub fn as_selected(document: &str, operation: &str, data: Value) -> Value {
    let Ok(doc) = parse_query::<String>(document) else {
        return data;
    };
    let fragments: Fragments = doc
        .definitions
        .iter()
        .filter_map(|d| match d {
            Definition::Fragment(f) => Some((f.name.as_str(), f)),
            _ => None,
        })
        .collect();
    let selection = doc.definitions.iter().find_map(|d| match d {
        Definition::Operation(OperationDefinition::Query(q))
            if q.name.as_deref() == Some(operation) =>
        {
            Some(&q.selection_set)
        }
        _ => None,
    });
    match selection {
        Some(set) => select(set, &fragments, data),
        None => data,
    }
}

/// The fields `set` selects, by the key they answer under, with what each selects in turn.
fn fields<'a>(
    set: &'a SelectionSet<'a, String>,
    fragments: &Fragments<'a>,
    out: &mut Vec<(String, &'a SelectionSet<'a, String>)>,
) {
    for item in &set.items {
        match item {
            Selection::Field(field) => {
                let key = field.alias.as_ref().unwrap_or(&field.name).clone();
                out.push((key, &field.selection_set));
            }
            Selection::InlineFragment(inline) => fields(&inline.selection_set, fragments, out),
            Selection::FragmentSpread(spread) => {
                if let Some(fragment) = fragments.get(spread.fragment_name.as_str()) {
                    fields(&fragment.selection_set, fragments, out);
                }
            }
        }
    }
}

fn select<'a>(set: &'a SelectionSet<'a, String>, fragments: &Fragments<'a>, data: Value) -> Value {
    match data {
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|item| select(set, fragments, item))
                .collect(),
        ),
        Value::Object(mut map) => {
            let mut selected = Vec::new();
            fields(set, fragments, &mut selected);
            let mut out = Map::new();
            for (key, inner) in selected {
                if let Some(value) = map.remove(&key) {
                    let value = if inner.items.is_empty() {
                        value
                    } else {
                        select(inner, fragments, value)
                    };
                    out.insert(key, value);
                }
            }
            Value::Object(out)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn only_what_the_query_selects_is_answered() {
        let document = "query Q { products { nodes { id ...Rest ... on Product { handle } } } }
                        fragment Rest on Product { title }";
        let data = json!({"products": {"pageInfo": {}, "nodes": [
            {"id": "1", "title": "A", "handle": "a", "vendor": "V"}, null]}});
        assert_eq!(
            as_selected(document, "Q", data),
            json!({"products": {"nodes": [{"id": "1", "title": "A", "handle": "a"}, null]}})
        );
    }
}
