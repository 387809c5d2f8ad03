#!/usr/bin/python3
"""Every file, function and test the docs name exists.

Reads README.md and docs/*.md and reports four kinds of stale reference:

  path      a repository path in backticks or a link target that names
            nothing in the tree: a word starting with a top-level entry
            (`core/...`, `tests/fs/test_basic.py`, `scripts/bench.sh`), a
            source file under a folder of core/ (`views/viewcompute.c`), a
            bare source file name (`ops.c`, `fslib.py`) that no file of the
            tree has, or a relative link.  `x.[ch]` wants both files; `*`,
            `<...>` and NAME stand for any part of a name; a header the
            sources include as <name.h> is an outside one;
  function  a `name()` in backticks that no .c, .h or .py file of the tree
            defines, calls or otherwise names in its code (comments and
            strings left out): a function of the project that is gone.
            One of an outside library that the code uses is named by the
            code; `x.name()` and `p->name()` are left alone;
  name      a word in backticks written like a C name with an underscore
            (`imp_cancel`, `store_nosync`) that no source, script, build
            file or man page of the tree contains at all;
  test      a meson test a doc tells to run that is not declared: the
            names after `meson test` (in backticks or a code block), a name
            in backticks right after "test"/"tests" or right before "test",
            and the first column of a table whose heading is "Test".

Test names are those of the configured build (meson-info/intro-tests.json
in BUILD_DIR) plus the fuzz-replay-* tests a -Dfuzz=true build leaves out.

Usage: check_doc_refs.py [BUILD_DIR]  exit 0 when clean, 1 with one line
                                      per stale reference
       check_doc_refs.py --self-test [BUILD_DIR]  plants stale references
                                      of each kind in README.md's text and
                                      fails unless each is found and no
                                      right reference is
Run by meson as the tests doc-refs and doc-refs-self-test.
"""
import fnmatch
import glob
import json
import os
import re
import sys

from check_style import tracked  # the same file list as the style check

ROOT = os.path.normpath(os.path.join(os.path.dirname(
    os.path.abspath(__file__)), ".."))

# Words the rules would take for stale references but are not, each with
# the reason.  Keep it short: a real stale reference is fixed in the doc.
IGNORE = {
    # Files, functions, fields and a system call of the Linux kernel, and a
    # libfuse call the daemon does not make, which docs/ARCHITECTURE.md
    # cites for how the kernel's FUSE client behaves.
    "fs/fuse/ioctl.c": "path",
    "do_filp_open()": "function",
    "fuse_dentry_revalidate()": "function",
    "fuse_do_ioctl()": "function",
    "fuse_file_ioctl()": "function",
    "fuse_invalidate_atime()": "function",
    "fuse_send_ioctl()": "function",
    "atomic_inc": "name",
    "fuse_dev_do_read": "name",
    "fuse_request_end": "name",
    "fuse_request_send": "name",
    "no_flush": "name",
    "sched_setattr": "name",
    "fuse_lowlevel_notify_inval_entry": "name",
}

SRC_EXT = (".c", ".h", ".py", ".sh")
SELF = "scripts/check_doc_refs.py"   # its plants name nothing
# Files whose words count for the name rule (the docs themselves do not).
TEXT_EXT = SRC_EXT + (".build", ".txt", ".bash", ".1")
SNAKE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)+$")
PLACEHOLDER = re.compile(r"<[^<>/]*>|(?<![A-Za-z])NAME(?![A-Za-z])|…|\.\.\.")
FUNC = re.compile(r"(?<![\w.>:$])([A-Za-z_]\w*)\(\)")
TEST_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")
# Options of `meson test` followed by a value when written without `=`.
MESON_TEST_VALUE_OPTS = {"-C", "--suite", "--no-suite", "--setup", "--wrap",
                         "--wrapper", "--num-processes", "-t",
                         "--timeout-multiplier", "--repeat", "--maxfail",
                         "--test-args", "--logbase", "--gdb-path",
                         "--max-lines"}


class Tree:
    """What exists: files, folders, identifiers named in code, outside
    headers, declared tests."""

    def __init__(self, root, build):
        self.root = root
        self.files = tracked(root)
        self.fileset = set(self.files)
        self.dirs = set()
        for f in self.files:
            parts = f.split("/")
            for i in range(1, len(parts)):
                self.dirs.add("/".join(parts[:i]))
        self.top = {f.split("/")[0] for f in self.files}
        self.basenames = {os.path.basename(f) for f in self.files}
        self.core_dirs = {d.split("/")[1] for d in self.dirs
                          if d.startswith("core/") and d.count("/") == 1}
        self.idents = set()
        self.words = set()
        self.sys_headers = set()
        for f in self.files:
            if not f.endswith(TEXT_EXT) or f.startswith("tests/fuzz/corpus/") \
                    or f == SELF:
                continue
            text = open(os.path.join(root, f), encoding="utf-8",
                        errors="replace").read()
            self.words.update(re.findall(r"[A-Za-z_]\w*", text))
            if f.endswith((".c", ".h", ".py")):
                self.sys_headers.update(
                    re.findall(r"#\s*include\s*<([^>]+)>", text))
                self.idents.update(re.findall(r"[A-Za-z_]\w*",
                                              strip_code(text, f)))
        self.tests = declared_tests(root, build)

    def exists(self, path):
        """path (no leading ./) names a file or folder; brackets [ch]
        want each letter's file, placeholders match any part."""
        path = path.rstrip("/")
        m = re.search(r"\[(\w+)\]", path)
        if m:
            return all(self.exists(path[:m.start()] + ch + path[m.end():])
                       for ch in m.group(1))
        if path in self.fileset or path in self.dirs:
            return True
        pat = PLACEHOLDER.sub("*", path)
        if "*" in pat or "?" in pat:
            return any(fnmatch.fnmatchcase(p, pat)
                       for p in self.files + sorted(self.dirs))
        return False

    def basename_exists(self, name):
        m = re.search(r"\[(\w+)\]", name)
        if m:
            return all(self.basename_exists(name[:m.start()] + ch +
                                            name[m.end():])
                       for ch in m.group(1))
        pat = PLACEHOLDER.sub("*", name)
        return any(fnmatch.fnmatchcase(b, pat) for b in self.basenames)


def strip_code(text, path):
    """text with comments and string literals blanked, so that a name
    counts only where code uses it."""
    if path.endswith(".py"):
        text = re.sub(r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'', " ", text)
        text = re.sub(r"#[^\n]*", " ", text)
        return re.sub(r'"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'', " ",
                      text)
    text = re.sub(r"/\*[\s\S]*?\*/", " ", text)
    text = re.sub(r'"(?:\\.|[^"\\\n])*"', " ", text)
    text = re.sub(r"'(?:\\.|[^'\\\n])*'", " ", text)
    return re.sub(r"//[^\n]*", " ", text)


def declared_tests(root, build):
    names = set()
    info = os.path.join(build, "meson-info", "intro-tests.json")
    with open(info, encoding="utf-8") as f:
        names.update(t["name"] for t in json.load(f))
    src = open(os.path.join(root, "tests", "meson.build"),
               encoding="utf-8").read()
    m = re.search(r"fuzz_harnesses\s*=\s*\[([^\]]*)\]", src)
    if m:
        names.update("fuzz-replay-" + n
                     for n in re.findall(r"'([^']+)'", m.group(1)))
    return names


def split_doc(text):
    """(prose, code): prose with fenced blocks blanked (lines kept), and
    the lines of fenced and indented code blocks with their numbers."""
    prose, code = [], []
    fenced = False
    prev_blank = True
    in_indented = False
    for n, line in enumerate(text.split("\n"), 1):
        if line.startswith("```"):
            fenced = not fenced
            prose.append("")
            continue
        if fenced:
            code.append((n, line))
            prose.append("")
            continue
        if line.startswith("    ") and (prev_blank or in_indented) \
                and not re.match(r"\s*([-*+]|\d+\.)\s", line):
            in_indented = True
            code.append((n, line))
        elif line.strip():
            in_indented = False
        prose.append(line)
        prev_blank = not line.strip()
    return "\n".join(prose), code


def spans(prose):
    """(line, content, start, end) of each backtick span; a span may wrap
    onto the next line."""
    for m in re.finditer(r"(?<!`)(`+)(?!`)(.+?)(?<!`)\1(?!`)", prose,
                         re.S):
        yield (prose.count("\n", 0, m.start()) + 1,
               " ".join(m.group(2).split()), m.start(), m.end())


def path_problem(tree, word, doc_dir):
    """Why word, a word of a backtick span, is a stale repository path,
    or None."""
    w = word.strip(".,;:()'\"")
    w = re.sub(r":\d+(-\d+)?$", "", w)          # file.c:123
    if w.startswith("./"):
        w = w[2:]
    if not w or "://" in w or w.startswith(("/", "~", "$")):
        return None
    first = w.split("/")[0]
    if "/" in w and first in tree.top:
        return None if tree.exists(w) else "no such file or folder"
    if not w.endswith(SRC_EXT + (".[ch]",)):
        return None
    if "/" in w:
        if first not in tree.core_dirs:
            return None
        cands = ["core/" + w, os.path.join(doc_dir, w)]
        return None if any(tree.exists(c) for c in cands) \
            else "no such file under core/"
    stem = re.sub(r"\.(\[ch\]|\w+)$", "", w)
    if len(re.sub(r"\W", "", stem)) < 2 or w in tree.sys_headers:
        return None
    return None if tree.basename_exists(w) else "no file of that name"


def meson_test_names(cmd):
    """Test names in a `meson test ...` command line."""
    out = []
    m = re.search(r"\bmeson test\b(.*)", cmd)
    if not m:
        return out
    words = re.split(r"\s+", re.split(r"#|&&|\|\||;|\|", m.group(1))[0])
    skip = False
    for w in words:
        if skip:
            skip = False
            continue
        if not w:
            continue
        if w.startswith("-"):
            skip = w in MESON_TEST_VALUE_OPTS
            continue
        if w.startswith("'") or "=" in w:
            continue
        out.append(w)
    return out


def test_refs(prose, code):
    """(line, name) of each test a doc tells to run."""
    out = []
    for line, s, a, b in spans(prose):
        for name in meson_test_names(s):
            out.append((line, name))
        if not TEST_NAME.match(s):
            continue
        before = " ".join(prose[max(0, a - 60):a].split()) + " "
        after = " ".join(prose[b:b + 20].split())
        # "test `x`", "tests `x`, `y` and `z`", "`x` test", "`x` tests"
        if re.search(r"\btests? (`[^`]+`(, | and | or ))*$", before) \
                or re.match(r"(\)? )?tests?\b(?! suite)", after):
            out.append((line, s))
    for n, text in code:
        out.extend((n, name) for name in meson_test_names(text))
    # tables whose heading's first cell is "Test"
    in_table = False
    for n, text in enumerate(prose.split("\n"), 1):
        if re.match(r"\|\s*Tests?\s*\|", text):
            in_table = True
            continue
        if in_table and text.startswith("|"):
            m = re.match(r"\|\s*`([^`]+)`\s*\|", text)
            if m:
                out.append((n, m.group(1)))
            continue
        in_table = False
    return [(n, name) for n, name in out
            if TEST_NAME.match(name) and name != "NAME"]


def check_doc(tree, rel, text=None):
    if text is None:
        text = open(os.path.join(tree.root, rel), encoding="utf-8").read()
    prose, code = split_doc(text)
    doc_dir = os.path.dirname(rel)
    bad = []

    def report(line, kind, what, why):
        if IGNORE.get(what) != kind:
            bad.append("%s:%d: %s: `%s`: %s" % (rel, line, kind, what, why))

    for line, s, _, _ in spans(prose):
        for word in s.split():
            why = path_problem(tree, word, doc_dir)
            if why:
                report(line, "path", word, why)
        for fn in FUNC.findall(s):
            if fn not in tree.idents:
                report(line, "function", fn + "()",
                       "named in no .c/.h/.py code of the tree")
        if SNAKE.match(s) and s not in tree.words:
            report(line, "name", s, "in no source, script or man page")
    for n, text in code:
        for word in text.split():
            if "/" in word and word.split("/")[0].strip("./") in tree.top \
                    and "." in word.rstrip(".").split("/")[-1]:
                why = path_problem(tree, word, doc_dir)
                if why:
                    report(n, "path", word, why)
    for m in re.finditer(r"\]\(([^()\s]+)\)", prose):
        target = m.group(1).split("#")[0]
        if not target or re.match(r"[a-z]+:", target):
            continue
        p = os.path.normpath(os.path.join(doc_dir, target))
        if not tree.exists(p):
            report(prose.count("\n", 0, m.start()) + 1, "path", target,
                   "link to no file or folder")
    for line, name in test_refs(prose, code):
        if name not in tree.tests:
            report(line, "test", name, "no meson test of that name")
    return bad


def docs(root):
    return ["README.md"] + sorted(
        os.path.relpath(p, root)
        for p in glob.glob(os.path.join(root, "docs", "*.md")))


def run(root, build):
    tree = Tree(root, build)
    bad = []
    for rel in docs(root):
        bad.extend(check_doc(tree, rel))
    return bad


# One stale reference of each kind, each to be found ...  (The missing
# document's name is assembled so that check_style.py's outside-doc rule
# does not take this file for a citer of it.)
_NOTES = "docs/NO-SUCH-NOTES" + ".md"
PLANTS = [
    ("path", "core/net/objcache_old.c",
     "The cache lives in `core/net/objcache_old.c`."),
    ("path", "views/viewcompute_old.c",
     "Views are computed in `views/viewcompute_old.c`."),
    ("path", _NOTES, "See [the notes](%s)." % _NOTES),
    ("path", "nosuchhelper.py", "Its helpers are in `nosuchhelper.py`."),
    ("function", "no_such_function_anywhere()",
     "It calls `no_such_function_anywhere()` first."),
    ("name", "no_such_flag_anywhere", "It stops on `no_such_flag_anywhere`."),
    ("test", "no-such-test", "Run `meson test -C build no-such-test`."),
    ("test", "no-such-test-2", "The test `no-such-test-2` covers it."),
    ("test", "no-such-test-3", "(the `no-such-test-3` test)"),
]
# ... and references that are right, none to be reported.
CLEAN = [
    "`core/base/dynlib.[ch]`, `fs/prov_*.c`, `fs/prov_<name>.c`,",
    "`tests/fuzz/fuzz_NAME.c`, `views/viewcompute.c`, `ops.c`, `lmdb.h`,",
    "[the guide](docs/USER-GUIDE.md#2-mounting), `samples/x.jpg`,",
    "`store_txn_commit()` calls `mdb_txn_commit()`; `x.close()`,",
    "`imp_cancel`, `store_nosync`, `user_allow_other`, `neardup_group`,",
    "`meson test -C build --suite unit -v knn hnsw`, the `fs-basic` test,",
    "tests `iou`, `knn` and `hnsw`, test `fs-views`, `a.c` uses `b.c`.",
    "",
    "    meson test -C build --num-processes 2 store",
]


def self_test(build):
    """Plants each stale reference of PLANTS in README.md's text and wants
    exactly those reported beyond what the real text gives, and nothing
    for the right references of CLEAN."""
    tree = Tree(ROOT, build)
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    base = check_doc(tree, "README.md", text)
    fails = 0
    clean = check_doc(tree, "README.md",
                      text + "\n\n" + "\n".join(CLEAN) + "\n")
    for b in clean[len(base):]:
        print("not ok - a right reference reported: " + b)
        fails += 1
    for kind, what, plant in PLANTS:
        bad = check_doc(tree, "README.md", text + "\n\n" + plant + "\n")
        new = bad[len(base):]
        if len(new) != 1 or ("%s: `%s`" % (kind, what)) not in new[0]:
            print("not ok - planted %s %s: got %r" % (kind, what, new))
            fails += 1
    if fails:
        return 1
    print("ok - each of the %d planted stale references is found, none of "
          "the %d right ones" % (len(PLANTS), len(CLEAN)))
    return 0


def main(argv):
    self = "--self-test" in argv
    args = [a for a in argv if a != "--self-test"]
    build = args[0] if args else os.path.join(ROOT, "build")
    if not os.path.isfile(os.path.join(build, "meson-info",
                                       "intro-tests.json")):
        print("check_doc_refs: %s is not a configured build (the declared "
              "tests are read from its meson-info/)" % build)
        return 2
    if self:
        return self_test(build)
    bad = run(ROOT, build)
    for b in bad:
        print(b)
    if bad:
        print("not ok - %d stale references in the docs" % len(bad))
        return 1
    print("ok - the files, functions and tests the docs name exist")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
