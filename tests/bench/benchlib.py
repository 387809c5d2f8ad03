"""benchlib - what the benchmark scripts share: the table of figures they
end with (name, value as a ratio, goal, detail)."""


def print_rows(rows):
    print()
    print("%-48s %8s %8s  %s" % ("figure", "value", "goal", "detail"))
    for name, val, goal, detail in rows:
        print("%-48s %8.2f %8s  %s" % (name, val, goal, detail))
