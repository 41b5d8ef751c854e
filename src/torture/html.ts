/**
 * The report page: one self-contained HTML file (inline SVG and CSS, nothing fetched) that a
 * person opens in a browser. It shows the figures, any anomaly, a timeline of the faults, the
 * leader and every client's operations (coloured by outcome), and a latency plot over time
 * with the faults shaded behind it.
 *
 * Drawing is bounded whatever the run's length: operations are drawn per pixel column (the
 * worst outcome in the column wins), and the latency plot keeps at most a fixed number of
 * points, always including every failed and unknown operation and the slowest ones.
 */
import { TORTURE_PLOT_POINTS_MAX } from "./limits.js";
import type { ReportData } from "./report.js";

const WIDTH = 1200;
const LABEL_WIDTH = 130;
const PLOT_WIDTH = WIDTH - LABEL_WIDTH - 20;
const ROW_HEIGHT = 16;
const LATENCY_HEIGHT = 320;

const OUTCOME_COLOURS = { ok: "#2e9d4f", fail: "#d62f2f", unknown: "#f0a020" } as const;
const FAULT_COLOURS: Record<string, string> = {
  kill: "#b2182b",
  pause: "#7b3294",
  partition: "#2166ac",
  loss: "#4393c3",
  membership: "#1b7837",
};
const FAULT_ROWS = ["kill", "pause", "partition", "loss", "membership"] as const;
const LEADER_COLOURS = ["#8dd3c7", "#fdb462", "#bebada", "#fb8072", "#80b1d3", "#b3de69", "#fccde5", "#bc80bd", "#ccebc5", "#ffed6f"];

export function renderReportHtml(data: ReportData): string {
  // The time axis covers the workload and the faults; the final reads (after the wait for
  // convergence, which may be long) are counted in the summary, not drawn.
  const clientOps = data.ops.filter((op) => op.process < data.finalReadProcessBase);
  const endMs = Math.max(
    1,
    data.durationMs,
    clientOps.reduce((max, op) => Math.max(max, op.endMs), 0),
    data.faults.reduce((max, fault) => Math.max(max, fault.endMs ?? 0), 0),
  );
  const x = (ms: number): number => LABEL_WIDTH + (Math.max(0, Math.min(ms, endMs)) / endMs) * PLOT_WIDTH;
  const s = data.summary;
  const anomalies =
    s.anomalyDetails.length === 0
      ? `<p class="good">No anomaly: the history is linearizable, the nodes converged to the same data, nothing acknowledged is missing.</p>`
      : `<div class="bad"><p>${s.anomalyDetails.length} anomal${s.anomalyDetails.length === 1 ? "y" : "ies"}:</p><ul>${s.anomalyDetails.map((a) => `<li><pre>${escape(a)}</pre></li>`).join("")}</ul></div>`;
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Flotilla torture, seed ${s.seed}</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:24px;color:#222;max-width:${WIDTH + 40}px}
h1{font-size:20px} h2{font-size:16px;margin-top:28px}
table{border-collapse:collapse} td,th{padding:2px 10px;border-bottom:1px solid #ddd;text-align:left;vertical-align:top}
.good{color:#1b7837;font-weight:600} .bad{color:#b2182b} pre{white-space:pre-wrap;margin:0}
svg text{font:11px system-ui,sans-serif} .legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 12px}
</style></head><body>
<h1>Flotilla torture run: seed ${s.seed}, profile ${escape(s.profile)}, ${escape(s.network)}</h1>
${anomalies}
${summaryTable(data)}
<h2>Timeline</h2>
<div class="legend">operations (each client's time, by outcome):${legend(OUTCOME_COLOURS)} &nbsp; faults:${legend(FAULT_COLOURS)}</div>
${timeline(data, clientOps, x, endMs)}
<h2>Latency</h2>
<div class="legend">${legend(OUTCOME_COLOURS)} (unknown: when the client stopped waiting); shaded: a fault was active</div>
${latencyPlot(data, clientOps, x, endMs)}
<h2>Faults</h2>
${faultTable(data)}
${eventList(data)}
<p>Replay: <code>${escape(s.replay)}</code></p>
</body></html>
`;
}

function summaryTable(data: ReportData): string {
  const s = data.summary;
  const rows: [string, string][] = [
    ["nodes / clients / keys", `${s.nodes} / ${s.clients} / ${s.keys}`],
    ["duration", `${s.durationS} s of workload, ${s.seconds} s in all`],
    ["nemesis", s.nemesis],
    ["operations", `${s.ops.total}: ${s.ops.ok} ok, ${s.ops.failed} failed, ${s.ops.unknown} unknown`],
    ["not ok, by code", Object.entries(s.errors).map(([code, count]) => `${code} ${count}`).join(", ") || "none"],
    ["faults", Object.entries(s.faults).map(([kind, count]) => `${kind} ${count}`).join(", ") || "none"],
    ["fault variants", Object.entries(s.faultVariants).map(([kind, count]) => `${kind} ${count}`).join(", ") || "none"],
    ["leader changes", String(s.leaderChanges)],
    ["linearizable", s.linearizable],
    ["converged", s.converged ? `yes (applied index ${s.appliedIndex ?? "?"})` : "no"],
    ["availability", `during faults ${percent(s.availability.duringFaults)}, outside faults ${percent(s.availability.outsideFaults)}`],
  ];
  return `<table>${rows.map(([name, value]) => `<tr><th>${escape(name)}</th><td>${escape(value)}</td></tr>`).join("")}</table>`;
}

function timeline(data: ReportData, ops: ReportData["ops"], x: (ms: number) => number, endMs: number): string {
  const parts: string[] = [];
  let y = 20;
  parts.push(axis(x, endMs, 14));
  // The leader row: one segment per leader, from when it was seen leading to the next sample.
  parts.push(rowLabel("leader", y));
  const leaderIds = [...new Set(data.leaders.map((sample) => sample.leader).filter((id) => id !== ""))].sort();
  data.leaders.forEach((sample, i) => {
    if (sample.leader === "") return;
    const until = data.leaders[i + 1]?.atMs ?? endMs;
    const colour = LEADER_COLOURS[leaderIds.indexOf(sample.leader) % LEADER_COLOURS.length];
    parts.push(rect(x(sample.atMs), y, x(until) - x(sample.atMs), ROW_HEIGHT - 3, colour!, `${sample.leader} leads term ${sample.term} from ${seconds(sample.atMs)}`, sample.leader));
  });
  y += ROW_HEIGHT;
  for (const kind of FAULT_ROWS) {
    parts.push(rowLabel(kind, y));
    for (const fault of data.faults.filter((f) => f.kind === kind)) {
      const end = fault.endMs ?? endMs;
      const label = fault.nodes.join(",");
      parts.push(rect(x(fault.startMs), y, Math.max(1, x(end) - x(fault.startMs)), ROW_HEIGHT - 3, FAULT_COLOURS[kind]!, `${fault.variant} ${label}: ${fault.detail} (${seconds(fault.startMs)}..${seconds(end)})`, label));
    }
    y += ROW_HEIGHT;
  }
  y += 6;
  const bandsTop = y;
  const processes = [...new Set(ops.map((op) => op.process))].sort((a, b) => a - b);
  const rowsSvg: string[] = [];
  for (const process of processes) {
    rowsSvg.push(rowLabel(`client ${process}`, y));
    rowsSvg.push(...opColumns(ops.filter((op) => op.process === process), x, y));
    y += ROW_HEIGHT;
  }
  const bands = data.faults.map((fault) => `<rect x="${x(fault.startMs).toFixed(1)}" y="${bandsTop}" width="${Math.max(1, x(fault.endMs ?? endMs) - x(fault.startMs)).toFixed(1)}" height="${y - bandsTop}" fill="#000" opacity="0.05"/>`);
  return `<svg width="${WIDTH}" height="${y + 10}" viewBox="0 0 ${WIDTH} ${y + 10}">${parts.join("")}${bands.join("")}${rowsSvg.join("")}</svg>`;
}

/**
 * Operations per pixel column: the column is split by the share of the client's time in it
 * spent on ok, failed and unknown operations (failed on top, then unknown, ok below), in whole
 * pixels, and runs of equal columns become one rect each.
 */
function opColumns(ops: ReportData["ops"], x: (ms: number) => number, y: number): string[] {
  const shares = { ok: new Float64Array(WIDTH), fail: new Float64Array(WIDTH), unknown: new Float64Array(WIDTH) };
  for (const op of ops) {
    const from = x(op.callMs);
    const to = Math.max(from + 0.01, x(op.endMs));
    for (let column = Math.floor(from); column < to && column < WIDTH; column++) {
      shares[op.outcome][column]! += Math.min(to, column + 1) - Math.max(from, column);
    }
  }
  const height = ROW_HEIGHT - 5;
  const layout = (column: number): string => {
    const total = shares.ok[column]! + shares.fail[column]! + shares.unknown[column]!;
    if (total === 0) return "";
    const fail = Math.round((shares.fail[column]! / total) * height);
    const unknown = Math.round((shares.unknown[column]! / total) * height);
    return `${fail},${unknown}`;
  };
  const out: string[] = [];
  for (let column = 0; column < WIDTH; ) {
    const key = layout(column);
    let end = column + 1;
    while (end < WIDTH && layout(end) === key) end++;
    if (key !== "") {
      const [fail, unknown] = key.split(",").map(Number) as [number, number];
      const ok = height - fail - unknown;
      const bar = (top: number, h: number, colour: string): string => (h > 0 ? `<rect x="${column}" y="${y + top}" width="${end - column}" height="${h}" fill="${colour}"/>` : "");
      out.push(bar(0, fail, OUTCOME_COLOURS.fail), bar(fail, unknown, OUTCOME_COLOURS.unknown), bar(fail + unknown, ok, OUTCOME_COLOURS.ok));
    }
    column = end;
  }
  return out;
}

function latencyPlot(data: ReportData, ops: ReportData["ops"], x: (ms: number) => number, endMs: number): string {
  const top = 20;
  const bottom = top + LATENCY_HEIGHT;
  const points = samplePoints(ops);
  const maxLatency = points.reduce((max, op) => Math.max(max, op.endMs - op.callMs), 10);
  const logMax = Math.log10(maxLatency * 1.2);
  const y = (latency: number): number => bottom - (Math.log10(Math.max(1, latency)) / logMax) * LATENCY_HEIGHT;
  const parts: string[] = [axis(x, endMs, 14)];
  for (const fault of data.faults) {
    parts.push(`<rect x="${x(fault.startMs).toFixed(1)}" y="${top}" width="${Math.max(1, x(fault.endMs ?? endMs) - x(fault.startMs)).toFixed(1)}" height="${LATENCY_HEIGHT}" fill="${FAULT_COLOURS[fault.kind]}" opacity="0.08"/>`);
  }
  for (let decade = 1; decade <= maxLatency * 1.2; decade *= 10) {
    parts.push(`<line x1="${LABEL_WIDTH}" x2="${LABEL_WIDTH + PLOT_WIDTH}" y1="${y(decade).toFixed(1)}" y2="${y(decade).toFixed(1)}" stroke="#ccc"/>`);
    parts.push(`<text x="${LABEL_WIDTH - 6}" y="${(y(decade) + 4).toFixed(1)}" text-anchor="end">${decade >= 1000 ? `${decade / 1000} s` : `${decade} ms`}</text>`);
  }
  for (const op of points) {
    parts.push(`<circle cx="${x(op.callMs).toFixed(1)}" cy="${y(op.endMs - op.callMs).toFixed(1)}" r="1.6" fill="${OUTCOME_COLOURS[op.outcome]}"/>`);
  }
  parts.push(`<text x="4" y="${top + 10}">latency (log)</text>`);
  return `<svg width="${WIDTH}" height="${bottom + 10}" viewBox="0 0 ${WIDTH} ${bottom + 10}">${parts.join("")}</svg>`;
}

/** Every failed or unknown operation and the slowest ones, then an even sample of the rest. */
function samplePoints(ops: ReportData["ops"]): ReportData["ops"] {
  if (ops.length <= TORTURE_PLOT_POINTS_MAX) return ops;
  const notOk = ops.filter((op) => op.outcome !== "ok");
  const ok = ops.filter((op) => op.outcome === "ok");
  const slowest = [...ok].sort((a, b) => b.endMs - b.callMs - (a.endMs - a.callMs)).slice(0, Math.floor(TORTURE_PLOT_POINTS_MAX / 10));
  const room = Math.max(0, TORTURE_PLOT_POINTS_MAX - notOk.length - slowest.length);
  const step = Math.max(1, Math.ceil(ok.length / Math.max(1, room)));
  return [...ok.filter((_, i) => i % step === 0), ...slowest, ...notOk].slice(0, Math.max(TORTURE_PLOT_POINTS_MAX, notOk.length));
}

function faultTable(data: ReportData): string {
  if (data.faults.length === 0) return "<p>No faults.</p>";
  const rows = data.faults.map(
    (fault) =>
      `<tr><td>${seconds(fault.startMs)}</td><td>${fault.endMs === undefined ? "—" : seconds(fault.endMs)}</td><td>${escape(fault.kind)}</td><td>${escape(fault.variant)}</td><td>${escape(fault.nodes.join(", "))}</td><td>${escape(fault.detail)}</td></tr>`,
  );
  return `<table><tr><th>start</th><th>end</th><th>kind</th><th>variant</th><th>nodes</th><th>what happened</th></tr>${rows.join("")}</table>`;
}

function eventList(data: ReportData): string {
  if (data.events.length === 0) return "";
  return `<h2>Process events</h2><ul>${data.events.map((event) => `<li>${seconds(event.atMs)} ${escape(event.what)}: <pre>${escape(event.detail)}</pre></li>`).join("")}</ul>`;
}

function axis(x: (ms: number) => number, endMs: number, y: number): string {
  const stepMs = niceStep(endMs / 12);
  const ticks: string[] = [];
  for (let ms = 0; ms <= endMs; ms += stepMs) {
    ticks.push(`<line x1="${x(ms).toFixed(1)}" x2="${x(ms).toFixed(1)}" y1="${y}" y2="${y - 4}" stroke="#888"/><text x="${x(ms).toFixed(1)}" y="${y - 5}" text-anchor="middle">${seconds(ms)}</text>`);
  }
  return ticks.join("");
}

function niceStep(ms: number): number {
  for (const step of [100, 250, 500, 1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 1_800_000, 3_600_000]) if (step >= ms) return step;
  return 7_200_000;
}

function rowLabel(text: string, y: number): string {
  return `<text x="4" y="${y + ROW_HEIGHT - 6}">${escape(text)}</text>`;
}

function rect(x: number, y: number, width: number, height: number, fill: string, title: string, label: string): string {
  const text = width > label.length * 7 + 4 ? `<text x="${(x + 3).toFixed(1)}" y="${y + height - 3}" fill="#fff">${escape(label)}</text>` : "";
  return `<g><title>${escape(title)}</title><rect x="${x.toFixed(1)}" y="${y}" width="${Math.max(1, width).toFixed(1)}" height="${height}" fill="${fill}"/>${text}</g>`;
}

function legend(colours: Record<string, string>): string {
  return Object.entries(colours)
    .map(([name, colour]) => `<span style="background:${colour}"></span>${escape(name)}`)
    .join("");
}

function percent(value: number | null): string {
  return value === null ? "n/a" : `${(value * 100).toFixed(1)}%`;
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(ms >= 100_000 ? 0 : 1)}s`;
}

function escape(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}
