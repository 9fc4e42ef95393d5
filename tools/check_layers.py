#!/usr/bin/env python3
"""Fails when a component of jobqd includes a header it may not.

The arrows are those of docs/architecture.md: each component of server/
lists the components whose headers it may include. A file includes its own
component's headers freely. Run by the build (the check_layers target) and
by ctest.
"""
import pathlib
import re
import sys

ALLOWED = {
    "common": set(),
    "config": {"common"},
    "core": {"common"},
    "store": {"common"},
    "events": {"core", "common"},
    "remote": {"core", "events", "common"},
    "auth": {"common"},
    "exec": {"core", "config", "common"},
    "http": {"common"},
    "engine": {"core", "events", "remote", "store", "common"},
    "api": {"engine", "auth", "events", "core", "remote", "common"},
    "web": {"api", "engine", "auth", "http", "common"},
    "daemon": {"api", "engine", "auth", "events", "core", "remote", "store",
               "exec", "http", "web", "config", "common"},
}
INCLUDE = re.compile(r'^\s*#\s*include\s+"([a-z_]+)/[^"]+"', re.M)


def main(root: pathlib.Path) -> int:
    errors = []
    dirs = [(c, root / "server" / c) for c in ALLOWED if c != "common"]
    dirs.append(("common", root / "common"))
    for comp, d in dirs:
        if not d.is_dir():
            errors.append(f"{d}: the component {comp} is missing")
            continue
        for f in sorted(d.rglob("*")):
            if f.suffix not in (".h", ".cc"):
                continue
            for m in INCLUDE.finditer(f.read_text()):
                dep = m.group(1)
                if dep == comp or dep not in ALLOWED:
                    continue  # Its own, or not a component (jobq/ protos).
                if dep not in ALLOWED[comp]:
                    line = f.read_text()[: m.start()].count("\n") + 1
                    errors.append(
                        f"{f.relative_to(root)}:{line}: {comp} may not "
                        f'include "{dep}/..." (allowed: '
                        f"{', '.join(sorted(ALLOWED[comp])) or 'none'})")
    for e in errors:
        print(e, file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")))
