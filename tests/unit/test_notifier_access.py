"""Whose pay a Subscribe caller may watch, from the sample org's effective-dated hierarchy."""

from datetime import date
from pathlib import Path

from attain.ledger.access import Principal, can_read_rep
from attain.planfiles import load_book
from services.notifier.access import rep_facts_from_book

BOOK = load_book([Path(__file__).resolve().parents[2] / "examples" / "apac"])


def _may(user: str, roles: set[str], rep: str, day: date, regions: frozenset[str] = frozenset()) -> bool:
    return can_read_rep(Principal(user, frozenset(roles), regions), rep_facts_from_book(BOOK, rep, day))


def test_a_manager_sees_their_whole_network_down_the_chain():
    # ae-sg-01 reports to mgr-sea, who reports to mgr-apac
    assert _may("mgr-sea", {"manager"}, "ae-sg-01", date(2026, 2, 1))
    assert _may("mgr-apac", {"manager"}, "ae-sg-01", date(2026, 2, 1))
    assert not _may("mgr-in", {"manager"}, "ae-sg-01", date(2026, 2, 1))


def test_the_hierarchy_is_effective_dated():
    # ae-in-04 joins mgr-in's team on 2026-02-16
    assert not _may("mgr-in", {"manager"}, "ae-in-04", date(2026, 2, 15))
    assert _may("mgr-in", {"manager"}, "ae-in-04", date(2026, 2, 16))


def test_a_manager_role_is_needed_and_reps_see_only_themselves():
    assert not _may("mgr-sea", {"rep"}, "ae-sg-01", date(2026, 2, 1))
    assert _may("ae-sg-01", {"rep"}, "ae-sg-01", date(2026, 2, 1))
    assert not _may("ae-sg-02", {"rep"}, "ae-sg-01", date(2026, 2, 1))


def test_an_admin_sees_only_their_regions():
    assert _may("ops", {"comp_admin"}, "ae-sg-01", date(2026, 2, 1), frozenset({"SG"}))
    assert not _may("ops", {"comp_admin"}, "ae-au-01", date(2026, 2, 1), frozenset({"SG"}))


def test_a_stream_whose_read_cannot_be_logged_gets_the_reason():
    import asyncio
    import socket

    from aiohttp import web

    from services.notifier.access import ReadRecorder

    async def reasons() -> list[str | None]:
        async def down(_: web.Request) -> web.Response:
            return web.json_response({"error": "the ledger database is unreachable; retry later"}, status=503)

        app = web.Application()
        app.router.add_post("/v1/reps/{rep_id}/access", down)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        with socket.socket() as closed:  # a port nothing listens on
            closed.bind(("127.0.0.1", 0))
            nobody = closed.getsockname()[1]
        found = []
        for url in (None, f"http://127.0.0.1:{nobody}", f"http://127.0.0.1:{port}"):
            recorder = ReadRecorder(url, timeout=2)
            found.append(await recorder._refusal("t01", "Bearer x"))
            await recorder.close()
        await runner.cleanup()
        return found

    unset, unreachable, refused = asyncio.run(reasons())
    assert unset is not None and "ATTAIN_NOTIFIER_LEDGER_URL" in unset
    assert unreachable is not None and unreachable.startswith("the ledger is unreachable (Connect")
    assert refused == "the ledger refused to record it (503: the ledger database is unreachable; retry later)"
