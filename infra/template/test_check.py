#!/usr/bin/env python3
"""Proves infra/template/check.py catches what it is for: each mutation of template.yaml (or of
openapi.yaml) below must make it fail, and the template as committed must pass. OPENAPI=path
runs it all against another spec."""
import os
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
CHECK = ROOT / "infra/template/check.py"
TEMPLATE = (ROOT / "template.yaml").read_text()


SPEC = Path(os.environ.get("OPENAPI", ROOT / "openapi.yaml")).read_text()


def spec_with(change):
    """SPEC, parsed, changed in place by `change`, and written out again."""
    spec = yaml.safe_load(SPEC)
    change(spec)
    return yaml.safe_dump(spec, sort_keys=False)


def run(text, spec=SPEC):
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(text)
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as g:
        g.write(spec)
    try:
        return subprocess.run([sys.executable, str(CHECK)], env={**os.environ, "TEMPLATE": f.name, "OPENAPI": g.name}, capture_output=True, text=True)
    finally:
        os.unlink(f.name)
        os.unlink(g.name)


class TemplateCheck(unittest.TestCase):
    def assert_caught(self, old, new, expected):
        self.assertIn(old, TEMPLATE, "the mutation no longer applies; update the test")
        result = run(TEMPLATE.replace(old, new, 1))
        self.assertEqual(result.returncode, 1, result.stdout)
        self.assertIn(expected, result.stdout)

    def assert_spec_caught(self, change, expected):
        result = run(TEMPLATE, spec_with(change))
        self.assertEqual(result.returncode, 1, result.stdout)
        self.assertIn(expected, result.stdout)

    def test_the_committed_template_passes(self):
        result = run(TEMPLATE)
        self.assertEqual(result.returncode, 0, result.stdout)

    def test_the_mcp_routes_that_only_answer_405_must_be_routed_and_never_described(self):
        self.assert_caught("            Method: GET\n            Path: /mcp\n", "            Method: GET\n            Path: /mcp-stream\n", "GET /mcp must be routed to its function, which answers it 405 with Allow")

        def describe_get(spec):
            spec["paths"]["/mcp"]["get"] = {"security": [], "responses": {"405": {"description": "not served"}}}

        self.assert_spec_caught(describe_get, "GET /mcp only answers 405: openapi.yaml must not describe it as an operation")

    def test_a_route_wired_to_the_wrong_function_is_caught(self):
        self.assert_caught("            Method: DELETE\n            Path: /shopify/stores/{shop}", "            Method: DELETE\n            Path: /shopify/stores/{shopx}", "DELETE /shopify/stores/{shop} must go to disconnect")

    def test_a_function_without_a_resource_is_caught(self):
        self.assert_caught("        Binary: disconnect", "        Binary: disconnect-old", "function crate disconnect has no resource")

    def test_a_missing_env_var_is_caught(self):
        self.assert_caught("        STORES_TABLE: !Ref StoresTable\n", "", "reads STORES_TABLE, which is not set")

    def test_the_local_only_base_url_is_caught(self):
        self.assert_caught("        RUST_LOG: !Ref LogLevel\n", "        RUST_LOG: !Ref LogLevel\n        SHOPIFY_BASE_URL: http://127.0.0.1\n", "SHOPIFY_BASE_URL is for local use only")

    def test_a_wildcard_resource_on_the_table_is_caught(self):
        self.assert_caught("              Action: dynamodb:Query\n              Resource: !GetAtt StoresTable.Arn", "              Action: dynamodb:Query\n              Resource: \"*\"", "'*' resource")

    def test_a_read_only_function_writing_secrets_is_caught(self):
        self.assert_caught("            - Sid: ReadSecrets\n              Effect: Allow\n              Action: secretsmanager:GetSecretValue", "            - Sid: ReadSecrets\n              Effect: Allow\n              Action: secretsmanager:PutSecretValue", "read-only function may not")

    def test_a_read_only_function_deleting_records_is_caught(self):
        # Marking a store is a put; deleting one is not theirs to do.
        self.assert_caught("              Action:\n                - dynamodb:GetItem\n                - dynamodb:PutItem\n              Resource: !GetAtt StoresTable.Arn\n            - Sid: AnnounceStatusChanges", "              Action:\n                - dynamodb:GetItem\n                - dynamodb:DeleteItem\n              Resource: !GetAtt StoresTable.Arn\n            - Sid: AnnounceStatusChanges", "read-only function may not")

    def test_an_unconditional_delete_outside_disconnect_is_caught(self):
        self.assert_caught("              Condition:\n                NumericGreaterThanEquals:\n                  secretsmanager:RecoveryWindowInDays: 7", "", "only disconnect may delete")

    def test_a_wildcard_resource_beside_list_secrets_is_caught(self):
        # ListSecrets takes no resource; any other action in its statement would get every one.
        self.assert_caught("              Action: secretsmanager:ListSecrets\n", "              Action:\n                - secretsmanager:ListSecrets\n                - secretsmanager:GetSecretValue\n", "'*' resource")

    def test_an_unconditional_delete_in_the_health_check_is_caught(self):
        self.assert_caught("            - Sid: ScheduleDeletionOfSecretsNoRecordNames\n              Effect: Allow\n              Action: secretsmanager:DeleteSecret\n              Resource: !Sub \"arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${SecretPrefix}/${Stage}/*\"\n              Condition:\n                NumericGreaterThanEquals:\n                  secretsmanager:RecoveryWindowInDays: 7\n", "            - Sid: ScheduleDeletionOfSecretsNoRecordNames\n              Effect: Allow\n              Action: secretsmanager:DeleteSecret\n              Resource: !Sub \"arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}:secret:${SecretPrefix}/${Stage}/*\"\n", "HealthCheckFunction: only disconnect may delete")

    def test_lookup_invocable_by_another_principal_is_caught(self):
        self.assert_caught("      Principal: !Ref AiPlatformPrincipal", "      Principal: !Sub \"${AWS::AccountId}\"", "AiPlatformPrincipal parameter only")

    def test_lookup_without_its_invoke_permission_is_caught(self):
        self.assert_caught("      FunctionName: !GetAtt LookupFunction.Arn\n", "      FunctionName: !GetAtt SettingsFunction.Arn\n", "exactly one invoke permission")

    def test_a_missing_budget_env_var_is_caught(self):
        self.assert_caught("        LOOKUP_BUDGET_MS: !Ref LookupBudgetMs\n", "", "reads LOOKUP_BUDGET_MS, which is not set")

    def test_a_knowledge_queue_batch_above_one_is_caught(self):
        self.assert_caught("            BatchSize: 1\n", "            BatchSize: 10\n", "batch size must be 1")

    def test_a_queue_without_partial_batch_responses_is_caught(self):
        self.assert_caught("            FunctionResponseTypes:\n              - ReportBatchItemFailures\n", "", "ReportBatchItemFailures")

    def test_a_wrong_schedule_input_is_caught(self):
        self.assert_caught("""            Input: '{"schedule": "knowledge-sync"}'""", """            Input: '{"tick": true}'""", "the schedule must send")

    def test_a_short_visibility_timeout_is_caught(self):
        self.assert_caught("      VisibilityTimeout: 360\n", "      VisibilityTimeout: 60\n", "at least 6 x the worker's timeout")

    def test_a_different_redrive_count_is_caught(self):
        self.assert_caught("        maxReceiveCount: 5\n", "        maxReceiveCount: 3\n", "after 5 receives")

    def test_an_unwatched_dead_letter_queue_is_caught(self):
        self.assert_caught("          Value: !GetAtt KnowledgeDeadLetterQueue.QueueName\n", "          Value: !GetAtt KnowledgeQueue.QueueName\n", "no alarm watches the dead-letter queue")

    def test_a_public_knowledge_bucket_is_caught(self):
        self.assert_caught("        RestrictPublicBuckets: true\n", "        RestrictPublicBuckets: false\n", "RestrictPublicBuckets must be true")

    def test_a_bucket_allowing_plain_http_is_caught(self):
        self.assert_caught('                aws:SecureTransport: "false"\n', '                aws:SecureTransport: "true"\n', "denying requests without TLS")

    def test_documents_writable_beyond_the_bucket_is_caught(self):
        self.assert_caught('              Resource: !Sub "${KnowledgeBucket.Arn}/*"\n', '              Resource: "*"\n', "'*' resource")

    def test_the_knowledge_routes_reading_credentials_is_caught(self):
        self.assert_caught("            - Sid: KnowledgeState\n              Effect: Allow\n              Action:\n                - dynamodb:GetItem\n", "            - Sid: KnowledgeState\n              Effect: Allow\n              Action:\n                - secretsmanager:GetSecretValue\n                - dynamodb:GetItem\n", "read no credential and no document")

    def test_the_local_endpoint_in_the_template_is_caught(self):
        self.assert_caught("        RUST_LOG: !Ref LogLevel\n", "        RUST_LOG: !Ref LogLevel\n        AWS_ENDPOINT_URL: http://127.0.0.1:5000\n", "AWS_ENDPOINT_URL is for local use only")

    def test_a_missing_knowledge_route_is_caught(self):
        self.assert_caught("            Path: /shopify/knowledge/documents\n", "            Path: /shopify/knowledge/docs\n", "GET /shopify/knowledge/documents must go to knowledge")

    def test_a_function_queueing_jobs_without_the_queue_wired_is_caught(self):
        self.assert_caught("            # Turning a knowledge source on or off queues its sync or its removal.\n            - Sid: QueueKnowledgeJobs\n              Effect: Allow\n              Action: sqs:SendMessage\n", "            # Turning a knowledge source on or off queues its sync or its removal.\n            - Sid: QueueKnowledgeJobs\n              Effect: Allow\n              Action: sqs:GetQueueUrl\n", "SettingsFunction: may send knowledge-sync jobs (False) but its code wires the queue (True)")

    def test_a_route_missing_from_the_spec_is_caught(self):
        old = "  /shopify/knowledge/documents:\n    get:"
        self.assertIn(old, SPEC)
        result = run(TEMPLATE, SPEC.replace(old, "  /shopify/knowledge/docs:\n    get:", 1))
        self.assertEqual(result.returncode, 1, result.stdout)
        self.assertIn("GET /shopify/knowledge/documents is routed in template.yaml but not described in openapi.yaml", result.stdout)

    def test_an_admin_route_not_marked_in_the_spec_is_caught(self):
        old = "      operationId: disconnectStore\n      summary: Disconnect a store and delete its credentials (admin)\n      description: |\n        From the moment it answers, no lookup uses the store or its credentials; its knowledge\n        documents and sync state are removed shortly after.\n      x-required-role: admin\n"
        self.assertIn(old, SPEC)
        result = run(TEMPLATE, SPEC.replace(old, old.replace("      x-required-role: admin\n", ""), 1))
        self.assertEqual(result.returncode, 1, result.stdout)
        self.assertIn("DELETE /shopify/stores/{shop}: openapi.yaml must mark it x-required-role: admin", result.stdout)

    # The public webhook route and the authorizer.

    def test_a_route_skipping_the_authorizer_unmarked_in_the_spec_is_caught(self):
        self.assert_caught("            Method: DELETE\n            Path: /shopify/stores/{shop}\n", "            Method: DELETE\n            Path: /shopify/stores/{shop}\n            Auth:\n              Authorizer: NONE\n", "DELETE /shopify/stores/{shop} skips the JWT authorizer, but openapi.yaml does not mark it public")

    def test_a_public_operation_behind_the_authorizer_is_caught(self):
        def change(spec):
            spec["paths"]["/shopify/knowledge"]["get"]["security"] = []
        self.assert_spec_caught(change, "GET /shopify/knowledge: openapi.yaml marks it public (security: []), but template.yaml puts it behind the JWT authorizer")

    def test_the_webhook_route_behind_the_authorizer_is_caught(self):
        self.assert_caught("            Auth:\n              Authorizer: NONE\n", "", "POST /shopify/webhooks: openapi.yaml marks it public (security: []), but template.yaml puts it behind the JWT authorizer")

    def test_a_public_operation_requiring_a_role_is_caught(self):
        def change(spec):
            spec["paths"]["/shopify/stores/{shop}"]["delete"]["security"] = []
        self.assert_spec_caught(change, "DELETE /shopify/stores/{shop}: a public operation has no caller role")

    def test_a_spec_without_a_default_requirement_is_caught(self):
        self.assert_spec_caught(lambda spec: spec.pop("security"), "openapi.yaml must require the JWT (top-level security)")

    def test_an_unthrottled_public_route_is_caught(self):
        self.assert_caught("            RouteSettings:\n              ThrottlingBurstLimit: 100\n              ThrottlingRateLimit: 50\n", "            RouteSettings:\n", "POST /shopify/webhooks: a public route needs its own ThrottlingBurstLimit below the API's default")

    def test_a_public_route_throttled_at_the_default_is_caught(self):
        self.assert_caught("              ThrottlingRateLimit: 50\n", "              ThrottlingRateLimit: 100\n", "needs its own ThrottlingRateLimit below the API's default (100)")

    def test_a_webhooks_route_to_another_function_is_caught(self):
        self.assert_caught("            Path: /shopify/webhooks\n", "            Path: /shopify/webhook\n", "POST /shopify/webhooks must go to webhooks")

    # The health check: its queue, its schedule, its interval.

    def test_a_short_health_visibility_timeout_is_caught(self):
        self.assert_caught("      VisibilityTimeout: 720\n", "      VisibilityTimeout: 300\n", "HealthQueue: the visibility timeout must be at least 6 x the worker's timeout (720 s)")

    def test_a_wrong_health_schedule_input_is_caught(self):
        self.assert_caught("""            Input: '{"schedule": "health-check"}'""", """            Input: '{"schedule": "knowledge-sync"}'""", 'HealthCheckFunction: the schedule must send {"schedule": "health-check"}')

    def test_a_health_rate_apart_from_its_parameter_is_caught(self):
        self.assert_caught('            ScheduleExpression: !Sub "rate(${HealthCheckIntervalMinutes} minutes)"', "            ScheduleExpression: rate(1 hour)", "HealthCheckFunction: the schedule's rate must be")

    def test_an_interval_apart_from_the_rate_is_caught(self):
        self.assert_caught("          HEALTH_CHECK_INTERVAL_SECS: !FindInMap [HealthCheckIntervals, !Ref HealthCheckIntervalMinutes, Seconds]\n", '          HEALTH_CHECK_INTERVAL_SECS: "3600"\n', "HealthCheckFunction: HEALTH_CHECK_INTERVAL_SECS must be !FindInMap")

    def test_a_wrong_interval_mapping_is_caught(self):
        self.assert_caught('    "60": {Seconds: 3600}\n', '    "60": {Seconds: 6000}\n', "HealthCheckIntervals: 60 minutes must map to Seconds: 3600")

    def test_an_allowed_interval_without_a_mapping_is_caught(self):
        self.assert_caught("    AllowedValues: [15, 30, 60, 120, 180, 360, 720, 1440]\n", "    AllowedValues: [15, 30, 45, 60, 120, 180, 360, 720, 1440]\n", "HealthCheckIntervals: 45 minutes must map to Seconds: 2700 (is None)")

    def test_an_unwatched_health_dead_letter_queue_is_caught(self):
        self.assert_caught("          Value: !GetAtt HealthDeadLetterQueue.QueueName\n", "          Value: !GetAtt HealthQueue.QueueName\n", "HealthDeadLetterQueue: no alarm watches the dead-letter queue")

    def test_a_health_queue_without_a_concurrency_cap_is_caught(self):
        self.assert_caught("            ScalingConfig:\n              MaximumConcurrency: 5\n", "", "HealthCheckFunction: the queue's event source needs a concurrency cap")

    def test_a_health_queue_redriving_elsewhere_is_caught(self):
        self.assert_caught("        deadLetterTargetArn: !GetAtt HealthDeadLetterQueue.Arn\n        maxReceiveCount: 5\n", "        deadLetterTargetArn: !GetAtt HealthDeadLetterQueue.Arn\n        maxReceiveCount: 10\n", "HealthQueue: messages must go to the dead-letter queue after 5 receives")

    # Environment variables only some functions read.

    def test_a_missing_health_queue_url_is_caught(self):
        self.assert_caught("          HEALTH_QUEUE_URL: !Ref HealthQueue\n      Events:\n        ShopifyWebhooks:", "      Events:\n        ShopifyWebhooks:", "WebhooksFunction: the code reads HEALTH_QUEUE_URL, which is not set")

    def test_a_health_queue_url_naming_another_queue_is_caught(self):
        self.assert_caught("          HEALTH_QUEUE_URL: !Ref HealthQueue\n      Events:\n        ShopifyWebhooks:", "          HEALTH_QUEUE_URL: !Ref KnowledgeQueue\n      Events:\n        ShopifyWebhooks:", "WebhooksFunction: HEALTH_QUEUE_URL must be the queue HealthCheckFunction reads")

    def test_webhook_table_rights_without_leading_keys_are_caught(self):
        self.assert_caught('''              Condition:
                ForAllValues:StringLike:
                  dynamodb:LeadingKeys:
                    - "WEBHOOK#*"
''', "", "WebhooksFunction: table statement Deliveries needs a dynamodb:LeadingKeys condition")

    def test_webhook_table_rights_beyond_its_partitions_are_caught(self):
        self.assert_caught('                    - "WEBHOOK#*"\n', '                    - "*"\n', "WebhooksFunction: table statement Deliveries reaches ['*']")

    def test_a_webhook_function_that_may_scan_is_caught(self):
        self.assert_caught("                - dynamodb:UpdateItem\n                - dynamodb:DeleteItem\n              Resource: !GetAtt StoresTable.Arn\n              Condition:", "                - dynamodb:UpdateItem\n                - dynamodb:DeleteItem\n                - dynamodb:Scan\n              Resource: !GetAtt StoresTable.Arn\n              Condition:", "WebhooksFunction: may only read and write its own items, not ['dynamodb:Scan']")

    def test_a_public_route_without_a_4xx_alarm_is_caught(self):
        self.assert_caught("      MetricName: Webhook4xx\n      Statistic: Sum\n", "      MetricName: Webhook5xx\n      Statistic: Sum\n", "POST /shopify/webhooks: a public route needs an alarm on its 4xx")

    def test_a_4xx_metric_filter_on_another_route_is_caught(self):
        self.assert_caught('($.routeKey = "POST /shopify/webhooks") && ($.status = "4*")', '($.routeKey = "GET /shopify/webhooks") && ($.status = "4*")', "POST /shopify/webhooks: a public route needs an alarm on its 4xx")

    def test_a_4xx_metric_filter_on_another_log_group_is_caught(self):
        self.assert_caught("      LogGroupName: !Ref ApiAccessLogs\n      FilterPattern: '{ ($.routeKey = \"POST /shopify/webhooks\") && ($.status = \"4*\") }'", "      LogGroupName: !Ref WebhooksLogs\n      FilterPattern: '{ ($.routeKey = \"POST /shopify/webhooks\") && ($.status = \"4*\") }'", "POST /shopify/webhooks: a public route needs an alarm on its 4xx")

    def test_a_public_route_without_route_metrics_is_caught(self):
        self.assert_caught("              DetailedMetricsEnabled: true\n", "", "POST /shopify/webhooks: a public route needs DetailedMetricsEnabled")

    def test_a_missing_webhook_token_secret_is_caught(self):
        self.assert_caught("          # A request without its organization's token is refused before anything is read.\n          WEBHOOK_TOKEN_SECRET: !Ref WebhookTokenKey\n          HEALTH_QUEUE_URL", "          HEALTH_QUEUE_URL", "WebhooksFunction: the code reads WEBHOOK_TOKEN_SECRET, which is not set")

    def test_a_missing_webhook_base_url_is_caught(self):
        self.assert_caught("          WEBHOOK_BASE_URL: !Ref WebhookBaseUrl\n", "", "SaveCredentialsFunction: the code reads WEBHOOK_BASE_URL, which is not set")

    # Who may send to the health queue and put events.

    def test_a_function_wiring_the_health_queue_without_sending_is_caught(self):
        self.assert_caught("            # shop/update queues a forced health check of the store.\n            - Sid: QueueHealthJobs\n              Effect: Allow\n              Action: sqs:SendMessage\n", "            # shop/update queues a forced health check of the store.\n            - Sid: QueueHealthJobs\n              Effect: Allow\n              Action: sqs:GetQueueUrl\n", "WebhooksFunction: may send health-check jobs (False) but its code wires the queue (True)")

    def test_a_function_sending_health_jobs_without_wiring_the_queue_is_caught(self):
        self.assert_caught("            # The store's knowledge documents and sync state are removed by knowledge-sync.\n            - Sid: QueueKnowledgeJobs\n              Effect: Allow\n              Action: sqs:SendMessage\n              Resource: !GetAtt KnowledgeQueue.Arn\n", "            # The store's knowledge documents and sync state are removed by knowledge-sync.\n            - Sid: QueueKnowledgeJobs\n              Effect: Allow\n              Action: sqs:SendMessage\n              Resource:\n                - !GetAtt KnowledgeQueue.Arn\n                - !GetAtt HealthQueue.Arn\n", "DisconnectFunction: may send health-check jobs (True) but its code wires the queue (False)")

    def test_a_function_announcing_without_put_events_is_caught(self):
        self.assert_caught("            # A verify (?verify=true) that changes a store's status announces it.\n            - Sid: AnnounceStatusChanges\n              Effect: Allow\n              Action: events:PutEvents\n", "            # A verify (?verify=true) that changes a store's status announces it.\n            - Sid: AnnounceStatusChanges\n              Effect: Allow\n              Action: events:DescribeEventBus\n", "SettingsFunction: may put events (False) but its code announces them (True)")

    def test_put_events_for_a_function_that_announces_nothing_is_caught(self):
        self.assert_caught("            # The store's knowledge documents and sync state are removed by knowledge-sync.\n", "            - Sid: Announce\n              Effect: Allow\n              Action: events:PutEvents\n              Resource: !Sub \"arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${EventBusName}\"\n", "DisconnectFunction: may put events (True) but its code announces them (False)")

    def test_put_events_on_another_bus_is_caught(self):
        old = "            - Sid: AnnounceStatusChanges\n              Effect: Allow\n              Action: events:PutEvents\n              Resource: !Sub \"arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${EventBusName}\"\n\n  HealthCheckLogs:"
        self.assert_caught(old, old.replace("event-bus/${EventBusName}", "event-bus/default"), "HealthCheckFunction: events:PutEvents only on the EventBusName bus")

    # The table's TTL and the alarms.

    def test_a_stores_table_without_its_ttl_is_caught(self):
        self.assert_caught("      TimeToLiveSpecification:\n        AttributeName: expires_at\n        Enabled: true\n", "", "StoresTable: the code writes expires_at to expire items; TimeToLiveSpecification must enable it")

    def test_a_function_without_an_errors_alarm_is_caught(self):
        old = "      MetricName: Errors\n      Dimensions:\n        - Name: FunctionName\n          Value: !Ref WebhooksFunction\n"
        self.assert_caught(old, old.replace("Value: !Ref WebhooksFunction", "Value: !Ref HealthCheckFunction"), "WebhooksFunction: no alarm on its Errors")

    def test_a_function_without_a_throttles_alarm_is_caught(self):
        old = "      MetricName: Throttles\n      Dimensions:\n        - Name: FunctionName\n          Value: !Ref HealthCheckFunction\n"
        self.assert_caught(old, old.replace("MetricName: Throttles", "MetricName: Duration"), "HealthCheckFunction: no alarm on its Throttles")

    # Order actions.

    def test_order_actions_invocable_by_another_principal_is_caught(self):
        old = "      FunctionName: !GetAtt OrderActionsFunction.Arn\n      Principal: !Ref AiPlatformPrincipal"
        self.assert_caught(old, old.replace("!Ref AiPlatformPrincipal", '!Sub "${AWS::AccountId}"'), "OrderActionsInvokePermission: order-actions may be invoked by the AiPlatformPrincipal parameter only")

    def test_order_actions_without_its_invoke_permission_is_caught(self):
        self.assert_caught("      FunctionName: !GetAtt OrderActionsFunction.Arn\n", "      FunctionName: !GetAtt ActionsApiFunction.Arn\n", "order-actions needs exactly one invoke permission")

    def test_the_actions_api_invocable_by_the_platform_is_caught(self):
        self.assert_caught("      FunctionName: !GetAtt OrderActionsFunction.Arn\n", "      FunctionName: !GetAtt ActionsApiFunction.Arn\n", "the AI platform's principal may not invoke actions-api")

    def test_a_wrong_settle_schedule_is_caught(self):
        self.assert_caught("ScheduleExpression: rate(5 minutes)", "ScheduleExpression: rate(1 hour)", "OrderActionsFunction: the schedule's rate must be rate(5 minutes)")
        self.assert_caught("""Input: '{"schedule": "order-actions-settle"}'""", """Input: '{"schedule": "knowledge-sync"}'""", "OrderActionsFunction: the schedule must send")

    def test_failed_order_actions_unwatched_are_caught(self):
        self.assert_caught("      LogGroupName: !Ref ActionsApiLogs\n", "      LogGroupName: !Ref ApiAccessLogs\n", "ActionsApiFunction: no metric filter counts its failed order actions")
        self.assert_caught("      MetricName: OrderActionsFailed\n      Statistic: Sum", "      MetricName: Other\n      Statistic: Sum", "no alarm watches its failed order actions")

    def test_order_actions_reaching_other_partitions_is_caught(self):
        self.assert_caught("""                    - "ORG#*"\n                    - "ACTIONS#*"\n            - Sid: ReadSecrets""", """                    - "ORG#*"\n                    - "WEBHOOK#*"\n            - Sid: ReadSecrets""", "beyond")

    def test_an_approval_route_not_naming_its_roles_in_the_spec_is_caught(self):
        def change(spec):
            spec["paths"]["/shopify/actions/{id}/approve"]["post"]["x-required-role"] = "admin"
        self.assert_spec_caught(change, "POST /shopify/actions/{id}/approve: openapi.yaml must mark it x-required-role naming ACTION_APPROVER_ROLES")


if __name__ == "__main__":
    unittest.main(verbosity=1)
