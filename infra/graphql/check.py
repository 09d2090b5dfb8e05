#!/usr/bin/env python3
"""Validates every .graphql document of the project against Shopify's published Admin API
schema, and checks that every field it reads is reachable with the scopes the project asks
merchants for.

The schema comes from the npm package @shopify/dev-mcp (dist/data/admin_<version>.json.gz),
fetched with `npm pack` and cached under .cache/shopify-schema/. Besides the introspection
result it carries `offline_scopes`: for each type and field, the access scopes that unlock it
(any one of them suffices).

A file may widen the rules for itself with comment annotations:
- `# optional-scopes: a, b`: fields behind these scopes are allowed too; they are scopes a
  merchant may grant for an optional feature (knowledge sync), whose absence the code handles.
- `# read-only-mutation: Name`: the operation `Name` may be a mutation, if all it does is
  start a bulk query (`bulkOperationRunQuery`), which reads and writes nothing to the store.
- `# webhook-mutation: Name`: the operation `Name` may be a mutation, if all it does is
  subscribe the app to a webhook or point its subscription at a new address
  (`webhookSubscriptionCreate`, `webhookSubscriptionUpdate`), which changes nothing in the
  store's data.
- `# order-action-mutation: Name`: the operation `Name` may be a mutation, if all it does is
  one of the order actions' writes (`orderCancel`, `orderUpdate`, `returnRequest`), which need
  the write scope the file lists as optional (`write_orders`, `write_returns`): a store without
  it cannot take that action, and says so.
- `# bulk-query`: the document is the query of a bulk operation; Shopify does not limit its
  cost, so it gets no cost limit (it is still validated, scopes included).

Shopify's schema breaks one newer spec rule (deprecated fields implementing non-deprecated
interface fields), so schema self-validation is skipped; documents are validated in full.
"""
import gzip
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

from graphql import (
    GraphQLObjectType, GraphQLInterfaceType, TypeInfo, TypeInfoVisitor, Visitor,
    build_client_schema, get_named_type, parse, validate, visit,
)

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = "@shopify/dev-mcp"
PACKAGE_VERSION = "1.16.0"
API_VERSION = os.environ.get("SHOPIFY_API_VERSION", "2026-10")
GRANTED = {"read_orders", "read_products", "read_customers"}
# Shopify refuses queries whose requested cost exceeds 1,000 points; at 150 at most, a
# Standard-plan bucket (1,000 points) admits six queries of any mix at once.
MAX_COST = 150
CACHE = ROOT / ".cache" / "shopify-schema"


def schema_file() -> Path:
    target = CACHE / f"admin_{API_VERSION}.json.gz"
    if target.exists():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    print(f"fetching {PACKAGE}@{PACKAGE_VERSION} from npm for the Admin {API_VERSION} schema", file=sys.stderr)
    out = subprocess.run(
        ["npm", "pack", f"{PACKAGE}@{PACKAGE_VERSION}", "--silent", "--pack-destination", str(CACHE)],
        check=True, capture_output=True, text=True,
    ).stdout.strip().splitlines()[-1]
    tarball = CACHE / out
    member = f"package/dist/data/admin_{API_VERSION}.json.gz"
    with tarfile.open(tarball) as tar:
        with tar.extractfile(member) as src:
            target.write_bytes(src.read())
    tarball.unlink()
    return target


def load():
    with gzip.open(schema_file(), "rt") as f:
        data = json.load(f)
    schema = build_client_schema(data["data"])
    schema._validation_errors = []  # skip self-validation (see module doc)
    scopes = {}
    for item in data["offline_scopes"]["items"]:
        key = (item["typeName"], item.get("fieldName"))
        scopes[key] = set(item.get("offlineScopes") or [])
    return schema, scopes


# The only mutation a `read-only-mutation` may run: it starts a bulk read.
READ_ONLY_MUTATIONS = {"bulkOperationRunQuery"}
# The only mutations a `webhook-mutation` may run: they subscribe the app to a webhook topic or
# point its subscription at a new address.
WEBHOOK_MUTATIONS = {"webhookSubscriptionCreate", "webhookSubscriptionUpdate"}
# The only mutations an `order-action-mutation` may run: the order actions' writes.
ORDER_ACTION_MUTATIONS = {"orderCancel", "orderUpdate", "returnRequest"}


def reachable(required: set, granted=GRANTED) -> bool:
    return not required or bool(required & granted)


def listed(text, key):
    """`# key: a, b` lines of a file, as a set of names."""
    names = set()
    for line in text.splitlines():
        line = line.strip()
        if line.startswith(f"# {key}:"):
            names.update(n.strip() for n in line.partition(":")[2].split(",") if n.strip())
    return names


def scope_problems(schema, scopes, document, granted=GRANTED):
    problems = []
    info = TypeInfo(schema)

    class Fields(Visitor):
        def enter_field(self, node, *_):
            parent = info.get_parent_type()
            field = info.get_field_def()
            if parent is None or field is None:
                return
            name = node.name.value
            if name.startswith("__"):
                return
            need = scopes.get((parent.name, name), set())
            if not reachable(need, granted):
                problems.append(f"{parent.name}.{name} needs one of {sorted(need)}")
            target = get_named_type(field.type)
            need = scopes.get((target.name, None), set())
            if isinstance(target, (GraphQLObjectType, GraphQLInterfaceType)) and not reachable(need, granted):
                problems.append(f"{parent.name}.{name} returns {target.name}, which needs one of {sorted(need)}")

    visit(document, TypeInfoVisitor(info, Fields()))
    return problems


def annotations(text, key):
    """`# key: a=1, b=2` applies to every operation of the file; `# key(Operation): ...` to
    one. Returns {None: {...}, "Operation": {...}}."""
    found = {}
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith(f"# {key}"):
            continue
        head, _, body = line[2:].partition(":")
        operation = head[len(key):].strip("() ") or None
        values = found.setdefault(operation, {})
        for pair in body.split(","):
            if "=" in pair:
                k, v = pair.split("=")
                values[k.strip()] = int(v)
            elif pair.strip():
                values[""] = int(pair.strip())
    return found


def for_operation(found, operation):
    merged = dict(found.get(None, {}))
    merged.update(found.get(operation, {}))
    return merged


def estimate_cost(schema, document, operation, variables):
    """Shopify's requested query cost, estimated the way its docs describe: scalars and enums
    0, objects 1, connections and object lists 2 + size x the cost of one element (the element
    object 1 and what it selects; `nodes(ids:)` is sized by its ids)."""
    from graphql import GraphQLList, GraphQLNonNull, GraphQLObjectType, GraphQLInterfaceType, GraphQLUnionType

    def size(node):
        for arg in node.arguments or []:
            if arg.name.value == "ids":
                # `nodes(ids:)`: as many elements as ids, given by `# cost-variables: ids=N`.
                value = arg.value
                if value.kind == "list_value":
                    return len(value.values)
                if value.kind == "variable" and value.name.value in variables:
                    return variables[value.name.value]
                return None
            if arg.name.value in ("first", "last"):
                value = arg.value
                if value.kind == "variable":
                    name = value.name.value
                    if name not in variables:
                        raise SystemExit(f"add `# cost-variables: {name}=N` for ${name}")
                    return variables[name]
                return int(value.value)
        return None

    fragments = {d.name.value: d for d in document.definitions if d.kind == "fragment_definition"}

    def cost(selection_set, parent):
        total = 0
        for node in selection_set.selections:
            if node.kind == "inline_fragment":
                total += cost(node.selection_set, schema.get_type(node.type_condition.name.value))
                continue
            if node.kind == "fragment_spread":
                fragment = fragments[node.name.value]
                total += cost(fragment.selection_set, schema.get_type(fragment.type_condition.name.value))
                continue
            name = node.name.value
            if name.startswith("__"):
                continue
            field = parent.fields[name]
            inner = field.type
            is_list = False
            while isinstance(inner, (GraphQLNonNull, GraphQLList)):
                is_list = is_list or isinstance(inner, GraphQLList)
                inner = inner.of_type
            if not isinstance(inner, (GraphQLObjectType, GraphQLInterfaceType, GraphQLUnionType)):
                continue
            children = cost(node.selection_set, inner) if node.selection_set else 0
            n = size(node)
            if isinstance(parent, GraphQLObjectType) and parent.name.endswith("Connection") and name in ("nodes", "edges"):
                # A connection's elements, already counted by its size: one object each.
                total += children if name == "edges" else 1 + children
            elif inner.name.endswith("Connection"):
                total += 2 + (n or 1) * children
            elif n is not None:
                total += 2 + n * (1 + children)
            elif is_list:
                total += 2 + children
            elif inner.name.endswith("Edge") or inner.name == "PageInfo":
                total += children
            else:
                total += 1 + children
        return total

    root = schema.mutation_type if operation.operation.value == "mutation" else schema.query_type
    if root is schema.mutation_type:
        # Shopify charges a mutation 10 points, plus what its payload selects.
        return 10 + cost(operation.selection_set, root) - len(operation.selection_set.selections)
    return cost(operation.selection_set, root)


def main():
    files = sorted(p for p in ROOT.rglob("*.graphql") if not any(part in {"target", ".cache", ".venv", "node_modules"} for part in p.parts))
    if not files:
        sys.exit("no .graphql documents found")
    schema, scopes = load()
    failed = 0
    for path in files:
        text = path.read_text()
        document = parse(text)
        optional = listed(text, "optional-scopes")
        mutations = listed(text, "read-only-mutation")
        webhooks = listed(text, "webhook-mutation")
        order_actions = listed(text, "order-action-mutation")
        bulk = "# bulk-query" in text.splitlines()
        errors = [e.message for e in validate(schema, document)]
        errors += scope_problems(schema, scopes, document, GRANTED | optional)
        costs = []
        if not errors:
            variables = annotations(text, "cost-variables")
            limits = annotations(text, "max-cost")
            for operation in (d for d in document.definitions if d.kind == "operation_definition"):
                name = operation.name.value
                if bulk:
                    costs.append(f"{name} (bulk: not rate-limited)")
                    continue
                cost = estimate_cost(schema, document, operation, for_operation(variables, name))
                limit = for_operation(limits, name).get("", MAX_COST)
                costs.append(f"{name} {cost}")
                if cost > limit:
                    errors.append(f"{name}: estimated cost {cost} exceeds {limit} (Shopify's limit is 1,000)")
        for node in document.definitions:
            kind = getattr(node, "operation", None)
            if kind is None or kind.value == "query":
                continue
            name = node.name.value if node.name else "(anonymous)"
            roots = {s.name.value for s in node.selection_set.selections if s.kind == "field"}
            allowed = (
                READ_ONLY_MUTATIONS if name in mutations
                else WEBHOOK_MUTATIONS if name in webhooks
                else ORDER_ACTION_MUTATIONS if name in order_actions
                else None
            )
            if kind.value != "mutation" or allowed is None:
                errors.append(f"{name}: only read-only queries may be sent")
            elif not roots <= allowed or len(node.selection_set.selections) != len(roots):
                errors.append(f"{name}: this mutation may only call {sorted(allowed)}")
        rel = path.relative_to(ROOT)
        if errors:
            failed += 1
            print(f"FAIL {rel}")
            for e in errors:
                print(f"     {e}")
        else:
            print(f"ok   {rel} (estimated cost: {', '.join(costs)})")
    print(f"{len(files) - failed} passed, {failed} failed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
