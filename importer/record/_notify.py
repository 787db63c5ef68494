"""Post a run's summary to a webhook after the run (a Slack-compatible URL)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from importer.record._results import Summary


def summary_text(summary: Summary) -> str:
    """One line for a chat channel: file, counts, where the results are."""
    counts = ", ".join(f"{k} {v}" for k, v in sorted(summary.counts.items()) if v) or "no rows"
    state = ""
    if summary.aborted:
        state = f" ABORTED: {summary.aborted}."
    elif summary.interrupted:
        state = " INTERRUPTED."
    return (
        f"leadimport {summary.command} {summary.input}: {counts}.{state} "
        f"Exit {summary.exit_code}. Results: {summary.run_dir}/results.csv"
    )


def notify(
    url: str,
    summaries: list[Summary],
    timeout_s: float = 10.0,
    unusable: list[tuple[str, str]] | None = None,
) -> None:
    """POST the summaries as JSON with a Slack-compatible ``text`` field.

    ``unusable`` lists the files of the batch that could not be run at all, as
    (file, reason): they have no summary, and must not go unnoticed in a nightly job.
    Raises OSError (or a subclass) when the webhook cannot be reached or answers an
    error; the caller reports it without changing the run's exit status.
    """
    unusable = unusable or []
    lines = [summary_text(s) for s in summaries]
    lines += [f"leadimport: {name} NOT IMPORTED: {reason}" for name, reason in unusable]
    body: dict[str, Any] = {"text": "\n".join(lines)}
    if len(summaries) == 1 and not unusable:
        body["summary"] = json.loads(summaries[0].to_json())
    else:
        body["summaries"] = [json.loads(s.to_json()) for s in summaries]
    if unusable:
        body["unusable"] = [{"input": name, "error": reason} for name, reason in unusable]
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode("utf-8"),
        headers={"Content-Type": "application/json", "User-Agent": "leadimport"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as resp:  # noqa: S310
            resp.read()
    except urllib.error.HTTPError as exc:
        raise OSError(f"the webhook answered HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise OSError(f"cannot reach the webhook ({exc.reason})") from None
