"""template.yaml as CloudFormation would see it in one deployment, without AWS: expanded by the SAM
translator (roles, versions, the API), its conditions and rules evaluated for the deployment's
parameters, and its `Fn::If` resolved. The unit tests read the template through these."""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

import pytest
from samtranslator.translator.transform import transform
from samtranslator.yaml_helper import yaml_parse

from tests.conftest import ROOT

NO_VALUE = {"Ref": "AWS::NoValue"}


def load() -> dict[str, Any]:
    return dict(yaml_parse((ROOT / "template.yaml").read_text()))


class _NoManagedPolicies:
    def load(self) -> dict[str, str]:
        return {}


def expand(template: dict[str, Any], parameters: dict[str, str], layer_key: str = "layer.zip") -> dict[str, Any]:
    """The template as the SAM translator expands it for CloudFormation, with `parameters` given
    (the code and layers at placeholder S3 keys; `layer_key` is the layers')."""
    source = copy.deepcopy(template)
    for resource in source["Resources"].values():
        properties = resource.get("Properties", {})
        if "CodeUri" in properties:
            properties["CodeUri"] = "s3://bucket/function.zip"
        if "ContentUri" in properties:
            properties["ContentUri"] = f"s3://bucket/{layer_key}"
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_DEFAULT_REGION", "eu-west-1")
        return dict(transform(source, parameters, _NoManagedPolicies()))


def parameter_values(template: dict[str, Any], parameters: dict[str, str]) -> dict[str, str | list[str]]:
    """Every parameter's value in a deployment given `parameters` (the rest at their defaults), a
    CommaDelimitedList as CloudFormation splits it ("" is [""])."""
    values: dict[str, str | list[str]] = {}
    for name, spec in template["Parameters"].items():
        text = str(parameters.get(name, spec.get("Default", "")))
        values[name] = text.split(",") if spec["Type"] == "CommaDelimitedList" else text
    return values


class Deployment:
    """One deployment's view of the (expanded) template: its parameters, its conditions, and its
    resources as CloudFormation would create them."""

    def __init__(self, template: dict[str, Any], parameters: dict[str, str]) -> None:
        self.template = template
        self.values = parameter_values(template, parameters)
        self.conditions: dict[str, bool] = {}
        for name in template.get("Conditions", {}):
            self.conditions[name] = self.condition(name)

    def condition(self, name: str) -> bool:
        if name not in self.conditions:
            self.conditions[name] = bool(self.value(self.template["Conditions"][name]))
        return self.conditions[name]

    def value(self, node: Any) -> Any:
        """A condition's, a rule's or a parameter expression's value (the functions conditions
        and rules may use, on parameters)."""
        if isinstance(node, list):
            return [self.value(item) for item in node]
        if not isinstance(node, dict):
            return node
        ((function, argument),) = node.items()
        functions: dict[str, Callable[[], Any]] = {
            "Ref": lambda: self.values[argument],
            "Condition": lambda: self.condition(argument),
            "Fn::Join": lambda: argument[0].join(self.value(argument[1])),
            "Fn::Equals": lambda: self.value(argument[0]) == self.value(argument[1]),
            "Fn::Not": lambda: not self.value(argument[0]),
            "Fn::And": lambda: all(self.value(item) for item in argument),
            "Fn::Or": lambda: any(self.value(item) for item in argument),
            "Fn::EachMemberEquals": lambda: all(
                member == self.value(argument[1]) for member in self.value(argument[0])
            ),
        }
        assert function in functions, f"no value for {node}"
        return functions[function]()

    def failed_rules(self) -> list[str]:
        """The AssertDescription of every rule assertion this deployment fails (CloudFormation
        refuses the deployment before it starts)."""
        failed = []
        for rule in self.template.get("Rules", {}).values():
            if "RuleCondition" in rule and not self.value(rule["RuleCondition"]):
                continue
            failed += [check["AssertDescription"] for check in rule["Assertions"] if not self.value(check["Assert"])]
        return failed

    def resolve(self, node: Any) -> Any:
        """`node` with every Fn::If replaced by its branch for this deployment, and what a branch
        left as AWS::NoValue dropped."""
        if isinstance(node, list):
            items = [self.resolve(item) for item in node]
            return [item for item in items if item != NO_VALUE]
        if not isinstance(node, dict):
            return node
        if set(node) == {"Fn::If"}:
            name, when_true, when_false = node["Fn::If"]
            return self.resolve(when_true if self.condition(name) else when_false)
        resolved = {key: self.resolve(value) for key, value in node.items()}
        return {key: value for key, value in resolved.items() if value != NO_VALUE}

    def created(self) -> dict[str, dict[str, Any]]:
        """The resources this deployment creates, resolved."""
        return {
            name: self.resolve(resource)
            for name, resource in self.template["Resources"].items()
            if "Condition" not in resource or self.condition(resource["Condition"])
        }

    def outputs(self) -> dict[str, Any]:
        return {
            name: self.resolve(output)
            for name, output in self.template.get("Outputs", {}).items()
            if "Condition" not in output or self.condition(output["Condition"])
        }


def references(node: Any) -> set[str]:
    """The logical ids `node` names: Ref, Fn::GetAtt, a ${name} or ${name.attribute} of Fn::Sub
    (parameters and pseudo parameters included)."""
    found: set[str] = set()
    if isinstance(node, list):
        for item in node:
            found |= references(item)
    elif isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref":
                found.add(value)
            elif key == "Fn::GetAtt":
                found.add(value[0] if isinstance(value, list) else value.split(".")[0])
            elif key == "Fn::Sub":
                text, variables = (value[0], value[1]) if isinstance(value, list) else (value, {})
                named = {match.split(".")[0] for match in re.findall(r"\$\{([A-Za-z0-9.:]+)\}", text)}
                found |= named - set(variables)
                found |= references(variables)
            else:
                found |= references(value)
    return found


def out_of_range_selects(node: Any, deployment: Deployment) -> list[Any]:
    """Each Fn::Select of a list split from a parameter (or a list parameter) whose index that
    parameter's value does not reach: CloudFormation fails the deployment on it."""
    found = []
    if isinstance(node, list):
        for item in node:
            found += out_of_range_selects(item, deployment)
    elif isinstance(node, dict):
        if set(node) == {"Fn::Select"}:
            index, items = node["Fn::Select"]
            listed = _list_of(items, deployment)
            if listed is not None and int(index) >= len(listed):
                found.append(node)
        for value in node.values():
            found += out_of_range_selects(value, deployment)
    return found


def _list_of(node: Any, deployment: Deployment) -> list[str] | None:
    """The list `node` gives, when parameters alone decide it (None when a resource does)."""
    if isinstance(node, list) and all(isinstance(item, str) for item in node):
        return node
    if isinstance(node, dict) and set(node) == {"Ref"} and isinstance(deployment.values.get(node["Ref"]), list):
        return list(deployment.values[node["Ref"]])
    if isinstance(node, dict) and set(node) == {"Fn::Split"}:
        separator, text = node["Fn::Split"]
        if isinstance(text, dict) and set(text) == {"Ref"} and isinstance(deployment.values.get(text["Ref"]), str):
            text = deployment.values[text["Ref"]]
        if isinstance(text, str):
            return text.split(separator)
    return None
