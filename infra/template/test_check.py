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


def run(text):
    with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
        f.write(text)
    try:
        return subprocess.run([sys.executable, str(CHECK)], env={**os.environ, "TEMPLATE": f.name}, capture_output=True, text=True)
    finally:
        os.unlink(f.name)


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


if __name__ == "__main__":
    unittest.main(verbosity=1)
