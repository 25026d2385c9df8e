"""The functions of template.yaml, loaded in-process like Lambda execution environments."""

from __future__ import annotations

import contextvars
import importlib.util
import itertools
import json
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from samtranslator.yaml_helper import yaml_parse

if TYPE_CHECKING:
    from aws_lambda_powertools import Logger
    from aws_lambda_powertools.metrics import Metrics
    from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Route:
    method: str
    resource: str  # as in the template: /students/{nickname}
    function: str  # the folder under functions/
    api_key_required: bool
    pattern: re.Pattern[str]
    # The folder of the Lambda authorizer API Gateway runs before the function, if the route names one.
    authorizer: str | None = None

    def match(self, method: str, path: str) -> dict[str, str] | None:
        if method != self.method:
            return None
        found = self.pattern.fullmatch(path)
        return found.groupdict() if found else None


def template_environment(template: dict[str, Any], local: dict[str, str | None]) -> dict[str, str]:
    """The environment template.yaml's Globals give every function, with its parameters at their
    defaults, and `local` in place of what only AWS has (None: leave the variable out). A variable
    the template computes from AWS (a !Sub of the account) must be given in `local`."""
    parameters = template.get("Parameters", {})
    found: dict[str, str] = {}
    for name, value in template["Globals"]["Function"]["Environment"]["Variables"].items():
        if name in local:
            if local[name] is not None:
                found[name] = str(local[name])
        elif isinstance(value, str | int):
            found[name] = str(value)
        elif isinstance(value, dict) and set(value) == {"Ref"} and "Default" in parameters.get(value["Ref"], {}):
            found[name] = str(parameters[value["Ref"]]["Default"])
        else:
            raise ValueError(f"template.yaml's {name} needs a local value")
    found.update({name: str(value) for name, value in local.items() if value is not None and name not in found})
    return found


def handler_environment(database_url: str, s3_endpoint: str, bucket: str, region: str, keys: dict[str, Any]) -> None:
    """What the functions get on AWS, with local values: the template's Globals, the emulator's
    endpoints and credentials, the database by URL instead of through the secret, and the
    recorder's signing key (the only function-level variable: all functions share a process)."""
    from local_stack.emulator import LTI_SESSION_KEY_ALIAS, LTI_TOOL_KEY_ALIAS, RECEIPT_KEY_ALIAS

    os.environ.update(
        template_environment(
            read_template(),
            {
                "DB_SECRET_ARN": None,
                # Where the database is comes with DATABASE_URL, not from the deployment.
                "DB_HOST": None,
                "DB_PORT": None,
                "DB_NAME": None,
                "DATABASE_URL": database_url,
                "BUCKET_NAME": bucket,
                "DEPLOYMENT_NAME": "local",
                "RECEIPT_KEY_ID": RECEIPT_KEY_ALIAS,
                # LTI: the tool's and the sessions' keys in the emulator's KMS, the sessions' API
                # key as it is (the deployed authorizer reads it from a secret), the template's
                # defaults, and plain http and loopback addresses allowed (the test platform's).
                "LTI_TOOL_KEY_ID": LTI_TOOL_KEY_ALIAS,
                "LTI_TOOL_PREVIOUS_KEY_IDS": "",
                "LTI_SESSION_KEY_ID": LTI_SESSION_KEY_ALIAS,
                "LTI_SESSIONS_KEY": keys["lti_sessions_key"]["value"],
                "LTI_SESSION_HOURS": "4",
                "LTI_ROSTER_SYNC_HOURS": "6",
                "LTI_ALLOW_LOOPBACK": "true",
                "AWS_ENDPOINT_URL_S3": s3_endpoint,
                "AWS_ENDPOINT_URL_KMS": s3_endpoint,
                "AWS_ENDPOINT_URL_SQS": s3_endpoint,
                "AWS_ENDPOINT_URL_SES": s3_endpoint,
                "AWS_REGION": region,
                "AWS_DEFAULT_REGION": region,
                "AWS_ACCESS_KEY_ID": keys["s3_access_key"],
                "AWS_SECRET_ACCESS_KEY": keys["s3_secret_key"],
                "AWS_LAMBDA_FUNCTION_NAME": "local",
            },
        )
    )
    os.environ.pop("DB_SECRET_ARN", None)


def sample_event(function: str, case: str) -> dict[str, Any]:
    """events/<function>/<case>.json: what the function receives (also for `sam local invoke -e`)."""
    return dict(json.loads((ROOT / "events" / function / f"{case}.json").read_text()))


def api_event(
    function: str,
    case: str,
    *,
    path_params: dict[str, str] | None = None,
    body: Any = ...,
    raw_body: str | None = None,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    api_key_id: str | None = None,
) -> dict[str, Any]:
    """A function's sample API Gateway event, changed where the caller says (tests, benchmarks).

    `body` is sent as JSON (None: no body); `raw_body` replaces the body as it is, keeping the
    event's isBase64Encoded (the roster sample is base64 text/csv); `api_key_id` is the key API
    Gateway checked, which names the examiner.
    """
    event = sample_event(function, case)
    if api_key_id is not None:
        event["requestContext"]["identity"]["apiKeyId"] = api_key_id
    if path_params is not None:
        event["pathParameters"] = path_params
        event["path"] = re.sub(r"\{(\w+)\}", lambda m: path_params[m.group(1)], event["resource"])
    if body is not ...:
        event["body"] = None if body is None else json.dumps(body)
        event["isBase64Encoded"] = False
    if raw_body is not None:
        event["body"] = raw_body
    if query is not None:
        event["queryStringParameters"] = query
        event["multiValueQueryStringParameters"] = {k: [v] for k, v in query.items()}
    if headers is not None:
        event["headers"].update(headers)
        event["multiValueHeaders"].update({k: [v] for k, v in headers.items()})
    return event


def read_template(path: Path = ROOT / "template.yaml") -> dict[str, Any]:
    return dict(yaml_parse(path.read_text()))


def routes(template: dict[str, Any]) -> list[Route]:
    """Every Api event of the template: the one list of routes, here as in AWS."""
    api_auth = template["Resources"]["Api"]["Properties"].get("Auth", {})
    default_key = api_auth.get("ApiKeyRequired", False)
    # Each authorizer's function, by the authorizer's name: FunctionArn is that function's !GetAtt.
    authorizers = {
        name: Path(template["Resources"][spec["FunctionArn"]["Fn::GetAtt"][0]]["Properties"]["CodeUri"]).name
        for name, spec in api_auth.get("Authorizers", {}).items()
    }
    found = []
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        folder = Path(resource["Properties"]["CodeUri"]).name
        for event in resource["Properties"].get("Events", {}).values():
            if event["Type"] != "Api":
                continue
            props = event["Properties"]
            regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(props["Path"]))
            found.append(
                Route(
                    method=props["Method"].upper(),
                    resource=props["Path"],
                    function=folder,
                    api_key_required=bool(props.get("Auth", {}).get("ApiKeyRequired", default_key)),
                    pattern=re.compile(regex),
                    authorizer=authorizers.get(props.get("Auth", {}).get("Authorizer", "")),
                )
            )
    # Literal segments win over parameters (/students/import before /students/{nickname}).
    return sorted(found, key=lambda route: route.resource.count("{"))


def concurrency_limits(template: dict[str, Any], parameters: dict[str, str] | None = None) -> dict[str, int | None]:
    """How many instances of each function (by folder) AWS runs at once: its reserved concurrency,
    or its queue's MaximumConcurrency (None: no cap), with the template's parameters at their
    defaults unless `parameters` says otherwise."""
    values = {name: str(spec.get("Default")) for name, spec in template.get("Parameters", {}).items()}
    values.update(parameters or {})

    def resolve(expression: Any) -> Any:
        if isinstance(expression, dict) and len(expression) == 1:
            ((function, argument),) = expression.items()
            if function == "Ref":
                return None if argument == "AWS::NoValue" else values[argument]
            if function == "Fn::FindInMap":
                table, first, second = (resolve(part) for part in argument)
                return template["Mappings"][table][str(first)][str(second)]
            if function == "Fn::Select":
                return resolve(argument[1])[int(argument[0])]
            raise ValueError(f"no local value for {function}")
        return expression

    default = template["Globals"]["Function"].get("ReservedConcurrentExecutions", {"Ref": "AWS::NoValue"})
    limits: dict[str, int | None] = {}
    for resource in template["Resources"].values():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        props = resource["Properties"]
        reserved = resolve(props.get("ReservedConcurrentExecutions", default))
        found = [int(reserved)] if reserved is not None else []
        for event in props.get("Events", {}).values():
            scaling = event["Properties"].get("ScalingConfig", {})
            if event["Type"] == "SQS" and "MaximumConcurrency" in scaling:
                found.append(int(resolve(scaling["MaximumConcurrency"])))
        limits[Path(props["CodeUri"]).name] = min(found) if found else None
    return limits


def gateway_responses(template: dict[str, Any]) -> dict[str, tuple[int, dict[str, str], bytes]]:
    """The API's GatewayResponses, by type (INTEGRATION_FAILURE, THROTTLED, QUOTA_EXCEEDED), as API Gateway sends
    them: the status, the headers (a literal is quoted in the template), the application/json body."""
    found = {}
    for kind, spec in template["Resources"]["Api"]["Properties"].get("GatewayResponses", {}).items():
        headers = {"Content-Type": "application/json"}
        for name, value in spec.get("ResponseParameters", {}).get("Headers", {}).items():
            headers[name] = value.strip("'")
        body = spec.get("ResponseTemplates", {}).get("application/json", "")
        found[kind] = (int(spec["StatusCode"]), headers, body.encode())
    return found


def binary_media_types(template: dict[str, Any]) -> list[str]:
    types = template["Resources"]["Api"]["Properties"].get("BinaryMediaTypes", [])
    return [media_type.replace("~1", "/") for media_type in types]


class Throttled(Exception):
    """Every instance the function may have is busy: Lambda refuses the invocation (its 429
    TooManyRequestsException), and the caller answers for it (the gateway as API Gateway does)."""


class FunctionPool:
    """A function's execution environments, as Lambda runs them: at most `max_instances` at once
    (its reserved concurrency; None: unbounded), each one serving one invocation at a time, with
    what the product keeps per environment (its PostgreSQL connection, its log keys, its metric
    set) its own. An invocation finding every instance busy is refused at once (Throttled), as
    Lambda refuses it."""

    _serial = itertools.count()

    def __init__(self, function: str, max_instances: int | None = None) -> None:
        self.function = function
        self.max_instances = max_instances
        self._lock = threading.Lock()
        self._idle: list[_Instance] = []
        self._started = 0

    @property
    def instances(self) -> int:
        """How many instances were started (each holds at most one database connection)."""
        return self._started

    def invoke(self, event: dict[str, Any], context: LambdaContext) -> Any:
        """One invocation, as Lambda runs it: on an instance no other invocation holds, and an
        unhandled error logged with its traceback (as Lambda writes it to the function's log)
        before it goes on to the caller, who answers for it (the gateway a 502, a queue by keeping
        the messages, a schedule by its next run)."""
        instance = self._take()
        try:
            return instance.run(event, context)
        finally:
            with self._lock:
                self._idle.append(instance)

    def _take(self) -> _Instance:
        with self._lock:
            if self._idle:
                return self._idle.pop()
            if self.max_instances is not None and self._started >= self.max_instances:
                raise Throttled(f"{self.function}: all {self.max_instances} instances are busy")
            self._started += 1
        return _Instance(self.function, self._load)

    def _load(self) -> ModuleType:
        return load_function(self.function, f"local_{self.function}_{next(self._serial)}")


class _Instance:
    """One execution environment: the function's module, loaded on its first invocation, and a
    context (contextvars) in which each of its invocations runs, on the thread of the caller the
    pool gave it to. What the product keeps per environment lives in context variables
    (transactions.py's connection; Powertools' log keys; the metric set, made so by
    `_per_instance_observability`), so it is this instance's on whichever thread runs it. (A
    thread of its own per instance did the same at the cost of two thread switches per call.)"""

    def __init__(self, function: str, load: Callable[[], ModuleType]) -> None:
        self.function = function
        self._load = load
        self._module: ModuleType | None = None
        self._logger: Logger | None = None
        self._context = contextvars.Context()

    def run(self, event: dict[str, Any], context: LambdaContext) -> Any:
        # The pool hands an instance to one invocation at a time: its context is never entered
        # twice at once (which Context.run refuses).
        return self._context.run(self._invoke, event, context)

    def _invoke(self, event: dict[str, Any], context: LambdaContext) -> Any:
        """The handlers share the process's one Powertools Logger, whose appended keys (the Lambda
        context's, the correlation id) are one dict: two invocations at once would each write
        their lines with whichever keys were appended last. Here they are kept per context, and
        dropped when the invocation ends: the next invocation starts with none, as the first did."""
        if self._logger is None:  # an import that fails, fails the invocation that needed it
            self._logger = _per_instance_observability()
        logger = self._logger
        try:
            if self._module is None:  # a module that fails to import fails here, logged too
                self._module = self._load()
            return self._module.lambda_handler(event, context)
        except Exception:
            logger.exception("The invocation failed", extra={"function": self.function})
            raise
        finally:
            logger.thread_safe_clear_keys()


def _per_instance_observability() -> Logger:
    """The shared logger's keys and the metric set become per context, so per instance
    (idempotent: the process has one logger and one metrics object)."""
    from exam_depository.observability import logger, metrics

    _keys_per_context(logger)
    _metrics_per_context(metrics)
    return logger


def _keys_per_context(logger: Logger) -> None:
    """Make the keys a handler appends (`inject_lambda_context` calls `append_keys` and
    `set_correlation_id`, which appends too) those of the calling context alone: Powertools'
    "thread-safe" keys are a context variable, which its formatter writes over the shared ones."""
    logger.append_keys = logger.thread_safe_append_keys  # type: ignore[method-assign]
    logger.remove_keys = logger.thread_safe_remove_keys  # type: ignore[method-assign]


def _metrics_per_context(metrics: Metrics) -> None:
    """Give each instance a metric set of its own, as each Lambda environment has: Powertools
    keeps one per process, so one invocation's flush would write and clear another's metrics,
    and the other's own flush then find none and fail the invocation ("Must contain at least
    one metric")."""
    if not isinstance(metrics.provider, _ProviderPerContext):
        metrics.provider = _ProviderPerContext(metrics.provider)  # type: ignore[assignment]


class _ProviderPerContext:
    """Stands for a Powertools metrics provider: each context (each instance runs in its own) gets
    one of its own, like the process's (same namespace, service and default dimensions), on its
    first use. Reads alone are forwarded: Powertools' Metrics only calls its provider's methods,
    which write to the context's own provider; nothing sets an attribute on the provider from
    outside."""

    def __init__(self, template: AmazonCloudWatchEMFProvider) -> None:
        self._template = template
        self._own: contextvars.ContextVar[AmazonCloudWatchEMFProvider | None] = contextvars.ContextVar(
            "metrics_provider", default=None
        )

    def __getattr__(self, name: str) -> Any:
        provider = self._own.get()
        if provider is None:
            from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

            provider = AmazonCloudWatchEMFProvider(
                namespace=self._template.namespace,
                service=self._template.service,
                default_dimensions=dict(self._template.default_dimensions),
                function_name=self._template.function_name,
            )
            self._own.set(provider)
        return getattr(provider, name)


def load_function(function: str, module_name: str) -> ModuleType:
    """Import functions/<function>/app.py as Lambda does: a fresh module, here under its own name
    (every handler file is called app.py)."""
    spec = importlib.util.spec_from_file_location(module_name, ROOT / "functions" / function / "app.py")
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load functions/{function}/app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@dataclass
class LambdaContext:
    """What Powertools reads from the Lambda context."""

    function_name: str = "local"
    aws_request_id: str = "0f3c7b52-9a1e-4d0c-8c55-2d9b1f7e6a10"
    memory_limit_in_mb: int = 256
    function_version: str = "$LATEST"
    log_group_name: str = "/aws/lambda/local"
    log_stream_name: str = "local"

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:local:000000000000:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000
