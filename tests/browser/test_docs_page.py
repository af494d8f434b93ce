"""/docs in a real browser, with every request off this machine refused."""

from __future__ import annotations

import pytest

from scripts.stack import LocalStack
from tests.browser.conftest import OfflinePage

pytestmark = pytest.mark.browser


def test_swagger_ui_renders_every_operation_offline(ui_stack: LocalStack, offline_page: OfflinePage) -> None:
    page = offline_page.page
    page.goto(ui_stack.base_url + "/docs")
    page.wait_for_selector(".swagger-ui .opblock-summary-path", timeout=30_000)
    paths = {p.get_attribute("data-path") for p in page.query_selector_all(".opblock-summary-path")}
    assert {"/jobs", "/jobs/{job_id}", "/jobs/{job_id}/results", "/models/{name}/predict"} <= paths
    assert page.locator(".swagger-ui .btn.authorize").count() == 1, "no Authorize button: no security scheme"
    assert page.locator(".swagger-ui .title").first.inner_text().startswith("predq")
    assert not offline_page.blocked, f"/docs asked other hosts for {offline_page.blocked}"
    assert not offline_page.errors, offline_page.errors
