"""jobqd's web dashboard in a real browser: headless Chromium driven by
selenium (Debian's chromium, chromium-driver and python3-selenium), against
a real jobqd on 127.0.0.1 port 0 with tokens on. The counts the page shows
are compared with GetStats through jobqctl; actions are checked through the
API. Every page's screenshot is kept in $JOBQ_ARTIFACTS (by ctest:
build/artifacts/dashboard/), and the browser's console must stay free of
errors.

ctest sets JOBQD, JOBQCTL and JOBQ_ARTIFACTS; by hand:
    JOBQD=build/bin/jobqd JOBQCTL=build/bin/jobqctl \
        /usr/bin/python3 -m unittest -v tests/browser/dashboard_test.py
"""

import json
import os
import re
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.join(HERE, "..", "..", "build")
JOBQD = os.environ.get("JOBQD") or os.path.join(BUILD, "bin", "jobqd")
JOBQCTL = os.environ.get("JOBQCTL") or os.path.join(BUILD, "bin", "jobqctl")
ARTIFACTS = os.environ.get("JOBQ_ARTIFACTS") or os.path.join(
    BUILD, "artifacts", "dashboard")
LISTENING = re.compile(
    r"listening on [0-9.]+:([0-9]+) \(http [0-9.]+:([0-9]+)\)")
WAIT = 20  # Seconds for the page to show what it must.
STATES = ["WAITING", "SCHEDULED", "READY", "RUNNING", "SUCCEEDED", "DEAD", "CANCELLED"]
FLAKY_CONFIG = """commands:
  flaky-once:
    argv: ["/bin/sh", "-c", "if [ \\"$JOBQ_ATTEMPT\\" = 1 ]; then echo 'first try fails' >&2; exit 3; fi; sleep 0.05; echo ok"]
"""


class Jobqd:
    """A jobqd with an admin and a read-only token; its ports read back
    from its start-up line."""

    def __init__(self):
        self.dir = tempfile.TemporaryDirectory()
        self.tokens = {}
        entries = []
        for name, roles in [("admin", ["admin", "submit", "read"]),
                            ("viewer", ["read"])]:
            out = subprocess.run([JOBQCTL, "token", "new", name, "--role",
                                  *roles], check=True, capture_output=True,
                                 text=True).stdout
            self.tokens[name] = out.splitlines()[0].strip()
            entries.append("\n".join(
                line for line in out.splitlines()[1:]
                if not line.startswith("#")))
        self.token_file = os.path.join(self.dir.name, "tokens.yaml")
        with open(self.token_file, "w") as f:
            f.write("tokens:\n" + "\n".join(entries) + "\n")
        self.admin_token_file = os.path.join(self.dir.name, "admin.token")
        with open(self.admin_token_file, "w") as f:
            f.write(self.tokens["admin"] + "\n")
        # A command that fails its first attempt and succeeds after.
        self.config = os.path.join(self.dir.name, "jobqd.yaml")
        with open(self.config, "w") as f:
            f.write(FLAKY_CONFIG)
        self.proc = subprocess.Popen(
            [JOBQD, "--listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0",
             "--workers", "2", "--auth-tokens", self.token_file,
             "--config", self.config],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.log = []
        ports = threading.Event()

        def read():
            for line in self.proc.stdout:
                self.log.append(line)
                m = LISTENING.search(line)
                if m:
                    self.port, self.http_port = int(m[1]), int(m[2])
                    ports.set()
        threading.Thread(target=read, daemon=True).start()
        if not ports.wait(30):
            raise RuntimeError("jobqd did not start:\n" + "".join(self.log))
        self.url = f"http://127.0.0.1:{self.http_port}/"

    def ctl(self, *args):
        out = subprocess.run(
            [JOBQCTL, "--addr", f"127.0.0.1:{self.port}", "--token-file",
             self.admin_token_file, "--json", *args],
            check=True, capture_output=True, text=True).stdout
        return json.loads(out) if out.strip() else None

    def stop(self):
        self.proc.terminate()
        self.proc.wait(30)
        self.dir.cleanup()


def browser():
    opts = webdriver.ChromeOptions()
    opts.binary_location = "/usr/bin/chromium"
    for a in ["--headless=new", "--no-sandbox", "--disable-gpu",
              "--disable-dev-shm-usage", "--window-size=1280,1000"]:
        opts.add_argument(a)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"),
                            options=opts)


jobqd = None


def setUpModule():
    global jobqd
    os.makedirs(ARTIFACTS, exist_ok=True)
    jobqd = Jobqd()


def tearDownModule():
    jobqd.stop()


def count(value):
    return int(value or 0)


def poll(condition, timeout=WAIT):
    """Checks `condition` (of jobqd, through its API) until it holds, and
    returns its value; fails past the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for jobqd")
        time.sleep(0.1)  # Between checks of the API, as WebDriverWait does.


class DashboardTest(unittest.TestCase):
    def setUp(self):
        self.driver = browser()
        # The pages redraw themselves as they poll: an element found just
        # before a redraw is looked up again.
        self.wait = WebDriverWait(
            self.driver, WAIT,
            ignored_exceptions=[StaleElementReferenceException])

    def tearDown(self):
        errors = [e for e in self.driver.get_log("browser")
                  if e["level"] == "SEVERE"]
        self.driver.quit()
        self.assertEqual(errors, [], "the browser console shows errors")

    def click(self, css):
        """Clicks the element `css` selects once it is there (again, if
        the page redrew it in between)."""
        def clicked(d):
            found = d.find_elements(By.CSS_SELECTOR, css)
            if not found:
                return False
            found[0].click()
            return True
        self.wait.until(clicked)

    def shot(self, name):
        self.driver.save_screenshot(os.path.join(ARTIFACTS, name + ".png"))

    def fetch(self, path, token="admin"):
        """An API answer's body, fetched outside the browser."""
        req = urllib.request.Request(
            jobqd.url + "api/v1/" + path,
            headers={"Authorization": "Bearer " + jobqd.tokens[token]})
        with urllib.request.urlopen(req, timeout=10) as res:
            return res.read().decode()

    def sign_in(self, token):
        self.driver.get(jobqd.url)
        box = self.wait.until(lambda d: d.find_element(By.ID, "token-input"))
        box.send_keys(jobqd.tokens[token])
        self.driver.find_element(By.CSS_SELECTOR,
                                 "#token-form button[type=submit]").click()
        self.wait.until(lambda d: d.find_elements(By.ID, "queues"))

    def submit(self, queue, kind="noop", payload=None, *labels):
        args = ["submit", "-q", queue, "-k", kind]
        if payload:
            args += ["--payload", payload]
        for label in labels:
            args += ["-l", label]
        return jobqd.ctl(*args)["job_id"]

    def test_without_a_token_the_page_asks_for_one(self):
        self.driver.get(jobqd.url)
        self.wait.until(lambda d: d.find_elements(By.ID, "token-form"))
        self.assertEqual(self.driver.find_elements(By.ID, "queues"), [])
        self.shot("token-form")

    def test_overview_lists_the_queues_with_the_counts_of_get_stats(self):
        for _ in range(5):
            self.submit("emails")
        # A paused queue keeps its jobs READY, so its counts stay put.
        jobqd.ctl("pause", "reports")
        for _ in range(3):
            self.submit("reports", "sleep", "10ms")
        self.wait.until(lambda _: any(
            q["name"] == "emails" and count(q.get("succeeded")) == 5
            for q in jobqd.ctl("stats").get("queues", [])))
        self.sign_in("admin")

        def page_matches_stats(d):
            stats = {q["name"]: q for q in jobqd.ctl("stats")["queues"]}
            for name in ["emails", "reports"]:
                rows = d.find_elements(By.CSS_SELECTOR,
                                       f'tr[data-queue="{name}"]')
                if not rows:
                    return False
                for state in STATES:
                    cell = rows[0].find_element(
                        By.CSS_SELECTOR, f'td[data-state="{state}"]')
                    if int(cell.text) != count(
                            stats[name].get(state.lower())):
                        return False
            return True
        self.wait.until(page_matches_stats)
        row = self.driver.find_element(By.CSS_SELECTOR,
                                       'tr[data-queue="reports"]')
        self.assertEqual(row.find_element(
            By.CSS_SELECTOR, 'td[data-state="READY"]').text, "3")
        self.assertTrue(row.find_elements(By.CSS_SELECTOR,
                                          "[data-paused=true]"))
        # The charts are drawn by the chart library, from jobqd's samples
        # (one every 5 s): jobs keep coming until three intervals show.
        done = threading.Event()

        def trickle():
            while not done.is_set():
                self.submit("emails", "sleep", "20ms")
                self.submit("thumbnails", "sleep", "60ms")
        feeder = threading.Thread(target=trickle)
        feeder.start()
        try:
            WebDriverWait(self.driver, 40).until(lambda d: d.execute_script(
                "const g = document.querySelectorAll("
                "'#chart-throughput canvas'); return g.length > 0;") and
                len(json.loads(self.fetch("samples"))["queues"].get(
                    "thumbnails", [])) >= 3)
        finally:
            done.set()
            feeder.join()
        self.wait.until(lambda d: d.find_elements(
            By.CSS_SELECTOR, 'tr[data-queue="thumbnails"]'))
        self.shot("overview")

    def test_clicking_pause_pauses_the_queue(self):
        self.submit("clicks")
        self.sign_in("admin")
        button = self.wait.until(lambda d: d.find_element(
            By.CSS_SELECTOR, 'button[data-action="pause"][data-queue="clicks"]'))
        button.click()
        self.wait.until(lambda _: any(
            q["name"] == "clicks" and q.get("paused")
            for q in jobqd.ctl("queues").get("queues", [])))
        # The page shows it by itself, and offers to resume.
        self.wait.until(lambda d: d.find_elements(
            By.CSS_SELECTOR, 'button[data-action="resume"][data-queue="clicks"]'))
        self.driver.get(jobqd.url + "#/queue/clicks")
        self.wait.until(lambda d: d.find_elements(
            By.CSS_SELECTOR, '#queue-actions button[data-action="resume"]'))
        self.wait.until(lambda d: d.find_elements(By.CSS_SELECTOR,
                                                  "#jobs tr[data-job]"))
        self.shot("queue")
        self.driver.find_element(
            By.CSS_SELECTOR, '#queue-actions button[data-action="resume"]').click()
        self.wait.until(lambda _: any(
            q["name"] == "clicks" and not q.get("paused")
            for q in jobqd.ctl("queues").get("queues", [])))

    def test_a_job_page_shows_its_attempts_and_timings(self):
        # Fails its first attempt (exit 3), succeeds at the second.
        job = jobqd.ctl("submit", "-q", "timed", "-k", "flaky-once", "-l",
                        "team=ops", "--retries", "2", "--backoff",
                        "50ms")["job_id"]
        self.wait.until(lambda _: jobqd.ctl("get", job)["state"]
                        == "JOB_STATE_SUCCEEDED")
        runs = json.loads(self.fetch("jobs/" + job))["attempts"]
        self.assertEqual([(a["number"], a["outcome"]) for a in runs],
                         [(1, "ATTEMPT_OUTCOME_FAILED"),
                          (2, "ATTEMPT_OUTCOME_SUCCEEDED")])
        self.sign_in("admin")
        self.driver.get(jobqd.url + f"#/job/{job}")
        self.wait.until(lambda d: d.find_elements(
            By.CSS_SELECTOR, '#attempts tr[data-attempt="2"]'))
        rows = self.driver.find_elements(By.CSS_SELECTOR,
                                         "#attempts tbody tr")
        self.assertEqual([(r.get_attribute("data-attempt"),
                           r.get_attribute("data-outcome")) for r in rows],
                         [("1", "FAILED"), ("2", "SUCCEEDED")])
        first = rows[0].text
        self.assertIn("first try fails", first)
        self.assertIn("exit status 3", first)
        self.assertIn("jobqd", first)  # The built-in pool, no remote worker.
        for r in rows:
            cells = r.find_elements(By.TAG_NAME, "td")
            self.assertEqual(len(cells), 7)
            self.assertNotEqual(cells[1].text, "–")  # started
            self.assertNotEqual(cells[2].text, "–")  # finished
            self.assertRegex(cells[3].text, r"^\d+(\.\d+)? (µs|ms|s)$")
        # The second run slept 50 ms.
        run_time = rows[1].find_element(
            By.CSS_SELECTOR, 'td[data-col="run-time"]').text
        self.assertRegex(run_time, r" ms$")
        self.assertGreaterEqual(float(run_time.split()[0]), 50)
        steps = [e.get_attribute("data-step") for e in
                 self.driver.find_elements(By.CSS_SELECTOR,
                                           "#timeline li[data-step]")]
        self.assertEqual(steps, ["created", "ready", "started", "finished"])
        timeline = self.driver.find_element(By.ID, "timeline").text
        self.assertIn("queue wait", timeline)
        self.assertRegex(timeline, r"run time \d+(\.\d+)? ms")
        self.assertIn("total", timeline)
        self.assertIn("SUCCEEDED",
                      self.driver.find_element(By.ID, "job-state").text)
        self.assertIn("team=ops", self.driver.find_element(By.ID, "spec").text)
        # A finished job offers no cancel.
        self.assertEqual(self.driver.find_elements(
            By.CSS_SELECTOR, '#job-actions button[data-action="cancel"]'), [])
        self.shot("job")

    def dead_job(self, queue):
        """A job of one attempt (the default) that its timeout ends DEAD."""
        job = jobqd.ctl("submit", "-q", queue, "-k", "sleep", "--payload",
                        "30s", "--timeout", "10ms", "--retries", "1")["job_id"]
        self.wait.until(lambda _: jobqd.ctl("get", job)["state"]
                        == "JOB_STATE_DEAD")
        return job

    def test_clicking_retry_runs_a_dead_job_again(self):
        job = self.dead_job("retried")
        before = jobqd.ctl("get", job)
        self.assertEqual(before["attempt"], 1)
        self.sign_in("admin")
        self.driver.get(jobqd.url + f"#/job/{job}")
        button = self.wait.until(lambda d: d.find_element(
            By.CSS_SELECTOR, '#job-actions button[data-action="retry"]'))
        # A finished job may be deleted too; an unfinished one is not offered.
        self.assertTrue(self.driver.find_elements(
            By.CSS_SELECTOR, '#job-actions button[data-action="delete"]'))
        self.assertEqual(self.driver.find_elements(
            By.CSS_SELECTOR, '#job-actions button[data-action="cancel"]'), [])
        self.shot("job-dead")
        button.click()

        # It ran again: started anew, its attempts counted afresh (attempt
        # 1 once more, not 2), and ended DEAD as before.
        def ran_again(_):
            j = jobqd.ctl("get", job)
            return (j["state"] == "JOB_STATE_DEAD"
                    and j.get("started_at") != before.get("started_at")
                    and j)
        after = self.wait.until(ran_again)
        self.assertEqual(after["attempt"], 1)
        # The page follows by itself and offers Retry again.
        self.wait.until(lambda d: d.find_elements(
            By.CSS_SELECTOR, '#job-actions button[data-action="retry"]'))

    def test_a_read_only_token_sees_but_gets_no_buttons(self):
        self.submit("viewed")
        dead = self.dead_job("viewed")
        self.sign_in("viewer")
        self.wait.until(lambda d: d.find_elements(
            By.CSS_SELECTOR, 'tr[data-queue="viewed"]'))
        self.assertEqual(self.driver.find_elements(
            By.CSS_SELECTOR, "button[data-action]"), [])
        self.assertIn("read only", self.driver.find_element(By.ID, "who").text)
        self.driver.get(jobqd.url + "#/queue/viewed")
        self.wait.until(lambda d: d.find_elements(By.CSS_SELECTOR,
                                                  "#jobs tr[data-job]"))
        self.assertEqual(self.driver.find_elements(
            By.CSS_SELECTOR, "button[data-action]"), [])
        self.assertEqual(self.driver.find_elements(By.ID, "limits-form"), [])
        self.assertEqual(self.driver.find_elements(By.ID, "purge-states"), [])
        self.shot("read-only")
        # Nor on the schedules page.
        jobqd.ctl("schedule", "create", "viewed-schedule", "--cron",
                  "@daily", "-q", "viewed", "-k", "noop")
        self.driver.get(jobqd.url + "#/schedules")
        self.wait.until(lambda d: d.find_elements(
            By.CSS_SELECTOR, 'tr[data-schedule="viewed-schedule"]'))
        self.assertEqual(self.driver.find_elements(
            By.CSS_SELECTOR, "button[data-action]"), [])
        # A DEAD job's page offers a read token no Retry or Delete.
        self.driver.get(jobqd.url + f"#/job/{dead}")
        self.wait.until(lambda d: "DEAD" in d.find_element(
            By.ID, "job-state").text)
        self.assertEqual(self.driver.find_elements(
            By.CSS_SELECTOR, "button[data-action]"), [])

    def test_the_limits_form_sets_rate_and_burst(self):
        self.submit("limited")
        jobqd.ctl("limit", "limited", "4")
        self.sign_in("admin")
        self.driver.get(jobqd.url + "#/queue/limited")
        form = self.wait.until(lambda d: d.find_element(By.ID, "limits-form"))
        # The current limit is the placeholder; a field left empty is not sent.
        self.wait.until(lambda _: form.find_element(
            By.NAME, "max_concurrency").get_attribute("placeholder") == "4")
        form.find_element(By.NAME, "rate").send_keys("50")
        form.find_element(By.NAME, "burst").send_keys("5")
        form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()

        def limits(_):
            for q in jobqd.ctl("stats").get("queues", []):
                if q["name"] == "limited" and q.get("rate") == 50:
                    return q
            return None
        q = self.wait.until(limits)
        self.assertEqual(q.get("burst"), 5)
        self.assertEqual(q.get("max_concurrency"), 4)  # Left as it was.
        self.wait.until(lambda d: "50.0/s, burst 5" in d.find_element(
            By.ID, "queue-limits").text)
        self.shot("queue-limits")

    def test_leaving_the_overview_while_it_loads_draws_nothing_late(self):
        """An overview left before its figures arrived: their late answer
        must not draw charts into the page no longer shown (Dygraph, given
        a detached container, logs an error)."""
        self.submit("hopping")
        self.sign_in("admin")
        # Samples exist once a chart is drawn: every overview then draws.
        self.wait.until(lambda d: d.find_elements(
            By.CSS_SELECTOR, "#chart-throughput canvas"))
        # Overviews opened and left at once, each before its fetches are
        # answered.
        self.driver.execute_async_script("""
            const done = arguments[arguments.length - 1];
            let i = 0;
            (function hop() {
              if (i++ === 40) { location.hash = '#/workers'; done(); return; }
              location.hash = i % 2 ? '#/' : '#/workers';
              setTimeout(hop, 0);
            })();""")
        self.wait.until(lambda d: d.find_elements(By.ID, "workers"))
        # The errors, if any, are in the console that tearDown reads.

    def test_the_schedules_page_lists_a_schedule_and_trigger_submits(self):
        jobqd.ctl("schedule", "create", "nightly-report", "--cron",
                  "0 3 * * *", "--tz", "Europe/Berlin", "-q", "reports-sched",
                  "-k", "noop")
        self.sign_in("admin")
        self.driver.find_element(By.CSS_SELECTOR,
                                 'a[data-nav="schedules"]').click()
        row = self.wait.until(lambda d: d.find_element(
            By.CSS_SELECTOR, 'tr[data-schedule="nightly-report"]').text)
        self.assertIn("0 3 * * *", row)
        self.assertIn("Europe/Berlin", row)
        self.assertIn("none yet", row)
        self.shot("schedules")
        self.click('tr[data-schedule="nightly-report"] '
                   'button[data-action="trigger"]')

        def triggered(_):
            return jobqd.ctl("schedule", "get", "nightly-report").get(
                "last_job_id")
        job = self.wait.until(triggered)
        got = jobqd.ctl("get", job)
        self.assertEqual(got["spec"]["queue"], "reports-sched")
        # The page links the last job.
        self.click(f'tr[data-schedule="nightly-report"] '
                   f'a[href="#/job/{job}"]')
        self.wait.until(lambda d: d.find_elements(By.ID, "job-state"))
        # Pause from the page, seen through the API.
        self.driver.get(jobqd.url + "#/schedules")
        self.click('tr[data-schedule="nightly-report"] '
                   'button[data-action="pause"]')
        self.wait.until(lambda _: jobqd.ctl(
            "schedule", "get", "nightly-report").get("paused"))
        self.wait.until(lambda d: d.find_elements(
            By.CSS_SELECTOR, 'tr[data-schedule="nightly-report"] '
            'button[data-action="resume"]'))

    def test_the_workers_page_lists_no_worker_when_none_is_connected(self):
        self.sign_in("admin")
        self.driver.get(jobqd.url + "#/workers")
        self.wait.until(lambda d: "No remote worker" in d.find_element(
            By.ID, "workers").text)
        self.shot("workers")

    def test_a_phone_sized_window_shows_the_overview(self):
        self.submit("phone")
        self.driver.set_window_size(390, 844)
        self.sign_in("admin")
        self.wait.until(lambda d: d.find_elements(
            By.CSS_SELECTOR, 'tr[data-queue="phone"]'))
        # The page itself does not scroll sideways; the table does.
        width = self.driver.execute_script(
            "return document.documentElement.scrollWidth")
        inner = self.driver.execute_script("return window.innerWidth")
        self.assertLessEqual(width, inner)
        self.shot("overview-phone")


if __name__ == "__main__":
    unittest.main()
