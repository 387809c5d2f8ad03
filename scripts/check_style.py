#!/usr/bin/python3
"""The mechanical rules of docs/CODE-STYLE.md, checked on the sources.

Each rule has a name, printed with every violation it finds:

  file-length     no .c/.h file of fs/ or core/ over MAX_FILE_LINES lines;
  function-length no function of fs/, core/ or tools/ over MAX_FUNC_LINES
                  lines unless it is named in scripts/long-functions.txt
                  (one `path function reason` a line), which holds at most
                  MAX_LONG_FUNCS entries, each still long and still there;
  fs-static       no file-level mutable variable in fs/ (state lives in the
                  struct that owns it) unless its declaration line says
                  `fs-static-ok: reason`;
  file-comment    every .c/.h file of core/, fs/ and tools/ opens with a
                  comment paragraph;
  outside-doc     no tracked file names a design note that is not in the
                  repository, and every capitalised markdown file (or
                  docs/name of one) a tracked file cites, with or without a
                  section sign and number, exists in docs/ (or at the path
                  given) and has that section;
  whitespace      C sources of core/, fs/, tools/ and tests/ have no trailing
                  blanks, no tabs and no line over MAX_COLUMNS columns.

Functions are found by a small C scanner: comments, strings and
preprocessor lines are blanked, then a `{` at brace depth 0 opens a function
body when the text before it (since the last `;` or `}` at depth 0) is a
declarator ending in `)`; a `{` after `=` (a static table) or after
struct/union/enum is skipped to its matching `}`.  A function's length runs
from the line of its name to its closing brace, both included.

Usage: check_style.py [ROOT]       exit 0 when clean, 1 with one line per
                                   violation
       check_style.py --self-test  builds a scratch tree with one violation
                                   of each kind and fails unless each is
                                   found, and none is found in a clean one
"""
import os
import re
import subprocess
import sys
import tempfile

MAX_FILE_LINES = 1200
MAX_FUNC_LINES = 80
MAX_LONG_FUNCS = 10
MAX_COLUMNS = 100
ALLOWLIST = 'scripts/long-functions.txt'

# Design notes the code once cited that were never part of the repository.
# The patterns are assembled so that this file does not match them itself.
_MD = r'\.md'
OUTSIDE_DOCS = [
    re.compile(r'(?<![A-Za-z0-9_-])' + p) for p in (
        'algorithms' + _MD, 'formats' + _MD, 'cvat-api' + _MD,
        'cvat-integration' + _MD, 'interop' + _MD, 'style' + _MD,
        'test-data' + _MD, 'fuse' + '-notes', '(?i:fs-' + 'layout)',
        r'image\.h\b', 'shared/' + 'docs')
]
# A cited document: a markdown file named with a folder, or in capitals
# without one, optionally followed by a section sign and number.  The
# extension must end the word (data.mdb is not a citation).
CITE = re.compile(r'(?<![A-Za-z0-9_./-])((?:[A-Za-z0-9_.-]+/)*'
                  r'[A-Za-z0-9_-]+\.md)(?![A-Za-z0-9])'
                  r'(?:\s*§\s*(\d+(?:\.\d+)*))?')
HEADING = re.compile(r'^#+\s*§?\s*(\d+(?:\.\d+)*)[.\s]')

C_KEYWORDS = {'if', 'for', 'while', 'switch', 'return', 'sizeof', 'do',
              'else', 'case', 'goto', '__attribute__', '__typeof__',
              'typeof', '_Alignas', 'alignas', '_Static_assert',
              '__extension__', 'defined', 'int', 'char', 'void', 'long',
              'short', 'unsigned', 'signed', 'double', 'float', 'const',
              'volatile', 'static', 'struct', 'union', 'enum', '_Bool',
              'bool', 'inline', 'extern', 'register', '__thread',
              '_Thread_local', 'restrict', '__restrict'}


class ParseError(Exception):
    pass


# What blank() clears: comments, string and character literals, and
# preprocessor directives with their continuation lines (a directive stops
# before a comment, which the next match then takes).
LEXEMES = re.compile(r'/\*.*?(?:\*/|\Z)|//[^\n]*'
                     r'|"(?:\\.|[^"\\\n])*"?|\'(?:\\.|[^\'\\\n])*\'?'
                     r'|^[ \t]*#(?:[^\n\\/]|\\.|/(?!\*))*', re.S | re.M)


def blank(text):
    """The text with comments, string and character literals and
    preprocessor lines replaced by spaces, newlines kept, so that offsets
    and line numbers still match the source."""
    return LEXEMES.sub(lambda m: re.sub(r'[^\n]', ' ', m.group(0)), text)


class TopLevel:
    """One declaration or definition at file scope."""
    def __init__(self, kind, text, start, end, body=None):
        self.kind = kind      # 'function' or 'declaration'
        self.text = text      # its blanked text at depth 0 (no bodies)
        self.start = start    # offset of its first non-blank character
        self.end = end        # offset just past its `;` or closing `}`
        self.body = body      # (offset of `{`, offset of `}`) of a function


def matching_brace(s, i):
    depth = 0
    for k in range(i, len(s)):
        if s[k] == '{':
            depth += 1
        elif s[k] == '}':
            depth -= 1
            if depth == 0:
                return k
    return -1


def top_level(text, s=None):
    """The file-scope declarations and function definitions of C source
    (s: its blanked text, when already made)."""
    s = blank(text) if s is None else s
    items = []
    buf = []          # depth-0 text of the current item
    start = None
    paren = 0
    i, n = 0, len(s)
    while i < n:
        c = s[i]
        if start is None and not c.isspace() and c not in ';}':
            start = i
        if c == '(':
            paren += 1
        elif c == ')':
            paren -= 1
        if c == '{' and paren == 0:
            head = ''.join(buf)
            close = matching_brace(s, i)
            if close < 0:
                raise ParseError(f'line {line_of(text, i)}: unbalanced {{')
            if is_function_head(head):
                items.append(TopLevel('function', head, start, close + 1,
                                      (i, close)))
                buf, start = [], None
            else:
                buf.append(' { } ')      # a table or a type body
            i = close + 1
            continue
        if c == '}':
            raise ParseError(f'line {line_of(text, i)}: unbalanced }}')
        if c == ';' and paren == 0:
            if start is not None:
                items.append(TopLevel('declaration', ''.join(buf), start,
                                      i + 1))
            buf, start = [], None
        else:
            buf.append(c)
        i += 1
    if paren != 0:
        raise ParseError('unbalanced parentheses')
    return items


def is_function_head(head):
    h = strip_attributes(head).strip()
    if not h.endswith(')') or top_level_equals(h):
        return False
    return function_name(h) is not None


def strip_attributes(h):
    """`__attribute__((...))` removed (it may stand after the
    declarator)."""
    while True:
        m = re.search(r'\b__attribute__\s*\(', h)
        if not m:
            return h
        depth, k = 0, m.end() - 1
        while k < len(h):
            depth += {'(': 1, ')': -1}.get(h[k], 0)
            if depth == 0:
                break
            k += 1
        h = h[:m.start()] + ' ' + h[k + 1:]


def top_level_equals(h):
    depth = 0
    for c in h:
        if c in '([':
            depth += 1
        elif c in ')]':
            depth -= 1
        elif c == '=' and depth == 0:
            return True
    return False


def function_name(h):
    """The name a function head declares: the first identifier directly
    followed by `(` that is not a keyword (so `int (*f(void))(int)` gives
    f)."""
    for m in re.finditer(r'\b([A-Za-z_]\w*)\s*\(', strip_attributes(h)):
        if m.group(1) not in C_KEYWORDS:
            return m.group(1)
    return None


def line_of(text, offset):
    return text.count('\n', 0, offset) + 1


def functions(text):
    """(name, first line, last line) of every function defined in text."""
    out = []
    s = blank(text)
    for it in top_level(text, s):
        if it.kind != 'function':
            continue
        name = function_name(it.text)
        # the line of the name: its first `name (` before the `{`
        blanked = s[it.start:it.body[0]]
        m = re.search(r'\b' + re.escape(name) + r'\s*\(', blanked)
        first = line_of(text, it.start + (m.start() if m else 0))
        last = line_of(text, it.body[1])
        out.append((name, first, last))
    return out


def mutable_statics(text):
    """(line, names) of each file-scope variable that can be written:
    static or not, unless every declarator is const (for a pointer: const
    after its last `*`), leaving out prototypes, typedefs, extern
    declarations and type declarations."""
    out = []
    for it in top_level(text):
        if it.kind != 'declaration':
            continue
        t = strip_attributes(it.text).strip()
        words = re.findall(r'[A-Za-z_]\w*', t.split('=')[0])
        if not words or words[0] in ('typedef', 'extern') or \
                'typedef' in words or '_Static_assert' in words:
            continue
        if re.fullmatch(r'(struct|union|enum)\s+\w*\s*(\{ \})?\s*', t) or \
                re.fullmatch(r'(struct|union|enum)\s*\{ \}\s*', t):
            continue
        if is_prototype(t):
            continue
        decls = split_declarators(t)
        if not decls:
            continue
        if all(is_const(s, d) for s, d in decls):
            continue
        names = [declarator_name(d) for _, d in decls]
        out.append((line_of(text, it.start), [x for x in names if x]))
    return out


def split_declarators(t):
    """[(specifiers, declarator)] of a declaration: the specifiers are the
    words before the first declarator, shared by all."""
    t = re.sub(r'\{ \}', ' ', t)
    parts, depth, cur = [], 0, ''
    for c in t:
        if c in '([{':
            depth += 1
        elif c in ')]}':
            depth -= 1
        if c == ',' and depth == 0:
            parts.append(cur)
            cur = ''
        else:
            cur += c
    parts.append(cur)
    parts = [p.split('=')[0] if top_level_equals(p) else p for p in parts]
    parts = [re.sub(r'\[[^\]]*\]', '[]', p) for p in parts]
    first = parts[0]
    # the specifiers end before the declarator: at the first `*` or `(`,
    # or else before the last identifier
    m = re.search(r'[*(]', first)
    if m:
        spec, d0 = first[:m.start()], first[m.start():]
    else:
        ids = list(re.finditer(r'[A-Za-z_]\w*', first))
        if len(ids) < 2:
            return []
        spec, d0 = first[:ids[-1].start()], first[ids[-1].start():]
    return [(spec, d0)] + [(spec, p) for p in parts[1:]]


def is_prototype(t):
    """A declaration of a function, not of a pointer to one: its first `(`
    follows the name (not a keyword) and does not open `(*`."""
    m = re.search(r'([A-Za-z_]\w*)?\s*\(\s*(\S)', t)
    return m is not None and m.group(1) is not None and \
        m.group(1) not in C_KEYWORDS and m.group(2) not in '*^'


def is_const(spec, d):
    if '*' in d:
        return re.search(r'\bconst\b', d[d.rindex('*'):]) is not None
    return re.search(r'\bconst\b', spec + ' ' + d) is not None


def declarator_name(d):
    m = re.search(r'[A-Za-z_]\w*', re.sub(r'\bconst\b|\bvolatile\b', ' ', d))
    return m.group(0) if m else None


def opens_with_comment(text):
    """True when the file starts with a comment of at least a few words."""
    t = text.lstrip()
    if t.startswith('/*'):
        end = t.find('*/')
        body = t[2:end if end >= 0 else len(t)]
    elif t.startswith('//'):
        lines = []
        for line in t.splitlines():
            if not line.startswith('//'):
                break
            lines.append(line[2:])
        body = ' '.join(lines)
    else:
        return False
    return len(re.findall(r'[A-Za-z]{2,}', body)) >= 6


def tracked(root):
    """The files of the work tree that git does not ignore (tracked or
    not yet added), or every file outside build*/ and hidden folders when
    root is not a git work tree (a tarball, the self-test's scratch
    tree); the demo's folder is left out there too."""
    try:
        r = subprocess.run(['git', '-C', root, 'ls-files', '-z', '--cached',
                            '--others', '--exclude-standard'],
                           capture_output=True, text=True, check=True)
        files = sorted({f for f in r.stdout.split('\0') if f})
        files = [f for f in files
                 if not f.split('/')[0].startswith(('build', '.'))
                 and os.path.isfile(os.path.join(root, f))]
        if files:
            return files
    except (OSError, subprocess.CalledProcessError):
        pass
    out = []
    for d, subdirs, names in os.walk(root):
        subdirs[:] = [s for s in subdirs
                      if not s.startswith(('.', 'build', 'demo'))]
        for name in names:
            out.append(os.path.relpath(os.path.join(d, name), root))
    return sorted(out)


def read(root, rel):
    with open(os.path.join(root, rel), encoding='utf-8',
              errors='replace') as f:
        return f.read()


def sections(path):
    """Section numbers of a markdown file's headings (outside code
    fences)."""
    out, fence = set(), False
    with open(path, encoding='utf-8', errors='replace') as f:
        for line in f:
            if line.startswith('```'):
                fence = not fence
                continue
            m = None if fence else HEADING.match(line)
            if m:
                out.add(m.group(1))
    return out


def load_allowlist(root, problems):
    allow = {}
    path = os.path.join(root, ALLOWLIST)
    if not os.path.exists(path):
        problems.append(f'{ALLOWLIST}: function-length: allowlist missing')
        return allow
    with open(path, encoding='utf-8') as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith('#'):
                continue
            parts = line.split(None, 2)
            if len(parts) < 3:
                problems.append(f'{ALLOWLIST}:{lineno}: function-length: '
                                'want `path function reason`')
                continue
            allow[(parts[0], parts[1])] = lineno
    if len(allow) > MAX_LONG_FUNCS:
        problems.append(f'{ALLOWLIST}: function-length: {len(allow)} '
                        f'entries, at most {MAX_LONG_FUNCS}')
    return allow


def check(root):
    problems = []
    files = tracked(root)
    csrc = [f for f in files if f.endswith(('.c', '.h'))]
    area = [f for f in csrc if f.split('/')[0] in ('core', 'fs', 'tools')]
    allow = load_allowlist(root, problems)
    seen_long = set()
    for rel in area:
        text = read(root, rel)
        top = rel.split('/')[0]
        nlines = text.count('\n') + (0 if text.endswith('\n') or not text
                                     else 1)
        if top in ('core', 'fs') and nlines > MAX_FILE_LINES:
            problems.append(f'{rel}: file-length: {nlines} lines, at most '
                            f'{MAX_FILE_LINES}')
        if not opens_with_comment(text):
            problems.append(f'{rel}:1: file-comment: the file does not open '
                            'with a comment paragraph saying what it is')
        try:
            funcs = functions(text)
            statics = mutable_statics(text) if top == 'fs' else []
        except ParseError as e:
            problems.append(f'{rel}: function-length: cannot parse: {e}')
            continue
        for name, first, last in funcs:
            n = last - first + 1
            if n <= MAX_FUNC_LINES:
                continue
            if (rel, name) in allow:
                seen_long.add((rel, name))
                continue
            problems.append(f'{rel}:{first}: function-length: {name} is {n} '
                            f'lines, at most {MAX_FUNC_LINES} (or a reason '
                            f'in {ALLOWLIST})')
        lines = text.split('\n')
        for lineno, names in statics:
            if re.search(r'fs-static-ok:\s*\S', lines[lineno - 1]):
                continue
            problems.append(f'{rel}:{lineno}: fs-static: file-level mutable '
                            f'{", ".join(names)}: keep state in its owner '
                            'struct, or say `fs-static-ok: reason` on the '
                            'line')
    for key, lineno in sorted(allow.items(), key=lambda kv: kv[1]):
        if key not in seen_long:
            problems.append(f'{ALLOWLIST}:{lineno}: function-length: '
                            f'{key[0]} {key[1]} is not a function over '
                            f'{MAX_FUNC_LINES} lines: drop the entry')
    problems += check_docs(root, files)
    for rel in csrc:
        if rel.split('/')[0] not in ('core', 'fs', 'tools', 'tests'):
            continue
        for lineno, line in enumerate(read(root, rel).split('\n'), 1):
            if line != line.rstrip():
                problems.append(f'{rel}:{lineno}: whitespace: trailing '
                                'blanks')
            if '\t' in line:
                problems.append(f'{rel}:{lineno}: whitespace: tab '
                                '(indent with spaces)')
            if len(line) > MAX_COLUMNS:
                problems.append(f'{rel}:{lineno}: whitespace: {len(line)} '
                                f'columns, at most {MAX_COLUMNS}')
    return problems


def check_docs(root, files):
    problems = []
    docs = os.path.join(root, 'docs')
    cache = {}
    # a name the repository does hold is no outside document
    ours = {os.path.basename(f) for f in files}
    for rel in files:
        if rel.endswith(('.jpg', '.png', '.gz', '.zip', '.mdb', '.bin')):
            continue
        try:
            text = read(root, rel)
        except OSError:
            continue
        if '\0' in text:
            continue
        for lineno, line in enumerate(text.split('\n'), 1):
            for pat in OUTSIDE_DOCS:
                m = pat.search(line)
                if m and m.group(0) not in ours:
                    problems.append(f'{rel}:{lineno}: outside-doc: '
                                    f'"{m.group(0)}" is not a document of '
                                    'this repository (say it in docs/)')
            for m in CITE.finditer(line):
                name, sec = m.group(1), m.group(2)
                base = os.path.basename(name)
                if '/' not in name and not base[:-3].isupper() and \
                        base != 'README.md':
                    continue          # a lowercase word that is no citation
                cands = [os.path.join(root, name),
                         os.path.join(docs, base),
                         os.path.join(root, os.path.dirname(rel), name)]
                path = next((c for c in cands if os.path.isfile(c)), None)
                if path is None:
                    if any(p.search(name) for p in OUTSIDE_DOCS):
                        continue      # already reported
                    problems.append(f'{rel}:{lineno}: outside-doc: cites '
                                    f'{name}, which is not in docs/')
                    continue
                if sec:
                    if path not in cache:
                        cache[path] = sections(path)
                    if sec not in cache[path]:
                        problems.append(f'{rel}:{lineno}: outside-doc: '
                                        f'{name} has no section §{sec}')
    return problems


def self_test():
    """One violation of each kind in a scratch tree; each must be found,
    and the same tree with them removed must be clean."""
    para = ('/* {name} - a scratch file of the style self-test, with a '
            'paragraph\n * that says what it holds. */\n')
    long_body = ''.join(f'  x += {i};\n' for i in range(MAX_FUNC_LINES))
    clean = {
        'docs/ALGORITHMS.md': '# Algorithms\n\n## §1 Distances\n\n'
                              '```\n# 9. not a heading\n```\n',
        'core/base/a.c': para.format(name='a.c') +
            '#include "a.h"\n\n'
            'static const int table[] = {\n  1,\n  2,\n};\n\n'
            'struct pair { int a, b; };\n\n'
            'int a_short(int x)\n{\n  if (x) {\n    x++;\n  }\n'
            '  return x + table[0]; /* see docs/ALGORITHMS' + '.md §1 */\n'
            '}\n',
        'core/base/a.h': para.format(name='a.h') +
            '#define A_MACRO(x) { (x) }\nint a_short(int x);\n',
        'fs/ok.c': para.format(name='ok.c') +
            'static const char *const names[] = { "a", "}" };\n'
            'static const struct { int a; } t = { 1 };\n'
            'static int helper(int x);\n'
            'static int (*const hook)(int) = helper;\n'
            'static int counter;  /* fs-static-ok: counted by a signal '
            'handler */\n'
            'extern int elsewhere;\n'
            'typedef int (*fn_t)(int);\n'
            'struct s { int a; };\n'
            'static int helper(int x)\n{\n  static const char *s = "{";\n'
            '  return x + (s[0] == \'{\') + counter;\n}\n',
        # a header the repository holds is no outside document
        'core/base/' + 'image' + '.h': para.format(name='image' + '.h') +
            '/* see ' + 'image' + '.h */\n',
        'tools/t.c': '// t.c - a scratch tool of the style self-test, in '
                     'line\n// comments that say what it holds.\n'
                     'int main(void)\n{\n  return 0;\n}\n',
        'tests/unit/u.c': 'int u(void) { return 0; }\n',
        ALLOWLIST: '# path function reason\n'
                   'core/base/allowed.c allowed the reason it is long\n',
        'core/base/allowed.c': para.format(name='allowed.c') +
            'int allowed(int x)\n{\n' + long_body + '  return x;\n}\n',
    }
    bad = {
        'core/base/big.c': para.format(name='big.c') +
            '/* filler */\n' * MAX_FILE_LINES,
        'tools/long.c': para.format(name='long.c') +
            'static int\nlong_one(int x,\n         int y)\n{\n' + long_body +
            '  return x + y;\n}\n',
        'fs/state.c': para.format(name='state.c') +
            'static int (*hook)(int);\n'
            'static const char *mutable_ptr = "x";\n'
            'static struct { int a; } st = { 1 }, *stp;\n'
            'int global_state = 0;\n'
            'static const char *const fixed = "x", *loose = "y";\n',
        'fs/bare.c': 'int bare(void);\n',
        'fs/thin.c': '/* thin.c */\nint thin(void);\n',
        'core/base/cite.c': para.format(name='cite.c') +
            '/* see ' + 'algorithms' + '.md §2 and FS-' + 'LAYOUT, '
            'docs/NOPE' + '.md, ALGORITHMS' + '.md §9 */\n',
        'fs/ws.c': para.format(name='ws.c') +
            'int ws(void);  \n\tint tab(void);\n' + '/*' + 'x' * 120 +
            '*/\n',
    }
    want = [
        ('core/base/big.c: file-length', 1),
        ('tools/long.c:4: function-length: long_one is 85 lines', 1),
        ('fs/state.c:3: fs-static: file-level mutable hook', 1),
        ('fs/state.c:4: fs-static: file-level mutable mutable_ptr', 1),
        ('fs/state.c:5: fs-static: file-level mutable st, stp', 1),
        ('fs/state.c:6: fs-static: file-level mutable global_state', 1),
        ('fs/state.c:7: fs-static: file-level mutable fixed, loose', 1),
        ('fs/bare.c:1: file-comment', 1),
        ('fs/thin.c:1: file-comment', 1),
        ('outside-doc: "' + 'algorithms' + '.md" is not', 1),
        ('outside-doc: "FS-' + 'LAYOUT" is not', 1),
        ('cite.c:3: outside-doc: cites docs/NOPE' + '.md', 1),
        ('cite.c:3: outside-doc: ALGORITHMS' + '.md has no section §9', 1),
        ('fs/ws.c:3: whitespace: trailing', 1),
        ('fs/ws.c:4: whitespace: tab', 1),
        ('fs/ws.c:5: whitespace: 124 columns', 1),
    ]
    with tempfile.TemporaryDirectory() as root:
        def put(files):
            for rel, text in files.items():
                p = os.path.join(root, rel)
                os.makedirs(os.path.dirname(p), exist_ok=True)
                with open(p, 'w', encoding='utf-8') as f:
                    f.write(text)
        put(clean)
        got = check(root)
        if got:
            raise SystemExit('check-style self-test: a clean tree was '
                             'reported:\n' + '\n'.join(got))
        fns = functions(clean['fs/ok.c'])
        if [f[0] for f in fns] != ['helper']:
            raise SystemExit(f'check-style self-test: functions of fs/ok.c '
                             f'read as {fns}')
        put(bad)
        got = check(root)
        for w, count in want:
            hits = [p for p in got if w in p]
            if len(hits) != count:
                raise SystemExit(f'check-style self-test: wanted {count} '
                                 f'report(s) of "{w}", got:\n'
                                 + '\n'.join(got))
        if len(got) != sum(c for _, c in want):
            raise SystemExit('check-style self-test: unexpected reports:\n'
                             + '\n'.join(got))
        # the allowlist: an entry that is no longer long, and too many
        with open(os.path.join(root, ALLOWLIST), 'a', encoding='utf-8') as f:
            f.write('core/base/a.c a_short short now\n')
            for i in range(MAX_FUNC_LINES):
                f.write(f'x{i}.c f{i} filler\n')
        got = check(root)
        for w in ('a_short is not a function over', 'entries, at most'):
            if not any(w in p for p in got):
                raise SystemExit(f'check-style self-test: not found: {w}\n'
                                 + '\n'.join(got))
        # a function whose braces do not balance is reported, not skipped
        put({'core/base/broken.c': para.format(name='broken.c') +
             'int broken(void)\n{\n  if (1) {\n  return 0;\n}\n'})
        got = check(root)
        if not any('broken.c: function-length: cannot parse' in p
                   for p in got):
            raise SystemExit('check-style self-test: unbalanced braces not '
                             'reported\n' + '\n'.join(got))
    print('check-style self-test: ok')


def main():
    if sys.argv[1:] == ['--self-test']:
        self_test()
        return 0
    root = sys.argv[1] if len(sys.argv) > 1 else \
        os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
    problems = check(root)
    for p in problems:
        print(p)
    if problems:
        print(f'check-style: {len(problems)} violation(s)')
        return 1
    print('check-style: clean')
    return 0


if __name__ == '__main__':
    sys.exit(main())
