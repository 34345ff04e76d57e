"""The lede: the story first, as an editor would write it, with the key figures."""

from __future__ import annotations

from typing import Any

from purgewatch.findings._facts import FactRegistry
from purgewatch.findings._jsonable import fmt, fmt_p
from purgewatch.findings._watched import display_name


def who(d: dict[str, Any]) -> dict[str, Any]:
    """A sentence part naming an account (linked to its card in the report, its page in the UI)."""
    return {"who": display_name(d), "anchor": d.get("anchor"), "platform": d.get("platform"),
            "account_id": d.get("account_id")}


_VERDICT_WORDS = {
    "platform_enforcement": "the platform's enforcement, not a mass unfollow",
    "mass_unfollow": "a mass unfollow, not the platform's enforcement",
    "mixed": "a mix of enforcement and unfollows",
}


Record = dict[str, Any]


class _Story:
    """The lede's parts and the key figures, built paragraph by paragraph."""

    def __init__(self, facts: FactRegistry) -> None:
        self.facts = facts
        self.lede: list[Any] = []
        self.figures: list[Record] = []


def _biggest(es: list[Record]) -> Record:
    return max(es, key=lambda e: (float(e.get("magnitude") or 0), e["id"]))


def lede_and_key_figures(
    accounts: list[Record],
    events: list[Record],
    explains: list[Record],
    forensics: list[Record],
    facts: FactRegistry,
) -> tuple[list[Any], list[Record]]:
    """The story first, as an editor would write it, and the key figures behind it. Built
    only from the findings: the largest detected drop, what explain found about who left,
    whether one camp was hit (detect's purge concentration test), the largest suspension
    wave, and a regain campaign after the drop. Empty when nothing was detected."""
    story = _Story(facts)
    shown = [e for e in events if e.get("shown")]
    drops = [e for e in shown if e["kind"] == "follower_drop"]
    waves = [e for e in shown if e["kind"] == "suspension_wave"]
    if drops:
        big = _biggest(drops)
        acc = next((a for a in accounts if (a["platform"], a["account_id"]) == (big["platform"], big["account_id"])),
                   None) or big
        _the_drop(story, big, acc)
        _who_left(story, acc, next((x for x in explains if x["event"] == big["id"] and x.get("result")), None))
        _camp_hit(story, [e for e in shown if e["kind"] == "purge"])
        _regain(story, acc, next((f for f in forensics if f["event"] == big["id"]), None))
    if waves:
        _largest_wave(story, _biggest(waves))
    return story.lede, story.figures[:5]


def _the_drop(story: _Story, big: Record, acc: Record) -> None:
    rel = big.get("relative")
    story.lede += ["On ", {"when": [big.get("start"), big.get("end")]}, ", ", who(acc), " lost ",
                   {"fact": big["fact"], "text": fmt(big.get("magnitude"))}, " followers",
                   f" ({rel * 100:.1f}% of its audience). " if isinstance(rel, int | float) else ". "]
    story.figures.append({"label": f"followers lost by {display_name(acc)}", "fact": big["fact"],
                          "text": fmt(big.get("magnitude")), "when": [big.get("start"), big.get("end")]})


def _who_left(story: _Story, acc: Record, x: Record | None) -> None:
    """What explain found about the followers lost: the share the platform suspended."""
    if x is None:
        return
    res = x.get("result") or {}
    bd = res.get("lost_breakdown") or {}
    lost = res.get("lost") or 0
    if not lost:
        why = ((res.get("evidence") or {}).get("reasons") or ["no follower-list diff"])[0]
        story.lede.append(f"Who left cannot be told from the follower lists read ({why}). ")
        return
    share = (int(bd.get("suspended") or 0) + int(bd.get("takendown") or 0)) / lost
    fid = story.facts.add(f"share of the followers {display_name(acc)} lost that the platform suspended",
                          round(share, 4), x.get("refs") or [])
    story.lede += [f"Of the {lost:,} accounts that left its follower list, ",
                   {"fact": fid, "text": f"{share * 100:.0f}%"}, " are accounts the platform suspended"]
    verdict = _VERDICT_WORDS.get(str(res.get("verdict")))
    story.lede.append(f": {verdict}. " if verdict else ". ")
    story.figures.append({"label": "of the lost followers were suspended accounts", "fact": fid,
                          "text": f"{share * 100:.0f}%"})


def _camp_hit(story: _Story, purges: list[Record]) -> None:
    """The largest purge concentrated on one camp (detect's Fisher test), if any."""
    camp = next((p for p in sorted(purges, key=lambda e: -float(e.get("magnitude") or 0))
                 if p.get("group") and ((p.get("evidence") or {}).get("concentration") or {}).get("significant")), None)
    if camp is None:
        return
    conc = camp["evidence"]["concentration"]
    only = "only" if not conc.get("others_hit") else "mainly"
    pfid = story.facts.add(f"Fisher exact p of the {camp['group']} camp's share of accounts losing followers together",
                           conc.get("p_value"), camp.get("refs") or [])
    story.lede += [f"The loss hit {only} the {camp['group']} camp: ",
                   {"fact": camp["fact"], "text": f"{conc.get('hit')} of the {conc.get('observed')}"},
                   f" {camp['group']} accounts observed then lost followers in that window, against "
                   f"{conc.get('others_hit')} of the {conc.get('others_observed')} others (Fisher exact p = ",
                   {"fact": pfid, "text": fmt_p(conc.get("p_value"))}, "). "]
    story.figures.append({"label": f"p-value: the {camp['group']} camp alone was hit", "fact": pfid,
                          "text": fmt_p(conc.get("p_value"))})


def _regain(story: _Story, acc: Record, fx: Record | None) -> None:
    rg = (fx or {}).get("regain") or {}
    if fx is None or rg.get("verdict") != "regain_campaign" or not fx.get("regain_fact"):
        return
    young = rg.get("young_share")
    story.lede += ["Then came a regain campaign: ", who(acc), " gained ",
                   {"fact": fx["regain_fact"], "text": fmt(rg.get("gained"))}, " followers by ",
                   {"when": [(rg.get("regain_window") or {}).get("to")]},
                   f", {young * 100:.0f}% of them accounts less than 30 days old." if isinstance(young, int | float)
                   else "."]
    story.figures.append({"label": "followers gained in the regain campaign", "fact": fx["regain_fact"],
                          "text": fmt(rg.get("gained"))})


def _largest_wave(story: _Story, wave: Record) -> None:
    if not story.lede:
        story.lede += ["On ", {"when": [wave.get("start"), wave.get("end")]}, ", the platform suspended ",
                       {"fact": wave["fact"], "text": fmt(wave.get("magnitude"))}, " of the accounts watched"
                       + (f", in the {wave['group']} camp." if wave.get("group") else ".")]
    story.figures.append({"label": "accounts suspended in the largest wave", "fact": wave["fact"],
                          "text": fmt(wave.get("magnitude")), "when": [wave.get("start"), wave.get("end")]})
