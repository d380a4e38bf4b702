"""What each survey event adds: NPS classes, CSAT satisfied/score, CES easy/score, sends.

Scores are normalised here, at ingestion, from the scale and polarity the response
carries (CES 1–5 "I had to make a lot of effort" and 1–7 "it was easy" end up on
one 1–7, higher-is-easier axis), so buckets only ever hold comparable sums.
"""

from __future__ import annotations

from pydantic import BaseModel

from cxpulse.settings import Settings
from processors import keys
from processors.fold import Update, base_update, bucket_targets
from processors.kpis import surveys as kpi
from streams.events import SurveyResponse, SurveySent

NPS_CLASS_FIELD = {"promoter": "nps_promoters", "passive": "nps_passives", "detractor": "nps_detractors"}


def survey_segment(event: BaseModel) -> str:
    queue = getattr(event, "queue", None) or "-"
    touchpoint = getattr(event, "touchpoint", None) or "-"
    return f"{queue}|{event.channel}|{touchpoint}"  # type: ignore[attr-defined]


def fold_survey(settings: Settings, event: BaseModel) -> Update:
    update = base_update(settings, "surveys", event, survey_segment(event))
    counts = update.counts
    if isinstance(event, SurveySent):
        counts[f"sent_{event.survey_type}"] = 1
        return update
    assert isinstance(event, SurveyResponse)
    counts[f"responses_{event.survey_type}"] = 1
    if event.survey_type == "nps":
        cls = kpi.classify_nps(event.score, event.scale_min, event.scale_max)
        counts["nps_responses"] = 1
        counts[NPS_CLASS_FIELD[cls]] = 1
        update.ops.append(["lastn", keys.nps_last_prefix(settings.app_id), kpi.NPS_CLASS_CODES[cls], settings.nps_last_n])
    elif event.survey_type == "csat":
        counts["csat_responses"] = 1
        if kpi.csat_is_satisfied(event.score, event.scale_min, event.scale_max, settings.csat_satisfied):
            counts["csat_satisfied"] = 1
        counts["csat_score"] = kpi.csat_normalized(event.score, event.scale_min, event.scale_max)
    else:
        normalized = kpi.ces_normalized(event.score, event.scale_min, event.scale_max, event.polarity)
        counts["ces_responses"] = 1
        counts["ces_score"] = normalized
        if kpi.ces_is_easy(normalized, settings.ces_easy_threshold):
            counts["ces_easy"] = 1

    update.agent_targets = bucket_targets(settings, "surveys_agents", update.ts)
    update.agent = event.agent_id
    if event.contact_id and (event.queue is None or event.agent_id is None):
        update.attribute = [keys.contact(settings.app_id, event.contact_id), event.queue is None, event.agent_id is None]
    return update


def is_detractor(event: BaseModel) -> bool:
    """Seed 004: « contacter immédiatement les détracteurs » — these go to the follow-up topic."""
    return (
        isinstance(event, SurveyResponse)
        and event.survey_type == "nps"
        and kpi.classify_nps(event.score, event.scale_min, event.scale_max) == "detractor"
    )
