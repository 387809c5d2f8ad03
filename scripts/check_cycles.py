#!/usr/bin/python3
"""No dependency cycle between the source files of core/, fs/ and tools/.

A source file depends on another when its object file uses (nm: U) a
global symbol the other's object file defines (T, D, B, R, C, V, W, ...).
The objects and the source each was compiled from are read from the build
directory's compile_commands.json, which meson writes; a source compiled
into several targets counts once.  A use in fs/ or tools/ resolves to a
definition in the same top folder first, then in core/ (each executable
links its own folder's objects and core/'s libraries); a use in core/
resolves within core/.  A symbol defined by two files of one folder is an
error of its own, since the graph would be a guess.

Every strongly connected component of more than one file (Tarjan) is a
cycle; each is printed with one symbol per edge that makes it.

Usage: check_cycles.py BUILDDIR        exit 0 when there is no cycle, 1 with
                                       the cycles, 2 when the build cannot
                                       be read (missing objects, no symbols)
       check_cycles.py --self-test [CC ARGS...]
                                       compiles tiny files in a scratch tree
                                       (two that call each other, one that
                                       only calls them, a pair in fs/ tied
                                       by a variable tools/ also defines)
                                       and fails unless exactly those
                                       cycles are found, and none once the
                                       calls back are gone
"""
import collections
import json
import os
import subprocess
import sys
import tempfile

TOPS = ('core', 'fs', 'tools')
# nm -P types of a defined global symbol (upper case = global).
DEFINED = set('ABCDGRSTVWiu')


class BuildError(Exception):
    pass


def objects(build, root):
    """{source relative to root: [object paths]} for the C sources of
    TOPS, from compile_commands.json."""
    path = os.path.join(build, 'compile_commands.json')
    try:
        with open(path, encoding='utf-8') as f:
            entries = json.load(f)
    except (OSError, ValueError) as e:
        raise BuildError(f'{path}: {e}') from e
    out = collections.defaultdict(list)
    root = os.path.realpath(root)
    for e in entries:
        d = e.get('directory', build)
        src = os.path.realpath(os.path.join(d, e['file']))
        rel = os.path.relpath(src, root)
        if rel.startswith('..') or rel.split(os.sep)[0] not in TOPS or \
                not rel.endswith('.c'):
            continue
        obj = e.get('output')
        if obj is None:
            raise BuildError(f'{path}: no output recorded for {rel}')
        out[rel.replace(os.sep, '/')].append(os.path.join(d, obj))
    if not out:
        raise BuildError(f'{path}: no source of {", ".join(TOPS)}')
    return out


def symbols(obj):
    """(defined, used) global symbol names of one object file."""
    if not os.path.isfile(obj):
        raise BuildError(f'{obj}: not built (build the project first)')
    r = subprocess.run(['nm', '-P', obj], capture_output=True, text=True)
    if r.returncode != 0:
        raise BuildError(f'nm {obj}: {r.stderr.strip()}')
    defined, used = set(), set()
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) < 2:
            continue
        name, kind = parts[0], parts[1]
        if kind in ('U', 'w', 'v'):
            used.add(name)
        elif kind in DEFINED:
            defined.add(name)
    return defined, used


def graph(build, root):
    """{source: {source it depends on: a symbol that makes it}} and a list
    of problems (a symbol defined twice in one folder)."""
    srcs = objects(build, root)
    defs = collections.defaultdict(dict)    # top -> symbol -> source
    uses = collections.defaultdict(set)
    problems = []
    any_symbol = False
    for src, objs in sorted(srcs.items()):
        top = src.split('/')[0]
        for obj in objs:
            d, u = symbols(obj)
            any_symbol = any_symbol or bool(d or u)
            for name in d:
                other = defs[top].setdefault(name, src)
                if other != src and name != 'main':
                    problems.append(f'{name} is defined by both {other} and '
                                    f'{src}')
            uses[src] |= u
    if not any_symbol:
        raise BuildError('no symbols in any object (built with LTO?)')
    g = {src: {} for src in srcs}
    for src, names in uses.items():
        top = src.split('/')[0]
        for name in sorted(names):
            t = defs[top].get(name) or defs['core'].get(name)
            if t and t != src:
                g[src].setdefault(t, name)
    return g, sorted(set(problems))


def cycles(g):
    """The strongly connected components of more than one node (Tarjan,
    iterative so that a long chain cannot exhaust the stack)."""
    index, low, on, stack, out = {}, {}, set(), [], []
    counter = 0
    for root in sorted(g):
        if root in index:
            continue
        work = [(root, iter(sorted(g[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(g.get(w, ())))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return sorted(out)


def report(build, root):
    g, problems = graph(build, root)
    lines = [f'check-cycles: {p}' for p in problems]
    found = cycles(g)
    for comp in found:
        members = set(comp)
        lines.append('cycle: ' + ' '.join(comp))
        for a in comp:
            for b, sym in sorted(g[a].items()):
                if b in members:
                    lines.append(f'  {a} -> {b} ({sym})')
    return found, problems, lines


def self_test(cc):
    files = {
        'core/base/a.c': 'int b_fn(int);\nint a_fn(int x) '
                         '{ return x ? b_fn(x - 1) : 0; }\n',
        'core/base/b.c': 'int a_fn(int);\nint b_fn(int x) '
                         '{ return a_fn(x); }\n',
        'fs/c.c': 'int a_fn(int);\nint b_fn(int);\nint h_fn(void);\n'
                  'int c_data = 1;\n'
                  'int main(void) { return a_fn(1) + b_fn(h_fn()); }\n',
        # c_data resolves within fs/, not to the one of tools/
        'fs/h.c': 'extern int c_data;\nint h_fn(void) { return c_data; }\n',
        'tools/d.c': 'int c_data = 2;\nint a_fn(int);\n'
                     'int main(void) { return a_fn(c_data); }\n',
    }
    with tempfile.TemporaryDirectory() as tmp:
        root = os.path.join(tmp, 'src')
        build = os.path.join(tmp, 'build')
        os.makedirs(build)

        def compile_all():
            cmds = []
            for rel, text in files.items():
                src = os.path.join(root, rel)
                os.makedirs(os.path.dirname(src), exist_ok=True)
                with open(src, 'w', encoding='utf-8') as f:
                    f.write(text)
                obj = rel.replace('/', '_') + '.o'
                r = subprocess.run(cc + ['-c', src, '-o',
                                         os.path.join(build, obj)],
                                   capture_output=True, text=True)
                if r.returncode != 0:
                    raise SystemExit('check-cycles self-test: cannot '
                                     f'compile {rel}:\n{r.stderr}')
                cmds.append({'directory': build, 'file': src,
                             'output': obj, 'command': 'cc'})
            with open(os.path.join(build, 'compile_commands.json'), 'w',
                      encoding='utf-8') as f:
                json.dump(cmds, f)

        compile_all()
        found, problems, lines = report(build, root)
        if found != [['core/base/a.c', 'core/base/b.c'],
                     ['fs/c.c', 'fs/h.c']] or problems:
            raise SystemExit('check-cycles self-test: wanted the cycles '
                             'core/base/a.c core/base/b.c and fs/c.c fs/h.c, '
                             'got:\n'
                             + '\n'.join(lines))
        if '  core/base/b.c -> core/base/a.c (a_fn)' not in lines:
            raise SystemExit('check-cycles self-test: no witness symbol:\n'
                             + '\n'.join(lines))
        # the call back removed: no cycle, and c_data (defined in fs/ and
        # in tools/, each linked apart) is no error
        files['core/base/b.c'] = 'int b_fn(int x) { return x + 1; }\n'
        files['fs/h.c'] = 'int h_fn(void) { return 0; }\n'
        compile_all()
        found, problems, lines = report(build, root)
        if found or problems:
            raise SystemExit('check-cycles self-test: a tree without a cycle '
                             'was reported:\n' + '\n'.join(lines))
        # a symbol defined twice within one folder is an error
        files['core/base/e.c'] = 'int b_fn(int x) { return x; }\n'
        compile_all()
        found, problems, lines = report(build, root)
        if not any('b_fn is defined by both' in p for p in problems):
            raise SystemExit('check-cycles self-test: a duplicate definition '
                             'was not reported:\n' + '\n'.join(lines))
        # an object that is not built is an error, not a clean result
        os.unlink(os.path.join(build, 'fs_c.c.o'))
        try:
            report(build, root)
        except BuildError:
            pass
        else:
            raise SystemExit('check-cycles self-test: a missing object was '
                             'not reported')
    print('check-cycles self-test: ok')


def main():
    if sys.argv[1:2] == ['--self-test']:
        self_test(sys.argv[2:] or ['cc'])
        return 0
    if len(sys.argv) != 2:
        print(__doc__.strip().split('\n\n')[-1], file=sys.stderr)
        return 2
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')
    try:
        found, problems, lines = report(sys.argv[1], root)
    except BuildError as e:
        print(f'check-cycles: {e}', file=sys.stderr)
        return 2
    for line in lines:
        print(line)
    if found or problems:
        print(f'check-cycles: {len(found)} cycle(s)')
        return 1
    print('check-cycles: no cycle between the sources of core/, fs/, tools/')
    return 0


if __name__ == '__main__':
    sys.exit(main())
