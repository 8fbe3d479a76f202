import { formatMicrosAsUsd } from "@heidrun/core";
import type { AuditHead, FailedGroup, OpenHolds, RecordedRerun, SettledToday } from "@heidrun/db";
import { type Html, html, layout } from "./html";
import type { QueueDepth } from "./queues";

/** One section's data, or why it could not be read (the rest of the page still renders). */
export type Part<T> = { ok: true; value: T } | { ok: false; error: string };

export interface OverviewData {
  now: Date;
  authOff: boolean;
  user: string;
  csrf: string;
  /** A fresh request_id per rerun form: submitting the same form twice replays instead of running twice. */
  newRequestId: () => string;
  queues: Part<QueueDepth[]>;
  settledToday: Part<SettledToday>;
  failedGroups: Part<FailedGroup[]>;
  holds: Part<OpenHolds>;
  auditHead: Part<AuditHead>;
  rerun?: RecordedRerun | { missing: string };
}

export function formatAge(ms: number): string {
  const seconds = Math.max(0, Math.floor(ms / 1000));
  if (seconds < 120) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 120) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  return hours < 48 ? `${hours} h ${minutes % 60} min` : `${Math.floor(hours / 24)} d ${hours % 24} h`;
}

const money = (micros: bigint) =>
  html`<td class="num" title="${micros} micros">${formatMicrosAsUsd(micros)}</td>`;
const time = (at: Date) => html`<span class="mono">${at.toISOString().replace(".000Z", "Z")}</span>`;

function section<T>(id: string, title: string, part: Part<T>, body: (value: T) => Html): Html {
  return html`<section id="${id}"><h2>${title}</h2>${
    part.ok ? body(part.value) : html`<p class="error">unavailable: ${part.error}</p>`
  }</section>`;
}

function queuesTable(queues: QueueDepth[], now: Date): Html {
  return html`<table>
<tr><th>queue</th><th class="num">waiting</th><th class="num">active</th><th class="num">delayed</th>
<th class="num">failed</th><th>oldest waiting</th></tr>
${queues.map(
  (
    q,
  ) => html`<tr data-queue="${q.name}"><td><a href="/queues/queue/${encodeURIComponent(q.name)}">${q.name}</a>${
    q.paused ? html` <span class="warn">paused</span>` : ""
  }</td><td class="num">${q.waiting}</td><td class="num">${q.active}</td><td class="num">${q.delayed}</td>
<td class="num">${q.failed}</td><td>${
    q.oldestWaiting
      ? html`${formatAge(now.getTime() - q.oldestWaiting.enqueuedAt.getTime())} <span class="muted mono">${q.oldestWaiting.jobId}</span>`
      : html`<span class="muted">none</span>`
  }</td></tr>`,
)}
</table>`;
}

function settledTable(day: SettledToday): Html {
  if (day.providers.length === 0)
    return html`<p class="muted">Nothing settled since ${time(day.dayStart)}.</p>`;
  const sum = (pick: (p: SettledToday["providers"][number]) => bigint) =>
    day.providers.reduce((total, p) => total + pick(p), 0n);
  return html`<p class="muted">Since ${time(day.dayStart)} (UTC).</p><table>
<tr><th>provider</th><th class="num">settlements</th><th class="num">total</th><th class="num">company fee</th>
<th class="num">provider earnings</th></tr>
${day.providers.map(
  (p) =>
    html`<tr data-provider="${p.providerId}"><td>${p.providerId}</td><td class="num">${p.count}</td>${money(
      p.totalCostMicros,
    )}${money(p.companyFeeMicros)}${money(p.providerEarningsMicros)}</tr>`,
)}
<tr><th>all</th><th class="num">${sum((p) => p.count)}</th>${money(sum((p) => p.totalCostMicros))}${money(
    sum((p) => p.companyFeeMicros),
  )}${money(sum((p) => p.providerEarningsMicros))}</tr>
</table>`;
}

function failedTable(groups: FailedGroup[], data: OverviewData): Html {
  if (groups.length === 0) return html`<p class="ok">No failed settlements.</p>`;
  return html`<table>
<tr><th>reason</th><th class="num">count</th><th>providers</th><th>first failed</th><th>last failed</th><th></th></tr>
${groups.map(
  (g) => html`<tr class="failed-group"><td class="mono">${g.reason || "(no reason)"}</td><td class="num">${
    g.count
  }</td><td>${g.providers.join(", ")}</td><td>${time(g.firstFailedAt)}</td><td>${time(g.lastFailedAt)}</td>
<td><form method="post" action="/settlements/rerun">
<input type="hidden" name="csrf" value="${data.csrf}">
<input type="hidden" name="request_id" value="${data.newRequestId()}">
<input type="hidden" name="reason" value="${g.reason}">
<button type="submit">Rerun ${g.count}</button>
</form></td></tr>`,
)}
</table>
<p class="muted">A rerun queues the group's settlements again (new job, or the failed job retried); a
settlement can never settle twice. Add the missing price first.</p>`;
}

function rerunBanner(rerun: OverviewData["rerun"]): Html | string {
  if (!rerun) return "";
  if ("missing" in rerun) return html`<p class="banner warn">No rerun ${rerun.missing} was recorded.</p>`;
  return html`<p class="banner warn" id="rerun-result">Rerun <span class="mono">${rerun.requestId}</span>: matched
${rerun.matched}, requeued ${rerun.requeued}. Reload to follow the settlements.</p>`;
}

export function renderOverview(data: OverviewData): string {
  const body = html`
${
  data.authOff
    ? html`<p class="banner warn" id="auth-off"><strong>Authentication is off.</strong> HEIDRUN_API_KEYS is not
set, so anyone who can reach this port can read these pages and change the queues. Set admin keys to require
them here (basic auth, the key as the password).</p>`
    : html`<p class="muted">Signed in as ${data.user} (admin key).</p>`
}
${rerunBanner(data.rerun)}
${section("queues", "Queues", data.queues, (queues) => queuesTable(queues, data.now))}
${section("settled-today", "Settled today", data.settledToday, settledTable)}
${section("failed", "Failed settlements", data.failedGroups, (groups) => failedTable(groups, data))}
${section(
  "holds",
  "Open holds",
  data.holds,
  (h) => html`<p><span class="num">${h.count}</span> pending pre-authorizations holding
<strong title="${h.heldMicros} micros">${formatMicrosAsUsd(h.heldMicros)}</strong>${
    h.nextExpiry ? html`; the next expires at ${time(h.nextExpiry)}` : ""
  }.</p>
<p id="awaiting-settlement"><span class="num">${h.awaitingSettlement.count}</span> captures awaiting their settlement,
holding <strong title="${h.awaitingSettlement.heldMicros} micros">${formatMicrosAsUsd(h.awaitingSettlement.heldMicros)}</strong>${
    h.awaitingSettlement.oldestCapturedAt
      ? html`; the oldest was captured at ${time(h.awaitingSettlement.oldestCapturedAt)}`
      : ""
  }.</p>`,
)}
${section(
  "audit",
  "Audit chain head",
  data.auditHead,
  (
    head,
  ) => html`<p>seq <strong class="mono">${head.seq}</strong> hash <span class="mono">${head.hash}</span></p>
<p class="muted">Copy it somewhere Heidrun cannot write; <code>heidrun audit verify</code> checks the chain.</p>`,
)}
<p class="muted">Rendered at ${time(data.now)}.</p>`;
  return layout("Heidrun — settlement overview", body);
}
