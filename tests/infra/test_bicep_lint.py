"""Structural lint of infra/: what can be checked without the Bicep CLI or an Azure account.

It catches unbalanced brackets, modules that do not exist or get parameters they do not declare,
unused parameters and variables, unpinned API and module versions, secrets in outputs and
key-based access. It is no compiler: `az bicep build --file infra/main.bicep` (or
`azd provision --preview`) is the real validation, see docs/deployment.md.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.infra.bicep_source import (
    BicepFile,
    Declaration,
    Expr,
    check_balanced,
    without_string_text,
)

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
TEMPLATES = sorted(INFRA.rglob("*.bicep"))
MAIN = INFRA / "main.bicep"
_REGISTRY_MODULE = re.compile(r"^br/public:avm/(res|ptn|utl)/[a-z0-9-]+/[a-z0-9-]+:\d+\.\d+\.\d+$")
_API_VERSION = re.compile(r"^'[A-Za-z]+\.[A-Za-z]+/[A-Za-z/]+@\d{4}-\d{2}-\d{2}(-preview)?'")
# Functions that hand out keys or connection strings with secrets; the templates use identities.
_KEY_FUNCTIONS = re.compile(
    r"\b(listKeys|listConnectionStrings|listCredentials|listAccountSas|listServiceSas|listSecrets)\(",
    re.IGNORECASE,
)
_SECRET_TEXT = re.compile(r"AccountKey=|SharedAccessKey|primaryMasterKey|primaryKey", re.IGNORECASE)


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def _modules(template: BicepFile) -> Iterator[tuple[Declaration, str]]:
    """Each module declaration with the path (or registry reference) it names."""
    for decl in template.named("module").values():
        match = re.match(r"'([^']+)'", decl.header)
        assert match, f"module header without a path: {decl.header}"
        yield decl, match[1]


def _required_params(template: BicepFile) -> set[str]:
    """Params with neither a default value nor a nullable type."""
    required = set()
    for name, decl in template.named("param").items():
        has_default = "=" in decl.header
        nullable = decl.header.split("=")[0].strip().endswith("?")
        if not has_default and not nullable:
            required.add(name)
    return required


def test_templates_exist() -> None:
    names = {p.name for p in TEMPLATES}
    assert {"main.bicep", "storage-zone.bicep", "eventgrid.bicep", "functionapp.bicep"} <= names


@pytest.mark.parametrize("path", TEMPLATES, ids=_rel)
def test_brackets_and_strings_are_balanced(path: Path) -> None:
    check_balanced(BicepFile.read(path).code)


@pytest.mark.parametrize("path", TEMPLATES, ids=_rel)
def test_resources_pin_an_api_version(path: Path) -> None:
    template = BicepFile.read(path)
    unpinned = [
        f"{decl.name}: {decl.header[:60]}"
        for decl in template.named("resource").values()
        if not _API_VERSION.match(decl.header)
    ]
    assert not unpinned, f"{_rel(path)}: resources without Type@yyyy-mm-dd: {unpinned}"


@pytest.mark.parametrize("path", TEMPLATES, ids=_rel)
def test_modules_exist_and_registry_modules_are_pinned(path: Path) -> None:
    for decl, ref in _modules(BicepFile.read(path)):
        if ref.startswith("br/"):
            assert _REGISTRY_MODULE.match(ref), f"{_rel(path)}: {decl.name}: unpinned {ref}"
        else:
            target = path.parent / ref
            assert target.is_file(), f"{_rel(path)}: module {decl.name} -> missing {ref}"


@pytest.mark.parametrize("path", TEMPLATES, ids=_rel)
def test_local_modules_get_exactly_declared_params(path: Path) -> None:
    template = BicepFile.read(path)
    for decl, ref in _modules(template):
        if ref.startswith("br/"):
            continue
        target = BicepFile.read(path.parent / ref)
        passed = template.block_property(decl, "params") or {}
        assert isinstance(passed, dict), f"{decl.name}: params is not an object literal"
        declared = set(target.named("param"))
        unknown = set(passed) - declared
        missing = _required_params(target) - set(passed)
        assert not unknown, f"{_rel(path)}: module {decl.name} passes undeclared params {unknown}"
        assert not missing, f"{_rel(path)}: module {decl.name} omits required params {missing}"


@pytest.mark.parametrize("path", TEMPLATES, ids=_rel)
def test_every_param_and_var_is_used(path: Path) -> None:
    template = BicepFile.read(path)
    code = without_string_text(template.code)
    unused = []
    for decl in template.declarations:
        if decl.kind not in {"param", "var"}:
            continue
        # A use is the name as an identifier: not "x.name", not a property key at the start of
        # a line ("  name: ..."); "for x in name:" is a use.
        uses = [
            m
            for m in re.finditer(rf"(?<![\w.]){decl.name}\b", code)
            if m.start() != decl.start + len(decl.kind) + 1
            and not (
                code[m.end() : m.end() + 1] == ":"
                and code[code.rfind("\n", 0, m.start()) + 1 : m.start()].strip() == ""
            )
        ]
        if not uses:
            unused.append(f"{decl.kind} {decl.name}")
    assert not unused, f"{_rel(path)}: declared but never used: {unused}"


@pytest.mark.parametrize("path", TEMPLATES, ids=_rel)
def test_every_param_is_described(path: Path) -> None:
    template = BicepFile.read(path)
    bare = [
        name
        for name, decl in template.named("param").items()
        if not any(d.startswith("@description(") for d in decl.decorators)
    ]
    assert not bare, f"{_rel(path)}: params without @description: {bare}"


@pytest.mark.parametrize("path", TEMPLATES, ids=_rel)
def test_outputs_expose_no_secrets(path: Path) -> None:
    template = BicepFile.read(path)
    secure = {
        name
        for name, decl in template.named("param").items()
        if any(d.startswith("@secure") for d in decl.decorators)
    }
    for decl in template.named("output").values():
        value = template.body(decl)
        leaked = {name for name in secure if re.search(rf"(?<![\w.]){name}\b", value)}
        assert not leaked, f"{_rel(path)}: output {decl.name} exposes @secure params {leaked}"
        assert not _KEY_FUNCTIONS.search(value), f"{_rel(path)}: output {decl.name} lists keys"
        assert not re.search(r"secret|password|key(?!_?vault)", decl.name, re.IGNORECASE), (
            f"{_rel(path)}: output {decl.name} looks like a secret"
        )


@pytest.mark.parametrize("path", TEMPLATES, ids=_rel)
def test_no_key_based_access(path: Path) -> None:
    template = BicepFile.read(path)
    assert not _KEY_FUNCTIONS.search(template.code), f"{_rel(path)}: calls a list*Keys function"
    assert not _SECRET_TEXT.search(template.code), f"{_rel(path)}: mentions a key or secret"


def test_services_refuse_keys() -> None:
    """Storage without shared key, Cosmos and App Insights without local auth, no ACR admin."""
    for path in TEMPLATES:
        code = BicepFile.read(path).code
        if "Microsoft.Storage/storageAccounts@" in code and " existing = " not in code:
            assert "allowSharedKeyAccess: false" in code, f"{_rel(path)}: shared key allowed"
    modules = INFRA / "modules"
    assert "disableLocalAuth: true" in (modules / "cosmos.bicep").read_text()
    assert "disableLocalAuth: true" in (modules / "monitoring.bicep").read_text()
    assert "adminUserEnabled: false" in (modules / "registry.bicep").read_text()
    batch = BicepFile.read(modules / "batch.bicep")
    account = batch.block_property(batch.named("resource")["account"], "properties")
    assert "SharedKey" not in account["allowedAuthenticationModes"]


def test_loaded_files_exist() -> None:
    for path in TEMPLATES:
        for ref in re.findall(r"load(?:Text|Json)Content\('([^']+)'", path.read_text()):
            assert (path.parent / ref).is_file(), f"{_rel(path)}: loads missing {ref}"


def test_main_targets_the_subscription_and_names_fit() -> None:
    main = BicepFile.read(MAIN)
    assert re.search(r"^targetScope = 'subscription'", main.code, re.MULTILINE)
    # st<zone><13-character token> must stay a valid storage account name (<= 24 characters).
    for zone in main.var("zones"):
        assert len(f"st{zone['name']}") + 13 <= 24, f"zone {zone['name']}: account name too long"


def test_parameters_file_matches_main() -> None:
    main = BicepFile.read(MAIN)
    values = json.loads((INFRA / "main.parameters.json").read_text())["parameters"]
    declared = set(main.named("param"))
    assert set(values) <= declared, f"unknown parameters: {set(values) - declared}"
    missing = _required_params(main) - set(values)
    assert not missing, f"main.parameters.json lacks required parameters {missing}"
    for name, entry in values.items():
        assert re.fullmatch(r"\$\{[A-Z0-9_]+(=[^}]*)?\}", entry["value"]), (
            f"{name}: azd parameters come from the environment (${{NAME}} or ${{NAME=default}})"
        )


def test_azure_yaml_wires_the_app_and_the_hooks() -> None:
    text = (ROOT / "azure.yaml").read_text()
    assert re.search(r"^infra:\n(  .*\n)*  path: infra\n", text, re.MULTILINE)
    service = text.split("services:", 1)[1].split("hooks:", 1)[0]
    assert re.search(r"^  api:\n", service, re.MULTILINE)
    for line in ("project: .", "language: python", "host: function"):
        assert f"    {line}\n" in service, f"service api: expected {line!r}"
    scripts = re.findall(r"run: (\S+)", text)
    assert scripts, "azure.yaml runs no hook"
    for script in scripts:
        assert (ROOT / script).is_file(), f"azure.yaml hook {script} does not exist"
    build = (INFRA / "hooks" / "postprovision.sh").read_text()
    dockerfile = re.search(r'--file "\$context/(\S+)"', build)
    assert dockerfile, "postprovision.sh builds no Dockerfile"
    assert (ROOT / dockerfile[1]).is_file(), f"{dockerfile[1]} does not exist"


def test_the_worker_image_the_pool_pulls_is_the_one_the_hook_builds() -> None:
    main = BicepFile.read(MAIN)
    image = main.var("workerImage")
    assert isinstance(image, str)
    assert image.startswith("avops-extract-worker:"), image
    outputs = main.named("output")
    assert main.body(outputs["AVOPS_WORKER_IMAGE"]).strip() == "workerImage"
    assert "AZURE_CONTAINER_REGISTRY_NAME" in outputs
    batch = BicepFile.read(INFRA / "modules" / "batch.bicep")
    assert "'${registryLoginServer}/${workerImage}'" in batch.code


def test_kept_expressions_are_reported_as_such() -> None:
    """The reader keeps what it does not evaluate, so parity tests can tell literals apart."""
    app = BicepFile.read(INFRA / "modules" / "functionapp.bicep").var("appSettings")
    assert app["PYTHON_SCRIPT_FILE_NAME"] == "main.py"
    assert isinstance(app["AzureWebJobsStorage__clientId"], Expr)
