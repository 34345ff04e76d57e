"""Property tests: whatever a file holds, an import either succeeds or raises the
project's InputError with a location; never any other exception."""

from __future__ import annotations

import csv
import io
import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from purgewatch.errors import InputError
from purgewatch.sources.files import import_files
from purgewatch.store import Store

COLUMNS = ["platform", "account_id", "observed_at", "status", "followers_count", "verified",
           "created_at", "handle"]
GOOD = {"platform": "x", "account_id": "1", "observed_at": "2024-05-01T12:00:00Z", "status": "active",
        "followers_count": "5", "verified": "true", "created_at": "2020-01-01T00:00:00Z", "handle": "a"}

nasty = st.one_of(
    st.text(max_size=30),
    st.sampled_from(["", " ", "NULL", "1e3", "-1", "99999999999999999999", "2024-05-01",
                     "2024-05-01 12:00:00", "2024-13-45T99:00:00Z", "1714564800000", "true",
                     "Tue Jun 11 11:20:35 +0000 2013", '"', "a,b", "line\nbreak", "\x00", "\ufeff",
                     "did:plc:x", "Suspended", "+5", "0x10"]),
)
SETTINGS = settings(max_examples=15, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


def check(kind: str, path: Path, skip: bool) -> None:
    with tempfile.TemporaryDirectory() as d:
        store = Store.init(Path(d) / "s")
        try:
            rep = import_files(store, kind, [path], skip_bad_rows=skip,
                               rejects_path=Path(d) / "rejects.csv")
        except InputError as exc:
            assert exc.location is not None, str(exc)
            assert exc.location.file == str(path)
            assert str(exc).startswith(str(path))
            return
        stored = sum(t["rows"] for t in store.stats().values()) - store.stats()["runs"]["rows"]
        assert rep.imported <= rep.rows_read
        if not skip:
            assert rep.rejected == 0
        assert stored >= 0


@SETTINGS
@given(rows=st.lists(st.fixed_dictionaries({c: nasty for c in COLUMNS}), min_size=1, max_size=5),
       skip=st.booleans(), gz=st.booleans())
def test_csv_cells_never_crash(tmp_path: Path, rows: list[dict[str, str]], skip: bool, gz: bool) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=COLUMNS)
    w.writeheader()
    w.writerow(GOOD)
    w.writerows(rows)
    path = tmp_path / ("obs.csv.gz" if gz else "obs.csv")
    data = buf.getvalue().encode("utf-8", errors="surrogatepass")
    if gz:
        import gzip

        data = gzip.compress(data)
    path.write_bytes(data)
    check("observations", path, skip)


@SETTINGS
@given(lines=st.lists(st.text(max_size=60), min_size=0, max_size=5), skip=st.booleans())
def test_raw_csv_lines_never_crash(tmp_path: Path, lines: list[str], skip: bool) -> None:
    path = tmp_path / "obs.csv"
    path.write_bytes((",".join(COLUMNS) + "\n" + "\n".join(lines)).encode("utf-8", errors="surrogatepass"))
    check("observations", path, skip)


json_value = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                       st.text(max_size=20), st.lists(st.integers(), max_size=2),
                       st.dictionaries(st.text(max_size=3), st.integers(), max_size=2))


@SETTINGS
@given(objs=st.lists(st.dictionaries(st.sampled_from(COLUMNS), json_value), min_size=1, max_size=5),
       garbage=st.lists(st.text(max_size=20), max_size=2), skip=st.booleans(),
       kind=st.sampled_from(["observations", "status_events", "followers", "watchlist", "twarc2",
                             "v1-users", "x-compliance"]))
def test_jsonl_never_crash(tmp_path: Path, objs: list[dict[str, object]], garbage: list[str],
                           skip: bool, kind: str) -> None:
    lines = [json.dumps(GOOD)] + [json.dumps(o) for o in objs] + garbage
    path = tmp_path / "x.jsonl"
    path.write_bytes("\n".join(lines).encode("utf-8", errors="surrogatepass"))
    check(kind, path, skip)


@pytest.mark.parametrize("kind", ["followers", "watchlist", "status_events", "profiles"])
def test_every_kind_reports_location(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "f.csv"
    path.write_text("platform,account_id,account,observed_at,at,status,follower_id,group,position\n"
                    "x,1,1,2024-05-01T12:00:00Z,2024-05-01T12:00:00Z,active,2,g,zero\n"
                    "Not A Token!,1,1,2024-05-01,2024-05-01,,,,\n")
    with pytest.raises(InputError) as info:
        with tempfile.TemporaryDirectory() as d:
            import_files(Store.init(Path(d) / "s"), kind, [path])
    assert info.value.location is not None and info.value.location.line in (2, 3)
