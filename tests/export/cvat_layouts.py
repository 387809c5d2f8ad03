"""cvat_layouts - zips laid out as CVAT 2.x writes its dataset exports
(CVAT's formats go through datumaro's converters), built here from
plain ground truth, not from curatefs' own exports, so that a reader
test cannot pass by reading back its own writer's habits.

The layout facts, as CVAT's and datumaro's public source show them:
- COCO 1.0: annotations/instances_<subset>.json (subset "default" for a
  task without subsets); "licenses" [{name, id 0, url}], an "info" of
  empty strings, categories with ids from 1 in label order and an empty
  supercategory, images with license 0, flickr_url, coco_url and
  date_captured 0, annotations with an empty segmentation for a box,
  a float area, iscrowd 0 and an "attributes" object holding occluded,
  rotation and the label's own attributes.
- YOLO 1.1 (darknet): obj.names (one label a line, label order), obj.data
  (classes, train = data/train.txt, names = data/obj.names, backup =
  backup/), train.txt listing data/obj_train_data/<id>.jpg, and
  obj_train_data/<id>.txt with "%d %.6f %.6f %.6f %.6f" lines (centre and
  size relative to the image); an image without boxes gets an empty file.
- Ultralytics YOLO Detection 1.0: data.yaml as PyYAML's dump writes it
  (sorted keys: names as an index map, path: ., train: train.txt),
  train.txt listing data/images/train/<id>.jpg, labels/train/<id>.txt;
  an image without boxes gets no label file.
- PASCAL VOC 1.1: Annotations/<id>.xml (folder = the id up to its first
  "_", filename, source of "Unknown"s, size with an empty depth,
  segmented 0, objects with name, truncated, occluded, difficult, a
  bndbox of float corners and an <attributes> list for the rest, e.g.
  rotation), ImageSets/Main/default.txt, ImageSets/Main/<label>_default.txt
  ("<id>  1" or "<id> -1"), ImageSets/Action and ImageSets/Layout lists,
  and labelmap.txt ("# label:color_rgb:parts:actions", background first).
Images are not included (CVAT's "save images" off), as a user exporting
annotations only gets them.

items: [(id, width, height, [(label, x, y, w, h), ...])]; labels: the
task's labels in CVAT's order."""
import json
import struct
import zipfile


def _zip(path, files):
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files:
            z.writestr(name, data)
    return path


def coco10(path, items, labels, file_names=None):
    """file_names: item id -> the frame's file name (default id + .jpg)."""
    cat = {n: i + 1 for i, n in enumerate(labels)}
    d = {"licenses": [{"name": "", "id": 0, "url": ""}],
         "info": {"contributor": "", "date_created": "", "description": "",
                  "url": "", "version": "", "year": ""},
         "categories": [{"id": i + 1, "name": n, "supercategory": ""}
                        for i, n in enumerate(labels)],
         "images": [], "annotations": []}
    aid = 0
    for k, (iid, w, h, boxes) in enumerate(items):
        d["images"].append({"id": k + 1, "width": w, "height": h,
                            "file_name": (file_names or {}).get(
                                iid, iid + ".jpg"), "license": 0,
                            "flickr_url": "", "coco_url": "",
                            "date_captured": 0})
        for lab, x, y, bw, bh in boxes:
            aid += 1
            d["annotations"].append({
                "id": aid, "image_id": k + 1, "category_id": cat[lab],
                "segmentation": [], "area": float(bw * bh),
                "bbox": [round(float(v), 2) for v in (x, y, bw, bh)],
                "iscrowd": 0,
                "attributes": {"occluded": aid % 3 == 0, "rotation": 0.0}})
    return _zip(path, [("annotations/instances_default.json",
                        json.dumps(d))])


def _yolo_line(labels, w, h, box):
    lab, x, y, bw, bh = box
    return "%d %.6f %.6f %.6f %.6f\n" % (
        labels.index(lab), (x + bw / 2) / w, (y + bh / 2) / h, bw / w, bh / h)


def yolo11(path, items, labels):
    files = [("obj.names", "".join(n + "\n" for n in labels)),
             ("obj.data", "classes = %d\ntrain = data/train.txt\n"
              "names = data/obj.names\nbackup = backup/\n" % len(labels))]
    lst = []
    for iid, w, h, boxes in items:
        files.append(("obj_train_data/%s.txt" % iid,
                      "".join(_yolo_line(labels, w, h, b) for b in boxes)))
        lst.append("data/obj_train_data/%s.jpg\n" % iid)
    files.append(("train.txt", "".join(lst)))
    return _zip(path, files)


def _yaml_str(s):
    """A scalar as PyYAML's dump writes it: plain when safe, else single
    quoted."""
    plain = s and not s[0] in "-?:,[]{}#&*!|>'\"%@`" and \
        all(c.isalnum() or c in " _/.%-" for c in s) and \
        s.strip() == s and not s.replace(".", "").isdigit()
    return s if plain else "'%s'" % s.replace("'", "''")


def ultralytics(path, items, labels):
    yaml = "names:\n" + "".join("  %d: %s\n" % (i, _yaml_str(n))
                                for i, n in enumerate(labels))
    yaml += "path: .\ntrain: train.txt\n"
    files = [("data.yaml", yaml)]
    lst = []
    for iid, w, h, boxes in items:
        if boxes:
            files.append(("labels/train/%s.txt" % iid,
                          "".join(_yolo_line(labels, w, h, b)
                                  for b in boxes)))
        lst.append("data/images/train/%s.jpg\n" % iid)
    files.append(("train.txt", "".join(lst)))
    return _zip(path, files)


def _xml_text(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def voc11(path, items, labels):
    files = []
    for iid, w, h, boxes in items:
        folder = iid[:iid.find("_")] if "_" in iid else ""
        objs = ""
        for k, (lab, x, y, bw, bh) in enumerate(boxes):
            objs += ("  <object>\n    <name>%s</name>\n"
                     "    <truncated>0</truncated>\n"
                     "    <occluded>%d</occluded>\n"
                     "    <difficult>0</difficult>\n"
                     "    <bndbox>\n      <xmin>%s</xmin>\n"
                     "      <ymin>%s</ymin>\n      <xmax>%s</xmax>\n"
                     "      <ymax>%s</ymax>\n    </bndbox>\n"
                     "    <attributes>\n      <attribute>\n"
                     "        <name>rotation</name>\n"
                     "        <value>0.0</value>\n      </attribute>\n"
                     "    </attributes>\n  </object>\n") % (
                _xml_text(lab), k % 2, repr(float(x)), repr(float(y)),
                repr(float(x + bw)), repr(float(y + bh)))
        files.append(("Annotations/%s.xml" % iid,
                      "<annotation>\n  <folder>%s</folder>\n"
                      "  <filename>%s.jpg</filename>\n  <source>\n"
                      "    <database>Unknown</database>\n"
                      "    <annotation>Unknown</annotation>\n"
                      "    <image>Unknown</image>\n  </source>\n"
                      "  <size>\n    <width>%d</width>\n"
                      "    <height>%d</height>\n    <depth></depth>\n"
                      "  </size>\n  <segmented>0</segmented>\n%s"
                      "</annotation>\n" % (_xml_text(folder), _xml_text(iid),
                                           w, h, objs)))
    ids = "".join(i[0] + "\n" for i in items)
    files.append(("ImageSets/Main/default.txt", ids))
    for lab in labels:
        files.append(("ImageSets/Main/%s_default.txt" % lab,
                      "".join("%s % d\n" % (i[0], 1 if any(
                          b[0] == lab for b in i[3]) else -1)
                              for i in items)))
    files.append(("ImageSets/Action/default.txt", ""))
    files.append(("ImageSets/Layout/default.txt", ""))
    files.append(("labelmap.txt", "# label:color_rgb:parts:actions\n"
                  "background:0,0,0::\n" +
                  "".join("%s:%d,%d,%d::\n" % (n, 40 * i % 256, 90, 200)
                          for i, n in enumerate(labels))))
    return _zip(path, files)


def rezip(src, dst, method=zipfile.ZIP_DEFLATED, rename=None, extra=()):
    """src's members written again into dst with compression method, each
    name through rename(name) (Python keeps a backslash as given on
    Linux), then the (name, data) pairs of extra."""
    with zipfile.ZipFile(src) as zin, \
            zipfile.ZipFile(dst, "w", method) as zout:
        for info in zin.infolist():
            zout.writestr(rename(info.filename) if rename else info.filename,
                          zin.read(info))
        for name, data in extra:
            zout.writestr(name, data)
    return dst


def set_method(path, name, method):
    """The compression method of member `name` (stored) set to `method`
    in its local header and its central directory entry, as a zip made
    by a tool with a method this reader lacks would say."""
    with open(path, "r+b") as f:
        data = bytearray(f.read())
        with zipfile.ZipFile(path) as z:
            local = z.getinfo(name).header_offset
        assert data[local:local + 4] == b"PK\3\4"
        struct.pack_into("<H", data, local + 8, method)
        eocd = data.rfind(b"PK\5\6")
        count, _, cd = struct.unpack_from("<HII", data, eocd + 10)
        for _ in range(count):
            assert data[cd:cd + 4] == b"PK\1\2"
            nlen, xlen, clen = struct.unpack_from("<HHH", data, cd + 28)
            if data[cd + 46:cd + 46 + nlen] == name.encode():
                struct.pack_into("<H", data, cd + 10, method)
            cd += 46 + nlen + xlen + clen
        f.seek(0)
        f.write(data)
    return path
