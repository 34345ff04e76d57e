"""The evidence report: determinism, offline self-containment, CSP, traceable numbers,
hostile names, the JSON/CSV bundles and the `report` verb."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from purgewatch.cli import cli
from purgewatch.errors import AnalysisError, InputError
from purgewatch.report import ReportFiles, gather_findings, render_html, write_report
from purgewatch.report._render import output_paths
from purgewatch.safetext import json_for_html, visible
from purgewatch.store import Store
from test_report_data import (  # noqa: F401
    HOSTILE_NAMES,
    LONG_BIO,
    N_REGAIN,
    STAMP,
    build_store,
    fixture_full_report,
    fixture_full_store,
)

STAMP_A, STAMP_B = STAMP, "2027-01-01T00:00:00Z"


@pytest.fixture(scope="module")
def built(full_store: Store, full_report: ReportFiles) -> tuple[Store, Path, str]:
    return full_store, full_report.html.parent.parent, full_report.html.read_text("utf-8")


def _strip_stamp(text: str, stamp: str) -> str:
    from purgewatch.timefmt import human_time

    # one place: <time datetime="ISO" title="ISO">human text</time>
    assert text.count(stamp) == 2 and text.count(human_time(stamp)) == 1, "the timestamp appears in one place only"
    return text.replace(stamp, "STAMP").replace(human_time(stamp), "STAMP")


def test_same_store_gives_byte_identical_report_apart_from_the_timestamp(built: tuple[Store, Path, str]) -> None:
    store, root, html_a = built
    other = write_report(store, root / "other", generated_at=STAMP_B)
    html_b = other.html.read_text("utf-8")
    assert html_a != html_b
    assert _strip_stamp(html_a, STAMP_A) == _strip_stamp(html_b, STAMP_B)
    # the timestamp sits on exactly one line of the HTML
    diff = [(a, b) for a, b in zip(html_a.splitlines(), html_b.splitlines(), strict=True) if a != b]
    assert len(diff) == 1 and 'id="generated-at"' in diff[0][0]
    json_a = json.loads((root / "out" / "findings.json").read_text())
    json_b = json.loads(other.json.read_text())
    assert json_a.pop("generated_at") == STAMP_A and json_b.pop("generated_at") == STAMP_B
    assert json_a == json_b
    for f in sorted((root / "out" / "csv").iterdir()):
        assert f.read_bytes() == (other.csv_dir / f.name).read_bytes(), f.name


def test_report_is_self_contained_and_runs_no_script(built: tuple[Store, Path, str]) -> None:
    _, _, html = built
    tree = HTMLParser(html)
    scripts = tree.css("script")
    assert len(scripts) == 1 and scripts[0].attributes.get("type") == "application/json"
    assert not tree.css("link, img, iframe, object, embed, base, form, audio, video, source")
    for node in tree.css("[href], [src], [action], [xlink\\:href]"):
        for attr in ("href", "src", "action"):
            v = node.attributes.get(attr)
            if v is not None:
                assert v.startswith("#"), f"{node.tag} {attr}={v!r} would leave the file"
    handlers = [(n.tag, a) for n in tree.css("*") for a in n.attributes if a.lower().startswith("on")]
    assert handlers == []
    assert "url(" not in html.split("</style>")[0].split("<style>")[1]


def test_csp_meta_allows_only_the_inline_style_by_hash(built: tuple[Store, Path, str]) -> None:
    _, _, html = built
    tree = HTMLParser(html)
    meta = tree.css_first('meta[http-equiv="Content-Security-Policy"]')
    assert meta is not None
    csp = meta.attributes["content"] or ""
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";") if d.strip())
    assert directives["default-src"] == "'none'" and directives["script-src"] == "'none'"
    style = tree.css("style")
    assert len(style) == 1
    digest = base64.b64encode(hashlib.sha256(style[0].text().encode()).digest()).decode()
    assert directives["style-src"] == f"'sha256-{digest}'"
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp


def test_every_link_in_the_report_resolves(built: tuple[Store, Path, str]) -> None:
    _, _, html = built
    tree = HTMLParser(html)
    ids = {n.attributes["id"] for n in tree.css("[id]")}
    hrefs = [n.attributes["href"] or "" for n in tree.css("[href]")]
    assert len(hrefs) > 100
    missing = sorted({h for h in hrefs if h[1:] not in ids})
    assert not missing, missing[:10]


def test_every_number_links_to_the_stored_rows_behind_it(built: tuple[Store, Path, str]) -> None:
    _, _, html = built
    tree = HTMLParser(html)
    nums = tree.css("a.num")
    assert len(nums) >= 10
    for a in nums:
        fact = tree.css_first(f"tr[id='{(a.attributes['href'] or '')[1:]}']")
        assert fact is not None
        refs = [x.attributes["href"] for x in fact.css("a")]
        assert refs, f"fact {fact.attributes['id']} names no rows"
        for r in refs:
            row = tree.css_first(f"tr[id='{(r or '')[1:]}']")
            assert row is not None and row.parent is not None
            # appendix rows carry provenance: source and a payload hash or request
            cells = [c.text() for c in row.css("td")]
            assert any(cells), r
    summary = tree.css_first("#summary ul")
    assert summary is not None and len(summary.css("a.num")) >= 4


def test_charts_are_inline_svg_with_points_linked_to_observations(built: tuple[Store, Path, str]) -> None:
    _, root, html = built
    tree = HTMLParser(html)
    series = tree.css("svg.series")
    assert len(series) == 7
    leader = series[0]
    # the dots that link are exactly the leader's readings the report cites (in its appendix)
    bundle = json.loads((root / "out" / "findings.json").read_text())
    appendix = {r["ref"] for r in bundle["observations"] if r["cited"]}
    acc = next(a for a in bundle["accounts"] if a["series_shown"])
    cited = [p["ref"] for p in acc["series"] if p["ref"] in appendix]
    linked = [(a.attributes["href"] or "")[1:] for a in leader.css("a.obs-point")]
    assert len(acc["series"]) == 40 and 0 < len(linked) < 40
    assert sorted(linked) == sorted(cited)
    assert tree.css("svg.timeline rect") and tree.css("svg.intervals circle")
    assert tree.css("svg.stacked rect")
    bands = tree.css("a.event-band")
    assert bands, "detected events are marked on the charts"


def test_hostile_strings_are_inert_everywhere(built: tuple[Store, Path, str]) -> None:
    _, _, html = built
    body, _, tail = html.partition('<script type="application/json" id="purgewatch-findings">')
    data, _, after = tail.partition("</script>")
    assert after.strip() == "</body>\n</html>"
    assert "<script>alert(1)</script>" not in html
    assert "<img src=x" not in html and "onerror=alert" not in body.replace("onerror=alert(1)&gt;", "")
    assert "\u202e" not in html and "\x00" not in html
    assert "__pwned" not in body                          # the 10,000-character bio is clipped ...
    assert LONG_BIO not in html
    assert "[10,000 characters, clipped]" in body
    assert "⟨U+202E⟩" in body and "⟨U+0000⟩" in body       # ... and hidden characters shown
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body
    assert "Minister 🇺🇳🔥 of Truth" in body                 # emoji untouched
    assert 'href="javascript' not in html.lower()
    # the embedded JSON cannot close its element, and reads back to the exact data
    assert "<" not in data and ">" not in data
    embedded = json.loads(data)
    names = {a["display_name"] for a in embedded["accounts"]} | {a["label"] for a in embedded["accounts"]}
    for hostile in HOSTILE_NAMES:
        assert hostile in names
    assert LONG_BIO in {a["description"] for a in embedded["accounts"]}


def test_embedded_json_equals_the_json_bundle(built: tuple[Store, Path, str]) -> None:
    _, root, html = built
    data = html.split('id="purgewatch-findings">')[1].split("</script>")[0]
    bundle = json.loads((root / "out" / "findings.json").read_text())
    bundle.pop("generated_at")
    embedded = json.loads(data)
    # the embedded copy is the bundle without its bulk, and says so
    assert "findings.json" in embedded.pop("omitted")
    for key in ("observations", "snapshots", "provenance", "transitions"):
        bundle.pop(key)
    for a in bundle["accounts"]:
        a.pop("series")
    for x in bundle["forensics"]:
        if x.get("order"):
            x["order"].pop("points", None)
    assert embedded == bundle
    assert len(data) < len((root / "out" / "findings.json").read_text())


def test_csv_bundle_rows_reference_the_same_observations(built: tuple[Store, Path, str]) -> None:
    _, root, _ = built
    d = root / "out" / "csv"
    obs = {r["ref"]: r for r in csv.DictReader(io.StringIO((d / "observations.csv").read_text()))}
    for name in ("series.csv", "facts.csv", "events.csv"):
        rows = list(csv.DictReader(io.StringIO((d / name).read_text())))
        assert rows, name
        for r in rows:
            refs = (r.get("ref") or r.get("refs") or "").split()
            snaps = {x["ref"] for x in csv.DictReader(io.StringIO((d / "snapshots.csv").read_text()))}
            assert all(x in obs or x in snaps for x in refs), (name, refs[:3])
    accounts = (d / "accounts.csv").read_text()
    assert "'=HYPERLINK(" in accounts and ',=HYPERLINK' not in accounts  # no formula injection
    explain = list(csv.DictReader(io.StringIO((d / "explain.csv").read_text())))
    assert any(r["verdict"] == "platform_enforcement" and r["lost"] == "200" for r in explain)


def test_report_findings_match_the_store(built: tuple[Store, Path, str]) -> None:
    store, root, _ = built
    f = json.loads((root / "out" / "findings.json").read_text())
    assert f["availability"]["detect"] == "ok"
    kinds = {e["kind"] for e in f["events"]}
    assert "suspension_wave" in kinds and "follower_drop" in kinds
    wave = next(e for e in f["events"] if e["kind"] == "suspension_wave")
    assert wave["magnitude"] >= 40 and wave["start"].startswith("2026-03-05")
    x = next(x for x in f["explain"] if x["account_id"] == "1001")
    assert x["result"]["lost"] == 200 and x["result"]["lost_breakdown"]["suspended"] == 150
    assert x["result"]["lost_breakdown"]["unfollowed"] == 50
    assert [c["outcome"] for c in f["compare"]] == ["suspended", "drop"]
    gov = next(g for g in f["compare"][0]["groups"] if g["group"] == "government")
    assert (gov["outcome_count"], gov["accounts"]) == (2, 4)
    fx = next(fx for fx in f["forensics"] if fx["account_id"] == "1001")
    assert fx["creation"]["sets"]["lost"]["accounts"] == 200
    assert (fx["regain"]["gained"], fx["regain"]["verdict"]) == (N_REGAIN, "regain_campaign")
    regain_sentence = next(s for s in f["summary"]["sentences"] if "regain" in json.dumps(s))
    fact = next(x for x in f["facts"] if x["id"] == next(p["fact"] for p in regain_sentence if isinstance(p, dict) and "fact" in p))
    assert fact["value"] == N_REGAIN and all(r.startswith("n-") for r in fact["refs"]) and len(fact["refs"]) == 2


def test_missing_analysis_is_said_not_estimated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = build_store(tmp_path / "s", snapshots=False)
    import purgewatch.findings._analyses as analyses

    def cannot(*args: object, **kwargs: object) -> None:
        raise AnalysisError("no group has enough accounts to compare")

    monkeypatch.setattr(analyses, "compare_store", cannot)  # the analysis cannot answer
    f = gather_findings(store)
    assert f.availability["compare"].startswith("not available: suspended: no group has enough")
    assert f.compare == []
    html = render_html(f, generated_at=STAMP_A)
    assert "not available" in html and "This section is left out rather than estimated" in html
    assert not HTMLParser(html).css("svg.intervals circle")


def test_output_paths_and_errors(tmp_path: Path) -> None:
    assert output_paths(tmp_path / "r.html") == (tmp_path / "r.html", tmp_path / "r.json", tmp_path / "r-csv")
    assert output_paths(tmp_path / "dir") == (tmp_path / "dir" / "report.html", tmp_path / "dir" / "findings.json", tmp_path / "dir" / "csv")
    (tmp_path / "file.txt").write_text("x")
    with pytest.raises(InputError):
        output_paths(tmp_path / "file.txt")


def test_report_verb(tmp_path: Path) -> None:
    store = build_store(tmp_path / "s", snapshots=False)
    runner = CliRunner()
    res = runner.invoke(
        cli, ["report", "--store", str(store.path), "--out", str(tmp_path / "r.html"), "--group", "opposition",
              "--from", "2026-03-03T00:00:00Z", "--generated-at", STAMP_A, "--json"],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["generated_at"] == STAMP_A and Path(out["html"]).exists()
    f = json.loads(Path(out["json"]).read_text())
    assert {a["group"] for a in f["accounts"]} == {"opposition"}
    assert f["scope"] == {"from": "2026-03-03T00:00:00Z", "to": None, "groups": ["opposition"]}
    bad = runner.invoke(cli, ["report", "--store", str(store.path), "--out", str(tmp_path / "x.html"), "--from", "yesterday"])
    assert bad.exit_code == 2 and "--from" in bad.output


def test_safe_helpers() -> None:
    assert visible("a\u202eb\x00c") == "a⟨U+202E⟩b⟨U+0000⟩c"
    assert visible("x" * 300).endswith("[300 characters, clipped]")
    enc = str(json_for_html({"k": "</script><!--\u2028&"}))
    assert "</" not in enc and "<!--" not in enc and "\u2028" not in enc
    assert json.loads(enc) == {"k": "</script><!--\u2028&"}




def test_page_leaves_accounts_beyond_its_limit_to_the_bundles(built: tuple[Store, Path, str],
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Past MAX_HTML_OTHER_ACCOUNTS the page lists the accounts findings name and leaves
    the others (their latest-reading facts and rows) to the bundles; every link resolves."""
    from purgewatch.report import _render

    root = built[1]
    f = json.loads((root / "out" / "findings.json").read_text())
    f.pop("generated_at")
    for a in f["accounts"][2:]:  # charted accounts made table rows: the fixture has few accounts
        a["series_shown"] = False
    rest = [a for a in f["accounts"] if not a["series_shown"]]
    assert len(rest) >= 3
    full_view, none_hidden = _render.html_view(f)
    assert none_hidden == 0 and full_view is f
    whole = render_html(f, generated_at=STAMP_A)
    monkeypatch.setattr(_render, "MAX_HTML_OTHER_ACCOUNTS", 1)
    view, hidden = _render.html_view(f)
    assert hidden == len(rest) - len([a for a in view["accounts"] if not a["series_shown"]]) > 0
    gone = {a["key"] for a in rest} - {a["key"] for a in view["accounts"]}
    gone_facts = {a["latest"]["fact"] for a in rest if a["key"] in gone and a["latest"]}
    assert gone_facts and not gone_facts & {x["id"] for x in view["facts"]}
    # rows only a left-out fact cites are left out (here the group comparisons cite them all)
    cited_by_shown = {r for x in view["facts"] for r in x["refs"]}
    assert {r["ref"] for r in f["observations"]} - {r["ref"] for r in view["observations"]} <= (
        {r for x in f["facts"] if x["id"] in gone_facts for r in x["refs"]} - cited_by_shown)
    html = render_html(f, generated_at=STAMP_A)
    tree = HTMLParser(html)
    ids = {n.attributes["id"] for n in tree.css("[id]")}
    missing = sorted({h for h in (n.attributes["href"] or "" for n in tree.css("[href]")) if h[1:] not in ids})
    assert not missing, missing[:10]
    assert f"the other {hidden:,}" in html and len(html) < len(whole) and "the other" not in whole
    for a in rest:
        assert (a["anchor"] in ids) == (a["key"] not in gone)


def test_the_bundle_encoder_writes_the_bytes_of_the_standard_one() -> None:
    """report/_jsonout gives byte for byte json.JSONEncoder(ensure_ascii=False,
    sort_keys=True, indent=1, allow_nan=False), and refuses what it refuses."""
    from purgewatch.report._jsonout import json_parts

    std = json.JSONEncoder(ensure_ascii=False, sort_keys=True, indent=1, allow_nan=False)
    doc = {
        "z": [{"b": 1, "a": [[], {}, [1, [2, {"x": None}]]]}, "é\u202e\"\\\n\x00😀", (True, False)],
        "a": {"1": 0.1, "2": -0.0, "3": 1e-300, "4": 10**30, "5": -7, "6": 2.5e17},
        "empty_list": [], "empty_dict": {}, "long": [{"k": i, "v": str(i) * 3} for i in range(70_000)],
        "nested": {"deep": {"deeper": [{"deepest": [1.25, None, "s"]}]}},
        "int_keys": {10: "a", 2: "b"}, "float_keys": {1.5: "a", -0.25: "b"}, "bool_keys": {True: 1, False: 0},
        "none_key": {None: 1},
    }
    assert "".join(json_parts(doc)) == std.encode(doc)
    assert "".join(json_parts({})) == std.encode({})
    assert len(list(json_parts(doc))) > 1  # handed out in parts
    with pytest.raises(ValueError, match="Out of range float"):
        "".join(json_parts({"x": [float("nan")]}))
    with pytest.raises(TypeError, match="not JSON serializable"):
        "".join(json_parts({"x": [object()]}))
