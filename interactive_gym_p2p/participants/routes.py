"""Researcher routes of the participant records (token-protected, like the export routes).

- ``GET /p2p/research/api/participants``: ``{participants: [record, ...]}`` oldest first
  (``ParticipantRecord.to_json``: recruitment ids, times, games, the outcome with its code);
- ``GET /p2p/research/api/participants.csv``: one row per participant for approving payments:
  subject id, each recruitment parameter, outcome, reason, code, times, games (bots the
  server started are in the JSON, marked ``bot``, but not in this table of people).

With no researcher token configured the routes do not exist (404): off, never open.
"""

from __future__ import annotations

import csv
import io
import logging

from flask import Blueprint, Response, jsonify

from ..validation.routes import _bearer, _error, researcher_token_matches
from .ledger import ParticipantLedger
from .records import CSV_COLUMNS, csv_row

logger = logging.getLogger(__name__)


def participants_csv(records: list[dict], recruitment_params: list[str]) -> str:
    """The payment table: one row per recruited participant (bots left out)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([CSV_COLUMNS[0], *recruitment_params, *CSV_COLUMNS[1:]])
    for record in records:
        if not record.get("bot"):
            writer.writerow(csv_row(record, recruitment_params))
    return out.getvalue()


def create_participants_blueprint(ledger: ParticipantLedger, researcher_token: str | None) -> Blueprint:
    bp = Blueprint("p2p_participants", __name__)
    if researcher_token is None:
        return bp
    expected = researcher_token

    def guard() -> Response | None:
        given = _bearer()
        if given is None:
            response = _error(401, "missing_token", "send the researcher token as 'Authorization: Bearer <token>'")
            response.headers["WWW-Authenticate"] = 'Bearer realm="interactive-gym-p2p research"'
            return response
        if not researcher_token_matches(given, expected):
            logger.warning("researcher request for participant records with a wrong token")
            return _error(403, "wrong_token", "the researcher token is not valid")
        return None

    @bp.get("/p2p/research/api/participants")
    def participants_json() -> Response:
        if (denied := guard()) is not None:
            return denied
        response = jsonify({"participants": ledger.records()})
        response.headers["Cache-Control"] = "no-store"
        return response

    @bp.get("/p2p/research/api/participants.csv")
    def participants_table() -> Response:
        if (denied := guard()) is not None:
            return denied
        params = list(ledger.study.recruitment_settings.params)
        response = Response(participants_csv(ledger.records(), params), mimetype="text/csv")
        response.headers["Content-Disposition"] = "attachment; filename=participants.csv"
        response.headers["Cache-Control"] = "no-store"
        return response

    return bp
