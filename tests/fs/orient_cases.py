"""orient_cases - files whose EXIF Orientation is awkward, built byte by
byte, and what Pillow makes of each (the reference: CVAT turns its frames
with Pillow's ImageOps.exif_transpose after loading them).

The Orientation entry comes in every TIFF type, with no value, two values,
values at an offset or past the end, twice in one directory, after an
entry that ends Pillow's reading of the directory; each such entry is
written as the EXIF of a JPEG (APP1), of a PNG before and after its image
data (eXIf), of a WebP (EXIF), and into a TIFF file's own directory.  Then
PNG layouts: eXIf before and after the image data, several, one with a bad
CRC after the image data, text after it.  Then the other places Pillow
takes a PNG's orientation from: ImageMagick's "Raw profile type exif"
text chunk (hex) and XMP's tiff:Orientation, in tEXt, zTXt and iTXt
chunks, before and after the image data, alone and together with eXIf,
malformed.  Used by fs-formats."""
import io
import struct
import warnings
import zlib

L = struct.pack
FAR = 0x7FFFFFF0    # an offset past the end of any file made here
W, H = 6, 4         # stored size of every picture


def ent(typ, count, inline=None, values=None, offset=None, tag=0x0112):
    """A directory entry: its 4 inline bytes, or values stored after the
    directory, or an explicit offset."""
    return (tag, typ, count, inline, values, offset)


def short(v, le=True):
    return ent(3, 1, L("<HH" if le else ">HH", v, 0))


def entry_cases():
    """name -> the directory entries of the Orientation case."""
    s = {}
    for v in (0, 1, 6, 8, 9, 65535):
        s["short%d" % v] = [short(v)]
    s["long5"] = [ent(4, 1, L("<I", 5))]
    s["long65542"] = [ent(4, 1, L("<I", 65542))]
    s["count0"] = [ent(3, 0, L("<HH", 6, 0))]
    s["count2"] = [ent(3, 2, L("<HH", 6, 1))]
    s["count3_values"] = [ent(3, 3, values=L("<HHH", 7, 1, 1))]
    s["count3_past_end"] = [ent(3, 3, offset=FAR)]
    s["byte6"] = [ent(1, 1, b"\x06\0\0\0")]
    s["sbyte6"] = [ent(6, 1, b"\x06\0\0\0")]
    s["undefined6"] = [ent(7, 1, b"\x06\0\0\0")]
    s["ascii6"] = [ent(2, 2, b"6\0\0\0")]
    s["sshort6"] = [ent(8, 1, L("<hh", 6, 0))]
    s["sshort_neg"] = [ent(8, 1, L("<hh", -3, 0))]
    s["slong7"] = [ent(9, 1, L("<i", 7))]
    s["rational12_2"] = [ent(5, 1, values=L("<II", 12, 2))]
    s["rational13_2"] = [ent(5, 1, values=L("<II", 13, 2))]
    s["rational6_0"] = [ent(5, 1, values=L("<II", 6, 0))]
    s["srational_neg"] = [ent(10, 1, values=L("<ii", -6, -1))]
    s["float3"] = [ent(11, 1, L("<f", 3.0))]
    s["float3_5"] = [ent(11, 1, L("<f", 3.5))]
    s["double8"] = [ent(12, 1, values=L("<d", 8.0))]
    s["ifd_type"] = [ent(13, 1, L("<I", 6))]
    s["long8"] = [ent(16, 1, values=L("<Q", 6))]
    s["type_unknown"] = [ent(99, 1, L("<HH", 6, 0))]
    s["dup_6_8"] = [short(6), short(8)]
    s["dup_6_byte"] = [short(6), ent(1, 1, b"\x08\0\0\0")]
    s["dup_6_count0"] = [short(6), ent(3, 0, L("<HH", 8, 0))]
    s["bad_entry_before"] = [ent(2, 40, offset=FAR, tag=0x010F), short(6)]
    s["bad_entry_after"] = [short(6), ent(2, 40, offset=FAR, tag=0x0110)]
    return s


def directory(entries, base, le=True):
    """The bytes of a directory at file offset base, its values after it."""
    e = "<" if le else ">"
    area_off = base + 2 + 12 * len(entries) + 4
    out, area = L(e + "H", len(entries)), b""
    for tag, typ, count, inline, values, offset in entries:
        if values is not None:
            field = L(e + "I", area_off + len(area))
            area += values + b"\0" * (len(values) % 2)
        elif offset is not None:
            field = L(e + "I", offset)
        else:
            field = inline
        out += L(e + "HHI", tag, typ, count) + field
    return out + L(e + "I", 0) + area


def block(entries, le=True):
    """A TIFF block (an EXIF payload) whose IFD0 holds entries."""
    return (b"II*\0" if le else b"MM\0*") + L("<I" if le else ">I", 8) + \
        directory(entries, 8, le)


def block_cases():
    """name -> EXIF payload: each entry case, and whole-block cases."""
    b = {k: block(v) for k, v in entry_cases().items()}
    six = block([short(6)])
    b.update({"ifd_past_end": b"II*\0" + L("<I", 5000) + b"\0" * 8,
              "cut_directory": six[:8 + 2 + 6],
              "header_II00": b"II\0*" + six[4:],
              "big_endian6": block([short(6, False)], le=False),
              "exif_prefixed6": b"Exif\0\0" + six})
    return b


def jpeg(payload):
    from PIL import Image
    out = io.BytesIO()
    Image.new("RGB", (W, H), (90, 20, 30)).save(out, "JPEG")
    j = out.getvalue()
    seg = b"Exif\0\0" + payload
    return j[:2] + b"\xff\xe1" + L(">H", len(seg) + 2) + seg + j[2:]


def png_chunk(t, d, crc=None):
    c = zlib.crc32(t + d) if crc is None else crc
    return L(">I", len(d)) + t + d + L(">I", c)


def png(pre=(), post=(), parts=1):
    """An RGB PNG: chunks pre before the image data (in parts IDAT
    chunks), post after it."""
    raw = b"".join(b"\0" + bytes((x * 37 + y * 11) & 255
                                 for x in range(3 * W)) for y in range(H))
    z = zlib.compress(raw)
    k = (len(z) + parts - 1) // parts
    idat = b"".join(png_chunk(b"IDAT", z[i:i + k])
                    for i in range(0, len(z), k))
    ihdr = png_chunk(b"IHDR", L(">IIBBBBB", W, H, 8, 2, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + ihdr + b"".join(pre) + idat + \
        b"".join(post) + png_chunk(b"IEND", b"")


def webp(payload):
    from PIL import Image
    out = io.BytesIO()
    Image.new("RGB", (W, H), (90, 20, 30)).save(out, "WEBP", exif=payload)
    return out.getvalue()


def tiff(entries, le=True):
    """An uncompressed RGB TIFF whose directory holds its own entries and
    then entries."""
    e = "<" if le else ">"
    pix = bytes((i * 7) & 255 for i in range(W * H * 3))

    def sh(tag, v):
        return (tag, 3, 1, L(e + "HH", v, 0), None, None)

    def build(pix_off):
        own = [sh(256, W), sh(257, H), (258, 3, 3, None, L(e + "HHH", 8, 8, 8),
                                         None),
               sh(259, 1), sh(262, 2), (273, 4, 1, L(e + "I", pix_off), None,
                                        None),
               sh(277, 3), sh(278, H), (279, 4, 1, L(e + "I", len(pix)), None,
                                        None)]
        return directory(own + list(entries), 8, le)
    d = build(0)
    d = build(8 + len(d))
    return (b"II*\0" if le else b"MM\0*") + L(e + "I", 8) + d + pix


def corpus():
    """file name -> bytes."""
    out = {}
    for k, b in block_cases().items():
        out["j_%s.jpg" % k] = jpeg(b)
        out["p_%s.png" % k] = png(pre=[png_chunk(b"eXIf", b)])
        out["pl_%s.png" % k] = png(post=[png_chunk(b"eXIf", b)], parts=3)
        out["w_%s.webp" % k] = webp(b)
    for k, v in entry_cases().items():
        out["t_%s.tif" % k] = tiff(v)
    out["t_big_endian6.tif"] = tiff([short(6, False)], le=False)
    six, eight = block([short(6)]), block([short(8)])
    none = block([ent(0x0110, 2, 4, b"abc\0")])

    def ex(b, crc=None):
        return png_chunk(b"eXIf", b, crc)
    text = png_chunk(b"tEXt", b"Comment\0" + b"x" * 3000)
    date = png_chunk(b"tEXt", b"date:create\x002026-01-01T00:00:00+00:00")
    # EXIF of a camera photo, larger than the 4 KiB tail: values after the
    # directory, with a thumbnail's end or not.
    pad = bytes((i * 7) & 255 if i % 3 else 0 for i in range(20000))
    big6, big8 = six + pad, eight + pad + b"\x55" * 100 + b"\xff\xd9"
    out.update({
        "pp_before6_after8.png": png(pre=[ex(six)], post=[ex(eight)]),
        "pp_before6_after_none.png": png(pre=[ex(six)], post=[ex(none)]),
        "pp_before6_after_empty.png": png(pre=[ex(six)], post=[ex(b"")]),
        "pp_two_before_6_8.png": png(pre=[ex(six), ex(eight)]),
        "pp_two_after_6_8.png": png(post=[ex(six), ex(eight)], parts=2),
        "pp_after6_bad_crc.png": png(post=[ex(six, crc=1)]),
        "pp_after6_text_3k.png": png(post=[ex(six), text], parts=2),
        # As ImageMagick writes a converted photo: eXIf after the image
        # data, then dates.
        "pp_after6_20k_dates.png": png(post=[ex(big6), date, date]),
        "pp_after8_20k_thumb.png": png(post=[ex(big8)]),
        "pp_before6_after8_20k.png": png(pre=[ex(big6)], post=[ex(big8)]),
    })
    out.update(text_corpus())
    return out


RAW = b"Raw profile type exif"
XMP = b"XML:com.adobe.xmp"


def raw_profile(payload, prefix=b"Exif\0\0"):
    """A raw profile as ImageMagick writes it: a blank line, the profile's
    name, its length, then the bytes in hex, 72 digits a line."""
    h = (prefix + payload).hex()
    return b"\nexif\n%8d\n" % len(prefix + payload) + \
        b"\n".join(h[i:i + 72].encode() for i in range(0, len(h), 72)) + b"\n"


def xmp_packet(o, element=False, pad=0):
    """An XMP packet with tiff:Orientation o as an attribute or an element,
    after pad bytes of other description."""
    other = "<dc:description>%s</dc:description>" % ("x" * pad)
    tag = "<tiff:Orientation>%s</tiff:Orientation>" % o if element else ""
    attr = "" if element else ' tiff:Orientation="%s"' % o
    return ('<?xpacket begin="" id="W5M0MpCehiHzreSzNTczkc9d"?>'
            '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf='
            '"http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description'
            ' xmlns:tiff="http://ns.adobe.com/tiff/1.0/"%s>%s%s'
            '</rdf:Description></rdf:RDF></x:xmpmeta><?xpacket end="w"?>'
            % (attr, tag, other)).encode()


def text_chunk(kind, key, value, method=0):
    """A tEXt, zTXt or iTXt chunk ("iTXt" plain, "iTXz" compressed)."""
    if kind == "tEXt":
        return png_chunk(b"tEXt", key + b"\0" + value)
    if kind == "zTXt":
        return png_chunk(b"zTXt", key + b"\0" + bytes([method]) +
                         zlib.compress(value))
    z = kind == "iTXz"
    return png_chunk(b"iTXt", key + b"\0" + (b"\1\0" if z else b"\0\0") +
                     b"en\0\0" + (zlib.compress(value) if z else value))


def text_corpus():
    """file name -> bytes: PNG orientation from text chunks."""
    six, eight = block([short(6)]), block([short(8)])
    none = block([ent(0x0110, 2, 4, b"abc\0")])
    out = {}

    def ex(b):
        return png_chunk(b"eXIf", b)
    for kind in ("tEXt", "zTXt", "iTXt", "iTXz"):
        out["x_raw6_%s.png" % kind] = png(pre=[text_chunk(kind, RAW,
                                                          raw_profile(six))])
        out["x_xmp5_%s.png" % kind] = png(pre=[text_chunk(
            kind, XMP, xmp_packet(5, element=True))])
        out["x_raw8_after_%s.png" % kind] = png(
            post=[text_chunk(kind, RAW, raw_profile(eight))], parts=2)
    date = png_chunk(b"tEXt", b"date:create\x002026-01-01T00:00:00+00:00")
    out.update({
        "x_raw6_noprefix.png": png(pre=[text_chunk(
            "tEXt", RAW, raw_profile(six, prefix=b""))]),
        "x_raw6_big_endian.png": png(pre=[text_chunk(
            "zTXt", RAW, raw_profile(block([short(6, False)], le=False)))]),
        "x_raw_bad_hex_xmp8.png": png(pre=[
            text_chunk("tEXt", RAW, raw_profile(six)[:-3] + b"g\n"),
            text_chunk("iTXt", XMP, xmp_packet(8))]),
        "x_raw_odd_hex.png": png(pre=[text_chunk(
            "tEXt", RAW, raw_profile(six)[:-2] + b"\n")]),
        "x_raw_crlf.png": png(pre=[text_chunk(
            "tEXt", RAW, raw_profile(six).replace(b"\n", b"\r\n"))]),
        "x_raw_short_xmp8.png": png(pre=[
            text_chunk("tEXt", RAW, b"\nexif\n"),
            text_chunk("iTXt", XMP, xmp_packet(8))]),
        "x_rawnone_xmp8.png": png(pre=[
            text_chunk("zTXt", RAW, raw_profile(none)),
            text_chunk("iTXt", XMP, xmp_packet(8))]),
        "x_raw6_xmp8.png": png(pre=[
            text_chunk("zTXt", RAW, raw_profile(six)),
            text_chunk("iTXt", XMP, xmp_packet(8))]),
        "x_exif6_raw8.png": png(pre=[ex(six), text_chunk(
            "zTXt", RAW, raw_profile(eight))]),
        "x_exifnone_raw8.png": png(pre=[ex(none), text_chunk(
            "zTXt", RAW, raw_profile(eight))]),
        "x_exifnone_xmp8.png": png(pre=[ex(none), text_chunk(
            "iTXt", XMP, xmp_packet(8))]),
        "x_exif_prefixed_xmp8.png": png(pre=[ex(b"Exif\0\0" + six),
                                             text_chunk("iTXt", XMP,
                                                        xmp_packet(8))]),
        "x_exif6_xmp8.png": png(pre=[ex(six), text_chunk(
            "iTXt", XMP, xmp_packet(8))]),
        "x_exifnone_after_xmp7.png": png(pre=[text_chunk(
            "iTXt", XMP, xmp_packet(7))], post=[ex(none)]),
        "x_text_exif6.png": png(pre=[text_chunk("tEXt", b"exif", six)]),
        "x_ztxt_exif6.png": png(pre=[text_chunk("zTXt", b"exif", six)]),
        "x_text_exif_empty_raw6.png": png(pre=[
            text_chunk("tEXt", b"exif", b""),
            text_chunk("tEXt", RAW, raw_profile(six))]),
        "x_xmp_attr6.png": png(pre=[text_chunk("iTXt", XMP, xmp_packet(6))]),
        "x_xmp9.png": png(pre=[text_chunk("iTXt", XMP, xmp_packet(9))]),
        "x_xmp0.png": png(pre=[text_chunk("iTXt", XMP, xmp_packet(0))]),
        "x_xmp_quote.png": png(pre=[text_chunk(
            "iTXt", XMP, b"<x tiff:Orientation='6'/>")]),
        "x_xmp_first_no_digit.png": png(pre=[text_chunk(
            "iTXt", XMP, b'tiff:Orientation="x" tiff:Orientation="6"')]),
        "x_xmp_two_6_3.png": png(pre=[text_chunk("iTXt", XMP,
                                                 xmp_packet(6))],
                                 post=[text_chunk("iTXt", XMP,
                                                  xmp_packet(3))]),
        "x_xmp_bad_utf8.png": png(pre=[text_chunk(
            "iTXt", XMP, xmp_packet(6) + b"\xff")]),
        "x_xmp6_later_bad_utf8.png": png(
            pre=[text_chunk("iTXt", XMP, xmp_packet(6))],
            post=[text_chunk("iTXt", XMP, xmp_packet(3) + b"\xc0\x80")]),
        "x_ztxt_bad_zlib_xmp8.png": png(pre=[
            png_chunk(b"zTXt", RAW + b"\0\0" + b"not zlib"),
            text_chunk("iTXt", XMP, xmp_packet(8))]),
        "x_ztxt_cut_raw6.png": png(pre=[png_chunk(
            b"zTXt", RAW + b"\0\0" +
            zlib.compress(raw_profile(six) + b" " * 3000)[:-40])]),
        # A large XMP packet after the image data, dates after it: past
        # the 4 KiB tail the header pass reads anyway.
        "x_xmp6_20k_after_dates.png": png(
            post=[text_chunk("iTXt", XMP, xmp_packet(6, pad=20000)), date,
                  date]),
        "x_raw3_20k_after.png": png(
            post=[text_chunk("tEXt", RAW, raw_profile(
                block([short(3)]) + bytes(9000)))]),
    })
    out.update(apng_corpus())
    return out


def apng_corpus():
    """file name -> bytes: two-frame animated PNGs (Pillow's own) with
    metadata between the first frame's image data and the second frame,
    which Pillow's load reads, and before IEND, which it does not."""
    from PIL import Image
    fr = [Image.new("RGB", (W, H), c) for c in ((200, 0, 0), (0, 200, 0))]
    o = io.BytesIO()
    fr[0].save(o, "PNG", save_all=True, append_images=fr[1:])
    b, cs, i = o.getvalue(), [], 8
    while i < len(b):
        n = struct.unpack(">I", b[i:i + 4])[0]
        cs.append(b[i:i + 12 + n])
        i += 12 + n
    k = max(j for j, c in enumerate(cs) if c[4:8] == b"IDAT") + 1

    def at(where, ch):
        return b[:8] + b"".join(cs[:where] + [ch] + cs[where:])
    x6 = text_chunk("iTXt", XMP, xmp_packet(6))
    e8 = png_chunk(b"eXIf", block([short(8)]))
    return {"a_xmp6_between_frames.png": at(k, x6),
            "a_xmp6_before_iend.png": at(len(cs) - 1, x6),
            "a_exif8_between_frames.png": at(k, e8),
            "a_exif8_before_iend.png": at(len(cs) - 1, e8)}


def pillow_orientation(data):
    """(orientation, size) as Pillow shows the picture after loading it and
    applying ImageOps.exif_transpose: orientation 2..8, or 1 when the
    picture stays as stored (also when Pillow's EXIF reader fails)."""
    from PIL import Image, ImageOps
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        im = Image.open(io.BytesIO(data))
        im.load()
        try:
            o = im.getexif().get(0x0112)
            # Pillow turns a TIFF by its Orientation as it loads it; 9.4
            # then turns it again in exif_transpose (Pillow issue 7381,
            # fixed in 10.1): the loaded size is the once-turned one.
            size = im.size if im.format == "TIFF" else \
                ImageOps.exif_transpose(im).size
        except Exception:   # its EXIF reader fails: nothing is turned
            return 1, im.size
    if isinstance(o, (bytes, str)):
        return 1, size
    return next((k for k in range(2, 9) if o == k), 1), size
