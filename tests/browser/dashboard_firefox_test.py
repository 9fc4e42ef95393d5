"""The dashboard's core checks in headless Firefox (Debian's firefox-esr),
driven over WebDriver BiDi by bidi.py, against a real jobqd on 127.0.0.1
port 0 with tokens on: the overview's counts equal GetStats', a job page
shows its attempts, clicking Pause pauses the queue (seen through the
API), and the console stays free of errors. Screenshots are kept in
$JOBQ_ARTIFACTS (by ctest: build/artifacts/dashboard-firefox/).

Skipped only when no Firefox binary is installed (make test installs
firefox-esr); everything else missing is a failure.

ctest sets JOBQD, JOBQCTL and JOBQ_ARTIFACTS; by hand:
    JOBQD=build/bin/jobqd JOBQCTL=build/bin/jobqctl \\
        /usr/bin/python3 -m unittest -v tests/browser/dashboard_firefox_test.py
"""

import json
import os
import unittest

import bidi
from dashboard_test import ARTIFACTS, STATES, Jobqd, count, poll

ARTIFACTS = os.environ.get("JOBQ_ARTIFACTS") or ARTIFACTS + "-firefox"
NO_FIREFOX = "firefox-esr is not installed"

jobqd = None
firefox = None


def setUpModule():
    global jobqd, firefox
    if not bidi.FIREFOX:
        raise unittest.SkipTest(NO_FIREFOX)
    os.makedirs(ARTIFACTS, exist_ok=True)
    jobqd = Jobqd()
    try:
        firefox = bidi.Firefox()
    except Exception:
        jobqd.stop()
        raise


def tearDownModule():
    if firefox is not None:
        firefox.close()
    if jobqd is not None:
        jobqd.stop()


class DashboardInFirefoxTest(unittest.TestCase):
    def setUp(self):
        self.seen = len(firefox.entries)

    def tearDown(self):
        errors = [e for e in firefox.entries[self.seen:]
                  if e.get("level") == "error"]
        self.assertEqual(errors, [], "the browser console shows errors")

    def shot(self, name):
        firefox.screenshot(os.path.join(ARTIFACTS, name + ".png"))

    def open(self, fragment=""):
        """Opens a page of the dashboard, signing in with the admin token
        when it asks for one."""
        firefox.navigate(jobqd.url + fragment)
        page = firefox.wait_until("document.body.dataset.page",
                                  what="the page")
        if page == "sign-in":
            firefox.call(
                "(token) => {"
                " document.getElementById('token-input').value = token;"
                " document.querySelector('#token-form button[type=submit]')"
                "   .click(); }", jobqd.tokens["admin"])
            firefox.wait_until(
                "document.body.dataset.page !== 'sign-in'", what="sign-in")

    def test_overview_lists_the_queues_with_the_counts_of_get_stats(self):
        for _ in range(4):
            jobqd.ctl("submit", "-q", "ff-mail", "-k", "noop")
        jobqd.ctl("pause", "ff-reports")
        for _ in range(3):
            jobqd.ctl("submit", "-q", "ff-reports", "-k", "noop")
        poll(lambda: any(q["name"] == "ff-mail"
                         and count(q.get("succeeded")) == 4
                         for q in jobqd.ctl("stats").get("queues", [])))
        self.open()
        stats = {q["name"]: q for q in jobqd.ctl("stats")["queues"]}
        want = {name: {s: count(stats[name].get(s.lower())) for s in STATES}
                for name in ["ff-mail", "ff-reports"]}
        # The page's counts, read from its table, equal GetStats'.
        shown = firefox.wait_until(
            "(() => { const out = {};"
            " for (const name of ['ff-mail', 'ff-reports']) {"
            "  const row = document.querySelector(`tr[data-queue=\"${name}\"]`);"
            "  if (!row) return null;"
            "  out[name] = {};"
            "  for (const s of " + json.dumps(STATES) + ") {"
            "   out[name][s] = Number(row.querySelector("
            "     `td[data-state=\"${s}\"]`).textContent); } }"
            " return JSON.stringify(out) === " +
            json.dumps(json.dumps(want, separators=(",", ":"))) +
            " ? out : null; })()", what="the counts of GetStats")
        self.assertEqual(shown["ff-reports"]["READY"], 3)
        self.assertTrue(firefox.evaluate(
            "document.querySelector('tr[data-queue=\"ff-reports\"] "
            "[data-paused=true]') !== null"))
        self.shot("overview")

    def test_a_job_page_shows_its_attempts(self):
        job = jobqd.ctl("submit", "-q", "ff-timed", "-k", "flaky-once",
                        "--retries", "2", "--backoff", "50ms")["job_id"]
        poll(lambda: jobqd.ctl("get", job)["state"] == "JOB_STATE_SUCCEEDED")
        self.open(f"#/job/{job}")
        rows = firefox.wait_until(
            "(() => { const rows = [...document.querySelectorAll("
            "'#attempts tbody tr[data-attempt]')];"
            " return rows.length === 2 ? rows.map((r) => "
            "  [r.dataset.attempt, r.dataset.outcome, r.textContent]) : null;"
            "})()", what="two attempts")
        self.assertEqual([r[:2] for r in rows],
                         [["1", "FAILED"], ["2", "SUCCEEDED"]])
        self.assertIn("first try fails", rows[0][2])
        self.assertIn("SUCCEEDED", firefox.evaluate(
            "document.getElementById('job-state').textContent"))
        self.shot("job")

    def test_clicking_pause_pauses_the_queue(self):
        jobqd.ctl("submit", "-q", "ff-clicks", "-k", "noop")
        self.open()
        firefox.wait_until(
            "document.querySelector("
            "'button[data-action=\"pause\"][data-queue=\"ff-clicks\"]')",
            what="the pause button")
        firefox.evaluate(
            "document.querySelector("
            "'button[data-action=\"pause\"][data-queue=\"ff-clicks\"]')"
            ".click()")
        poll(lambda: any(q["name"] == "ff-clicks" and q.get("paused")
                         for q in jobqd.ctl("queues").get("queues", [])))
        firefox.wait_until(
            "document.querySelector("
            "'button[data-action=\"resume\"][data-queue=\"ff-clicks\"]')",
            what="the resume button")
        self.shot("paused")


if __name__ == "__main__":
    unittest.main()
