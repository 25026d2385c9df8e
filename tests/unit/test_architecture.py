"""The shared package's layers, read from the imports of every module (docs/DESIGN.md, "Code").

api -> usecases -> adapters -> domain: a module imports from its own layer or the layers below,
never above, and no use case imports another (what two of them share belongs in a layer below,
or is handed in by the function that calls them). config and observability sit beside the layers:
every layer but the domain may use them, and they import none. The domain does no I/O: it reads
no settings, logs nothing and imports no driver, SDK or Powertools; only adapters talk to the
outside systems' libraries. Every import counts, those inside a function or under TYPE_CHECKING
too: a lazy import is an arrow all the same.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = "exam_depository"
SOURCE = ROOT / "shared" / PACKAGE
LAYERS = ("domain", "adapters", "usecases", "api")  # from the bottom up
BESIDE = {PACKAGE, f"{PACKAGE}.config", f"{PACKAGE}.observability"}
# The outside systems' libraries: PostgreSQL's driver and yoyo, the AWS SDK and its stubs.
OUTSIDE_SYSTEMS = ("psycopg", "yoyo", "boto3", "botocore", "mypy_boto3_")
POWERTOOLS = "aws_lambda_powertools"


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(source: str, module: str, is_package: bool, known: set[str]) -> set[str]:
    """Every module `source` imports: `from a import b` counts as a.b when that is a module."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from the module's package, up `level - 1` more
                package = module.split(".") if is_package else module.split(".")[:-1]
                anchor = package[: len(package) - (node.level - 1)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in known else base)
    return found


def layer_of(module: str) -> str | None:
    """The module's layer, "beside" for config and observability, None for a module in no layer."""
    if module in BESIDE:
        return "beside"
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == PACKAGE and parts[1] in LAYERS else None


def arrows(sources: dict[str, tuple[str, bool]]) -> list[str]:
    """Every import between the package's modules that runs the wrong way, in words."""
    known = set(sources)
    wrong = []
    for module, (source, is_package) in sorted(sources.items()):
        here = layer_of(module)
        for target in sorted(imports(source, module, is_package, known)):
            if target != PACKAGE and not target.startswith(PACKAGE + "."):
                continue
            there = layer_of(target)
            if here is None or there is None:
                continue  # reported by test_every_module_lives_in_a_layer
            if here == "beside" and there != "beside":
                wrong.append(f"{module} imports {target}: config and observability import no layer")
            elif here == "domain" and there == "beside":
                wrong.append(f"{module} imports {target}: the domain reads no settings and logs nothing")
            elif here != "beside" and there != "beside" and LAYERS.index(there) > LAYERS.index(here):
                wrong.append(f"{module} imports {target}: {here} must not import {there} (upward)")
            elif here == there == "usecases" and target.split(".")[:3] != module.split(".")[:3]:
                wrong.append(f"{module} imports {target}: a use case must not import another (sideways)")
    return wrong


def libraries(sources: dict[str, tuple[str, bool]]) -> list[str]:
    """Every import of an outside system's library (or Powertools) where it does not belong."""
    known = set(sources)
    wrong = []
    for module, (source, is_package) in sorted(sources.items()):
        here = layer_of(module)
        for target in sorted(imports(source, module, is_package, known)):
            if target.startswith(OUTSIDE_SYSTEMS) and here != "adapters":
                wrong.append(f"{module} imports {target}: only adapters talk to the outside systems")
            elif target.startswith(POWERTOOLS) and here in ("domain", "usecases"):
                wrong.append(f"{module} imports {target}: Powertools belongs to the api, adapters and observability")
    return wrong


def package_sources() -> dict[str, tuple[str, bool]]:
    return {
        module_name(path, SOURCE): (path.read_text(), path.name == "__init__.py")
        for path in sorted(SOURCE.rglob("*.py"))
    }


def test_every_module_lives_in_a_layer() -> None:
    unplaced = [module for module in package_sources() if layer_of(module) is None]
    assert unplaced == [], f"put each in domain/, adapters/, usecases/ or api/: {unplaced}"


def test_imports_run_only_downward_and_no_use_case_imports_another() -> None:
    wrong = arrows(package_sources())
    assert wrong == [], "\n".join(wrong)


def test_only_adapters_import_the_outside_systems_libraries() -> None:
    wrong = libraries(package_sources())
    assert wrong == [], "\n".join(wrong)


def test_each_layer_has_modules_and_the_checks_read_real_imports() -> None:
    sources = package_sources()
    assert {layer_of(module) for module in sources} == {*LAYERS, "beside"}
    source, is_package = sources[f"{PACKAGE}.usecases.recorder"]
    found = imports(source, f"{PACKAGE}.usecases.recorder", is_package, set(sources))
    assert {f"{PACKAGE}.adapters.db", f"{PACKAGE}.domain.recording", f"{PACKAGE}.observability"} <= found


def test_the_checks_find_an_upward_a_sideways_and_a_lazy_arrow() -> None:
    """The checks themselves, on modules made up for the purpose (the real tree has none of these)."""
    made_up = {
        f"{PACKAGE}.domain.rules": ("from exam_depository.api.models import Exam\n", False),
        f"{PACKAGE}.domain.codes": ("from exam_depository.config import load\n", False),
        f"{PACKAGE}.adapters.db": ("from exam_depository.domain import statuses\n", True),
        f"{PACKAGE}.usecases.reconcile": ("from exam_depository.usecases import recorder\n", False),
        f"{PACKAGE}.usecases.recorder": (
            "def record():\n    from ..adapters import db\n    from ..api import views\n",
            False,
        ),
        f"{PACKAGE}.usecases.student": ("import psycopg\nfrom aws_lambda_powertools import Logger\n", False),
        f"{PACKAGE}.api.views": ("from exam_depository.usecases import recorder\n", False),
        f"{PACKAGE}.api.models": ("", False),
        f"{PACKAGE}.domain.statuses": ("", False),
        f"{PACKAGE}.config": ("", False),
    }
    assert arrows(made_up) == [
        "exam_depository.domain.codes imports exam_depository.config: the domain reads no settings and logs nothing",
        "exam_depository.domain.rules imports exam_depository.api.models: domain must not import api (upward)",
        "exam_depository.usecases.reconcile imports exam_depository.usecases.recorder: "
        "a use case must not import another (sideways)",
        "exam_depository.usecases.recorder imports exam_depository.api.views: usecases must not import api (upward)",
    ]
    assert libraries(made_up) == [
        "exam_depository.usecases.student imports aws_lambda_powertools: "
        "Powertools belongs to the api, adapters and observability",
        "exam_depository.usecases.student imports psycopg: only adapters talk to the outside systems",
    ]
