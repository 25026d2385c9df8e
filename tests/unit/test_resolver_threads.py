"""Two requests resolved at once on two threads (the local gateway, the tests) each see their
own event: Powertools alone keeps the request in a class attribute shared by every resolver."""

from __future__ import annotations

import threading
from typing import Any, cast

from exam_depository.api.resolver import build_resolver

from local_stack.functions import LambdaContext, sample_event

_CONTEXT = cast(Any, LambdaContext())


def _event(code: str) -> dict[str, Any]:
    event = sample_event("get_upload_status", "by_code")
    event.update(resource="/echo/{code}", path=f"/echo/{code}", pathParameters={"code": code})
    return event


def test_a_request_resolved_meanwhile_on_another_thread_does_not_replace_this_one() -> None:
    first, second = build_resolver(), build_resolver()
    seen: dict[str, str] = {}

    @second.get("/echo/<code>")
    def echo_second(code: str) -> dict[str, str]:
        return {"path": second.current_event.path}

    @first.get("/echo/<code>")
    def echo_first(code: str) -> dict[str, str]:
        # Another request arrives and is resolved while this one is being handled.
        other = threading.Thread(target=lambda: second.resolve(_event("BBBB"), _CONTEXT))
        other.start()
        other.join()
        seen["path"] = first.current_event.path
        return {"path": first.current_event.path}

    first.resolve(_event("AAAA"), _CONTEXT)

    assert seen["path"] == "/echo/AAAA"
