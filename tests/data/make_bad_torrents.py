#!/usr/bin/env python3
"""Writes the crafted .torrent corpus in tests/data/torrents/bad/.

Plain python3, deterministic (no dates, fixed fake hashes): running it again reproduces the
checked-in files byte for byte. Each file targets one rule of the metainfo parser or the path
sanitizer; tests/engine/metainfo_corpus_test.cpp holds the expected outcome of each.

Usage: python3 tests/data/make_bad_torrents.py   (from anywhere)
"""
import os

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torrents", "bad")
PIECE = 16384


class Raw(bytes):
    """Bytes emitted verbatim: for malformed encodings the encoder below cannot produce."""


class Unsorted(dict):
    """A dict encoded in insertion order instead of sorted key order."""


def enc(v):
    if isinstance(v, Raw):
        return bytes(v)
    if isinstance(v, bool):
        raise TypeError("no booleans in bencode")
    if isinstance(v, int):
        return b"i%de" % v
    if isinstance(v, str):
        v = v.encode()
    if isinstance(v, bytes):
        return b"%d:%s" % (len(v), v)
    if isinstance(v, list):
        return b"l" + b"".join(enc(x) for x in v) + b"e"
    if isinstance(v, dict):
        keys = [k.encode() if isinstance(k, str) else k for k in v]
        items = list(zip(keys, v.values()))
        if not isinstance(v, Unsorted):
            items.sort(key=lambda kv: kv[0])
        return b"d" + b"".join(enc(k) + enc(x) for k, x in items) + b"e"
    raise TypeError(type(v))


def pieces_for(total, piece=PIECE):
    count = (total + piece - 1) // piece
    return bytes((i % 251) for i in range(20 * count))


def single(name, length, **extra):
    info = {"name": name, "length": length, "piece length": PIECE,
            "pieces": pieces_for(max(length, 0))}
    info.update(extra)
    return info


def multi(name, files, **extra):
    """files: list of (path elements, length) or ready dicts."""
    entries = []
    total = 0
    for f in files:
        if isinstance(f, Raw):
            entries.append(f)
        elif isinstance(f, dict):
            entries.append(f)
            total += f.get("length", 0) if isinstance(f.get("length"), int) else 0
        else:
            path, length = f
            entries.append({"path": path, "length": length})
            total += length
    info = {"name": name, "files": entries, "piece length": PIECE,
            "pieces": pieces_for(max(total, 0))}
    info.update(extra)
    return info


def torrent(info, **extra):
    t = {"announce": "http://127.0.0.1:6969/announce", "info": info}
    t.update(extra)
    return t


CASES = {
    # Path traversal and unsafe names: parsed, sanitized, warned about.
    "traversal_dotdot": torrent(multi("evil", [(["..", "..", "etc", "passwd"], 10),
                                               (["ok.txt"], 5)])),
    "absolute_path": torrent(multi("evil", [(["", "etc", "shadow"], 10)])),
    "absolute_single_name": torrent(single("/etc/passwd", 100)),
    "dotdot_name": torrent(single("..", 100)),
    "slash_in_element": torrent(multi("n", [(["a/../../b"], 7), (["c\\d"], 7)])),
    "empty_path_element": torrent(multi("n", [(["a", "", "b"], 3)])),
    "dot_elements_only": torrent(multi("n", [([".", ".."], 3)])),
    "nul_in_name": torrent(single(b"a\x00b", 100)),
    "nul_in_path": torrent(multi("n", [([b"x\x00y"], 100)])),
    "invalid_utf8": torrent(multi(b"caf\xe9", [([b"\xff\xfe.txt"], 100)])),
    "utf8_variants_preferred": torrent(multi(b"latin\xe9", [
        {"path": [b"f\xe9"], "path.utf-8": ["f\u00e9"], "length": 10}],
        **{"name.utf-8": "latin\u00e9"})),
    "overlong_name": torrent(multi("n", [(["x" * 300 + ".txt"], 1),
                                         (["\u00e9" * 200], 1)])),
    "duplicate_names": torrent(multi("n", [(["a.txt"], 1), (["a.txt"], 2), (["A.txt"], 3)])),
    "file_dir_clash": torrent(multi("n", [(["a"], 1), (["a", "b"], 2)])),
    "windows_reserved_kept": torrent(multi("n", [(["CON"], 1), (["a:b?*|<>"], 1)])),
    "pad_files": torrent(multi("n", [
        (["a"], 1000),
        {"attr": "p", "path": [".pad", "15384"], "length": 15384},
        (["b"], 1000),
        {"path": [".pad", "15384"], "length": 15384},
        {"path": ["_____padding_file_0_if you see this file"], "length": 100},
        {"attr": "xh", "path": ["run.sh"], "length": 10}])),
    "zero_length_file_in_multi": torrent(multi("n", [(["empty"], 0), (["data"], 10)])),
    "unsorted_info_keys": torrent(Unsorted([("piece length", PIECE), ("name", "u"),
                                            ("length", 10), ("pieces", pieces_for(10))])),
    "unsorted_outer_keys": Unsorted([("info", single("o", 10)),
                                     ("announce", "http://127.0.0.1:6969/announce")]),
    # Sizes.
    "negative_size": torrent(single("n", -1)),
    "negative_file_size": torrent(multi("n", [(["a"], 10), (["b"], -5)])),
    "overflowing_size": torrent({"name": "n", "piece length": PIECE, "pieces": b"",
                                 "length": Raw(b"i18446744073709551616e")}),
    "size_sum_overflow": torrent({"name": "n", "piece length": PIECE, "pieces": b"",
                                  "files": [{"path": ["a"], "length": 2**63 - 1},
                                            {"path": ["b"], "length": 1}]}),
    "zero_total_size": torrent(single("n", 0)),
    "no_files": torrent({"name": "n", "piece length": PIECE, "pieces": b"", "files": []}),
    "both_length_and_files": torrent(dict(multi("n", [(["a"], 10)]), length=10)),
    "neither_length_nor_files": torrent({"name": "n", "piece length": PIECE, "pieces": b""}),
    # Pieces.
    "pieces_not_multiple_of_20": torrent(dict(single("n", 100), pieces=b"x" * 41)),
    "wrong_piece_count": torrent(dict(single("n", 3 * PIECE), pieces=b"x" * 40)),
    "piece_length_zero": torrent(dict(single("n", 100), **{"piece length": 0})),
    "piece_length_negative": torrent(dict(single("n", 100), **{"piece length": -16384})),
    "piece_length_not_power_of_two": torrent(dict(single("n", 100), **{"piece length": 20000})),
    "piece_length_huge": torrent(dict(single("n", 100), **{"piece length": 2**30})),
    "piece_length_multiple_of_16k": torrent(dict(single("n", 100000, pieces=pieces_for(100000, 49152)),
                                                 **{"piece length": 49152})),
    # Structure.
    "missing_info": {"announce": "http://127.0.0.1:6969/announce"},
    "info_not_dict": torrent([1, 2, 3]),
    "not_a_dict": [b"info"],
    "missing_piece_length": torrent({"name": "n", "length": 1, "pieces": pieces_for(1)}),
    "missing_pieces": torrent({"name": "n", "length": 1, "piece length": PIECE}),
    "path_not_list": torrent(multi("n", [{"path": "a/b", "length": 1}])),
    "path_element_not_string": torrent(multi("n", [{"path": ["a", 7], "length": 1}])),
    "file_entry_not_dict": torrent(multi("n", [(["a"], 1), Raw(b"4:oops")])),
    "deep_nesting": torrent(dict(single("n", 10), x=Raw(b"l" * 200 + b"e" * 200))),
    "huge_string_length": Raw(b"d8:announce99999999999999999999:x"),
    "trailing_garbage": Raw(enc(torrent(single("n", 10))) + b"garbage"),
    "truncated": Raw(enc(torrent(single("n", 10)))[:-7]),
}


def main():
    os.makedirs(OUT, exist_ok=True)
    for old in os.listdir(OUT):
        if old.endswith(".torrent"):
            os.remove(os.path.join(OUT, old))
    for name, value in sorted(CASES.items()):
        with open(os.path.join(OUT, name + ".torrent"), "wb") as f:
            f.write(enc(value))
    print("wrote %d torrents to %s" % (len(CASES), OUT))


if __name__ == "__main__":
    main()
