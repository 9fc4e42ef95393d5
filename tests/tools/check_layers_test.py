"""tools/check_layers.py: the tree follows its arrows, and a crossing
include is caught with the file, the line and what is allowed."""
import pathlib
import shutil
import subprocess
import sys
import tempfile
import unittest

ROOT = pathlib.Path(__file__).resolve().parents[2]
CHECK = ROOT / "tools" / "check_layers.py"


def run(root):
    return subprocess.run([sys.executable, str(CHECK), str(root)],
                          capture_output=True, text=True)


class CheckLayersTest(unittest.TestCase):
    def test_the_tree_follows_its_arrows(self):
        r = run(ROOT)
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_a_crossing_include_fails_naming_file_and_line(self):
        with tempfile.TemporaryDirectory() as tmp:
            tmp = pathlib.Path(tmp)
            shutil.copytree(ROOT / "server", tmp / "server")
            shutil.copytree(ROOT / "common", tmp / "common")
            bad = tmp / "server" / "core" / "bad.cc"
            bad.write_text('#include "core/job.h"\n'
                           '#include "api/validation.h"\n')
            r = run(tmp)
            self.assertEqual(r.returncode, 1)
            self.assertIn("server/core/bad.cc:2: core may not include "
                          '"api/..."', r.stderr)

    def test_an_include_along_an_arrow_passes(self):
        with tempfile.TemporaryDirectory() as tmp:
            tmp = pathlib.Path(tmp)
            shutil.copytree(ROOT / "server", tmp / "server")
            shutil.copytree(ROOT / "common", tmp / "common")
            (tmp / "server" / "api" / "ok.cc").write_text(
                '#include "engine/core_api.h"\n')
            self.assertEqual(run(tmp).returncode, 0)


if __name__ == "__main__":
    unittest.main()
