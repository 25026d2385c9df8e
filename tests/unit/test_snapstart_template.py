"""template.yaml's SnapStart parameter, as the SAM translator expands it: which functions it turns
on, that their callers invoke the alias that carries the snapshot, and that a change of the
setting, of any other parameter the functions read, or of the shared layers publishes a new
version (a snapshot, like an environment variable, applies only to a version published after)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from samtranslator.yaml_helper import yaml_parse

from tests import sam_template
from tests.conftest import ROOT

SNAPSTART_FUNCTIONS = {
    "RequestUploadFunction",
    "GetUploadStatusFunction",
    "ServePagesFunction",
    "RecordSubmissionsFunction",
}


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return dict(yaml_parse((ROOT / "template.yaml").read_text()))


def _expand(template: dict[str, Any], parameters: dict[str, str], layer_key: str = "layer.zip") -> dict[str, Any]:
    return dict(sam_template.expand(template, parameters, layer_key)["Resources"])


def _of_type(resources: dict[str, Any], kind: str) -> dict[str, Any]:
    return {name: resource for name, resource in resources.items() if resource["Type"] == kind}


def _versions(resources: dict[str, Any]) -> dict[str, tuple[str, Any]]:
    """function -> (its version's logical id, the version's properties)"""
    return {
        resource["Properties"]["FunctionName"]["Ref"]: (name, resource["Properties"])
        for name, resource in _of_type(resources, "AWS::Lambda::Version").items()
    }


def test_the_parameter_is_off_by_default_and_sets_the_four_functions(template: dict[str, Any]) -> None:
    parameter = template["Parameters"]["SnapStart"]
    assert parameter["Default"] == "None"
    assert set(parameter["AllowedValues"]) == {"None", "PublishedVersions"}  # the API's own values
    resources = _expand(template, {})
    with_snapstart = {
        name
        for name, function in _of_type(resources, "AWS::Lambda::Function").items()
        if "SnapStart" in function["Properties"]
    }
    assert with_snapstart == SNAPSTART_FUNCTIONS
    for name in SNAPSTART_FUNCTIONS:
        assert resources[name]["Properties"]["SnapStart"] == {"ApplyOn": {"Ref": "SnapStart"}}


def test_the_api_and_the_queue_invoke_the_alias_whose_versions_carry_the_snapshot(template: dict[str, Any]) -> None:
    resources = _expand(template, {})
    aliases = _of_type(resources, "AWS::Lambda::Alias")
    assert {alias["Properties"]["FunctionName"]["Ref"] for alias in aliases.values()} == SNAPSTART_FUNCTIONS
    versions = _versions(resources)
    assert set(versions) == SNAPSTART_FUNCTIONS
    for alias_name, alias in aliases.items():
        function = alias["Properties"]["FunctionName"]["Ref"]
        assert alias["Properties"]["FunctionVersion"] == {"Fn::GetAtt": [versions[function][0], "Version"]}
        # A replaced version is deleted with its snapshot, which would otherwise stay cached and billed.
        assert resources[versions[function][0]]["DeletionPolicy"] == "Delete"
        permissions = [
            permission["Properties"]["FunctionName"]
            for permission in _of_type(resources, "AWS::Lambda::Permission").values()
            if permission["Properties"]["FunctionName"] in ({"Ref": function}, {"Ref": alias_name})
        ]
        mappings = [
            mapping["Properties"]["FunctionName"]
            for mapping in _of_type(resources, "AWS::Lambda::EventSourceMapping").values()
            if mapping["Properties"]["FunctionName"] in ({"Ref": function}, {"Ref": alias_name})
        ]
        assert permissions + mappings, function
        assert set(map(str, permissions + mappings)) == {str({"Ref": alias_name})}, function


def _parameters_read(node: Any, parameters: set[str], conditions: dict[str, Any] | None = None) -> set[str]:
    """The template parameters a property reads, through Ref or a ${name} of Fn::Sub, or through
    the condition of an Fn::If (`conditions`: the template's)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and value in parameters:
                found.add(value)
            elif key == "Fn::Sub":
                text = value[0] if isinstance(value, list) else value
                found |= set(re.findall(r"\$\{([A-Za-z0-9]+)\}", text)) & parameters
            elif key in ("Fn::If", "Condition") and conditions is not None:
                name = value[0] if key == "Fn::If" else value
                found |= _parameters_read(conditions[name], parameters, conditions)
            found |= _parameters_read(value, parameters, conditions)
    elif isinstance(node, list):
        for item in node:
            found |= _parameters_read(item, parameters, conditions)
    return found


# What a version does not hold: the function's own settings (reserved concurrency), its role's
# permissions, what invokes it, and how SAM publishes it.
NOT_IN_A_VERSION = {
    "ReservedConcurrentExecutions",
    "Policies",
    "Events",
    "AutoPublishAlias",
    "AutoPublishAliasAllProperties",
    "VersionDescription",
    "VersionDeletionPolicy",
}


def test_a_version_is_replaced_when_any_parameter_its_configuration_reads_changes(template: dict[str, Any]) -> None:
    """SAM hashes the properties with parameters unresolved: a new LogLevel, retention or SnapStart
    setting alone would leave the alias on a version that runs the old one. CloudFormation replaces
    a version whose description changed, so the description names every such parameter."""
    parameters = set(template["Parameters"])
    conditions = template["Conditions"]
    globals_read = _parameters_read(
        {key: value for key, value in template["Globals"]["Function"].items() if key not in NOT_IN_A_VERSION},
        parameters,
        conditions,
    )
    descriptions = set()
    for function in SNAPSTART_FUNCTIONS:
        properties = template["Resources"][function]["Properties"]
        descriptions.add(repr(properties["VersionDescription"]))
        read = globals_read | _parameters_read(
            {key: value for key, value in properties.items() if key not in NOT_IN_A_VERSION}, parameters, conditions
        )
        # A condition names what it reads: the recorder's says whether mail is on (SenderAddress
        # empty or not), which is all it reads the address for.
        described = _parameters_read(properties["VersionDescription"], parameters, conditions)
        assert {
            "SnapStart",
            "LogLevel",
            "RetentionDays",
            "DatabaseSecretArn",
            "SubnetIds",
            "SecurityGroupIds",
            "DatabaseHost",
            "DatabasePort",
            "DatabaseName",
        } <= read, function
        # Every one of them, and no other: CloudFormation would replace the version for a parameter
        # that changed nothing in the function, and Lambda refuses to publish an unchanged one.
        assert described == read, function
        # The same words, and the recorder's own after them (whether it marks files for the scan,
        # whether it emails receipts).
        text, names = properties["VersionDescription"]["Fn::Sub"]
        common, common_names = template["Resources"]["RequestUploadFunction"]["Properties"]["VersionDescription"][
            "Fn::Sub"
        ]
        recorder = function == "RecordSubmissionsFunction"
        own = " ${MalwareScanning} ${Mail}" if recorder else ""
        own_names = {"Mail": {"Fn::If": ["SendMail", "mail", "no-mail"]}} if recorder else {}
        assert (text, names) == (common + own, common_names | own_names), function


def test_changing_a_layer_publishes_new_versions(template: dict[str, Any]) -> None:
    off = _versions(_expand(template, {}))
    new_layer = _versions(_expand(template, {}, layer_key="new-layer.zip"))
    for function in SNAPSTART_FUNCTIONS:
        # The shared code lives in the layers: the alias must not keep running the old one.
        assert new_layer[function][0] != off[function][0], function


def test_the_version_description_fits_lambda_s_256_characters(template: dict[str, Any]) -> None:
    text, names = template["Resources"]["RequestUploadFunction"]["Properties"]["VersionDescription"]["Fn::Sub"]
    longest = {
        "SnapStart": "PublishedVersions",
        "LogLevel": "WARNING",
        "RetentionDays": "30",
        "MaxWindowDays": "366",
        "EnvironmentName": "e" * 10,  # its AllowedPattern's longest
        "Secret": "s" * 64 + "-AbCdEf",  # a secret's name as RDS makes them is about 55 characters
        "Subnet": "subnet-0123456789abcdef0",
        "SecurityGroup": "sg-0123456789abcdef0",
        # A given database's host:port/name: an Aurora cluster's endpoint with a 20-character name
        # (empty when the stack creates the database).
        "Database": "exam-depository-prod.cluster-c0123456789a.eu-west-1.rds.amazonaws.com:5432/exam_depository",
    }
    assert set(re.findall(r"\$\{([A-Za-z0-9]+)\}", text)) == set(longest)
    assert set(names) <= set(longest)
    rendered = re.sub(r"\$\{([A-Za-z0-9]+)\}", lambda name: longest[name.group(1)], text)
    assert len(rendered) <= 256, rendered
