"""The ``workflow_dispatch`` form: one input per parameter, typed, with the manifest's
default and description; past :data:`MAX_INPUTS` parameters (or names equal but for
case, which GitHub lower-cases), one JSON input ``parameters`` instead.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from nbflow.github.actions_yaml import mapping
from nbflow.manifest.model import Parameter, ParamType
from nbflow.manifest.values import DYNAMIC_DEFAULTS

MAX_INPUTS = 10  # the limit everywhere (GitHub.com now allows 25; GHES and old tools 10)


_INPUT_TYPES = {
    ParamType.INT: "number",
    ParamType.FLOAT: "number",
    ParamType.BOOL: "boolean",
    ParamType.CHOICE: "choice",
}


def input_env(param: Parameter) -> str:
    return f"NBFLOW_INPUT_{param.name.upper()}"


def fits_inputs(parameters: Sequence[Parameter]) -> bool:
    """One input per parameter: at most MAX_INPUTS, and names distinct ignoring case
    (GitHub lower-cases input ids)."""
    names = {p.name.lower() for p in parameters}
    return len(parameters) <= MAX_INPUTS and len(names) == len(parameters)


def dispatch_inputs(parameters: Sequence[Parameter]) -> Any:
    if not parameters:
        return None
    if fits_inputs(parameters):
        return mapping((p.name, _input(p)) for p in parameters)
    return mapping([("parameters", _json_input(parameters))])


def _input(param: Parameter) -> Any:
    spec = mapping([("description", _describe(param)), ("required", param.required)])
    default = _input_default(param)
    if default is not None:
        spec["default"] = default
    spec["type"] = _INPUT_TYPES.get(param.type, "string")
    if param.type is ParamType.CHOICE:
        spec["options"] = [_option(choice) for choice in param.choices]
    return spec


def _json_input(parameters: Sequence[Parameter]) -> Any:
    listed = ", ".join(f"{p.name} ({p.type.value})" for p in parameters)
    description = (
        'Parameters as a JSON object, e.g. {"name": value}; '
        f"those left out keep the manifest's defaults. Parameters: {listed}"
    )
    return mapping(
        [
            ("description", _sanitize(description)),
            ("required", False),
            ("default", "{}"),
            ("type", "string"),
        ]
    )


def _describe(param: Parameter) -> str:
    text = " ".join(param.description.split()) or param.name
    if param.type in (ParamType.LIST, ParamType.DICT):
        text += f" ({param.type.value} as JSON)"
    if param.has_default and param.default == DYNAMIC_DEFAULTS.get(param.type):
        text += f" (empty: {param.default})"
    return _sanitize(text)


def _sanitize(text: str) -> str:
    """Descriptions are shown as written: keep GitHub from reading an expression in one."""
    return text.replace("${{", "$ {{")


def _input_default(param: Parameter) -> Any:
    if param.type is ParamType.BOOL:
        return bool(param.default)  # GitHub always sends a boolean; unset means false
    if param.default is None or param.default == DYNAMIC_DEFAULTS.get(param.type):
        return None
    if param.type in (ParamType.INT, ParamType.FLOAT):
        return param.default
    if param.type in (ParamType.LIST, ParamType.DICT):
        return json.dumps(param.default)
    if param.type is ParamType.CHOICE:
        return _option(param.default)
    return str(param.default)


def _option(choice: Any) -> str:
    """A choice as GitHub's dropdown shows it and ``-p`` parses it back."""
    return choice if isinstance(choice, str) else json.dumps(choice)
