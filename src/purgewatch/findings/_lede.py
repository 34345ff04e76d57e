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


def lede_and_key_figures(
    accounts: list[dict[str, Any]],
    events: list[dict[str, Any]],
    explains: list[dict[str, Any]],
    forensics: list[dict[str, Any]],
    facts: FactRegistry,
) -> tuple[list[Any], list[dict[str, Any]]]:
    """The story first, as an editor would write it, and the key figures behind it. Built
    only from the findings: the largest detected drop, what explain found about who left,
    whether one camp was hit (detect's purge concentration test), the largest suspension
    wave, and a regain campaign after the drop. Empty when nothing was detected."""
    lede: list[Any] = []
    figures: list[dict[str, Any]] = []
    shown = [e for e in events if e.get("shown")]
    drops = [e for e in shown if e["kind"] == "follower_drop"]
    waves = [e for e in shown if e["kind"] == "suspension_wave"]
    purges = [e for e in shown if e["kind"] == "purge"]
    by_key = {(a["platform"], a["account_id"]): a for a in accounts}

    def biggest(es: list[dict[str, Any]]) -> dict[str, Any]:
        return max(es, key=lambda e: (float(e.get("magnitude") or 0), e["id"]))

    if drops:
        big = biggest(drops)
        acc = by_key.get((big["platform"], big["account_id"])) or big
        rel = big.get("relative")
        lede += ["On ", {"when": [big.get("start"), big.get("end")]}, ", ", who(acc), " lost ",
                 {"fact": big["fact"], "text": fmt(big.get("magnitude"))}, " followers",
                 f" ({rel * 100:.1f}% of its audience). " if isinstance(rel, int | float) else ". "]
        figures.append({"label": f"followers lost by {display_name(acc)}", "fact": big["fact"],
                        "text": fmt(big.get("magnitude")), "when": [big.get("start"), big.get("end")]})
        x = next((x for x in explains if x["event"] == big["id"] and x.get("result")), None)
        res = (x or {}).get("result") or {}
        bd = res.get("lost_breakdown") or {}
        lost = res.get("lost") or 0
        if x is not None and lost:
            enforced = int(bd.get("suspended") or 0) + int(bd.get("takendown") or 0)
            share = enforced / lost
            fid = facts.add(f"share of the followers {display_name(acc)} lost that the platform suspended",
                            round(share, 4), x.get("refs") or [])
            lede += [f"Of the {lost:,} accounts that left its follower list, ",
                     {"fact": fid, "text": f"{share * 100:.0f}%"}, " are accounts the platform suspended"]
            verdict = _VERDICT_WORDS.get(str(res.get("verdict")))
            lede.append(f": {verdict}. " if verdict else ". ")
            figures.append({"label": "of the lost followers were suspended accounts", "fact": fid,
                            "text": f"{share * 100:.0f}%"})
        elif x is not None:
            why = ((res.get("evidence") or {}).get("reasons") or ["no follower-list diff"])[0]
            lede.append(f"Who left cannot be told from the follower lists read ({why}). ")
        camp = next((p for p in sorted(purges, key=lambda e: -float(e.get("magnitude") or 0))
                     if p.get("group") and ((p.get("evidence") or {}).get("concentration") or {}).get("significant")), None)
        if camp is not None:
            conc = camp["evidence"]["concentration"]
            only = "only" if not conc.get("others_hit") else "mainly"
            pfid = facts.add(f"Fisher exact p of the {camp['group']} camp's share of accounts losing followers together",
                             conc.get("p_value"), camp.get("refs") or [])
            lede += [f"The loss hit {only} the {camp['group']} camp: ",
                     {"fact": camp["fact"], "text": f"{conc.get('hit')} of the {conc.get('observed')}"},
                     f" {camp['group']} accounts observed then lost followers in that window, against "
                     f"{conc.get('others_hit')} of the {conc.get('others_observed')} others (Fisher exact p = ",
                     {"fact": pfid, "text": fmt_p(conc.get("p_value"))}, "). "]
            figures.append({"label": f"p-value: the {camp['group']} camp alone was hit", "fact": pfid,
                            "text": fmt_p(conc.get("p_value"))})
        fx = next((f for f in forensics if f["event"] == big["id"]), None)
        rg = (fx or {}).get("regain") or {}
        if fx is not None and rg.get("verdict") == "regain_campaign" and fx.get("regain_fact"):
            young = rg.get("young_share")
            lede += ["Then came a regain campaign: ", who(acc), " gained ",
                     {"fact": fx["regain_fact"], "text": fmt(rg.get("gained"))}, " followers by ",
                     {"when": [(rg.get("regain_window") or {}).get("to")]},
                     f", {young * 100:.0f}% of them accounts less than 30 days old." if isinstance(young, int | float)
                     else "."]
            figures.append({"label": "followers gained in the regain campaign", "fact": fx["regain_fact"],
                            "text": fmt(rg.get("gained"))})
    if waves:
        wave = biggest(waves)
        if not lede:
            lede += ["On ", {"when": [wave.get("start"), wave.get("end")]}, ", the platform suspended ",
                     {"fact": wave["fact"], "text": fmt(wave.get("magnitude"))}, " of the accounts watched"
                     + (f", in the {wave['group']} camp." if wave.get("group") else ".")]
        figures.append({"label": "accounts suspended in the largest wave", "fact": wave["fact"],
                        "text": fmt(wave.get("magnitude")), "when": [wave.get("start"), wave.get("end")]})
    return lede, figures[:5]
