"""Where settings come from, and what is said when they are wrong.

Every command loads its settings through :func:`load`, so each applies the same rules (a 16-character master key is
as short for ``db upgrade`` as for ``serve``). The sources, highest first:

1. the command's options (``--port 8443``);
2. the environment (``ATLAS_SA_PORT=8443``);
3. a TOML file named by ``--config FILE`` or ``ATLAS_SA_CONFIG`` (``port = 8443``: the setting's name in lower
   case, without the prefix);
4. the defaults.

The environment outranks the file as it does in twelve-factor deployments and containers: the file is the shared
baseline, the environment adjusts one instance of it. The file is read with pydantic-settings' own TOML source
(:meth:`atlas_sa.settings.Settings.settings_customise_sources`).

A name that is not a setting (``ATLAS_SA_PROT``, or ``prot`` in the file) is ignored with a warning naming the
closest setting. A value that breaks a rule is refused with one line per setting, ``NAME: rule``, the name spelled
as the user wrote it: ``--port``, ``ATLAS_SA_PORT`` or ``port in FILE``.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import ValidationError
from pydantic_core import ErrorDetails
from pydantic_settings import SettingsConfigDict, SettingsError, TomlConfigSettingsSource

from atlas_sa.settings import POLICY_PATTERN, Settings

PREFIX = "ATLAS_SA_"
CONFIG_VARIABLE = "ATLAS_SA_CONFIG"
# Variables with the prefix that are read by something other than the settings: the config file's name, and the test
# suite's own (``ATLAS_SA_TEST_POSTGRES_URL``).
_NOT_SETTINGS = re.compile(rf"^{CONFIG_VARIABLE}$|^{PREFIX}TEST_")
_PATTERN_RULES = {POLICY_PATTERN: "capacity/refill/seconds, three whole numbers from 1, like 500/250/60"}


class SettingsProblem(Exception):
    """The settings cannot be used; ``lines`` says why, one line per problem, fit for a CLI error. ``warnings`` are
    :class:`Loaded`'s: a misspelt name is often why a rule is broken."""

    def __init__(self, lines: list[str], warnings: list[str] | None = None) -> None:
        super().__init__("\n".join(lines))
        self.lines = lines
        self.warnings = warnings or []


@dataclass(frozen=True)
class Loaded:
    settings: Settings
    # One line per name that is not a setting, for the user to see at start.
    warnings: list[str]
    origins: Origins


@dataclass(frozen=True)
class Origins:
    """Which source gave each setting, to name it as the user wrote it."""

    options: Mapping[str, object]
    file: Path | None
    file_keys: frozenset[str]

    def name(self, field: str) -> str:
        source = self.source(field)
        if source == "option":
            return "--" + field.replace("_", "-")
        if source == "file":
            return f"{field} in {self.file}"
        return PREFIX + field.upper()

    def source(self, field: str) -> Literal["option", "environment", "file", "default"]:
        """Which source gave ``field`` its value, highest first (the module docstring's order)."""
        if field in self.options:
            return "option"
        variable = PREFIX + field.upper()
        # The environment source matches names without regard to case, as the shell's users expect.
        if any(name.upper() == variable for name in os.environ):
            return "environment"
        if field in self.file_keys:
            return "file"
        return "default"


def load(options: Mapping[str, object], config_file: Path | None = None) -> Loaded:
    """The settings from ``options`` (a command's, ``None`` meaning not given), the environment and the config file;
    :class:`SettingsProblem` when they break a rule or the file cannot be read."""
    given = {name: value for name, value in options.items() if value is not None}
    path = config_file if config_file is not None else _file_from_environment()
    settings_class, file_keys = (Settings, frozenset[str]()) if path is None else _reading(path)
    origins = Origins(given, path, file_keys)
    warnings = [*_unknown_variables(), *_unknown_keys(file_keys, path)]
    try:
        # Keyword arguments are how pydantic-settings takes the highest source; their types are checked here.
        settings = settings_class(**given)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsProblem([_describe(error, origins) for error in exc.errors()], warnings) from None
    except SettingsError as exc:
        # The environment source's own failure: a list or table setting whose value is not JSON.
        found = re.search(r'field "(\w+)"', str(exc))
        field = found.group(1) if found else "?"
        raise SettingsProblem([f'{origins.name(field)}: must be JSON, like ["10.0.0.0/8"]'], warnings) from None
    return Loaded(settings, warnings, origins)


def _file_from_environment() -> Path | None:
    value = os.environ.get(CONFIG_VARIABLE, "")
    return Path(value) if value else None


def _reading(path: Path) -> tuple[type[Settings], frozenset[str]]:
    """A settings class whose TOML source reads ``path``, and the keys the file sets."""
    if path.is_dir():
        raise SettingsProblem([f"config file {path}: a folder, not a file"])
    if not path.is_file():
        raise SettingsProblem([f"config file {path}: no such file"])

    class FileSettings(Settings):
        model_config = SettingsConfigDict(toml_file=path)

    try:
        keys = frozenset(TomlConfigSettingsSource(FileSettings).toml_data)
    except tomllib.TOMLDecodeError as exc:
        raise SettingsProblem([f"config file {path}: not valid TOML: {exc}"]) from None
    except UnicodeDecodeError:
        raise SettingsProblem([f"config file {path}: not UTF-8 text"]) from None
    except OSError as exc:
        raise SettingsProblem([f"config file {path}: {exc.strerror}"]) from None
    return FileSettings, keys


def _unknown_variables() -> list[str]:
    warnings = []
    for variable in sorted(os.environ):
        upper = variable.upper()
        if upper.startswith(PREFIX) and not _NOT_SETTINGS.match(upper):
            name = upper.removeprefix(PREFIX).lower()
            if name not in Settings.model_fields:
                warnings.append(_unknown(variable, name, PREFIX, str.upper))
    return warnings


def _unknown_keys(keys: frozenset[str], path: Path | None) -> list[str]:
    return [_unknown(f"{key} in {path}", key, "", str) for key in sorted(keys) if key not in Settings.model_fields]


def _unknown(where: str, name: str, prefix: str, spell: Callable[[str], str]) -> str:
    # Compared without the prefix, which every name shares and which would make any two look alike.
    close = difflib.get_close_matches(name.lower(), list(Settings.model_fields), n=1)
    hint = f"; did you mean {prefix}{spell(close[0])}?" if close else ""
    return f"{where} is not a setting and is ignored{hint}"


def _describe(error: ErrorDetails, origins: Origins) -> str:
    if not error["loc"]:
        # A rule across settings (a model validator): its message names them.
        return str(error.get("ctx", {}).get("error", error["msg"]))
    return f"{origins.name(str(error['loc'][0]))}: {_rule(error)}"


# Each pydantic error type as the rule it checks, filled from the error's context.
_RULES = {
    "less_than_equal": "must be ≤ {le}",
    "less_than": "must be < {lt}",
    "greater_than_equal": "must be ≥ {ge}",
    "greater_than": "must be > {gt}",
    "int_parsing": "must be a whole number",
    "int_type": "must be a whole number",
    "int_from_float": "must be a whole number",
    "float_parsing": "must be a number",
    "float_type": "must be a number",
    "bool_parsing": "must be true or false",
    "bool_type": "must be true or false",
    "literal_error": "must be {expected}",
    "too_short": "must be at least {min_length} characters",
    "string_too_short": "must be at least {min_length} characters",
    "too_long": "must be at most {max_length} characters",
    "string_too_long": "must be at most {max_length} characters",
    "string_type": "must be text",
    "list_type": 'must be a list, like ["10.0.0.0/8"]',
    "path_not_file": "must name an existing file",
    "path_type": "must be a file's path (text)",
    "string_pattern_mismatch": "must be text matching {pattern}",
    "value_error": "{error}",
}


def _number(value: Any) -> Any:
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _rule(error: ErrorDetails) -> str:
    """The rule an input broke, without pydantic's wording ("Input should be ...") or links."""
    ctx = {name: _number(value) for name, value in error.get("ctx", {}).items()}
    if error["type"] == "string_pattern_mismatch" and ctx["pattern"] in _PATTERN_RULES:
        return f"must be {_PATTERN_RULES[ctx['pattern']]}"
    template = _RULES.get(error["type"])
    return template.format(**ctx) if template else error["msg"]
