#!/usr/bin/env python3
"""Checks template.yaml against the code, so the deployed stack is the one the code expects:

- every function crate (functions/*) has exactly one AWS::Serverless::Function building that
  binary with cargo-lambda, for arm64 on provided.al2023, from CodeUri "." (one target dir);
- every route of the contract is wired, through the HTTP API, to the function the contract
  names, and no other route exists; openapi.yaml describes exactly the routed operations, and
  marks the mutating ones admin-only; exactly the operations openapi.yaml marks public
  (`security: []`, or only a scheme the function checks itself, as the MCP route's bearer token)
  skip the JWT authorizer, and each of those is throttled below the API's default route limits;
- every environment variable the code reads is set for every function (those in SCOPED_ENV: for
  every function whose code uses them), and the local-only SHOPIFY_BASE_URL is set for none;
- no policy grants a wildcard action or resource on Secrets Manager or DynamoDB (but for
  secretsmanager:ListSecrets, which takes no resource, alone in its statement); the functions
  that only read (lookup, contact-metadata) cannot write secrets or items; only disconnect can
  delete a secret without a recovery window;
- lookup and order-actions, which trust their event's org_id and contact, may be invoked by
  the AI platform principal (a parameter) alone: one Lambda permission each, for that
  principal, no API route, and no policy of the stack grants lambda:InvokeFunction;
  actions-api has no permission for that principal;
- order-actions is started every 5 minutes by a schedule sending the contract's settle input,
  and an alarm counts the actions that end failed (a metric filter on its status-change log
  line, in each function that carries actions out);
- each queue worker (knowledge-sync, health-check) is fed by its queue (batch size 1, partial
  batch responses, a concurrency cap) and by an EventBridge Scheduler schedule sending the
  contract's input at the rate its parameter sets; the queue's visibility timeout is at least
  six times the worker's timeout, its redrive goes to the dead-letter queue after 5 receives,
  an alarm watches the dead-letter queue, and the env var naming the queue points at it; a
  function may send to a worker's queue exactly when its code wires that queue;
- the health check's schedule and HEALTH_CHECK_INTERVAL_SECS come from one parameter, so the
  two agree for every allowed value;
- the stores table expires items by the TTL attribute the code writes;
- a function may put events exactly when its code announces them, and only on EventBusName's
  bus;
- every function has an errors alarm and a throttles alarm; every public route has route-level
  metrics and an alarm on its 4xx (401 floods and 429 throttling), from API Gateway's route
  metric or from a metric filter on the API's access log;
- the functions in LEADING_KEYS reach the table only through statements limited by
  `dynamodb:LeadingKeys` to the key prefixes their code writes (no scan, no query), and each
  prefix is one the code builds keys with;
- the knowledge bucket is encrypted, blocks public access and refuses plain HTTP; only
  knowledge-sync writes to it, and the knowledge routes read no credential and no document.
"""
import json
import os
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]

# The contract's routes (../contract.md, "Functions") and the binary serving each.
ROUTES = {
    ("POST", "/shopify/stores"): "save-credentials",
    ("GET", "/shopify/stores"): "settings",
    ("GET", "/shopify/stores/{shop}"): "settings",
    ("GET", "/shopify/settings"): "settings",
    ("PUT", "/shopify/settings"): "settings",
    ("DELETE", "/shopify/stores/{shop}"): "disconnect",
    ("GET", "/shopify/contact-metadata"): "contact-metadata",
    ("GET", "/shopify/knowledge"): "knowledge",
    ("POST", "/shopify/knowledge/sync"): "knowledge",
    ("GET", "/shopify/knowledge/documents"): "knowledge",
    ("POST", "/shopify/webhooks"): "webhooks",
    ("GET", "/shopify/actions"): "actions-api",
    ("POST", "/shopify/actions/{id}/approve"): "actions-api",
    ("POST", "/shopify/actions/{id}/decline"): "actions-api",
    ("POST", "/mcp"): "mcp",
    ("GET", "/mcp"): "mcp",
    ("DELETE", "/mcp"): "mcp",
    ("GET", "/.well-known/oauth-protected-resource"): "mcp",
    ("GET", "/.well-known/oauth-protected-resource/mcp"): "mcp",
}
# Routed only so that the function answers them 405 (`Allow: POST`), as MCP's transport asks of
# a server without event streams or sessions: they are no operation, so openapi.yaml leaves them
# out and lists POST as the path's only method (what API Gateway would otherwise answer, 404, is
# not what an MCP client expects).
# Actions IAM grants on no particular resource: a statement of these alone may say "*".
UNSCOPED_ACTIONS = {"secretsmanager:ListSecrets"}

METHOD_NOT_ALLOWED_ONLY = {("GET", "/mcp"), ("DELETE", "/mcp")}
# Functions started by a schedule alone (no queue): the input and rate each schedule sends.
SCHEDULED = {
    "order-actions": {"input": {"schedule": "order-actions-settle"}, "rate": "rate(5 minutes)"},
}
# The functions that carry order actions out, whose status-change log line counts failures.
ACTION_RUNNERS = {"order-actions", "actions-api", "mcp"}
FAILED_ACTION_FILTER = '{ ($.message = "order action moved") && ($.status = "failed") }'
# Mutating routes open to roles other than admins (the spec names the roles).
NON_ADMIN_MUTATIONS = {
    ("POST", "/shopify/actions/{id}/approve"): "ACTION_APPROVER_ROLES",
    ("POST", "/shopify/actions/{id}/decline"): "ACTION_APPROVER_ROLES",
}
# The queue workers: each reads its queue and is started by a schedule sending `input` at the
# rate `rate` (the template's expression); `queue_env` names the queue for the code, and a
# function whose sources match `senders` wires that queue (and must be the only kind allowed to
# send to it).
WORKERS = {
    "knowledge-sync": {
        "input": {"schedule": "knowledge-sync"},
        "rate": {"Ref": "KnowledgeSyncSchedule"},
        "queue_env": "KNOWLEDGE_QUEUE_URL",
        "senders": r"SyncPorts::from_env|\.knowledge\(\)",
    },
    "health-check": {
        "input": {"schedule": "health-check"},
        "rate": {"Sub": "rate(${HealthCheckIntervalMinutes} minutes)"},
        "queue_env": "HEALTH_QUEUE_URL",
        "senders": r"HealthPorts::from_env|health\.queue_url|health::delivery",
    },
}
QUEUE_WORKER = "knowledge-sync"  # the one writer of knowledge documents
MAX_RECEIVES = 5
# Variables only some functions read, with the code that reads them: each must be set for every
# function whose sources match (every other variable the code reads: for every function).
SCOPED_ENV = {
    "HEALTH_QUEUE_URL": WORKERS["health-check"]["senders"],
    "HEALTH_CHECK_INTERVAL_SECS": r"HealthPorts::from_env",
    "WEBHOOK_BASE_URL": r"webhook_base_url|webhook_endpoint|HealthPorts::from_env|\.connector\(\)",
    "WEBHOOK_TOKEN_SECRET": r"webhook_tokens|webhook_endpoint|HealthPorts::from_env|\.connector\(\)|health::delivery",
    "ACTIONS_BUDGET_MS": r"ActionPorts::from_(env|sdk|services)",
    "APPROVAL_TTL_HOURS": r"ActionPorts::from_(env|sdk|services)",
    "ACTION_APPROVER_ROLES": r"ACTION_APPROVER_ROLES",
    "MCP_ALLOWED_ORIGINS": r"AllowedOrigins::from_env",
}
# HEALTH_CHECK_INTERVAL_SECS and the health check's rate, both from one parameter (minutes).
INTERVAL = {"env": "HEALTH_CHECK_INTERVAL_SECS", "parameter": "HealthCheckIntervalMinutes", "mapping": "HealthCheckIntervals"}
# Code that announces events: knowledge syncs (SyncPorts), store status changes (an outbox
# flushed through services.events, the connector, a webhook delivery, the health check's ports,
# or Access marking a store whose token Shopify refused), and order actions (ActionPorts).
ANNOUNCES = r"SyncPorts::from_env|HealthPorts::from_env|ActionPorts::from_(env|sdk|services)|services\.events|services\.access\b|\.connector\(\)|health::delivery"
EVENT_BUS_ARN = {"Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${EventBusName}"}
DIRECT_INVOKE = {"lookup", "order-actions"}
# Invoked through the API only: the AI platform's principal may not invoke it.
NOT_FOR_THE_PLATFORM = {"actions-api"}
LOCAL_ONLY = {"SHOPIFY_BASE_URL", "AWS_ENDPOINT_URL"}
SET_BY_LAMBDA = {"AWS_LAMBDA_FUNCTION_NAME"}
# Functions that read, except for marking a store whose token Shopify refused: one conditional
# record write (PutItem), never a secret.
READ_ONLY = {"lookup", "contact-metadata"}
READ_ONLY_MAY = {"dynamodb:PutItem"}
SECRET_WRITES = {
    "secretsmanager:CreateSecret", "secretsmanager:PutSecretValue", "secretsmanager:DeleteSecret",
    "secretsmanager:RestoreSecret", "secretsmanager:UpdateSecretVersionStage",
    "secretsmanager:UpdateSecret", "secretsmanager:TagResource",
}
TABLE_WRITES = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
KNOWLEDGE_ROUTES_TABLE = {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"}
# Functions whose table rights are limited to the partitions they use: each allowed
# `dynamodb:LeadingKeys` pattern, with the source file that builds keys with that prefix.
LEADING_KEYS = {
    "webhooks": {"ORG#*": "shared/src/store/dynamo.rs", "WEBHOOK#*": "shared/src/health/repo/dynamo.rs"},
    "order-actions": {"ORG#*": "shared/src/store/dynamo.rs", "ACTIONS#*": "shared/src/actions/repo/dynamo.rs"},
    "actions-api": {"ORG#*": "shared/src/store/dynamo.rs", "ACTIONS#*": "shared/src/actions/repo/dynamo.rs"},
    "mcp": {"ORG#*": "shared/src/store/dynamo.rs", "ACTIONS#*": "shared/src/actions/repo/dynamo.rs"},
}
# What a partition-limited function may do to its items.
ITEM_ACTIONS = {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"}
# Partition-limited functions that also query within their partitions (never scan).
QUERIES_ITS_PARTITIONS = {"order-actions", "actions-api", "mcp"}


class CfnLoader(yaml.SafeLoader):
    pass


def _tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node)}
    return {suffix: loader.construct_mapping(node)}


CfnLoader.add_multi_constructor("!", _tag)


def as_list(value):
    return value if isinstance(value, list) else [value]


def env_vars_read():
    """Names the code reads from the environment: config lookups and std::env::var calls."""
    names = set()
    for path in list((ROOT / "shared/src").rglob("*.rs")) + list((ROOT / "functions").rglob("*.rs")):
        text = path.read_text()
        names |= set(re.findall(r'std::env::var(?:_os)?\("([A-Z][A-Z0-9_]+)"\)', text))
        if path.name == "config.rs":
            names |= set(re.findall(r'(?:get|millis)\("([A-Z][A-Z0-9_]+)"', text))
    return names - SET_BY_LAMBDA


def by_ref(value, resources):
    """The logical id a `!Ref X` or `!GetAtt X.Attr` points at."""
    if isinstance(value, dict):
        if "Ref" in value:
            return value["Ref"]
        if "GetAtt" in value:
            target = value["GetAtt"]
            return (target if isinstance(target, str) else ".".join(target)).split(".")[0]
    return None


def sources(crate_dir):
    """The Rust sources of a function crate, as one text."""
    if crate_dir is None:
        return ""
    return "\n".join(p.read_text() for p in sorted((crate_dir / "src").rglob("*.rs")))


def statements_of(props):
    return [
        s for policy in as_list(props.get("Policies", [])) if isinstance(policy, dict)
        for s in as_list(policy.get("Statement", []))
    ]


def variables(holder):
    """The environment variables a function (or Globals' Function) sets."""
    return (holder.get("Environment") or {}).get("Variables") or {}


def env_of(props, globals_fn):
    return {**variables(globals_fn), **variables(props)}


def worker_problems(binary, spec, resources, functions, globals_fn):
    """The queue worker `binary`'s wiring (see WORKERS); answers its problems and its queue."""
    problems = []
    if binary not in functions:
        return problems, None
    logical, props = functions[binary]
    events = list((props.get("Events") or {}).values())
    queues = [e for e in events if e["Type"] == "SQS"]
    schedules = [e for e in events if e["Type"] == "ScheduleV2"]
    queue_id = None
    if len(queues) != 1:
        problems.append(f"{logical}: needs exactly one SQS event source, has {len(queues)}")
    else:
        p = queues[0]["Properties"]
        queue_id = by_ref(p.get("Queue"), resources)
        if p.get("BatchSize") != 1:
            problems.append(f"{logical}: the queue's batch size must be 1 (is {p.get('BatchSize')})")
        if "ReportBatchItemFailures" not in as_list(p.get("FunctionResponseTypes", [])):
            problems.append(f"{logical}: the queue needs partial batch responses (ReportBatchItemFailures)")
        if not (p.get("ScalingConfig") or {}).get("MaximumConcurrency") and "ReservedConcurrentExecutions" not in props:
            problems.append(f"{logical}: the queue's event source needs a concurrency cap (ScalingConfig MaximumConcurrency)")
    if len(schedules) != 1:
        problems.append(f"{logical}: needs exactly one EventBridge Scheduler schedule, has {len(schedules)}")
    else:
        p = schedules[0]["Properties"]
        try:
            if json.loads(p.get("Input", "null")) != spec["input"]:
                problems.append(f"{logical}: the schedule must send {json.dumps(spec['input'])}")
        except ValueError:
            problems.append(f"{logical}: the schedule's input is not JSON")
        if p.get("ScheduleExpression") != spec["rate"]:
            problems.append(f"{logical}: the schedule's rate must be {json.dumps(spec['rate'])}")
    queue = resources.get(queue_id or "", {})
    if queue.get("Type") != "AWS::SQS::Queue":
        problems.append(f"{logical}: its SQS event must read a queue of the stack")
        return problems, None
    q = queue["Properties"]
    timeout = int(props.get("Timeout", globals_fn.get("Timeout", 3)))
    if int(q.get("VisibilityTimeout", 30)) < 6 * timeout:
        problems.append(f"{queue_id}: the visibility timeout must be at least 6 x the worker's timeout ({6 * timeout} s)")
    redrive = q.get("RedrivePolicy") or {}
    if int(redrive.get("maxReceiveCount", 0)) != MAX_RECEIVES:
        problems.append(f"{queue_id}: messages must go to the dead-letter queue after {MAX_RECEIVES} receives")
    dlq = by_ref(redrive.get("deadLetterTargetArn"), resources)
    if resources.get(dlq or "", {}).get("Type") != "AWS::SQS::Queue":
        problems.append(f"{queue_id}: the redrive must target a dead-letter queue of the stack")
    watched = [
        r for r in resources.values()
        if r["Type"] == "AWS::CloudWatch::Alarm" and r["Properties"].get("Namespace") == "AWS/SQS"
        and any(by_ref(d.get("Value"), resources) == dlq for d in r["Properties"].get("Dimensions", []))
    ]
    if dlq and not watched:
        problems.append(f"{dlq}: no alarm watches the dead-letter queue")
    # Wherever the queue's variable is set, it names this queue.
    name = spec["queue_env"]
    holders = [("Globals", globals_fn)] + [(l, pr) for l, pr in functions.values()]
    for holder, p in holders:
        value = variables(p).get(name)
        if value is not None and by_ref(value, resources) != queue_id:
            problems.append(f"{holder}: {name} must be the queue {logical} reads ({queue_id})")
    return problems, queue_id


def interval_problems(template, functions, globals_fn):
    """The health check's rate and HEALTH_CHECK_INTERVAL_SECS come from one parameter."""
    problems = []
    param = template.get("Parameters", {}).get(INTERVAL["parameter"])
    if param is None:
        return [f"the {INTERVAL['parameter']} parameter is missing"]
    expected = {"FindInMap": [INTERVAL["mapping"], {"Ref": INTERVAL["parameter"]}, "Seconds"]}
    for binary, (logical, props) in functions.items():
        value = env_of(props, globals_fn).get(INTERVAL["env"])
        if value is not None and value != expected:
            problems.append(f"{logical}: {INTERVAL['env']} must be !FindInMap [{INTERVAL['mapping']}, !Ref {INTERVAL['parameter']}, Seconds], as the schedule's rate")
    allowed = param.get("AllowedValues")
    if not allowed:
        problems.append(f"{INTERVAL['parameter']}: needs AllowedValues (each one a {INTERVAL['mapping']} entry)")
        allowed = []
    mapping = template.get("Mappings", {}).get(INTERVAL["mapping"], {})
    for minutes in allowed:
        seconds = (mapping.get(str(minutes)) or {}).get("Seconds")
        if seconds is None or int(seconds) != int(minutes) * 60:
            problems.append(f"{INTERVAL['mapping']}: {minutes} minutes must map to Seconds: {int(minutes) * 60} (is {seconds})")
        if int(minutes) < 2:
            # "rate(1 minutes)" is refused: a value of 1 takes the singular unit.
            problems.append(f"{INTERVAL['parameter']}: {minutes} makes an invalid rate; allow 2 minutes or more")
    return problems


def bucket_problems(resources, globals_fn):
    problems = []
    bucket_id = by_ref(variables(globals_fn).get("KNOWLEDGE_BUCKET"), resources)
    bucket = resources.get(bucket_id or "", {})
    if bucket.get("Type") != "AWS::S3::Bucket":
        problems.append("KNOWLEDGE_BUCKET must be a bucket of the stack")
        return problems
    b = bucket["Properties"]
    if not b.get("BucketEncryption"):
        problems.append(f"{bucket_id}: must be encrypted")
    block = b.get("PublicAccessBlockConfiguration") or {}
    for flag in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"):
        if block.get(flag) is not True:
            problems.append(f"{bucket_id}: {flag} must be true")
    tls_only = [
        r for r in resources.values()
        if r["Type"] == "AWS::S3::BucketPolicy" and by_ref(r["Properties"].get("Bucket"), resources) == bucket_id
        and any(
            st.get("Effect") == "Deny"
            and st.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") in ("false", False)
            for st in as_list(r["Properties"].get("PolicyDocument", {}).get("Statement", []))
        )
    ]
    if not tls_only:
        problems.append(f"{bucket_id}: needs a bucket policy denying requests without TLS")
    return problems


def ttl_problems(resources, globals_fn):
    """The stores table expires items by the attribute the code writes for that."""
    written = set()
    for path in list((ROOT / "shared/src").rglob("*.rs")) + list((ROOT / "functions").rglob("*.rs")):
        written |= set(re.findall(r'\.item\(\s*"([a-z_]*expires[a-z_]*)"', path.read_text()))
    if not written:
        return []
    if len(written) > 1:
        return [f"the code writes several expiry attributes {sorted(written)}; a table has one TTL attribute"]
    table_id = by_ref(variables(globals_fn).get("STORES_TABLE"), resources)
    ttl = resources.get(table_id or "", {}).get("Properties", {}).get("TimeToLiveSpecification") or {}
    attribute = next(iter(written))
    if ttl.get("AttributeName") != attribute or ttl.get("Enabled") is not True:
        return [f"{table_id}: the code writes {attribute} to expire items; TimeToLiveSpecification must enable it"]
    return []


def main():
    template = yaml.load(Path(os.environ.get("TEMPLATE", ROOT / "template.yaml")).read_text(), Loader=CfnLoader)
    resources = template["Resources"]
    globals_fn = template.get("Globals", {}).get("Function", {})
    global_env = set(variables(globals_fn))
    problems = []

    crates = {}
    for manifest in (ROOT / "functions").glob("*/Cargo.toml"):
        name = re.search(r'^name = "([^"]+)"', manifest.read_text(), re.M).group(1)
        crates[name] = manifest.parent
    functions = {}
    for logical, resource in resources.items():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props, meta = resource["Properties"], resource.get("Metadata", {})
        binary = meta.get("BuildProperties", {}).get("Binary")
        if binary in functions:
            problems.append(f"{binary} is built by two resources")
        functions[binary] = (logical, props)
        if meta.get("BuildMethod") != "rust-cargolambda":
            problems.append(f"{logical}: BuildMethod must be rust-cargolambda")
        if props.get("CodeUri") != ".":
            problems.append(f"{logical}: CodeUri must be '.' so all functions share one target dir")
        arch = props.get("Architectures", globals_fn.get("Architectures"))
        runtime = props.get("Runtime", globals_fn.get("Runtime"))
        if arch != ["arm64"] or runtime != "provided.al2023":
            problems.append(f"{logical}: must be arm64 on provided.al2023 (is {arch} {runtime})")
    for name in sorted(set(crates) - set(functions)):
        problems.append(f"function crate {name} has no resource in template.yaml")
    for name in sorted(set(functions) - set(crates)):
        problems.append(f"{functions[name][0]} builds {name}, which is not a function crate")
    code = {binary: sources(crates.get(binary)) for binary in functions}

    api = resources.get("HttpApi", {}).get("Properties", {})
    default_authorizer = api.get("Auth", {}).get("DefaultAuthorizer")
    if default_authorizer not in (api.get("Auth", {}).get("Authorizers") or {}):
        problems.append("the HTTP API must have a JWT authorizer as its default")
    wired, public, throttles = {}, set(), {}
    for binary, (logical, props) in functions.items():
        for event in (props.get("Events") or {}).values():
            if event["Type"] != "HttpApi":
                if binary in SCHEDULED and event["Type"] == "ScheduleV2":
                    continue
                if binary not in WORKERS or event["Type"] not in ("SQS", "ScheduleV2"):
                    problems.append(f"{logical}: unexpected event type {event['Type']}")
                continue
            p = event["Properties"]
            if p.get("ApiId") != {"Ref": "HttpApi"}:
                problems.append(f"{logical}: route {p.get('Path')} is not on the HttpApi")
            route = (p["Method"].upper(), p["Path"])
            authorizer = (p.get("Auth") or {}).get("Authorizer")
            if authorizer == "NONE":
                public.add(route)
            elif authorizer not in (None, default_authorizer):
                problems.append(f"{logical}: route {p.get('Path')} must use the JWT authorizer or, if public, none ({authorizer})")
            wired[route] = binary
            throttles[route] = p.get("RouteSettings") or {}
    for key, settings in (api.get("RouteSettings") or {}).items():
        method, _, path = str(key).partition(" ")
        if (method.upper(), path) in throttles:
            throttles[(method.upper(), path)] = {**settings, **throttles[(method.upper(), path)]}
    for route, binary in ROUTES.items():
        if wired.get(route) != binary:
            problems.append(f"{route[0]} {route[1]} must go to {binary}, goes to {wired.get(route)}")
    for route in set(wired) - set(ROUTES):
        problems.append(f"{route[0]} {route[1]} is not a contract route")
    spec = yaml.safe_load(Path(os.environ.get("OPENAPI", ROOT / "openapi.yaml")).read_text())
    if not spec.get("security"):
        problems.append("openapi.yaml must require the JWT (top-level security) so only operations marked security: [] are public")
    operations = {
        (method.upper(), path): operation
        for path, item in (spec.get("paths") or {}).items()
        for method, operation in item.items()
        if method in ("get", "put", "post", "delete", "patch", "head", "options")
    }
    described = set(operations)
    # Public to API Gateway: the operations with no security (`security: []`), and those whose
    # only schemes are not the API's own (the MCP route's bearer token, which the function
    # checks itself).
    authorizer_schemes = {name for requirement in spec.get("security") or [] for name in requirement}
    spec_public = {
        route for route, operation in operations.items()
        if operation.get("security") is not None
        and not any(authorizer_schemes & set(requirement) for requirement in operation["security"])
    }
    for route in sorted(METHOD_NOT_ALLOWED_ONLY & described):
        problems.append(f"{route[0]} {route[1]} only answers 405: openapi.yaml must not describe it as an operation")
    for route in sorted(METHOD_NOT_ALLOWED_ONLY - set(wired)):
        problems.append(f"{route[0]} {route[1]} must be routed to its function, which answers it 405 with Allow")
    for route in sorted(set(wired) - described - METHOD_NOT_ALLOWED_ONLY):
        problems.append(f"{route[0]} {route[1]} is routed in template.yaml but not described in openapi.yaml")
    for route in sorted(described - set(wired)):
        problems.append(f"{route[0]} {route[1]} is described in openapi.yaml but not routed in template.yaml")
    # Exactly the operations the spec marks public skip the authorizer.
    for route in sorted(public - spec_public - METHOD_NOT_ALLOWED_ONLY):
        problems.append(f"{route[0]} {route[1]} skips the JWT authorizer, but openapi.yaml does not mark it public (security: [])")
    for route in sorted((spec_public - public) & set(wired)):
        problems.append(f"{route[0]} {route[1]}: openapi.yaml marks it public (security: []), but template.yaml puts it behind the JWT authorizer")
    defaults = api.get("DefaultRouteSettings") or {}
    for route in sorted(public):
        settings = throttles.get(route, {})
        for limit in ("ThrottlingBurstLimit", "ThrottlingRateLimit"):
            value, default = settings.get(limit), defaults.get(limit)
            if value is None or (default is not None and float(value) >= float(default)):
                problems.append(f"{route[0]} {route[1]}: a public route needs its own {limit} below the API's default ({default})")
    for route, operation in sorted(operations.items()):
        if route in spec_public:
            if operation.get("x-required-role"):
                problems.append(f"{route[0]} {route[1]}: a public operation has no caller role; openapi.yaml must not mark it x-required-role")
        elif route in NON_ADMIN_MUTATIONS:
            # Open to the roles an env var names: the spec says which.
            if NON_ADMIN_MUTATIONS[route] not in str(operation.get("x-required-role", "")):
                problems.append(f"{route[0]} {route[1]}: openapi.yaml must mark it x-required-role naming {NON_ADMIN_MUTATIONS[route]}")
        elif route[0] in ("POST", "PUT", "DELETE") and wired.get(route):
            # Every other mutating route behind the authorizer is admin-only, and the spec says so.
            if operation.get("x-required-role") != "admin":
                problems.append(f"{route[0]} {route[1]}: openapi.yaml must mark it x-required-role: admin")
    for binary in DIRECT_INVOKE:
        if binary in functions and any(e["Type"] == "HttpApi" for e in (functions[binary][1].get("Events") or {}).values()):
            problems.append(f"{binary} is invoked directly and must have no API route")

    def permissions_of(binary):
        logical = functions.get(binary, (None, None))[0]
        return [
            (name, r["Properties"]) for name, r in resources.items()
            if r["Type"] == "AWS::Lambda::Permission"
            and r["Properties"].get("FunctionName") in ({"GetAtt": f"{logical}.Arn"}, {"Ref": logical})
        ]
    for binary in sorted(DIRECT_INVOKE):
        if binary not in functions:
            continue
        permissions = permissions_of(binary)
        if len(permissions) != 1:
            problems.append(f"{binary} needs exactly one invoke permission (for the AI platform), has {len(permissions)}")
        for name, props in permissions:
            if props.get("Principal") != {"Ref": "AiPlatformPrincipal"} or props.get("Action") != "lambda:InvokeFunction":
                problems.append(f"{name}: {binary} may be invoked by the AiPlatformPrincipal parameter only")
    for binary in sorted(NOT_FOR_THE_PLATFORM):
        for name, props in permissions_of(binary):
            if props.get("Principal") == {"Ref": "AiPlatformPrincipal"}:
                problems.append(f"{name}: the AI platform's principal may not invoke {binary}")
    for binary, spec_ in SCHEDULED.items():
        if binary not in functions:
            problems.append(f"{binary}: the scheduled function is missing")
            continue
        logical, props = functions[binary]
        schedules = [e["Properties"] for e in (props.get("Events") or {}).values() if e["Type"] == "ScheduleV2"]
        if len(schedules) != 1:
            problems.append(f"{logical}: needs exactly one EventBridge Scheduler schedule, has {len(schedules)}")
            continue
        try:
            if json.loads(schedules[0].get("Input", "null")) != spec_["input"]:
                problems.append(f"{logical}: the schedule must send {json.dumps(spec_['input'])}")
        except ValueError:
            problems.append(f"{logical}: the schedule's input is not JSON")
        if schedules[0].get("ScheduleExpression") != spec_["rate"]:
            problems.append(f"{logical}: the schedule's rate must be {spec_['rate']}")
    failed_metrics = {}
    for r in resources.values():
        p = r["Properties"] if r["Type"] == "AWS::Logs::MetricFilter" else None
        if p and p.get("FilterPattern") == FAILED_ACTION_FILTER and p.get("MetricTransformations"):
            t = p["MetricTransformations"][0]
            failed_metrics[by_ref(p.get("LogGroupName"), resources)] = (str(t.get("MetricNamespace")), t.get("MetricName"))
    watched_failures = {
        (str(r["Properties"].get("Namespace")), r["Properties"].get("MetricName"))
        for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"
    }
    for binary in sorted(ACTION_RUNNERS & set(functions)):
        logical = functions[binary][0]
        group = next(
            (name for name, r in resources.items() if r["Type"] == "AWS::Logs::LogGroup"
             and f"${{{logical}}}" in str(r["Properties"].get("LogGroupName"))),
            None,
        )
        metric = failed_metrics.get(group)
        if metric is None:
            problems.append(f"{logical}: no metric filter counts its failed order actions ({FAILED_ACTION_FILTER})")
        elif metric not in watched_failures:
            problems.append(f"{logical}: no alarm watches its failed order actions ({metric[1]})")
    if "AiPlatformPrincipal" not in template.get("Parameters", {}):
        problems.append("the AiPlatformPrincipal parameter is missing")

    worker_queues = {}
    for binary, spec_ in WORKERS.items():
        found, queue_id = worker_problems(binary, spec_, resources, functions, globals_fn)
        problems += found
        if queue_id:
            worker_queues[queue_id] = binary
    problems += interval_problems(template, functions, globals_fn)
    problems += bucket_problems(resources, globals_fn)
    problems += ttl_problems(resources, globals_fn)
    # A function allowed to send to a worker's queue must wire that queue, and one that wires
    # it must be allowed to send to it.
    for binary, (logical, props) in functions.items():
        sends_to = set()
        for st in statements_of(props):
            if st.get("Effect") == "Allow" and "sqs:SendMessage" in as_list(st.get("Action", [])):
                for resource in as_list(st.get("Resource", [])):
                    target = by_ref(resource, resources)
                    if target in worker_queues:
                        sends_to.add(worker_queues[target])
                    else:
                        problems.append(f"{logical}: sends to {json.dumps(resource)}, which is no worker's queue")
        for worker, spec_ in WORKERS.items():
            if worker not in functions:
                continue
            sends = worker in sends_to
            wires = bool(re.search(spec_["senders"], code[binary]))
            if sends != wires:
                problems.append(f"{logical}: may send {worker} jobs ({sends}) but its code wires the queue ({wires})")

    needed = env_vars_read()
    for name, pattern in sorted(SCOPED_ENV.items()):
        if name in needed and not any(re.search(pattern, text) for text in code.values()):
            problems.append(f"the code reads {name}, but no function's code matches {pattern!r} (update SCOPED_ENV)")
    for binary, (logical, props) in functions.items():
        env = global_env | set(variables(props))
        wanted = {
            var for var in needed - LOCAL_ONLY
            if var not in SCOPED_ENV or re.search(SCOPED_ENV[var], code[binary])
        }
        for var in sorted(wanted - env):
            problems.append(f"{logical}: the code reads {var}, which is not set")
        for var in sorted(LOCAL_ONLY & env):
            problems.append(f"{logical}: {var} is for local use only and must not be set")

    alarms = [r["Properties"] for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    access_log = by_ref(api.get("AccessLogSettings", {}).get("DestinationArn"), resources)
    log_filters = [
        r["Properties"] for r in resources.values()
        if r["Type"] == "AWS::Logs::MetricFilter" and by_ref(r["Properties"].get("LogGroupName"), resources) == access_log
    ]
    for binary, (logical, props) in functions.items():
        for metric in ("Errors", "Throttles"):
            if not any(
                a.get("Namespace") == "AWS/Lambda" and a.get("MetricName") == metric
                and any(d.get("Name") == "FunctionName" and by_ref(d.get("Value"), resources) == logical for d in a.get("Dimensions", []))
                for a in alarms
            ):
                problems.append(f"{logical}: no alarm on its {metric}")

    for route in sorted(public):
        if not throttles.get(route, {}).get("DetailedMetricsEnabled"):
            problems.append(f"{route[0]} {route[1]}: a public route needs DetailedMetricsEnabled (route-level metrics)")
        # The route's 4xx: API Gateway's route-level metric, or a metric filter on the API's
        # access log matching the route's key and a 4xx status.
        counted = [
            (f["MetricTransformations"][0].get("MetricNamespace"), f["MetricTransformations"][0].get("MetricName"))
            for f in log_filters
            if f'$.routeKey = "{route[0]} {route[1]}"' in str(f.get("FilterPattern"))
            and '$.status = "4*"' in str(f.get("FilterPattern"))
            and f.get("MetricTransformations")
        ]
        if not any(
            (
                a.get("Namespace") == "AWS/ApiGateway" and a.get("MetricName") == "4xx"
                and {d.get("Name"): d.get("Value") for d in a.get("Dimensions", [])}.get("Method") == route[0]
                and {d.get("Name"): d.get("Value") for d in a.get("Dimensions", [])}.get("Resource") == route[1]
            )
            or (a.get("Namespace"), a.get("MetricName")) in counted
            for a in alarms
        ):
            problems.append(f"{route[0]} {route[1]}: a public route needs an alarm on its 4xx")

    for binary, allowed in LEADING_KEYS.items():
        if binary not in functions:
            continue
        logical, props = functions[binary]
        for pattern, path in allowed.items():
            prefix = pattern.rstrip("*")
            if f'"{prefix}' not in (ROOT / path).read_text():
                problems.append(f"{logical}: {path} builds no key starting {prefix} (update LEADING_KEYS)")
        for statement in statements_of(props):
            actions = {a for a in as_list(statement.get("Action", [])) if a.startswith("dynamodb:")}
            if not actions or statement.get("Effect") != "Allow":
                continue
            if actions - ITEM_ACTIONS - ({"dynamodb:Query"} if binary in QUERIES_ITS_PARTITIONS else set()):
                problems.append(f"{logical}: may only read and write its own items, not {sorted(actions - ITEM_ACTIONS)}")
            keys = (statement.get("Condition") or {}).get("ForAllValues:StringLike", {}).get("dynamodb:LeadingKeys")
            if not keys:
                problems.append(f"{logical}: table statement {statement.get('Sid')} needs a dynamodb:LeadingKeys condition")
            elif set(as_list(keys)) - set(allowed):
                problems.append(f"{logical}: table statement {statement.get('Sid')} reaches {sorted(set(as_list(keys)) - set(allowed))}, beyond {sorted(allowed)}")

    for binary, (logical, props) in functions.items():
        statements = statements_of(props)
        if not statements:
            problems.append(f"{logical}: needs an explicit least-privilege policy")
        announces = bool(re.search(ANNOUNCES, code[binary]))
        puts = any(st.get("Effect") == "Allow" and "events:PutEvents" in as_list(st.get("Action", [])) for st in statements)
        if puts != announces:
            problems.append(f"{logical}: may put events ({puts}) but its code announces them ({announces})")
        for statement in statements:
            actions = set(as_list(statement.get("Action", [])))
            if statement.get("Effect") == "Allow" and any(a.startswith(("s3:", "sqs:", "events:")) for a in actions):
                if any(r == "*" for r in as_list(statement.get("Resource", []))):
                    problems.append(f"{logical}: '*' resource for {sorted(actions)}")
                if any(a.endswith("*") for a in actions):
                    problems.append(f"{logical}: wildcard action in {sorted(actions)}")
            if "events:PutEvents" in actions and as_list(statement.get("Resource", [])) != [EVENT_BUS_ARN]:
                problems.append(f"{logical}: events:PutEvents only on the EventBusName bus")
            if binary != QUEUE_WORKER and any(a.startswith(("s3:Put", "s3:Delete")) for a in actions):
                problems.append(f"{logical}: only {QUEUE_WORKER} writes knowledge documents")
            if binary == "knowledge":
                if any(a.startswith(("secretsmanager:", "kms:", "s3:")) for a in actions):
                    problems.append(f"{logical}: the knowledge routes read no credential and no document ({sorted(actions)})")
                extra = {a for a in actions if a.startswith("dynamodb:")} - KNOWLEDGE_ROUTES_TABLE
                if extra:
                    problems.append(f"{logical}: the knowledge routes may not {sorted(extra)}")
            if any(a in ("lambda:InvokeFunction", "lambda:*", "*") for a in actions):
                problems.append(f"{logical}: no function may invoke others (lambda:InvokeFunction)")
            resources_ = as_list(statement.get("Resource", []))
            touches = any(a.startswith(("secretsmanager:", "dynamodb:")) for a in actions)
            if any(a.endswith("*") for a in actions if a.startswith(("secretsmanager:", "dynamodb:"))):
                problems.append(f"{logical}: wildcard action in {sorted(actions)}")
            if touches and any(r == "*" for r in resources_) and not actions <= UNSCOPED_ACTIONS:
                problems.append(f"{logical}: '*' resource for {sorted(actions)}")
            if binary in READ_ONLY and actions & (SECRET_WRITES | (TABLE_WRITES - READ_ONLY_MAY)):
                problems.append(f"{logical}: a read-only function may not {sorted(actions & (SECRET_WRITES | (TABLE_WRITES - READ_ONLY_MAY)))}")
            if "secretsmanager:DeleteSecret" in actions and binary != "disconnect":
                window = statement.get("Condition", {}).get("NumericGreaterThanEquals", {}).get("secretsmanager:RecoveryWindowInDays")
                if window is None or int(window) < 7:
                    problems.append(f"{logical}: only disconnect may delete secrets without a recovery window")

    for p in problems:
        print(f"FAIL {p}")
    checks = len(crates) + len(ROUTES) + len(functions) * 2
    print(f"{checks - len(problems) if not problems else 0} passed, {len(problems)} failed")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
