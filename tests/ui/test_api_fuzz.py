"""A schema-driven fuzz of the HTTP API: schemathesis generates requests from
`/openapi.json` (valid ones and broken ones) for every route, and each reply must be no
5xx, carry a status the schema lists and match the schema, and a wrong key must be
refused. In process, over a store of its own (the fuzz ingests and deletes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.errors import Unsatisfiable

import index
from index.settings import Settings
from tests.conftest import NEWS

schemathesis = pytest.importorskip("schemathesis", reason="the fuzz needs schemathesis: pip install -e '.[test]'")

pytestmark = pytest.mark.slow
CASES = 25  # per route and mode: bounded, so the suite stays short
KEY = "fuzz-key"  # with a key, schemathesis also checks that a wrong one is refused


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from qa.engine import Engine
    from ui.api import ServeOptions, create_app

    folder = tmp_path_factory.mktemp("fuzz")
    feed = folder / "news.jsonl"
    feed.write_text("".join(json.dumps(item) + "\n" for item in NEWS))
    settings = Settings.from_env(store=Path(folder, "store"))
    assert len(index.ingest([feed], settings=settings, progress=False).added) == len(NEWS)
    app = create_app(Engine(settings), ServeOptions(api_key=KEY))
    # A request the schema allows can still be refused with a 400 that says why ("since is
    # after until", a question of blanks): the schema lists it, so it counts as accepted.
    config = schemathesis.config.SchemathesisConfig.from_dict({
        "auth": {"openapi": {"HTTPBearer": {"bearer": KEY}}},
        "checks": {"positive_data_acceptance": {"expected-statuses": ["2xx", "400", "401", "403", "404", "409"]}},
    })
    return schemathesis.openapi.from_asgi("/openapi.json", app, config=config)


def test_no_request_gets_a_server_error_or_a_reply_off_the_schema(api_schema: Any) -> None:
    # Each route's strategy driven by Hypothesis here, not by schemathesis's pytest plugin
    # (its lazy schemas need a pytest attribute that pytest 9 removed).
    from hypothesis import given
    from schemathesis.generation.modes import GenerationMode
    from schemathesis.specs.openapi.checks import negative_data_rejection

    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) == 10  # every route
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            @given(case=operation.as_strategy(mode))
            @settings(max_examples=CASES, deadline=None, derandomize=True, database=None,
                      suppress_health_check=list(HealthCheck))
            def fuzz(case: Any) -> None:
                # A form's file part is bytes whatever "format: binary" says: a file that
                # "violates" it cannot be told from one that does not.
                form = case.media_type == "multipart/form-data"
                case.call_and_validate(excluded_checks=[negative_data_rejection] if form else None)

            try:
                fuzz()
            except Unsatisfiable:  # a route without inputs (GET /health) has no invalid request
                assert mode is GenerationMode.NEGATIVE
