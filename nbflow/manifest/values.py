"""Parameter values: check a value against a declared type and turn it into what is
injected into a notebook.

Notebooks receive JSON-able values only (papermill writes them as Python literals
into the injected cell), so dates and datetimes travel as ISO text and paths as
text. The special defaults ``today`` (date) and ``now`` (datetime) are kept as
written in the manifest and resolved against the run's clock by
:func:`resolve_default`, so a scheduled run and its re-run agree on the date.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from pathlib import Path, PurePath
from typing import Any

from nbflow.errors import Source
from nbflow.manifest.model import Parameter, ParamType
from nbflow.manifest.notebooks import Declared

__all__ = [
    "DYNAMIC_DEFAULTS",
    "check_declared",
    "coerce",
    "jsonable",
    "parse_cli_value",
    "parse_declared",
    "resolve_default",
    "type_name",
]

#: Defaults resolved when a run starts, per type.
DYNAMIC_DEFAULTS = {ParamType.DATE: "today", ParamType.DATETIME: "now"}

_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


def type_name(value: object) -> str:
    """A YAML-ish name for the type of ``value``, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, dt.datetime):
        return "datetime"
    for kind, name in ((str, "str"), (int, "int"), (float, "float"), (dt.date, "date")):
        if isinstance(value, kind):
            return name
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, Mapping):
        return "dict"
    return type(value).__name__


def coerce(param: Parameter, value: Any) -> Any:
    """Check ``value`` against ``param``'s type; return the JSON-able value to inject."""
    return _COERCE[param.type](param, value)


def _fail(param: Parameter, what: str, value: Any) -> ValueError:
    return ValueError(f"expected {what}, got {type_name(value)} {_show(value)}")


def _show(value: Any) -> str:
    if isinstance(value, dt.date):
        return value.isoformat()
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError):
        return repr(value)


def _str(param: Parameter, value: Any) -> Any:
    if not isinstance(value, str):
        raise _fail(param, "a string", value)
    return value


def _int(param: Parameter, value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(param, "an integer", value)
    return int(value)


def _float(param: Parameter, value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(param, "a number", value)
    return float(value)


def _bool(param: Parameter, value: Any) -> Any:
    if not isinstance(value, bool):
        raise _fail(param, "true or false", value)
    return value


def _date(param: Parameter, value: Any) -> Any:
    if isinstance(value, dt.datetime):
        raise _fail(param, "a date such as 2024-01-31 (without a time)", value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise _fail(param, "a date such as 2024-01-31", value)


def _datetime(param: Parameter, value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time()).isoformat()
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value).isoformat()
        except ValueError:
            pass
    raise _fail(param, "a datetime such as 2024-01-31T08:00:00", value)


def _path(param: Parameter, value: Any) -> Any:
    if isinstance(value, PurePath):
        return str(value)
    if not isinstance(value, str) or not value:
        raise _fail(param, "a path (non-empty text)", value)
    return value


def _list(param: Parameter, value: Any) -> Any:
    if not isinstance(value, list | tuple):
        raise _fail(param, "a list", value)
    return jsonable(value)


def _dict(param: Parameter, value: Any) -> Any:
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise _fail(param, "a mapping with text keys", value)
    return jsonable(value)


def _choice(param: Parameter, value: Any) -> Any:
    for choice in param.choices:
        if value == choice and isinstance(value, bool) == isinstance(choice, bool):
            return jsonable(choice)
    allowed = ", ".join(_show(c) for c in param.choices)
    raise ValueError(f"expected one of {allowed}, got {_show(value)}")


def jsonable(value: Any) -> Any:
    """Nested YAML values → JSON-able Python values (dates as ISO text)."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return bool(value)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return value


_COERCE = {
    ParamType.STR: _str,
    ParamType.INT: _int,
    ParamType.FLOAT: _float,
    ParamType.BOOL: _bool,
    ParamType.DATE: _date,
    ParamType.DATETIME: _datetime,
    ParamType.PATH: _path,
    ParamType.LIST: _list,
    ParamType.DICT: _dict,
    ParamType.CHOICE: _choice,
}


def parse_declared(declared: Declared, text: str) -> Any:
    """Parse ``-p STEP.NAME=VALUE`` text by the type a notebook declares for NAME."""
    return parse_cli_value(_declared_parameter(declared), text)


def check_declared(declared: Declared, value: Any) -> Any:
    """Check a step's ``parameters:`` value against the type its notebook declares."""
    return coerce(_declared_parameter(declared), jsonable(value))


def _declared_parameter(declared: Declared) -> Parameter:
    return Parameter(name="", type=ParamType(declared.type), source=_NOWHERE)


_NOWHERE = Source(Path(), 0, 0)


def parse_cli_value(param: Parameter, text: str) -> Any:
    """Parse ``-p NAME=VALUE`` text by ``param``'s declared type, then :func:`coerce`."""
    return coerce(param, _PARSE.get(param.type, _parse_text)(param, text))


def _parse_text(param: Parameter, text: str) -> Any:
    return text


def _parse_int(param: Parameter, text: str) -> Any:
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError(f"expected an integer, got {text!r}") from None


def _parse_float(param: Parameter, text: str) -> Any:
    try:
        return float(text.strip())
    except ValueError:
        raise ValueError(f"expected a number, got {text!r}") from None


def _parse_bool(param: Parameter, text: str) -> Any:
    word = text.strip().lower()
    if word in _TRUE | _FALSE:
        return word in _TRUE
    raise ValueError(f"expected true/false, yes/no or 1/0, got {text!r}")


def _parse_date(param: Parameter, text: str) -> Any:
    if text.strip() == "today":
        return dt.date.today()
    return text.strip()


def _parse_datetime(param: Parameter, text: str) -> Any:
    if text.strip() == "now":
        return dt.datetime.now().replace(microsecond=0)
    return text.strip()


def _parse_structure(param: Parameter, text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        pass
    from ruamel.yaml import YAML
    from ruamel.yaml.error import YAMLError

    try:
        return YAML(typ="safe", pure=True).load(text)
    except YAMLError:
        example = "[a, b]" if param.type is ParamType.LIST else "{key: value}"
        raise ValueError(
            f"expected {param.type.value} as JSON or YAML flow such as {example}, got {text!r}"
        ) from None


def _parse_choice(param: Parameter, text: str) -> Any:
    for choice in param.choices:
        if text == choice or (not isinstance(choice, str) and text == _show(choice)):
            return choice
    return text


_PARSE = {
    ParamType.INT: _parse_int,
    ParamType.FLOAT: _parse_float,
    ParamType.BOOL: _parse_bool,
    ParamType.DATE: _parse_date,
    ParamType.DATETIME: _parse_datetime,
    ParamType.LIST: _parse_structure,
    ParamType.DICT: _parse_structure,
    ParamType.CHOICE: _parse_choice,
}


def resolve_default(param: Parameter, now: dt.datetime) -> Any:
    """``param``'s default for a run starting at ``now`` (``today``/``now`` resolved)."""
    dynamic = DYNAMIC_DEFAULTS.get(param.type)
    if dynamic is not None and param.default == dynamic:
        if param.type is ParamType.DATE:
            return now.date().isoformat()
        return now.isoformat()
    if param.default is None:
        return None
    return coerce(param, param.default)
