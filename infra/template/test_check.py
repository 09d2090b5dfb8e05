#!/usr/bin/env python3
"""Proves infra/template/check.py catches what it is for: each mutation of template.yaml below
must make it fail, and the template as committed must pass."""
import os
import subprocess
import sys
import tempfile
import unittest
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECK = ROOT / "infra/template/check.py"
TEMPLATE = (ROOT / "template.yaml").read_text()


SPEC = (ROOT / "openapi.yaml").read_text()


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

    def test_the_committed_template_passes(self):
        result = run(TEMPLATE)
        self.assertEqual(result.returncode, 0, result.stdout)

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

    def test_an_unconditional_delete_outside_disconnect_is_caught(self):
        self.assert_caught("              Condition:\n                NumericGreaterThanEquals:\n                  secretsmanager:RecoveryWindowInDays: 7", "", "only disconnect may delete")

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
        self.assert_caught("            # Turning a knowledge source on or off queues its sync or its removal.\n            - Sid: QueueKnowledgeJobs\n              Effect: Allow\n              Action: sqs:SendMessage\n", "            # Turning a knowledge source on or off queues its sync or its removal.\n            - Sid: QueueKnowledgeJobs\n              Effect: Allow\n              Action: sqs:GetQueueUrl\n", "SettingsFunction: may send knowledge jobs (False) but its main.rs wires the queue (True)")

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


if __name__ == "__main__":
    unittest.main(verbosity=1)
