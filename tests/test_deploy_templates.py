"""Every CloudFormation template in deploy/ passes cfn-lint, errors, warnings and informational findings alike.

deploy/resources.json is not a whole template: `make package` merges it into what `chalice package` generates, and
tests/test_packaging.py lints the merged template (it runs `chalice package`, a child process). Every other template
there is one an adopter deploys as it is, so it is linted as it is, here, with cfn-lint's own API in this process.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import REPO_ROOT

DEPLOY = REPO_ROOT / "deploy"
MERGE_TEMPLATE = DEPLOY / "resources.json"
WHOLE_TEMPLATES = sorted(
    path for path in DEPLOY.iterdir() if path.suffix in (".json", ".yaml", ".yml") and path != MERGE_TEMPLATE
)


def test_deploy_holds_whole_templates_beside_the_merge_template() -> None:
    assert MERGE_TEMPLATE.is_file()
    assert "http-api-authorizer.json" in {path.name for path in WHOLE_TEMPLATES}


@pytest.mark.parametrize("template", WHOLE_TEMPLATES, ids=lambda path: path.name)
def test_the_template_passes_cfn_lint(template: Path) -> None:
    # Imported here: cfn-lint's rules and schemas take a second to load, which every other test's collection would pay.
    from cfnlint.api import lint_file

    # The same rules as the command line with no options (no rule ignored), as tests/test_packaging.py runs it.
    findings = lint_file(template)
    assert not findings, "\n".join(str(finding) for finding in findings)
