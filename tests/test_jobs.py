"""Page data computed once per server (app/jobs.py): one thread per piece, shared by every
session, kept on disk for the next server; a failure is reported and retried."""

import threading

import pytest
import torch

from analysis.page_data import Store
from app import jobs


@pytest.fixture
def server(tmp_path, monkeypatch):
    monkeypatch.setenv("ALEXNET_CACHE", str(tmp_path / "cache"))
    jobs._server.clear()  # a new server, with its store in this test's cache folder
    yield tmp_path / "cache" / "page_data"
    jobs._server.clear()


def test_two_sessions_asking_at_once_share_one_computation(server):
    release, calls = threading.Event(), []

    def compute(progress):
        calls.append(1)
        progress(1, 2)
        release.wait(10)
        return torch.arange(5)

    first = jobs.job("top9-abc", compute, "scanning")
    second = jobs.job("top9-abc", compute, "scanning")  # another session, same work
    assert second is first and not first.done.is_set() and first.fraction == 0.5
    release.set()
    assert first.done.wait(10) and first.error is None
    assert len(calls) == 1 and torch.equal(first.result, torch.arange(5))
    # the next server reads it from disk, without computing
    jobs._server.clear()
    again = jobs.job("top9-abc", lambda p: pytest.fail("computed twice"), "scanning")
    assert again.done.is_set() and torch.equal(again.result, torch.arange(5))
    assert torch.equal(Store(folder=server).get("top9-abc"), torch.arange(5))


def test_a_failure_is_reported_and_retried(server):
    def broken(progress):
        raise ValueError("no such layer")

    j = jobs.job("top9-bad", broken, "scanning")
    assert j.done.wait(10) and j.error == "ValueError: no such layer"
    assert not (server / "top9-bad.pt").exists()
    k = jobs.job("top9-bad", lambda p: 7, "scanning")  # asked again: a new attempt
    assert k is not j and k.done.wait(10) and k.result == 7


def test_downloads_are_not_kept_as_page_data(server):
    j = jobs.job("download-x", lambda p: "somewhere", "downloading", keep=False)
    assert j.done.wait(10) and j.result == "somewhere"
    assert not server.exists() or not list(server.iterdir())


def test_a_page_waits_for_a_slow_job_in_its_own_run(server):
    """Longer than ``WAIT_S``: the page draws a bar, waits in the same script run and then
    shows the value; no browser-side polling is needed to see the end."""
    from streamlit.testing.v1 import AppTest

    def page():
        import time

        import streamlit as st

        from app import jobs

        def slow(progress):
            for i in range(3):
                time.sleep(1.0)
                progress(i + 1, 3)
            return "the value"

        st.write(f"got {jobs.page_data('slow-x', slow, 'slow work')}")

    at = AppTest.from_function(page, default_timeout=60).run()
    assert not at.exception and [m.value for m in at.markdown] == ["got the value"]
    assert not at.get("progress")  # the bar is gone once the value is there
    assert jobs.running("slow-x").computed and jobs.running("slow-x").done.is_set()
    again = AppTest.from_function(page, default_timeout=60).run()  # another session: no new work
    assert [m.value for m in again.markdown] == ["got the value"]


def test_a_failed_job_says_so_on_the_page(server):
    from streamlit.testing.v1 import AppTest

    def page():
        import streamlit as st

        from app import jobs

        def broken(progress):
            raise ValueError("no such layer")

        st.write(f"got {jobs.page_data('broken-x', broken, 'Scanning')}")

    at = AppTest.from_function(page, default_timeout=60).run()
    assert [e.value for e in at.error] == ["Scanning failed: ValueError: no such layer. "
                                           "Reload the page to try again."]
    assert [m.value for m in at.markdown] == ["got None"]
