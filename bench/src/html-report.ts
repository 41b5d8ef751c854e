/**
 * The HTML page of a run: throughput and p50/p99 latency per workload as inline SVG bar charts,
 * Flotilla and etcd side by side, then the same tables as the terminal. One self-contained file,
 * no script and no dependency, so it opens anywhere.
 */
import type { BenchReport, SystemResult } from "./results.js";
import { formatTable, RATIO_HEADER, ratioRows, SYSTEM_HEADER, systemRows } from "./report.js";

const COLORS: Record<string, string> = { flotilla: "#2563eb", etcd: "#ea580c" };
const LABEL_WIDTH = 190;
const BAR_AREA_WIDTH = 360;
const VALUE_WIDTH = 70;
const BAR_HEIGHT = 13;
const ROW_GAP = 10;

interface Series {
  readonly name: string;
  readonly values: readonly (number | undefined)[];
}

/**
 * Horizontal grouped bars, one group per workload. Bars are scaled within each workload: the
 * figures span three orders of magnitude across workloads, and what a reader compares is the
 * systems side by side; the values are printed on the bars.
 */
export function barChart(title: string, labels: readonly string[], series: readonly Series[], format: (value: number) => string): string {
  const rowHeight = series.length * BAR_HEIGHT + ROW_GAP;
  const top = 28;
  const height = top + labels.length * rowHeight + 24;
  const width = LABEL_WIDTH + BAR_AREA_WIDTH + VALUE_WIDTH;
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`];
  parts.push(`<text x="0" y="16" font-size="13" font-weight="bold">${escape(title)}</text><text x="${width}" y="16" text-anchor="end" fill="#666">bars scaled within each workload</text>`);
  labels.forEach((label, row) => {
    const y = top + row * rowHeight;
    const max = Math.max(1e-9, ...series.map((s) => s.values[row] ?? 0));
    parts.push(`<text x="${LABEL_WIDTH - 6}" y="${y + (series.length * BAR_HEIGHT) / 2 + 4}" text-anchor="end">${escape(label)}</text>`);
    series.forEach((s, i) => {
      const value = s.values[row];
      if (value === undefined) return;
      const barWidth = Math.max(1, (value / max) * BAR_AREA_WIDTH);
      const barY = y + i * BAR_HEIGHT;
      parts.push(`<rect x="${LABEL_WIDTH}" y="${barY}" width="${barWidth.toFixed(1)}" height="${BAR_HEIGHT - 2}" fill="${COLORS[s.name] ?? "#666"}"><title>${escape(`${s.name} ${label}: ${format(value)}`)}</title></rect>`);
      parts.push(`<text x="${(LABEL_WIDTH + barWidth + 4).toFixed(1)}" y="${barY + BAR_HEIGHT - 3}">${escape(format(value))}</text>`);
    });
  });
  const legendY = height - 8;
  series.forEach((s, i) => {
    const x = LABEL_WIDTH + i * 110;
    parts.push(`<rect x="${x}" y="${legendY - 9}" width="10" height="10" fill="${COLORS[s.name] ?? "#666"}"/><text x="${x + 14}" y="${legendY}">${escape(s.name)}</text>`);
  });
  parts.push("</svg>");
  return parts.join("");
}

export function htmlReport(report: BenchReport): string {
  const systems = report.systems;
  const labels = systems[0]?.workloads.map((w) => w.name) ?? [];
  const seriesOf = (figure: (system: SystemResult, name: string) => number | undefined): Series[] =>
    systems.map((system) => ({ name: system.system, values: labels.map((name) => figure(system, name)) }));
  const find = (system: SystemResult, name: string) => system.workloads.find((w) => w.name === name);
  const charts = [
    barChart("Throughput (operations per second)", labels, seriesOf((s, n) => find(s, n)?.opsPerSecond), (v) => Math.round(v).toLocaleString("en-US")),
    barChart("Latency p50 (ms)", labels, seriesOf((s, n) => find(s, n)?.latency.p50Ms), (v) => v.toFixed(2)),
    barChart("Latency p99 (ms)", labels, seriesOf((s, n) => find(s, n)?.latency.p99Ms), (v) => v.toFixed(2)),
  ];
  const m = report.machine;
  const tables = systems.map((system) => `<h2>${escape(`${system.system} ${system.version}`)}</h2><pre>${escape(formatTable(SYSTEM_HEADER, systemRows(system)))}</pre>`);
  const flotilla = systems.find((s) => s.system === "flotilla");
  const etcd = systems.find((s) => s.system === "etcd");
  if (flotilla && etcd) {
    tables.push(`<h2>Ratio Flotilla/etcd</h2><pre>${escape(formatTable(RATIO_HEADER, ratioRows(flotilla, etcd)))}</pre>`);
    const targets = report.targets.map((t) => `${t.target.padEnd(58)} ${t.ratio === undefined ? "-" : t.ratio.toFixed(2)}  goal ${t.goal}  ${t.met === undefined ? "not measured" : t.met ? "met" : "MISSED"}`);
    tables.push(`<h2>Targets</h2><pre>${escape(targets.join("\n"))}</pre>`);
  }
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Flotilla benchmark ${escape(report.startedAt)}</title>
<style>body{font-family:sans-serif;margin:24px;color:#111}pre{font-size:12px;background:#f6f6f6;padding:8px;overflow-x:auto}.charts{display:flex;flex-wrap:wrap;gap:24px}</style></head>
<body><h1>Flotilla benchmark</h1>
<p>${escape(report.startedAt)} · <code>${escape(report.command)}</code><br>
${escape(`${m.cpus} × ${m.cpuModel}, node ${m.nodeVersion}; ${Math.round(m.fdatasync.perSecond)} fdatasyncs/s; loopback RTT ${m.loopbackRtt.medianMs.toFixed(3)} ms; generator ceiling ${Math.round(m.generator.opsPerSecond)} req/s; single-client write ceiling ${Math.round(m.singleWriteCeiling.opsPerSecond)} writes/s; measured floor ${m.replicationFloor.medianMs.toFixed(3)} ms a write, service floor (with HTTP and SQLite) ${m.serviceFloor.medianMs.toFixed(3)} ms${m.loadFloors.map((f) => `; service floor under ${f.clients} clients ${Math.round(f.opsPerSecond)} writes/s at ${Math.round(f.cpuUsPerOp)} µs CPU each`).join("")}`)}<br>
${escape(`${report.settings.warmupSeconds} s warm-up + ${report.settings.durationSeconds} s per workload, ${report.settings.keys} keys`)}</p>
<div class="charts">${charts.join("\n")}</div>
${tables.join("\n")}
</body></html>
`;
}

function escape(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}
