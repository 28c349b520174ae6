"""The OpenAPI document is complete: every operation has a summary, a
description naming its roles, a response model, its error responses and the
security its access declaration says."""

from __future__ import annotations

from typing import Any

from nbo_engine.api import create_app
from nbo_engine.api.auth import PUBLIC, ROUTE_ACCESS
from nbo_engine.store import Engine


def test_every_operation_is_documented(sqlite_engine: Engine) -> None:
    doc: dict[str, Any] = create_app(sqlite_engine).openapi()
    assert doc["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
    }
    seen = set()
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            seen.add((method.upper(), path))
            access = ROUTE_ACCESS[(method.upper(), path)]
            assert op.get("summary"), (method, path)
            assert op.get("description"), (method, path)
            assert {"200", "201"} & set(op["responses"])
            if access == PUBLIC:
                assert op["security"] == []
            else:
                assert op["security"] == [{"ApiKey": []}]
                assert op["x-roles"] == sorted(access)
                assert (
                    "Roles: "
                    + ", ".join(
                        sorted(
                            access,
                            key=[
                                "channel",
                                "analyst",
                                "campaign_manager",
                                "admin",
                            ].index,
                        )
                    )
                    in op["description"]
                )
                for status in ("401", "403", "429"):
                    ref = op["responses"][status]["content"]["application/json"][
                        "schema"
                    ]
                    assert ref == {"$ref": "#/components/schemas/ErrorBody"}
            if method == "post":
                body = op["requestBody"]["content"]["application/json"]["schema"]
                name = body["$ref"].rsplit("/", 1)[-1]
                assert doc["components"]["schemas"][name].get("examples"), name
    assert seen == {
        k for k in ROUTE_ACCESS if not k[1].startswith(("/docs", "/redoc", "/openapi"))
    }
    assert "422" in doc["paths"]["/v1/events"]["post"]["responses"]
    assert "503" in doc["paths"]["/v1/offers"]["post"]["responses"]
