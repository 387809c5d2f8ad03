#!/usr/bin/python3
"""fs suite, similarity views: K pictures with near-copies of each
(re-encoded at quality 40, resized to half), imported with features;
views/unique lists one member of every group before any second member and
keeps one per group when unique.count = K; views/near-duplicates shows
exactly the groups; both are unchanged by tag moves and label edits, and
follow embeddings imported from a .npy file at once, also when a second
file of the same shape replaces them."""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fslib import (NEAR_COPY_VARIANTS, Mount, curate,  # noqa
                   edit_boxes, eq, near_copy_groups, read, run_suite, write)

JPEGCMP = os.environ.get("JPEGCMP", "build/tests/jpegcmp")

K = 6
VARIANTS = NEAR_COPY_VARIANTS


def group_of(name):
    return re.search(r"g(\d+)_v\d+", name).group(1)


def body(ck, w):
    data = w.sub("data")
    near_copy_groups(data, K)
    store = w.sub("store")
    p = curate("import", "--store", store, data)
    if "%d with new features" % (K * len(VARIANTS)) not in p.stdout:
        raise AssertionError(p.stdout)
    mnt = w.sub("mnt")
    m = Mount(store, mnt).start()
    U = os.path.join(mnt, "views", "unique")
    ND = os.path.join(mnt, "views", "near-duplicates")

    def unique():
        return sorted(os.listdir(U))

    def t_unique_order():
        names = unique()
        eq(len(names), K * len(VARIANTS), "all ranked (count 100 > n)")
        first = [group_of(n) for n in names[:K]]
        eq(sorted(first), sorted(str(g) for g in range(K)),
           "one member of every group before any second member")
        for i, n in enumerate(names):
            if not n.startswith("%04d-" % (i + 1)):
                raise AssertionError("rank prefix of " + n)
    ck.run("views/unique: one member of every group first", t_unique_order)

    def t_unique_count():
        write(os.path.join(mnt, "config"), "unique.count = %d\n" % K)
        names = unique()
        eq(len(names), K, "count")
        eq(sorted(group_of(n) for n in names),
           sorted(str(g) for g in range(K)), "one per group")
    ck.run("unique.count = K keeps one member per group", t_unique_count)

    def t_near_duplicates():
        names = sorted(os.listdir(ND))
        eq(len(names), K * len(VARIANTS), "every copy is in a group")
        groups = {}
        for n in names:
            groups.setdefault(n.split("-", 1)[0], set()).add(group_of(n))
        eq(len(groups), K, "groups")
        for pre, gs in groups.items():
            eq(len(gs), 1, "group %s holds one picture" % pre)
        st = open(os.path.join(mnt, "status")).read()
        if "near-duplicates" not in st:
            raise AssertionError("status lacks the view")
    ck.run("views/near-duplicates shows exactly the groups",
           t_near_duplicates)

    def t_stable_under_tags_and_labels():
        before_u, before_n = unique(), sorted(os.listdir(ND))
        os.mkdir(os.path.join(mnt, "tags", "pick"))
        os.rename(os.path.join(U, before_u[0]),
                  os.path.join(mnt, "tags", "pick", before_u[0]))
        eq(len(os.listdir(os.path.join(mnt, "tags", "pick"))), 1, "tagged")
        stem = re.sub(r"^\d+-", "", before_u[1])[:-4]
        edit_boxes(mnt, stem, lambda b: b.__setitem__(
            slice(None), [{"label": "cat", "bbox": [1, 1, 20, 20]}]))
        eq(unique(), before_u, "unique after tag and label changes")
        eq(sorted(os.listdir(ND)), before_n, "near-duplicates after")
    ck.run("tag moves and label edits leave the similarity views",
           t_stable_under_tags_and_labels)

    def t_embeddings_plot():
        p = os.path.join(mnt, "plots", "embeddings.jpg")
        out = subprocess.run([JPEGCMP, p, p], capture_output=True, text=True,
                             check=True).stdout.split()
        eq(out[0], "1024x768", "plot size")
        eq(os.stat(p).st_size, len(read(p)), "size at lookup")
        by_tag = read(p)
        write(os.path.join(mnt, "config"), "plots.color_by = class\n")
        by_class = read(p)
        if by_class == by_tag:
            raise AssertionError("colouring by class changed nothing")
        eq(os.stat(p).st_size, len(by_class), "size after the change")
    ck.run("plots/embeddings.jpg decodes at its size and follows "
           "plots.color_by", t_embeddings_plot)

    def t_external_embeddings():
        import numpy as np
        names = sorted(n[:-4] for n in os.listdir(os.path.join(mnt,
                                                               "samples")))
        rng = np.random.default_rng(3)
        x = rng.normal(size=(len(names), 32)).astype(np.float32)
        x[1] = x[0]            # exactly two rows alike
        npy, nm = w.sub("emb.npy"), w.sub("names.txt")
        np.save(npy, x)
        write(nm, "\n".join(names) + "\n")
        curate("embeddings", "--store", store, "--npy", npy, "--names", nm)
        got = sorted(os.listdir(ND))
        eq(sorted(re.sub(r"^\d+-", "", n)[:-4] for n in got),
           sorted(names[:2]), "groups follow the imported embeddings")
        # Other values of the same shape: only the vectors differ, so the
        # views must notice the values, not only which records exist.
        x = rng.normal(size=(len(names), 32)).astype(np.float32)
        x[3] = x[2]
        np.save(npy, x)
        curate("embeddings", "--store", store, "--npy", npy, "--names", nm)
        got = sorted(os.listdir(ND))
        eq(sorted(re.sub(r"^\d+-", "", n)[:-4] for n in got),
           sorted(names[2:4]), "groups follow embeddings imported again")
        curate("embeddings", "--store", store, "--clear")
        eq(len(os.listdir(ND)), K * len(VARIANTS), "back to computed")
    ck.run("views follow embeddings imported from .npy",
           t_external_embeddings)

    m.umount()


def main():
    run_suite("curatefs-sim-", body)


if __name__ == "__main__":
    main()
