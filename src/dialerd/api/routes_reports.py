"""Reports for supervisors: JSON and CSV under ``/api/v1/reports``, a page at ``/ui/reports``.

The page is rendered on the server (Jinja2, inline SVG chart): no build step, no JavaScript
library, so it works on an air-gapped PBX host. A browser cannot send a bearer header, so the
page also accepts the token once as ``?token=`` (kept in an HttpOnly cookie, then redirected
away so the token does not stay in the address bar) or the ``dialerd_token`` cookie.

Dates in filters are whole UTC days, both ends included (``from=2026-03-01&to=2026-03-31``).
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from jinja2 import Environment, select_autoescape

from dialerd.api.auth import Permission, Principal
from dialerd.api.context import Ctx, Reader
from dialerd.api.errors import ERROR_RESPONSES, ApiError
from dialerd.api.models_out import ReportOut
from dialerd.domain.agentwork import Report, ReportFilter, ResultClass, Totals
from dialerd.domain.clock import iso_utc
from dialerd.store import agentwork as work

router = APIRouter(tags=["reports"], responses=ERROR_RESPONSES)

COOKIE = "dialerd_token"


def _filter_of(
    start: date | None, end: date | None, campaign_id: int | None, agent: str | None
) -> ReportFilter:
    if start is not None and end is not None and end < start:
        raise ApiError(422, "'to' is before 'from'", "query.to")
    if end is not None and end >= date.max:
        end = None  # the last day there is: no end
    return ReportFilter(
        start=datetime.combine(start, time(), UTC) if start else None,
        end=datetime.combine(end + timedelta(days=1), time(), UTC) if end else None,
        campaign_id=campaign_id,
        agent=agent or None,
    )


async def _report(
    ctx: Ctx, start: date | None, end: date | None, campaign: str | None, agent: str | None
) -> Report:
    campaign_id = (await ctx.campaign(campaign)).id if campaign else None
    return await work.report(ctx.store, _filter_of(start, end, campaign_id, agent))


def _totals(t: Totals) -> dict[str, Any]:
    return {
        "calls": t.calls,
        "contacts_reached": t.contacts_reached,
        "closed_leads": t.closed_leads,
        "talk_seconds": round(t.talk_seconds, 3),
    }


def report_json(r: Report) -> dict[str, Any]:
    f = r.filter
    return {
        "filter": {
            "start": iso_utc(f.start) if f.start else None,
            "end": iso_utc(f.end) if f.end else None,
            "campaign_id": f.campaign_id,
            "agent": f.agent,
        },
        "totals": _totals(r.totals),
        "per_agent": {k: _totals(v) for k, v in r.per_agent.items()},
        "per_campaign": {k: _totals(v) for k, v in r.per_campaign.items()},
        "per_result_class": {k.value: v for k, v in r.per_result_class.items()},
        "per_day": [
            {
                "day": d.day.isoformat(),
                "calls": d.calls,
                "live_answers": d.live_answers,
                "abandoned": d.abandoned,
                "abandonment_rate": round(d.abandonment_rate, 4),
                "talk_seconds": round(d.talk_seconds, 3),
                "occupancy": round(d.occupancy, 4),
            }
            for d in r.per_day
        ],
    }


def report_csv(r: Report) -> str:
    """One long table (section, key, figures) so a spreadsheet can pivot it."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(["section", "key", "calls", "contacts_reached", "closed_leads", "talk_seconds"])
    w.writerow(["totals", "", *_totals(r.totals).values()])
    for k, t in r.per_agent.items():
        w.writerow(["agent", k, *_totals(t).values()])
    for k, t in r.per_campaign.items():
        w.writerow(["campaign", k, *_totals(t).values()])
    w.writerow([])
    w.writerow(["section", "result_class", "leads"])
    for rc, n in r.per_result_class.items():
        w.writerow(["result_class", rc.value, n])
    w.writerow([])
    w.writerow(
        ["section", "day", "calls", "live_answers", "abandoned", "abandonment_rate", "occupancy"]
    )
    for d in r.per_day:
        w.writerow(
            [
                "day",
                d.day.isoformat(),
                d.calls,
                d.live_answers,
                d.abandoned,
                f"{d.abandonment_rate:.4f}",
                f"{d.occupancy:.4f}",
            ]
        )
    return out.getvalue()


From = Annotated[date | None, Query(alias="from", description="first day (UTC), included")]
To = Annotated[date | None, Query(alias="to", description="last day (UTC), included")]


@router.get(
    "/api/v1/reports",
    summary="Report figures (JSON, or CSV with format=csv)",
    response_model=ReportOut,
    responses={
        200: {
            "description": "the figures; with format=csv one long table (section, key, figures)",
            "content": {"text/csv; charset=utf-8": {"schema": {"type": "string"}}},
        }
    },
)
async def reports(
    ctx: Ctx,
    _: Reader,
    start: From = None,
    end: To = None,
    campaign: str | None = None,
    agent: str | None = None,
    format: Literal["json", "csv"] = "json",
) -> Response:
    r = await _report(ctx, start, end, campaign, agent)
    if format == "csv":
        return PlainTextResponse(
            report_csv(r),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="dialerd-report.csv"'},
        )
    return JSONResponse(report_json(r))


# -- the page ------------------------------------------------------------------------------------

_COLORS = {
    ResultClass.POSITIVE: "#2e7d32",
    ResultClass.NEGATIVE: "#c62828",
    ResultClass.PARTIAL: "#f9a825",
    ResultClass.UNCLASSIFIED: "#757575",
}


def chart_svg(r: Report, width: int = 720, height: int = 220) -> str:
    """Bars of calls per day (abandoned part in red) and a result-class strip, as SVG."""
    pad, top = 40, 16
    days = r.per_day
    peak = max([d.calls for d in days] + [1])
    plot_w, plot_h = width - 2 * pad, height - pad - top
    parts = [
        f'<svg id="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{height + 40}" role="img" aria-label="calls per day">',
        f'<line x1="{pad}" y1="{top + plot_h}" x2="{width - pad}" y2="{top + plot_h}" '
        'stroke="#333"/>',
        f'<text x="4" y="{top + 10}" font-size="11">{peak}</text>',
    ]
    if days:
        slot = plot_w / len(days)
        bar = max(2.0, slot * 0.7)
        for i, d in enumerate(days):
            x = pad + i * slot + (slot - bar) / 2
            h = plot_h * d.calls / peak
            ab = plot_h * min(d.abandoned, d.calls) / peak
            y = top + plot_h - h
            parts.append(
                f'<rect class="bar" data-day="{d.day.isoformat()}" data-calls="{d.calls}" '
                f'x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" fill="#1565c0">'
                f"<title>{d.day.isoformat()}: {d.calls} calls</title></rect>"
            )
            if ab > 0:
                parts.append(
                    f'<rect x="{x:.1f}" y="{top + plot_h - ab:.1f}" width="{bar:.1f}" '
                    f'height="{ab:.1f}" fill="#c62828"/>'
                )
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{top + plot_h + 14}" font-size="10" '
                f'text-anchor="middle">{d.day.strftime("%m-%d")}</text>'
            )
    else:
        parts.append(
            f'<text x="{width / 2}" y="{top + plot_h / 2}" text-anchor="middle">no calls</text>'
        )
    total = sum(r.per_result_class.values())
    x0, y0 = float(pad), float(height + 8)
    for rc, n in r.per_result_class.items():
        if not n:
            continue
        w = plot_w * n / total
        parts.append(
            f'<rect class="result" data-class="{rc.value}" x="{x0:.1f}" y="{y0}" '
            f'width="{w:.1f}" height="18" fill="{_COLORS[rc]}"><title>{rc.value}: {n}</title>'
            "</rect>"
        )
        x0 += w
    parts.append("</svg>")
    return "".join(parts)


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>dialerd reports</title>
<style>
body{font-family:system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th:first-child,td:first-child{text-align:left}
form label{margin-right:1em}
.cards{display:flex;flex-wrap:wrap;gap:1em}
.legend span{display:inline-block;width:.9em;height:.9em;margin:0 .3em 0 1em}
.card{border:1px solid #ccc;border-radius:6px;padding:.6em 1em;min-width:9em}
.card b{display:block;font-size:1.8em}
</style></head><body>
<h1>Reports</h1>
<form method="get" action="/ui/reports">
<label>From <input type="date" name="from" value="{{ q.start or '' }}"></label>
<label>To <input type="date" name="to" value="{{ q.end or '' }}"></label>
<label>Campaign <select name="campaign"><option value="">all</option>
{% for c in campaigns %}
<option value="{{ c }}"{% if c == q.campaign %} selected{% endif %}>{{ c }}</option>
{% endfor %}
</select></label>
<label>Agent <input name="agent" value="{{ q.agent or '' }}" size="12"></label>
<button type="submit">Show</button>
<a href="/api/v1/reports?{{ csv_query }}">CSV</a>
</form>
<div class="cards">
<div class="card" id="calls">Calls<b>{{ r.totals.calls }}</b></div>
<div class="card" id="reached">Contacts reached<b>{{ r.totals.contacts_reached }}</b></div>
<div class="card" id="closed">Closed leads<b>{{ r.totals.closed_leads }}</b></div>
{% for rc, n in r.per_result_class.items() %}
<div class="card" id="class-{{ rc.value }}">{{ rc.value }}<b>{{ n }}</b></div>
{% endfor %}
</div>
<h2>Calls per day</h2>
<div class="legend"><span style="background:#1565c0"></span>calls
<span style="background:#c62828"></span>abandoned; strip below: leads by result class</div>
{{ chart | safe }}
<h2>Per agent</h2>
<table id="per-agent"><tr><th>agent</th>
<th>calls</th>
<th>reached</th>
<th>closed</th>
<th>talk (min)</th></tr>
{% for k, t in r.per_agent.items() %}<tr><td>{{ k }}</td>
<td>{{ t.calls }}</td>
<td>{{ t.contacts_reached }}</td>
<td>{{ t.closed_leads }}</td>
<td>{{ '%.1f' % (t.talk_seconds / 60) }}</td></tr>
{% endfor %}</table>
<h2>Per campaign</h2>
<table id="per-campaign"><tr><th>campaign</th>
<th>calls</th>
<th>reached</th>
<th>closed</th>
<th>talk (min)</th></tr>
{% for k, t in r.per_campaign.items() %}<tr><td>{{ k }}</td>
<td>{{ t.calls }}</td>
<td>{{ t.contacts_reached }}</td>
<td>{{ t.closed_leads }}</td>
<td>{{ '%.1f' % (t.talk_seconds / 60) }}</td></tr>
{% endfor %}</table>
<h2>Per day</h2>
<table id="per-day"><tr><th>day</th>
<th>calls</th>
<th>live answers</th>
<th>abandoned</th>
<th>abandonment</th>
<th>occupancy</th></tr>
{% for d in r.per_day %}<tr><td>{{ d.day }}</td>
<td>{{ d.calls }}</td>
<td>{{ d.live_answers }}</td>
<td>{{ d.abandoned }}</td>
<td>{{ '%.1f %%' % (d.abandonment_rate * 100) }}</td>
<td>{{ '%.0f %%' % (d.occupancy * 100) }}</td></tr>
{% endfor %}</table>
</body></html>
"""

_env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
_template = _env.from_string(_PAGE)


def _page_principal(ctx: Ctx, request: Request) -> Principal:
    header = request.headers.get("authorization", "")
    token = header[7:] if header.lower().startswith("bearer ") else request.cookies.get(COOKIE)
    principal = ctx.tokens.principal(token) if token else None
    if principal is None:
        raise ApiError(401, "log in: open /ui/reports?token=TOKEN once (kept in a cookie)")
    if not principal.may(Permission.READ):
        raise ApiError(403, "this token may not read reports")
    return principal


@router.get("/ui/reports", response_class=HTMLResponse, summary="Report page (HTML)")
async def reports_page(
    ctx: Ctx,
    request: Request,
    start: From = None,
    end: To = None,
    campaign: str | None = None,
    agent: str | None = None,
    token: str | None = None,
) -> Response:
    if token is not None:
        if ctx.tokens.principal(token) is None:
            raise ApiError(401, "unknown token")
        params = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
        target = "/ui/reports" + ("?" + urlencode(params) if params else "")
        redirect = RedirectResponse(target, status_code=303)
        redirect.set_cookie(COOKIE, token, httponly=True, samesite="strict")
        return redirect
    _page_principal(ctx, request)
    campaign = campaign or None
    r = await _report(ctx, start, end, campaign, agent)
    q = {
        "start": start.isoformat() if start else None,
        "end": end.isoformat() if end else None,
        "campaign": campaign,
        "agent": agent,
    }
    pairs = [("from", q["start"]), ("to", q["end"]), ("campaign", campaign), ("agent", agent)]
    csv_query = urlencode([(k, v) for k, v in pairs if v] + [("format", "csv")])
    campaigns = [c.name for c in await ctx.store.list_campaigns()]
    html = _template.render(r=r, q=q, campaigns=campaigns, chart=chart_svg(r), csv_query=csv_query)
    return HTMLResponse(html)
