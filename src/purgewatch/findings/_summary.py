"""The summary: headline numbers and plain-language sentences, each number a fact with
the stored rows behind it. One small function per sentence (or kind of sentence), in the
order they are read."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from purgewatch.findings._facts import FactRegistry
from purgewatch.findings._jsonable import fmt, fmt_p
from purgewatch.findings._lede import lede_and_key_figures, who
from purgewatch.findings._transitions import StatusChangeTable
from purgewatch.findings._types import Sentence, StatusCounts, Summary
from purgewatch.model import GONE_UNATTRIBUTED, REINSTATED, SUSPENDED

Record = dict[str, Any]


@dataclass
class SummaryInputs:
    accounts: list[Record]
    events: list[Record]
    transitions: StatusChangeTable
    explains: list[Record]
    compare: list[Record]
    forensics: list[Record]
    watch: list[Record]
    span: tuple[str | None, str | None]  # first and last observation in scope
    facts: FactRegistry
    n_known: int | None = None

    def num(self, label: str, value: Any, refs: Iterable[str], text: str | None = None) -> dict[str, Any]:
        """A number in a sentence: registered as a fact, shown as ``text``."""
        return {"fact": self.facts.add(label, value, refs), "text": text if text is not None else fmt(value)}

    def of_kind(self, kind: str) -> list[Record]:
        return [e for e in self.events if e["kind"] == kind]

    def account_of(self, d: Record) -> Record | None:
        return next((a for a in self.accounts if a["platform"] == d["platform"] and a["account_id"] == d["account_id"]), None)


def _s(n: int) -> str:
    return "s" if n != 1 else ""


def largest(events: list[Record]) -> Record:
    """The largest shown event (any event when none is shown)."""
    return max([e for e in events if e["shown"]] or events, key=lambda e: (e.get("magnitude") or 0, e["id"]))


def coverage_sentence(x: SummaryInputs, groups: list[str], platforms: list[str], n_obs: int) -> Sentence:
    """What was followed: accounts, groups, platforms, observations and their span."""
    observed = [a for a in x.accounts if a["n_observations"]]
    first, last = x.span
    if observed:
        return [
            "PurgeWatch followed ",
            x.num("accounts observed", len(observed), [a["latest"]["ref"] for a in observed]),
            f" account{_s(len(observed))}"
            + (f" in {len(groups)} group{_s(len(groups))} ({', '.join(groups)})" if groups else "")
            + f" on {', '.join(platforms) or 'no platform'}, with ",
            x.num("observations of these accounts", n_obs, [p["ref"] for a in x.accounts for p in a["series"]]),
            " observations" + (" from " if first else "."),
            *([{"when": [first]}, " to ", {"when": [last]}, "."] if first else []),
        ]
    known_elsewhere = [a for a in x.accounts if a["latest"] is not None]
    if known_elsewhere:
        total = max(x.n_known or 0, len(known_elsewhere))
        return [f"{total:,} account{_s(total)}"
                + (f" in {len(groups)} group{_s(len(groups))}" if groups else "")
                + " are known only from profiles or status events (no observation in this scope)"
                + (f"; {len(known_elsewhere):,} are listed" if total > len(known_elsewhere) else "")
                + ": their latest status is what those rows say."]
    n_changes = x.transitions.count(SUSPENDED) + x.transitions.count(REINSTATED)
    return ["No watched account was observed in this scope"
            + (f"; what follows rests on {n_changes:,} status changes recorded in profiles and status events."
               if n_changes else ".")]


def wave_sentences(x: SummaryInputs) -> list[Sentence]:
    out: list[Sentence] = []
    waves = x.of_kind("suspension_wave")
    if waves:
        big = largest(waves)
        out.append([f"Detection found {len(waves)} suspension wave{_s(len(waves))}; the largest suspended ",
                    {"fact": big["fact"], "text": fmt(big.get("magnitude"))},
                    " accounts, ", {"when": [big.get("start"), big.get("end")]},
                    (f" (group {big['group']})." if big.get("group") else ".")])
    reinst = x.of_kind("reinstatement_wave")
    if reinst:
        big = largest(reinst)
        out.append([f"{len(reinst)} reinstatement wave{_s(len(reinst))}; the largest reinstated ",
                    {"fact": big["fact"], "text": fmt(big.get("magnitude"))},
                    " accounts, ", {"when": [big.get("start"), big.get("end")]}, "."])
    return out


def drop_sentences(x: SummaryInputs) -> list[Sentence]:
    """The largest follower drop, and what the follower-list diff found about it."""
    drops = x.of_kind("follower_drop")
    if not drops:
        return []
    big = largest(drops)
    rel = big.get("relative")
    out: list[Sentence] = [[
        f"{len(drops)} follower drop{_s(len(drops))} detected. The largest: ",
        who(x.account_of(big) or big), " lost ", {"fact": big["fact"], "text": fmt(big.get("magnitude"))},
        " followers" + (f" ({rel * 100:.1f}% of its audience), " if isinstance(rel, int | float) else ", "),
        {"when": [big.get("start"), big.get("end")]}, ".",
    ]]
    for ex in x.explains:
        res = ex.get("result") or {}
        if res.get("verdict") and ex["event"] == big["id"]:
            out.append(["For that drop, the follower-list diff finds ", {"fact": ex["fact"], "text": fmt(res.get("lost"))},
                        f" followers lost; verdict: {str(res['verdict']).replace('_', ' ')}."])
    return out


def regain_sentences(x: SummaryInputs) -> list[Sentence]:
    out: list[Sentence] = []
    for fx in x.forensics:
        rg = fx.get("regain") or {}
        if rg.get("verdict") != "regain_campaign" or not fx.get("regain_fact"):
            continue
        young = rg.get("young_share")
        out.append([
            "After the drop, ", who(x.account_of(fx) or fx), " gained ",
            {"fact": fx["regain_fact"], "text": fmt(rg.get("gained"))},
            " followers by ", {"when": [(rg.get("regain_window") or {}).get("to")]},
            (f" ({rg['gain_ratio']:.1f}× its usual gain)" if isinstance(rg.get("gain_ratio"), int | float) else "")
            + (f", {young * 100:.0f}% of them accounts less than 30 days old" if isinstance(young, int | float) else "")
            + ": the pattern of a regain campaign.",
        ])
    surges = x.of_kind("follower_surge")
    if surges:
        out.append([f"{len(surges)} follower surge{_s(len(surges))} detected (possible regain campaigns; see forensics)."])
    return out


def purge_sentences(x: SummaryInputs) -> list[Sentence]:
    """The largest purge: concentrated on one camp (detect's Fisher test), or platform-wide."""
    purges = x.of_kind("purge")
    if not purges:
        return []
    big = largest(purges)
    conc = (big.get("evidence") or {}).get("concentration") or {}
    size = {"fact": big["fact"], "text": fmt(big.get("magnitude"))}
    when = {"when": [big.get("start"), big.get("end")]}
    if big.get("group") and conc.get("significant"):
        return [[
            "Followers were lost in the same window by ", size, " watched accounts, ", when, ": "
            f"{conc.get('hit')} of the {conc.get('observed')} {big['group']} accounts and "
            f"{conc.get('others_hit')} of the {conc.get('others_observed')} others (Fisher exact p = {fmt_p(conc.get('p_value'))}): "
            f"a sweep concentrated on the {big['group']} camp's audience, not the signature of a platform-wide purge.",
        ]]
    return [["A platform-wide purge signature: ", size, " unrelated accounts lost followers, ", when, "."]]


def compare_sentence(c: Record) -> Sentence:
    """One comparison of camps: each group's rate with its interval, then the comparison
    compare marks as most informative (smallest adjusted p, ties by the largest difference)."""
    parts: Sentence = [f"Camps compared on “{c.get('outcome')}”: "]
    for i, g in enumerate(c.get("groups") or []):
        rate, lo, hi = g.get("rate"), g.get("ci_low"), g.get("ci_high")
        fid = (c.get("facts") or {}).get(str(g.get("group")))
        parts.append(f"{'; ' if i else ''}{g.get('group')} ")
        count = f"{g.get('outcome_count')} of {g.get('accounts')}"
        parts.append({"fact": fid, "text": count} if fid else count)
        if isinstance(rate, int | float) and isinstance(lo, int | float) and isinstance(hi, int | float):
            parts.append(f" ({rate * 100:.1f}%, 95% interval {lo * 100:.1f}–{hi * 100:.1f}%)")
    tests = c.get("tests") or []
    best = (c.get("most_informative") or {}).get("index")
    quoted = [tests[best]] if isinstance(best, int) and 0 <= best < len(tests) else tests[:1]
    if tests and all(t.get("p_value") is None for t in tests):
        # Nothing testable (e.g. no account has the outcome): say so once, quote no pair.
        quoted = []
        reason = next((t.get("cannot_test") for t in tests if t.get("cannot_test")), None)
        parts.append(". No pair can be tested" + (f": {str(reason).rstrip('.')}" if reason else ""))
    for w in c.get("population_warnings") or []:
        parts.append(f". Warning: {str(w).rstrip('.')}")
    for t in quoted:
        parts.append(_test_text(t, lead="Most informative comparison, " if len(tests) > 1 else ""))
    parts.append(".")
    return parts


def _test_text(t: Record, lead: str) -> str:
    eff = t.get("effect") or {}
    rr, ci = eff.get("rate_ratio"), eff.get("rate_ratio_ci") or [None, None]
    diff, dci = eff.get("difference"), eff.get("difference_ci") or [None, None]
    p_val = t.get("p_value_adjusted", t.get("p_value"))
    p_txt = t.get("p_value_adjusted_text") or t.get("p_value_text")
    txt = f". {lead}{' vs '.join(map(str, t.get('groups') or []))}: "
    if isinstance(diff, int | float) and all(isinstance(v, int | float) for v in dci):
        txt += f"difference {diff * 100:+.1f} points (95% interval {dci[0] * 100:+.1f} to {dci[1] * 100:+.1f})"
    if isinstance(rr, int | float) and all(isinstance(v, int | float) for v in ci):
        txt += f", rate ratio {rr:.2f} ({ci[0]:.2f}–{ci[1]:.2f})"
    if isinstance(p_txt, str) and isinstance(p_val, int | float):
        txt += f", p {p_txt}" if p_txt.startswith("<") else f", p = {p_txt}"
    elif isinstance(p_val, int | float):
        txt += f", p = {p_val:.2g}"
    elif t.get("cannot_test"):
        txt += f"; cannot test: {t['cannot_test']}"
    return txt


def unattributed_sentence(x: SummaryInputs) -> list[Sentence]:
    n = x.transitions.count(GONE_UNATTRIBUTED)
    if not n:
        return []
    return [[
        x.num("accounts gone as suspended_or_deleted", n, x.transitions.refs(GONE_UNATTRIBUTED, None, None, None)),
        f" account{_s(n)} went from present to gone in a way the platform does not "
        "attribute (suspended_or_deleted: what a moderator's suspension and the owner's own deletion both "
        "leave behind). They are counted apart, never as suspensions: confirmed enforcement is at least the "
        "suspensions above and at most those plus these.",
    ]]


def build_summary(x: SummaryInputs) -> Summary:
    """Headline numbers and sentences (facts are registered in reading order)."""
    groups = sorted({str(a["group"]) for a in x.accounts if a["group"] is not None})
    platforms = sorted({a["platform"] for a in x.accounts})
    n_obs = int(sum(a["n_observations"] for a in x.accounts))
    sentences: list[Sentence] = [coverage_sentence(x, groups, platforms, n_obs)]
    sentences += wave_sentences(x)
    sentences += drop_sentences(x)
    sentences += regain_sentences(x)
    sentences += purge_sentences(x)
    sentences += [compare_sentence(c) for c in x.compare]
    sentences += unattributed_sentence(x)
    if not x.events:
        sentences.append(["No detection events are shown (see availability below)."])
    lede, figures = lede_and_key_figures(x.accounts, x.events, x.explains, x.forensics, x.facts)
    by_kind: dict[str, int] = {}
    for e in x.events:
        by_kind[e["kind"]] = by_kind.get(e["kind"], 0) + 1
    return Summary(
        lede=lede, key_figures=figures, accounts_watched=len(x.watch),
        accounts_observed=sum(1 for a in x.accounts if a["n_observations"]), groups=groups, platforms=platforms,
        observations=n_obs, first_observation=x.span[0], last_observation=x.span[1],
        events_by_kind=dict(sorted(by_kind.items())),
        status_changes=StatusCounts(x.transitions.count(SUSPENDED), x.transitions.count(REINSTATED),
                                    x.transitions.count(GONE_UNATTRIBUTED)),
        sentences=sentences,
    )
