#!/usr/bin/env python3
"""Checks template.yaml against the code, so the deployed stack is the one the code expects:

- every function crate (functions/*) has exactly one AWS::Serverless::Function building that
  binary with cargo-lambda, for arm64 on provided.al2023, from CodeUri "." (one target dir);
- every route of the contract is wired, through the HTTP API and its JWT authorizer, to the
  function the contract names, and no other route exists; openapi.yaml describes exactly the
  routed operations, and marks the mutating ones admin-only;
- every environment variable the code reads is set for every function, and the local-only
  SHOPIFY_BASE_URL is set for none;
- no policy grants a wildcard action or resource on Secrets Manager or DynamoDB; the functions
  that only read (lookup, contact-metadata) cannot write secrets or items; only disconnect can
  delete a secret without a recovery window;
- lookup, which trusts its event's org_id, may be invoked by the AI platform principal (a
  parameter) alone: one Lambda permission, for that principal, and no policy of the stack
  grants lambda:InvokeFunction;
- knowledge-sync is fed by the knowledge queue (batch size 1, partial batch responses) and by
  an EventBridge Scheduler schedule sending the contract's input; the queue's visibility
  timeout is at least six times the worker's timeout, its redrive goes to the dead-letter
  queue after 5 receives, and an alarm watches the dead-letter queue;
- the knowledge bucket is encrypted, blocks public access and refuses plain HTTP; only
  knowledge-sync writes to it, only knowledge-sync puts events, and the knowledge routes read
  no credential and no document.
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
}
QUEUE_WORKER = "knowledge-sync"
SCHEDULE_INPUT = {"schedule": "knowledge-sync"}
MAX_RECEIVES = 5
DIRECT_INVOKE = {"lookup"}
LOCAL_ONLY = {"SHOPIFY_BASE_URL", "AWS_ENDPOINT_URL"}
SET_BY_LAMBDA = {"AWS_LAMBDA_FUNCTION_NAME"}
READ_ONLY = {"lookup", "contact-metadata"}
SECRET_WRITES = {
    "secretsmanager:CreateSecret", "secretsmanager:PutSecretValue", "secretsmanager:DeleteSecret",
    "secretsmanager:RestoreSecret", "secretsmanager:UpdateSecretVersionStage",
    "secretsmanager:UpdateSecret", "secretsmanager:TagResource",
}
TABLE_WRITES = {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"}
KNOWLEDGE_ROUTES_TABLE = {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query"}


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


def knowledge_problems(resources, functions, globals_fn):
    problems = []
    if QUEUE_WORKER not in functions:
        return problems
    logical, props = functions[QUEUE_WORKER]
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
    if len(schedules) != 1:
        problems.append(f"{logical}: needs exactly one EventBridge Scheduler schedule, has {len(schedules)}")
    else:
        p = schedules[0]["Properties"]
        try:
            if json.loads(p.get("Input", "null")) != SCHEDULE_INPUT:
                problems.append(f"{logical}: the schedule must send {json.dumps(SCHEDULE_INPUT)}")
        except ValueError:
            problems.append(f"{logical}: the schedule's input is not JSON")
        if by_ref(p.get("ScheduleExpression"), resources) != "KnowledgeSyncSchedule":
            problems.append(f"{logical}: the schedule's rate must be the KnowledgeSyncSchedule parameter")
    queue = resources.get(queue_id or "", {})
    if queue.get("Type") != "AWS::SQS::Queue":
        problems.append(f"{logical}: its SQS event must read a queue of the stack")
    else:
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
        for name in ("KNOWLEDGE_QUEUE_URL",):
            if by_ref(globals_fn.get("Environment", {}).get("Variables", {}).get(name), resources) != queue_id:
                problems.append(f"{name} must be the queue {logical} reads")
    bucket_id = by_ref(globals_fn.get("Environment", {}).get("Variables", {}).get("KNOWLEDGE_BUCKET"), resources)
    bucket = resources.get(bucket_id or "", {})
    if bucket.get("Type") != "AWS::S3::Bucket":
        problems.append("KNOWLEDGE_BUCKET must be a bucket of the stack")
    else:
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


def main():
    template = yaml.load(Path(os.environ.get("TEMPLATE", ROOT / "template.yaml")).read_text(), Loader=CfnLoader)
    resources = template["Resources"]
    globals_fn = template.get("Globals", {}).get("Function", {})
    global_env = set(globals_fn.get("Environment", {}).get("Variables", {}))
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

    wired = {}
    for binary, (logical, props) in functions.items():
        for event in (props.get("Events") or {}).values():
            if event["Type"] != "HttpApi":
                if binary != QUEUE_WORKER or event["Type"] not in ("SQS", "ScheduleV2"):
                    problems.append(f"{logical}: unexpected event type {event['Type']}")
                continue
            p = event["Properties"]
            if p.get("ApiId") != {"Ref": "HttpApi"}:
                problems.append(f"{logical}: route {p.get('Path')} is not on the HttpApi")
            if p.get("Auth", {}).get("Authorizer") == "NONE":
                problems.append(f"{logical}: route {p.get('Path')} skips the JWT authorizer")
            wired[(p["Method"].upper(), p["Path"])] = binary
    for route, binary in ROUTES.items():
        if wired.get(route) != binary:
            problems.append(f"{route[0]} {route[1]} must go to {binary}, goes to {wired.get(route)}")
    for route in set(wired) - set(ROUTES):
        problems.append(f"{route[0]} {route[1]} is not a contract route")
    spec = yaml.safe_load(Path(os.environ.get("OPENAPI", ROOT / "openapi.yaml")).read_text())
    described = {
        (method.upper(), path)
        for path, item in (spec.get("paths") or {}).items()
        for method in item
        if method in ("get", "put", "post", "delete", "patch", "head", "options")
    }
    for route in sorted(set(wired) - described):
        problems.append(f"{route[0]} {route[1]} is routed in template.yaml but not described in openapi.yaml")
    for route in sorted(described - set(wired)):
        problems.append(f"{route[0]} {route[1]} is described in openapi.yaml but not routed in template.yaml")
    for path, item in (spec.get("paths") or {}).items():
        for method, operation in item.items():
            if method.upper() in ("POST", "PUT", "DELETE") and wired.get((method.upper(), path)):
                # Every mutating route is admin-only, and the spec says so.
                if operation.get("x-required-role") != "admin":
                    problems.append(f"{method.upper()} {path}: openapi.yaml must mark it x-required-role: admin")
    for binary in DIRECT_INVOKE:
        if binary in functions and functions[binary][1].get("Events"):
            problems.append(f"{binary} is invoked directly and must have no API route")
    lookup = functions.get("lookup", (None, None))[0]
    permissions = [
        (name, r["Properties"]) for name, r in resources.items()
        if r["Type"] == "AWS::Lambda::Permission"
        and r["Properties"].get("FunctionName") in ({"GetAtt": f"{lookup}.Arn"}, {"Ref": lookup})
    ]
    if len(permissions) != 1:
        problems.append(f"lookup needs exactly one invoke permission (for the AI platform), has {len(permissions)}")
    for name, props in permissions:
        if props.get("Principal") != {"Ref": "AiPlatformPrincipal"} or props.get("Action") != "lambda:InvokeFunction":
            problems.append(f"{name}: lookup may be invoked by the AiPlatformPrincipal parameter only")
    if "AiPlatformPrincipal" not in template.get("Parameters", {}):
        problems.append("the AiPlatformPrincipal parameter is missing")
    api = resources.get("HttpApi", {}).get("Properties", {})
    if api.get("Auth", {}).get("DefaultAuthorizer") not in (api.get("Auth", {}).get("Authorizers") or {}):
        problems.append("the HTTP API must have a JWT authorizer as its default")

    problems += knowledge_problems(resources, functions, globals_fn)
    # A function allowed to queue knowledge jobs must build its services with the queue, and
    # one that builds them must be allowed to send.
    for binary, (logical, props) in functions.items():
        main = crates.get(binary, Path("/nonexistent")) / "src/main.rs"
        text = main.read_text() if main.exists() else ""
        wires = "from_env_with_knowledge" in text or "SyncPorts::from_env" in text
        sends = any(
            "sqs:SendMessage" in as_list(st.get("Action", []))
            for policy in as_list(props.get("Policies", [])) if isinstance(policy, dict)
            for st in as_list(policy.get("Statement", []))
        )
        if sends != wires:
            problems.append(f"{logical}: may send knowledge jobs ({sends}) but its main.rs wires the queue ({wires})")

    needed = env_vars_read()
    for binary, (logical, props) in functions.items():
        env = global_env | set(props.get("Environment", {}).get("Variables", {}))
        for var in sorted((needed - LOCAL_ONLY) - env):
            problems.append(f"{logical}: the code reads {var}, which is not set")
        for var in sorted(LOCAL_ONLY & env):
            problems.append(f"{logical}: {var} is for local use only and must not be set")

    for binary, (logical, props) in functions.items():
        statements = [s for policy in as_list(props.get("Policies", [])) if isinstance(policy, dict) for s in as_list(policy.get("Statement", []))]
        if not statements:
            problems.append(f"{logical}: needs an explicit least-privilege policy")
        for statement in statements:
            actions = set(as_list(statement.get("Action", [])))
            if statement.get("Effect") == "Allow" and any(a.startswith(("s3:", "sqs:", "events:")) for a in actions):
                if any(r == "*" for r in as_list(statement.get("Resource", []))):
                    problems.append(f"{logical}: '*' resource for {sorted(actions)}")
                if any(a.endswith("*") for a in actions):
                    problems.append(f"{logical}: wildcard action in {sorted(actions)}")
            if binary != QUEUE_WORKER and any(a.startswith(("s3:Put", "s3:Delete")) for a in actions):
                problems.append(f"{logical}: only {QUEUE_WORKER} writes knowledge documents")
            if binary != QUEUE_WORKER and "events:PutEvents" in actions:
                problems.append(f"{logical}: only {QUEUE_WORKER} puts events")
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
            if touches and any(r == "*" for r in resources_):
                problems.append(f"{logical}: '*' resource for {sorted(actions)}")
            if binary in READ_ONLY and actions & (SECRET_WRITES | TABLE_WRITES):
                problems.append(f"{logical}: a read-only function may not {sorted(actions & (SECRET_WRITES | TABLE_WRITES))}")
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
