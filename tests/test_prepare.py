import dataclasses
import gzip
import json
import random
import shutil

import pytest

from descgen import clean, prepare, retrieval, scan, stages
from descgen.clean import cap_chars, clean_text, title_key

from conftest import make_cfg, row, write_lines

DESC = "A sturdy, well made product that does exactly what the title promises, every day."


def long_desc(i: int) -> str:
    return f"Item number {i} is described here at length. " + DESC


def prepare_cfg(tmp_path, data_file, *overrides, n=(3, 1, 1)):
    return make_cfg(tmp_path, f"data.path={data_file}", f"data.n_train={n[0]}", f"data.n_validation={n[1]}",
                    f"data.n_test={n[2]}", "data.max_content_chars=null", *overrides)


# ---------------------------------------------------------------------------- cleaning
def test_clean_text_decodes_entities_strips_tags_and_folds_space():
    assert clean_text("It&#8217;s <b>great</b>&nbsp;&amp;\n\n  cheap<br/>") == "It’s great & cheap"


def test_clean_text_decodes_double_encoded_entities():
    assert clean_text("Rock &amp;#8217;n roll") == "Rock ’n roll"


def test_clean_text_turns_line_breaks_into_spaces_and_drops_inline_tags():
    assert clean_text("One.<br>Two <i>three</i>.<p>Four</p>") == "One. Two three. Four"


def test_clean_text_keeps_comparisons_that_are_not_tags():
    assert clean_text("fits 3 < 5 and 7 > 2") == "fits 3 < 5 and 7 > 2"


def test_title_key_ignores_case_punctuation_and_spacing():
    assert title_key("Girls' Ballet-Tutu,  NEON pink") == title_key("girls ballet tutu neon Pink")
    assert title_key("Café’s Mug — Blue") == title_key("cafés mug blue")
    assert title_key("Tutu 2") != title_key("Tutu 3")


def test_cap_chars_cuts_at_a_word_boundary():
    text, cut = cap_chars("one two three four five", 12)
    assert (text, cut) == ("one two", True)
    assert cap_chars("short", 12) == ("short", False)


# ---------------------------------------------------------------------------- the funnel, exactly
def funnel_file(path):
    lines = [row(f"U{i}", f"Product title {i}", long_desc(i)) for i in range(10)]
    lines += [
        b"",                                          # blank_line
        b"   ",                                       # blank_line
        b'{"uid": "X1", "title": "broken',           # invalid_json
        b'{"uid": "X2", "title": "Caf\xe9", "content": "x"}',  # invalid_utf8
        b"[1, 2, 3]",                                 # not_an_object
        {"uid": "X3", "content": DESC},              # bad_title (missing)
        {"uid": "X4", "title": 42, "content": DESC},  # bad_title (not a string)
        {"uid": "X5", "title": "Fine title here"},   # bad_content (missing)
        row("D1", "TV", DESC),                        # title_too_short
        row("D2", "Empty content title", ""),        # content_empty
        row("D3", "Tags only content", "<br><br>"),  # content_empty after cleaning
        row("D4", "Short content title", "Too short."),  # content_too_short
        row("D5", "Echo Title: Product Thing, Long Name", "echo title product thing long name!!!!!!"),  # content_repeats_title
        row("D6", "Product title 3", long_desc(3)),  # duplicate_pair (same title and content as U3)
        row("D7", "PRODUCT TITLE 4", "A different description of the same product, long enough to keep."),  # duplicate_title
        row("D8", "No whole sentence here", "A long description that the dataset cut before its first full"),  # no_whole_sentence
    ]
    return write_lines(path, lines)


def test_funnel_counts_every_line_by_reason(tmp_path):
    cfg = prepare_cfg(tmp_path, funnel_file(tmp_path / "trn.json"))
    report = prepare.run(cfg).report
    assert report["lines_read"] == 26
    assert report["malformed_by_reason"] == {"blank_line": 2, "invalid_utf8": 1, "invalid_json": 1,
                                             "not_an_object": 1, "bad_title": 2, "bad_content": 1}
    assert report["malformed"] == 8
    assert report["dropped"] == {"title_too_short": 1, "content_empty": 2, "content_too_short": 1,
                                 "content_repeats_title": 1, "duplicate_pair": 1, "duplicate_title": 1,
                                 "no_whole_sentence": 1}
    assert report["eligible"] == 10
    assert report["malformed"] + sum(report["dropped"].values()) + report["eligible"] == report["lines_read"]


def test_funnel_reports_offending_line_numbers(tmp_path):
    cfg = prepare_cfg(tmp_path, funnel_file(tmp_path / "trn.json"))
    lines = prepare.run(cfg).report["malformed_example_lines"]
    assert lines["blank_line"] == [11, 12]
    assert lines["invalid_json"] == [13]
    assert lines["invalid_utf8"] == [14]
    assert lines["not_an_object"] == [15]
    assert lines["bad_title"] == [16, 17]


def test_report_and_splits_are_written(tmp_path):
    cfg = prepare_cfg(tmp_path, funnel_file(tmp_path / "trn.json"))
    prepare.run(cfg)
    report = json.loads((cfg.data_dir / "prepare_report.json").read_text())
    assert report["split_sizes"] == {"train": 3, "validation": 1, "test": 1}
    for name, size in report["split_sizes"].items():
        rows = stages.read_split(cfg, name)
        assert len(rows) == size and set(rows[0]) == {"uid", "title", "content"}


def test_html_is_decoded_in_the_written_splits(tmp_path):
    data = write_lines(tmp_path / "trn.json", [row(f"U{i}", f"Caf&eacute; Mug {i}", "It&#8217;s <b>big</b>. " + DESC)
                                               for i in range(5)])
    cfg = prepare_cfg(tmp_path, data)
    rows = sum(prepare.run(cfg).splits.values(), [])
    assert all(r["title"].startswith("Café Mug") and r["content"].startswith("It’s big. ") for r in rows)


def test_dedupe_titles_off_keeps_title_variants(tmp_path):
    cfg = prepare_cfg(tmp_path, funnel_file(tmp_path / "trn.json"), "data.dedupe_titles=false")
    report = prepare.run(cfg).report
    assert report["dropped"]["duplicate_title"] == 0
    assert report["eligible"] == 11


# ---------------------------------------------------------------------------- sampling
def sample_file(path, n=200):
    return write_lines(path, [row(f"U{i:04d}", f"Product number {i}", long_desc(i)) for i in range(n)])


def split_uids(result):
    return {name: [r["uid"] for r in rows] for name, rows in result.splits.items()}


def test_same_seed_gives_same_rows_from_a_shuffled_file(tmp_path):
    original = sample_file(tmp_path / "trn.json")
    lines = original.read_bytes().splitlines()
    random.Random(1).shuffle(lines)
    shuffled = tmp_path / "shuffled.json"
    shuffled.write_bytes(b"\n".join(lines) + b"\n")
    a = prepare.run(prepare_cfg(tmp_path / "a", original, n=(20, 5, 5)))
    b = prepare.run(prepare_cfg(tmp_path / "b", shuffled, n=(20, 5, 5)))
    assert split_uids(a) == split_uids(b)


def test_other_seed_gives_other_rows(tmp_path):
    data = sample_file(tmp_path / "trn.json")
    a = prepare.run(prepare_cfg(tmp_path / "a", data, n=(20, 5, 5)))
    b = prepare.run(prepare_cfg(tmp_path / "b", data, "data.seed=7", n=(20, 5, 5)))
    assert split_uids(a)["train"] != split_uids(b)["train"]


def test_block_size_and_worker_count_do_not_change_the_sample(tmp_path):
    data = sample_file(tmp_path / "trn.json")
    one = prepare.run(prepare_cfg(tmp_path / "a", data, "data.workers=1", "data.read_block_bytes=1048576", n=(20, 5, 5)))
    two = prepare.run(prepare_cfg(tmp_path / "b", data, "data.workers=2", "data.read_block_bytes=700", n=(20, 5, 5)))
    assert split_uids(one) == split_uids(two)
    assert one.report["lines_read"] == two.report["lines_read"] == 200


def test_parallel_workers_count_line_numbers_across_ranges(tmp_path):
    lines = [row(f"U{i}", f"Product number {i}", long_desc(i)) for i in range(100)]
    lines[80] = b"not json at all"
    data = write_lines(tmp_path / "trn.json", lines)
    report = prepare.run(prepare_cfg(tmp_path, data, "data.workers=2", n=(5, 1, 1))).report
    assert report["malformed_example_lines"]["invalid_json"] == [81]


def test_growing_the_file_beyond_the_sample_keeps_lower_ranked_rows(tmp_path):
    small = prepare.run(prepare_cfg(tmp_path / "a", sample_file(tmp_path / "small.json", 200), n=(20, 5, 5)))
    large = prepare.run(prepare_cfg(tmp_path / "b", sample_file(tmp_path / "large.json", 400), n=(20, 5, 5)))
    small_ranks = {r["uid"] for rows in small.splits.values() for r in rows}
    large_ranks = {r["uid"] for rows in large.splits.values() for r in rows}
    # rows of the larger file that were also in the smaller one keep their place in the ranking
    assert {u for u in large_ranks if int(u[1:]) < 200} <= small_ranks


def test_splits_are_disjoint_and_sized_as_asked(tmp_path):
    result = prepare.run(prepare_cfg(tmp_path, sample_file(tmp_path / "trn.json"), n=(50, 10, 10)))
    uids = split_uids(result)
    assert [len(uids[k]) for k in ("train", "validation", "test")] == [50, 10, 10]
    assert not set(uids["train"]) & set(uids["test"])
    assert not set(uids["train"]) & set(uids["validation"])
    assert not set(uids["validation"]) & set(uids["test"])


def test_n_train_minus_one_takes_every_eligible_row_not_held_out(tmp_path):
    """The full profile's data.n_train: -1."""
    result = prepare.run(prepare_cfg(tmp_path, sample_file(tmp_path / "trn.json"), n=(-1, 10, 10)))
    sizes = result.report["split_sizes"]
    assert sizes["validation"] == sizes["test"] == 10
    assert sizes["train"] == result.report["eligible"] - 20 - result.report["leakage_removed"]


def test_no_held_out_title_leaks_into_train(tmp_path):
    # every title appears twice with different content; title dedupe off so both copies are eligible
    lines = []
    for i in range(60):
        lines.append(row(f"A{i}", f"Shared title {i}", long_desc(i)))
        lines.append(row(f"B{i}", f"shared TITLE {i}!", "Another long description for the same product name " + str(i) + "."))
    data = write_lines(tmp_path / "trn.json", lines)
    result = prepare.run(prepare_cfg(tmp_path, data, "data.dedupe_titles=false", n=(40, 10, 10)))
    held_out = {title_key(r["title"]) for r in result.splits["test"] + result.splits["validation"]}
    assert not held_out & {title_key(r["title"]) for r in result.splits["train"]}
    assert result.report["leakage_removed"] > 0


def test_official_test_file_supplies_the_test_split(tmp_path):
    data = sample_file(tmp_path / "trn.json")
    test_file = write_lines(tmp_path / "tst.json", [row(f"T{i}", f"Test product {i}", long_desc(i)) for i in range(20)])
    result = prepare.run(prepare_cfg(tmp_path, data, f"data.test_path={test_file}", n=(20, 5, 5)))
    assert all(r["uid"].startswith("T") for r in result.splits["test"])
    assert result.report["test_file"]["lines_read"] == 20


def test_gzip_input_gives_the_same_result(tmp_path):
    data = sample_file(tmp_path / "trn.json")
    with open(data, "rb") as src, gzip.open(tmp_path / "trn.json.gz", "wb") as dst:
        shutil.copyfileobj(src, dst)
    plain = prepare.run(prepare_cfg(tmp_path / "a", data, n=(20, 5, 5)))
    packed = prepare.run(prepare_cfg(tmp_path / "b", tmp_path / "trn.json.gz", n=(20, 5, 5)))
    assert split_uids(plain) == split_uids(packed)
    assert plain.report["lines_read"] == packed.report["lines_read"]


def test_too_few_rows_is_a_clear_error(tmp_path):
    cfg = prepare_cfg(tmp_path, sample_file(tmp_path / "trn.json", 20), n=(50, 5, 5))
    with pytest.raises(ValueError, match=r"not enough eligible rows .*train: 10 of 50"):
        prepare.run(cfg)


def test_content_cap_is_applied_to_the_sample(tmp_path):
    cfg = prepare_cfg(tmp_path, sample_file(tmp_path / "trn.json"), "data.max_content_chars=60", n=(20, 5, 5))
    result = prepare.run(cfg)
    assert all(len(r["content"]) <= 60 for rows in result.splits.values() for r in rows)
    assert result.report["content_truncated"] == 30


def test_bundled_sample_runs_and_conserves_lines(tmp_path):
    cfg = make_cfg(tmp_path)
    report = prepare.run(cfg).report
    assert report["lines_read"] == sum(1 for _ in open(cfg.resolve(cfg.data.path), "rb"))
    assert report["malformed"] + sum(report["dropped"].values()) + report["eligible"] == report["lines_read"]
    assert report["malformed"] == 7


@pytest.mark.parametrize("escaped", [True, False], ids=["json-escaped", "raw-utf8"])
@pytest.mark.parametrize("raw", ["Two  spaces here", "Line\nbreak", "Tab\there", "No\u00a0break", "Edge space ",
                                 "Em\u2003space", "Ideographic\u3000space", "Line\u2028separator", "Narrow\u202fnbsp",
                                 "Vertical\x0btab", "Next\x85line", "File\x1cseparator"])
def test_whitespace_is_folded_whatever_the_raw_line_looks_like(tmp_path, raw, escaped):
    content = f"{raw} {DESC}"
    data = write_lines(tmp_path / "trn.json", [json.dumps(row(f"U{i}", f"{raw} title {i}", content), ensure_ascii=escaped)
                                               for i in range(5)])
    rows = sum(prepare.run(prepare_cfg(tmp_path, data)).splits.values(), [])
    assert all(r["content"] == " ".join(content.split()) for r in rows)
    assert all(r["title"] == " ".join(r["title"].split()) for r in rows)


def test_length_histogram_matches_numpy_on_the_declared_bins():
    from array import array

    import numpy as np

    from descgen.scan import LENGTH_BINS, ScanResult, _histogram

    lengths = np.random.default_rng(0).integers(0, 30_000, 10_000)
    result = ScanResult(raw_title_len=array("I", lengths.tolist()))
    expected, _ = np.histogram(np.minimum(lengths, LENGTH_BINS[-1] - 1), bins=LENGTH_BINS)
    assert _histogram([result], "raw_title_len") == expected.tolist()


def test_a_missing_data_file_says_where_to_get_it(tmp_path):
    cfg = prepare_cfg(tmp_path, tmp_path / "trn.json")
    with pytest.raises(FileNotFoundError, match="LF-AmazonTitles-1.3MM"):
        prepare.run(cfg)


WIDE_SPACES = [c.encode() for c in "\u1680\u2000\u2005\u200a\u2028\u2029\u202f\u205f\u3000"]


def test_block_probe_for_double_spaces_and_wide_spaces_agrees_with_a_per_line_search():
    rng = random.Random(5)
    alphabet = [b"a", b"b", b" ", b"\n", "’".encode(), "\u200b".encode(), "\u3001".encode(), *WIDE_SPACES]
    for trial in range(600):
        block = b"".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))
        if trial % 2 and block:
            block = block.rstrip(b"\n") + b"\n"  # blocks end at a newline, except the file's last one
        lines = scan._lines(block)
        expected = [b"  " in line or any(w in line for w in WIDE_SPACES) for line in lines]
        assert scan.whitespace_run_lines(block, len(lines)) == expected, block


def test_fold_whitespace_knows_every_character_str_split_splits_on():
    for c in map(chr, range(0x110000)):
        text = f"a{c}b"
        assert clean.fold_whitespace(text) == " ".join(text.split()), hex(ord(c))


def test_double_spaces_fold_at_either_byte_parity(tmp_path):
    # the same run of spaces at an even and at an odd offset of the block, and at the very end of the file
    lines = [row("u1", "Even  title", "x" * 50 + "  end"), row("u2", "Odd   title", "y" * 51 + "  end")]
    path = write_lines(tmp_path / "trn.json", lines)
    path.write_bytes(path.read_bytes() + b'{"uid": "u3", "title": "Last", "content": "' + b"z" * 45 + b'  "}')
    result = scan.scan(path, make_cfg(tmp_path, "data.min_title_chars=4").data, keep=10)
    kept = {uid: (title, content) for _, _, uid, title, content in result.candidates}
    assert kept["u1"] == ("Even title", "x" * 50 + " end")
    assert kept["u2"] == ("Odd title", "y" * 51 + " end")
    assert kept["u3"] == ("Last", "z" * 45)


# ---------------------------------------------------------------------------- the C scanner (descgen/_c/_scan.c)
# The C loop must make every decision the Python loop makes: same counts, line numbers, keys, lengths and
# candidates. .ci/run fails when the extension is not built, so these never skip in CI.
needs_c = pytest.mark.skipif(scan._c_scan is None, reason="descgen._scan is not built (pip install -e .)")

ATOMS = ["&", "&amp;", "&amp", "&amp;#8217;", "&#", "&#x", "&#12", "&#x1F600;", "&lt;", "&gt;", "&quot;", "&apos;",
         "&nbsp;", "&eacute;", "&copy", "&notit;", "&#0;", "&#99999999999;", "&" + "a" * 40 + ";", "&Amp;", "<", ">",
         "<b>", "</b>", "<br/>", "<BR>", "< p>", "<p class='x'>", "</div>", "<1>", "<a<b>", "<h7>", "<H1>", " ", "  ",
         "\n", "\t", "\r", "\xa0", "\u2003", "\u3000", "\u2028", "\u202f", "\x1c", "\x85", "\f", "\x0b", "a", "Z", "é",
         "’", "😀", ";", "#", "x", "&&", "&;", "<<", ">>", "&lt;b&gt;", "&amp;lt;"]


def fuzz_text(rng: random.Random, atoms: int) -> str:
    return "".join(rng.choice(ATOMS) for _ in range(rng.randint(0, atoms)))


def no_fallback(*args):
    raise AssertionError(f"the C clean_text handed {args[0][:60]!r} to Python")


def c_clean(text, decode=True, strip=True, fold=True, fallback=no_fallback):
    """The C clean_text; by default it must not hand the text to the Python one (which would test nothing)."""
    return scan._c_scan.clean_text(text, decode, strip, fold, fallback)


@needs_c
def test_c_clean_text_matches_python_on_every_numeric_reference():
    # every code point, and past the last; "&#x26;" decodes to "&", which would start a named reference in
    # html.unescape's second pass (left to Python), so it goes last
    text = "".join("&#x%x;" % n for n in range(0x110010) if n != 0x26) + "&#x26;"
    assert c_clean(text) == clean_text(text)
    # the other spellings over every boundary of html.unescape's rules (controls, cp1252, surrogates,
    # noncharacters, the end of Unicode, numbers too big for any integer type)
    edges = [*range(0x2100), *range(0xD7F0, 0xE010), *range(0xFDC0, 0x10010), *range(0x10FFF0, 0x110010),
             *(plane * 0x10000 + low for plane in range(17) for low in (0xFFFD, 0xFFFE, 0xFFFF)), 10**30]
    edges.remove(0x26)
    for form in ("&#%d;", "&#%d", "&#X%X", "a&#%db", "&#%08d;"):
        text = "".join(form % n for n in edges)
        assert c_clean(text) == clean_text(text), form
        assert c_clean(text, fold=False, strip=False) == clean_text(text, fold=False, strip_tags=False), form


@needs_c
def test_c_clean_text_folds_and_strips_exactly_what_str_split_does():
    every = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF and c != 0x26]  # "&x..." is a named reference
    text = "x".join(every) + "  "  # every code point between letters; the double space makes it fold
    assert c_clean(text) == clean_text(text)
    for ch in [c for c in every if c.isspace()] + ["x", "é", "’", "😀", "\u1234"]:
        for text in (f"{ch}&quot;{ch}", f"{ch}{ch}a&lt;{ch}", f"<b>{ch}</b>"):
            assert c_clean(text, fold=False) == clean_text(text, fold=False), repr(text)


@needs_c
@pytest.mark.parametrize("tag", sorted(clean._BLOCK_TAGS) + ["b", "span", "hr2", "tab", "h", "a1"])
def test_c_clean_text_strips_each_tag_as_python_does(tag):
    for text in (f"a<{tag}>b</{tag}>c", f"a<{tag.upper()} class='x'>b</{tag.title()} >c", f"a<{tag}/>b<{tag}"):
        assert c_clean(text) == clean_text(text), text


@needs_c
def test_c_clean_text_matches_python_on_fuzzed_text():
    rng = random.Random(0)
    handed_over = []
    for _ in range(50_000):
        text = fuzz_text(rng, 12)
        flags = (rng.random() < 0.9, rng.random() < 0.9, rng.random() < 0.5)
        got = c_clean(text, *flags, fallback=lambda *args: handed_over.append(1) or clean_text(*args))
        assert got == clean_text(text, *flags), (text, flags)
    assert len(handed_over) < 25_000  # named references beyond the six go to Python; most text stays in C


def fuzz_file(path, n=3000, seed=0):
    rng = random.Random(seed)
    titles = [f"Product {i} " + fuzz_text(rng, 4) for i in range(n // 3)] + ["Café crème", "ÉCHO Title Here!!"]
    lines = []
    for i in range(n):
        title = rng.choice(titles)
        kind = rng.random()
        content = ("" if kind < 0.25 else title.upper() + "!!" if kind < 0.3 else
                   " ".join([fuzz_text(rng, 6), long_desc(i)[: rng.randint(10, 120)], fuzz_text(rng, 6)]))
        uid = rng.choice([f"U{i}", f"U{i % 500}", i, None, 1.5, "Ü{i}"])  # repeats, numbers, nulls, non-ASCII
        item = {"title": title, "content": content, "target_ind": [i]}
        if uid is not None or rng.random() < 0.5:
            item["uid"] = uid
        lines.append(json.dumps(item, ensure_ascii=rng.random() < 0.5))
        if rng.random() < 0.02:
            lines.append(rng.choice([b"", b"  ", b"{", b"[1]", b'{"title": 1}', b'{"title": "t"}', b"\xff\xfe",
                                     '{"title": "x", "content": "y"} trailing']))
    return write_lines(path, lines)


def scan_both(path, cfg, keep):
    runs = [scan.scan(path, dataclasses.replace(cfg.data, scanner=s), keep=keep) for s in ("c", "python")]
    return runs


@needs_c
@pytest.mark.parametrize("overrides,keep", [
    ((), 200),
    (("data.read_block_bytes=700",), 50),  # many blocks: lines and candidates carried across them
    (("data.decode_html=false", "data.strip_tags=false", "data.drop_title_echo=false"), 10_000),
    (("data.min_title_chars=0", "data.min_content_chars=0", "data.dedupe_titles=false"), 0),
])
def test_c_and_python_scanners_agree_on_a_fuzzed_file(tmp_path, overrides, keep):
    data = fuzz_file(tmp_path / "trn.json")
    c, python = scan_both(data, make_cfg(tmp_path, *overrides), keep)
    assert c.malformed and c.dropped and c.lines > 3000  # the file exercises what it should
    assert c == python


@needs_c
def test_c_and_python_scanners_agree_on_the_funnel_and_the_bundled_sample(tmp_path):
    for data in (funnel_file(tmp_path / "funnel.json"), make_cfg(tmp_path).resolve(make_cfg(tmp_path).data.path)):
        c, python = scan_both(data, make_cfg(tmp_path), keep=100)
        assert c == python


def test_scanner_auto_falls_back_to_python_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(scan, "_c_scan", None)
    cfg = prepare_cfg(tmp_path, sample_file(tmp_path / "trn.json"), n=(20, 5, 5))
    assert prepare.run(cfg).report["scanner"] == "python"
    with pytest.raises(RuntimeError, match="pip install -e ."):
        prepare.run(prepare_cfg(tmp_path, tmp_path / "trn.json", "data.scanner=c", n=(20, 5, 5)))


@pytest.mark.parametrize("where, abi, why", [("elsewhere", scan.C_SCAN_ABI, "another checkout"),
                                              ("here", None, "older sources"), ("here", scan.C_SCAN_ABI - 1, "older")])
def test_a_c_scanner_from_another_checkout_or_older_sources_is_not_used(monkeypatch, tmp_path, where, abi, why):
    import types

    import descgen

    fake = types.ModuleType("descgen._scan")
    fake.__file__ = str((tmp_path if where == "elsewhere" else scan.Path(scan.__file__).parent) / "_scan.so")
    if abi is not None:
        fake.ABI = abi
    monkeypatch.setattr(descgen, "_scan", fake, raising=False)
    module, error = scan._load_c_scan()
    assert module is None and why in error


@needs_c
def test_the_built_c_scanner_is_this_checkouts_and_current():
    assert scan._load_c_scan() == (scan._c_scan, None)


@needs_c
def test_report_names_the_c_scanner_when_built(tmp_path):
    cfg = prepare_cfg(tmp_path, sample_file(tmp_path / "trn.json"), n=(20, 5, 5))
    assert prepare.run(cfg).report["scanner"] == "c"


@needs_c
def test_c_hash_is_xxh3_64(tmp_path):
    import xxhash

    for data, seed in [(b"", 0), (b"uid-1", 42), ("Ü".encode() * 300, 7)]:  # short and long-input code paths
        assert scan._c_scan.xxh3_64(data, seed) == xxhash.xxh3_64_intdigest(data, seed)


def test_dedupe_keeps_the_lowest_rank_and_then_the_earlier_row_of_each_key():
    import numpy as np

    keys = np.array([5, 5, 5, 7, 9, 9], np.uint64)
    ranks = np.array([3, 1, 1, 2, 8, 4], np.uint64)  # rows 1 and 2 tie (a repeated uid): row 1 came first
    everyone = np.ones(6, bool)
    assert scan._lowest_rank_per_key(keys, ranks, everyone).tolist() == [False, True, False, True, False, True]
    without_row_1 = everyone.copy()
    without_row_1[1] = False
    assert scan._lowest_rank_per_key(keys, ranks, without_row_1).tolist() == [False, False, True, True, False, True]


def test_word_clouds_are_drawn_and_their_tables_count_the_split(tmp_path):
    from collections import Counter

    cfg = prepare_cfg(tmp_path, sample_file(tmp_path / "trn.json"), n=(50, 10, 10))
    rows = prepare.run(cfg).splits["train"]
    clouds = prepare.word_clouds(cfg, rows)
    for field in ("title", "content"):
        png = clouds[field]["png"]
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
        direct = Counter(w for r in rows for w in prepare._WORD_RE.findall(r[field].lower()))
        for word, count in clouds[field]["words"].itertuples(index=False):
            assert count == direct[word]
        assert len(clouds[field]["words"]) == prepare.TOP_WORDS
    assert "the" not in set(clouds["content"]["words"]["word"]) and "and" not in set(clouds["title"]["words"]["word"])


def test_word_pairs_skip_stop_words_and_count_neighbours_only():
    words, bigrams = prepare.word_counts(["The pink tutu and the pink tutu", "Pink tutu for girls"])
    assert words["pink"] == 3 and words["tutu"] == 3 and "the" not in words
    assert bigrams == {"pink tutu": 3}  # "tutu for girls": 'for' is a stop word, so no pair spans it


# ---------------------------------------------------------------------------- whole sentences
def test_every_description_is_trimmed_to_its_last_whole_sentence_and_counted(tmp_path):
    cut = "A sturdy kettle that boils fast. It pours cleanly. The handle stays cool and the"  # the dataset cut it
    praise = "A wonderful read. “Gripping from start to finish.” — The Daily Planet"  # a credit line ends whole
    lines = [row(f"U{i}", f"Product title {i}", long_desc(i)) for i in range(8)]
    lines += [row("C1", "Cut kettle", cut), row("C2", "Praised book", praise),
              row("C3", "Capped text", "One whole sentence stands here. " * 3 + "And a long last one " * 5 + "end.")]
    data = write_lines(tmp_path / "trn.json", lines)
    result = prepare.run(prepare_cfg(tmp_path, data, "data.max_content_chars=130", n=(9, 1, 1)))
    contents = {r["uid"]: r["content"] for rows in result.splits.values() for r in rows}
    assert contents["C1"] == "A sturdy kettle that boils fast. It pours cleanly."
    assert contents["C2"] == praise
    assert contents["C3"] == " ".join(["One whole sentence stands here."] * 3)  # capped at 130, then trimmed
    assert result.report["descriptions"] == {
        "counted_over": "every eligible row", "rows": 11, "stopped_mid_sentence": 1, "capped": 1, "trimmed": 2,
        "dropped": 0, "stopped_mid_sentence_share": 1 / 11}
    catalogue = retrieval.Catalogue.open(prepare_cfg(tmp_path, data, "data.max_content_chars=130", n=(9, 1, 1)))
    assert set(catalogue.table.column("content").to_pylist()) == set(contents.values())  # copies end whole too


def test_trim_to_sentence_off_keeps_descriptions_as_cleaned_and_capped(tmp_path):
    lines = [row(f"U{i}", f"Product title {i}", long_desc(i)) for i in range(4)]
    lines.append(row("C1", "Cut kettle", "A sturdy kettle that boils fast. The handle stays cool and the"))
    data = write_lines(tmp_path / "trn.json", lines)
    result = prepare.run(prepare_cfg(tmp_path, data, "data.trim_to_sentence=false", n=(3, 1, 1)))
    contents = {r["uid"]: r["content"] for rows in result.splits.values() for r in rows}
    assert contents["C1"].endswith("stays cool and the")
    assert result.report["descriptions"]["stopped_mid_sentence"] == 1 and result.report["descriptions"]["trimmed"] == 0
