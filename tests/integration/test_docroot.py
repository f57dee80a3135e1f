"""Where `wherelog serve` finds the web map: build/wherelog, never installed, serves the
checkout's web/ when --docroot is left at its default; a docroot that was chosen is used as
given, and when it holds no map the log says plainly that the map is off and how to turn it
on, instead of printing a URL for a map that is not there."""
import os
import subprocess
import unittest

import harness as h

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Docroot(unittest.TestCase):
    def setUp(self):
        self.dir = h.Workdir()
        self.proc = None

    def tearDown(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(15)
        if self.proc:
            with open(self.log) as f:
                h.check_sanitizers("wherelog serve", f.read())
        self.dir.remove()

    def serve(self, *args, env=None):
        """Starts the build tree's wherelog (HTTP only) and waits until it answers."""
        self.port = h.free_port()
        self.log = self.dir.file("serve.log")
        e = {k: v for k, v in os.environ.items() if k != "WHERELOG_DOCROOT"}
        e.update(env or {})
        with open(self.log, "w") as log:
            self.proc = subprocess.Popen(
                [h.WHERELOG, "serve", "--storage", self.dir.file("store"), "--mqtt=false",
                 "--http-port", str(self.port)] + list(args),
                stdout=log, stderr=subprocess.STDOUT, env=e)
        h.wait_for(lambda: "HTTP on" in self.log_text() or self.proc.poll() is not None, 20,
                   "wherelog to start")
        self.assertIsNone(self.proc.poll(), self.log_text())

        def answers():
            try:
                h.request(self.port, "/api/0/version", timeout=2)
                return True
            except OSError:
                return False
        h.wait_for(answers, 20, "the HTTP server")

    def log_text(self):
        with open(self.log, encoding="utf-8", errors="replace") as f:
            return f.read()

    def test_the_build_tree_serves_the_checkouts_map(self):
        # a binary in a meson build tree: meson-info/meson-info.json names its source
        self.assertTrue(os.path.isfile(os.path.join(os.path.dirname(h.WHERELOG), "meson-info",
                                                    "meson-info.json")), h.WHERELOG)
        self.serve()
        r = h.request(self.port, "/")
        self.assertEqual(r.status, 200)
        with open(os.path.join(REPO, "web", "index.html"), "rb") as f:
            self.assertEqual(r.body, f.read(), "the checkout's web/index.html")
        log = self.log_text()
        if "docroot %s/web: the checkout's web/" % REPO not in log:
            # the installed map was there (wherelog is installed under the same prefix)
            self.assertNotIn("the checkout's web/", log)
        self.assertIn("map: http://127.0.0.1:%d/" % self.port, log)
        self.assertNotIn("map: off", log)

    def test_a_chosen_docroot_without_a_map_says_the_map_is_off(self):
        empty = self.dir.file("empty")
        os.makedirs(empty)
        for how in (["--docroot", empty], []):
            with self.subTest(how=how or "WHERELOG_DOCROOT"):
                self.serve(*how, env={} if how else {"WHERELOG_DOCROOT": empty})
                log = self.log_text()
                self.assertIn("map: off, %s has no index.html" % empty, log)
                self.assertIn("--docroot", log, "says how to turn it on")
                self.assertNotIn("map: http", log)
                self.assertNotIn("the checkout's web/", log, "a chosen docroot is kept")
                self.assertEqual(h.request(self.port, "/").status, 404)
                r = h.request(self.port, "/api/0/version")
                self.assertEqual(r.status, 200, "the API still answers")
                self.proc.terminate()
                self.proc.wait(15)


if __name__ == "__main__":
    unittest.main(verbosity=2)
