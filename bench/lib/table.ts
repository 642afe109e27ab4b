/**
 * The final table: one aligned line per row, with ours, the baseline, the ratio, p50/p99 where
 * they apply, and the target with "met" or "missed".
 *
 * @module
 */

import { type Percentiles, type Row, targetText } from "./types.ts";

const HEADER = [
  "scenario",
  "ours",
  "baseline",
  "ratio",
  "p50/p99 ours",
  "p50/p99 baseline",
  "target",
  "",
];

function number(value: number, unit: string): string {
  if (unit === "ms" || unit === "s") return `${value.toFixed(2)} ${unit}`;
  if (Math.abs(value) < 100) return `${value.toFixed(1)} ${unit}`;
  return `${Math.round(value).toLocaleString("en-US")} ${unit}`;
}

function percentiles(p: Percentiles | undefined): string {
  return p ? `${p.p50.toFixed(2)}/${p.p99.toFixed(2)} ms` : "";
}

/** The baseline's name and value, or that it failed to start. */
function baselineCell(row: Row): string {
  if (row.baselineFailed) return `${row.baselineName}: baseline failed to start`;
  if (row.baseline === undefined) return "";
  return `${row.baselineName} ${number(row.baseline, row.unit)}`;
}

/** "met", "missed", "not judged" (a ratio target without its baseline) or nothing. */
function verdict(row: Row): string {
  if (row.met !== undefined) return row.met ? "met" : "missed";
  return row.target && row.baselineFailed ? "not judged" : "";
}

/** The table's cells, header first. */
export function tableCells(rows: Row[]): string[][] {
  return [
    HEADER,
    ...rows.map((row) => [
      row.scenario,
      number(row.ours, row.unit),
      baselineCell(row),
      row.ratio === undefined ? "" : `${row.ratio.toFixed(2)}×`,
      percentiles(row.oursLatency),
      percentiles(row.baselineLatency),
      targetText(row.target, row.unit),
      verdict(row) +
      (row.disturbed ? " (disturbed)" : ""),
    ]),
  ];
}

/** The table as aligned text lines. */
export function formatTable(rows: Row[]): string {
  const cells = tableCells(rows);
  const widths = HEADER.map((_, i) => Math.max(...cells.map((line) => line[i].length)));
  const right = new Set([1, 2, 3, 4, 5]);
  const render = (line: string[]) =>
    line.map((cell, i) => right.has(i) ? cell.padStart(widths[i]) : cell.padEnd(widths[i]))
      .join("  ").trimEnd();
  const rule = widths.map((w) => "-".repeat(w)).join("  ");
  return [render(cells[0]), rule, ...cells.slice(1).map(render)].join("\n");
}
