"""benchlib - what the benchmark scripts share: the table of figures they
end with (name, value as a ratio, goal, detail)."""


def print_rows(rows):
    w = max([48] + [len(r[0]) for r in rows])
    print()
    print("%-*s %8s %8s  %s" % (w, "figure", "value", "goal", "detail"))
    for name, val, goal, detail in rows:
        print("%-*s %8.2f %8s  %s" % (w, name, val, goal, detail))
