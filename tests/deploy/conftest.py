"""What the deploy tests share: the tools `make deploy-tools` installs (kubectl, the schemas)."""

from __future__ import annotations

import deploy_checks as deploy
import pytest


@pytest.fixture(scope="session")
def deploy_tools() -> None:
    """Fail, naming the make target, when the tools are missing: a missing tool is no reason to skip."""
    try:
        deploy.require_tools()
    except deploy.ToolMissing as error:
        pytest.fail(str(error))
