"""Post a run's summary to a webhook after the run (a Slack-compatible URL)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from importer.clean import hide_values
from importer.errors import ConfigError, printable
from importer.record._report import REPORT_FILE
from importer.record._results import RESULTS_FILE, Summary


def summary_text(summary: Summary) -> str:
    """One line for a chat channel: file, counts, top reasons, where the results are.

    It holds no cell value (the abort reason's quoted values are hidden) and no control
    character: a chat client may show it on a terminal.
    """
    counts = ", ".join(f"{k} {v}" for k, v in sorted(summary.counts.items()) if v) or "no rows"
    state = ""
    if summary.aborted:
        state = f" ABORTED: {hide_values(summary.aborted)}."
    elif summary.interrupted:
        state = " INTERRUPTED."
    # Reasons only (their values are hidden as '…'): what went wrong, never whose data.
    problems = "; ".join(f"{r['count']} × {r['reason']}" for r in summary.top_reasons)
    problems = f" Top problems: {hide_values(problems)}." if problems else ""
    skipped = "; ".join(f"{r['count']} × {r['reason']}" for r in summary.skipped_reasons)
    skipped = f" Skipped by design: {skipped}." if skipped else ""
    run_dir = Path(summary.run_dir).absolute()
    return printable(
        f"leadimport {summary.command} {Path(summary.input).absolute()}: {counts}.{state}"
        f"{problems}{skipped} Exit {summary.exit_code}. Results: {run_dir / RESULTS_FILE}. "
        f"Report: {run_dir / REPORT_FILE}"
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
    Raises OSError (or a subclass) when the webhook cannot be reached, answers anything but
    a 2xx (redirects are not followed) or takes longer than ``timeout_s`` in all; the
    caller reports it without changing the run's exit status. Its answer is never read.
    """
    unusable = unusable or []
    lines = [summary_text(s) for s in summaries]
    lines += [printable(f"leadimport: {name} NOT IMPORTED: {reason}") for name, reason in unusable]
    body: dict[str, Any] = {"text": "\n".join(lines)}
    if len(summaries) == 1 and not unusable:
        body["summary"] = json.loads(summaries[0].to_json())
    else:
        body["summaries"] = [json.loads(s.to_json()) for s in summaries]
    if unusable:
        body["unusable"] = [{"input": name, "error": reason} for name, reason in unusable]
    asyncio.run(_post(url, json.dumps(body).encode("utf-8"), timeout_s))


async def _post(url: str, data: bytes, timeout_s: float) -> None:
    # One deadline for everything, answer included: a webhook that drips its answer a byte
    # at a time must not keep a nightly job alive. Only the status is needed, so the body
    # is left unread and the connection closed, whatever its size.
    # Imported here: aiohttp costs ~20 MB and ~0.2 s that a validate never needs.
    import aiohttp

    from importer.send import open_session

    headers = {"Content-Type": "application/json", "User-Agent": "leadimport"}
    try:
        async with (
            asyncio.timeout(timeout_s),
            open_session(url, "notifying") as session,  # through the environment's proxy
            session.post(url, data=data, headers=headers, allow_redirects=False) as response,
        ):
            status, reason = response.status, response.reason or ""
            response.close()
    except TimeoutError:
        raise OSError(f"the webhook did not answer within {timeout_s:g} s") from None
    except ConfigError as exc:  # an unusable HTTPS_PROXY or SSL_CERT_FILE
        raise OSError(str(exc)) from None
    except aiohttp.InvalidURL:
        raise OSError("cannot reach the webhook (not an http(s) URL)") from None
    except aiohttp.ClientProxyConnectionError as exc:
        why = exc.os_error.strerror or type(exc.os_error).__name__
        raise OSError(f"cannot reach the proxy for the webhook ({why})") from None
    except aiohttp.ClientConnectorError as exc:
        why = exc.os_error.strerror or type(exc.os_error).__name__
        raise OSError(f"cannot reach the webhook ({why})") from None
    except aiohttp.ClientError as exc:
        raise OSError(f"cannot reach the webhook ({type(exc).__name__})") from None
    if not 200 <= status < 300:
        raise OSError(f"the webhook answered HTTP {status} {' '.join(reason.split())}".rstrip())
