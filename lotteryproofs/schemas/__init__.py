"""JSON Schemas (draft 2020-12) of the files the commands write, shipped as package data.

* ``report.schema.json`` — report.json of ``lotteryproofs check``;
* ``certificate.schema.json`` — the certificate of ``construct --json`` / ``verify --json``
  (DESIGN.md, "Certificate JSON"): the keys DESIGN.md names are required, others allowed.

``schema(name)`` returns one as a dict, for a validator such as jsonschema
(``jsonschema.validate(data, schema("report"))``).
"""

from __future__ import annotations

import json
from importlib import resources

NAMES = ("report", "certificate")


def schema(name: str) -> dict:
    """The schema ``name`` (one of :data:`NAMES`) as a dict."""
    if name not in NAMES:
        raise ValueError(f"unknown schema {name!r}; schemas: {', '.join(NAMES)}")
    text = resources.files(__name__).joinpath(f"{name}.schema.json").read_text(encoding="utf-8")
    return json.loads(text)
