#!/usr/bin/env bash
# The import direction docs/ARCHITECTURE.md documents, checked over the
# `use crate::` declarations (and `crate::` paths written out) of showroomd's own code (tests are exempt: they
# may reach everything):
#   listener (and access) → commands → actor → {supervisor, apache, deployer, store, …}
# A file may import its own room and the rooms below it, never one above;
# the poller and the waker import the actor, and nothing imports them but lib.rs.
# Exits 1 naming each import that goes the wrong way.
set -euo pipefail
cd "$(dirname "$0")/../showroomd/src"
python3 - <<'PY'
import os, re, sys

# The rooms above the rest, highest first; everything else is below the actor.
# The poller and the waker (the front door's held requests) stand beside
# commands: they drive the actor, nothing below drives them.
RANK = {"listener": 3, "commands": 2, "poller": 2, "waker": 2, "actor": 1}
# Files of the connection side besides listener.rs.
SAME_ROOM = {"access": "listener"}
ROOTS = {"lib", "main"}

def room(path):
    first = path.split("/")[0]
    name = first[:-3] if first.endswith(".rs") else first
    return SAME_ROOM.get(name, name)

def is_test(path):
    parts = path.split("/")
    return "tests" in parts[:-1] or parts[-1] in ("tests.rs",) or parts[-1].endswith("_tests.rs")

def imported(text):
    """The top-level modules each `use crate::{…};` group names, and each `crate::X` path."""
    for m in re.finditer(r"\buse\s+crate::(.*?);", text, re.S):
        tree = m.group(1).strip()
        if tree.startswith("{"):
            depth, item, items = 0, "", []
            for ch in tree[1:-1]:
                if ch == "{":
                    depth += 1
                elif ch == "}":
                    depth -= 1
                if ch == "," and depth == 0:
                    items.append(item)
                    item = ""
                else:
                    item += ch
            items.append(item)
            for it in items:
                name = re.match(r"\s*(\w+)", it)
                if name and name.group(1) != "self":
                    yield name.group(1), text.count("\n", 0, m.start()) + 1
    # And every path written out in the code (`crate::store::write_record(…)`).
    for m in re.finditer(r"\bcrate::(\w+)", text):
        yield m.group(1), text.count("\n", 0, m.start()) + 1

bad = set()
for dirpath, _, files in os.walk("."):
    for f in files:
        if not f.endswith(".rs"):
            continue
        path = os.path.relpath(os.path.join(dirpath, f), ".")
        src = room(path)
        if src in ROOTS or is_test(path):
            continue
        text = open(path, encoding="utf-8").read()
        # #[cfg(test)] modules at the end of a file are tests too.
        cut = text.find("#[cfg(test)]\nmod tests")
        if cut >= 0:
            text = text[:cut]
        for dst, line in imported(text):
            dst = SAME_ROOM.get(dst, dst)
            if dst == src:
                continue
            if dst == "poller":
                bad.add(f"{path}:{line}: imports the poller (only lib.rs may)")
            elif RANK.get(dst, 0) >= RANK.get(src, 0) and dst in RANK:
                bad.add(f"{path}:{line}: {src} imports {dst}, a room above or beside it")
for b in sorted(bad):
    print(f"check_imports: {b}", file=sys.stderr)
if bad:
    print("check_imports: the documented direction is listener → commands → actor → {supervisor, apache, deployer, store, …} (docs/ARCHITECTURE.md)", file=sys.stderr)
    sys.exit(1)
PY
