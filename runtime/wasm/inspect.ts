/**
 * `kiln inspect <module.wasm>`: what a module imports, exports and declares, as data and as text.
 *
 * @module
 */
import { formatMib } from "./limits.ts";
import type {
  ExternKind,
  FuncType,
  GlobalType,
  MemoryType,
  RefType,
  TableType,
  WasmModuleInfo,
} from "./types.ts";

/** Options of {@linkcode inspectModule}. */
export interface InspectOptions {
  /**
   * Names the capability an import needs, e.g. `"read:*:*"` for `kiln.input`, or `null` when it needs none.
   * The host import table owns this mapping; without it the report has no "needs" column.
   */
  capabilityFor?: (importModule: string, importName: string) => string | null;
}

/** One import as `kiln inspect` lists it. */
export interface InspectImport {
  readonly module: string;
  readonly name: string;
  readonly kind: ExternKind;
  /** e.g. `"(i32, i32, i32) -> i32"` for a function, `"mut i32"` for a global. */
  readonly signature: string;
  /** The capability it needs (`null`: none); absent when no `capabilityFor` was given. */
  readonly needs?: string | null;
}

/** One export as `kiln inspect` lists it. */
export interface InspectExport {
  readonly name: string;
  readonly kind: ExternKind;
  readonly signature: string;
}

/** A memory's limits. */
export interface InspectMemory {
  readonly index: number;
  readonly imported: boolean;
  readonly minPages: number;
  /** `null` when the module declares no maximum. */
  readonly maxPages: number | null;
  readonly minMib: number;
  readonly maxMib: number | null;
  readonly shared: boolean;
}

/** A table's limits, in entries. */
export interface InspectTable {
  readonly index: number;
  readonly imported: boolean;
  readonly element: RefType;
  readonly min: number;
  readonly max: number | null;
}

/** The report of {@linkcode inspectModule}. */
export interface InspectReport {
  readonly sizeBytes: number;
  /** The module name from the `name` section, if any. */
  readonly moduleName: string | null;
  readonly imports: readonly InspectImport[];
  readonly exports: readonly InspectExport[];
  readonly memories: readonly InspectMemory[];
  readonly tables: readonly InspectTable[];
  readonly functions: { readonly imported: number; readonly defined: number };
  readonly globals: { readonly imported: number; readonly defined: number };
  /** The start function's index and name (from the `name` section), or `null` when there is none. */
  readonly start: { readonly index: number; readonly name: string | null } | null;
  readonly customSections: readonly { readonly name: string; readonly sizeBytes: number }[];
  /** Size of the code section in bytes (0 without one). */
  readonly codeSizeBytes: number;
  /** Size of each data segment in bytes, in order. */
  readonly dataSegmentSizesBytes: readonly number[];
  readonly dataSizeBytes: number;
}

/**
 * Builds the `kiln inspect` report of a module read by {@linkcode readModule}.
 *
 * @example
 * ```ts ignore
 * const report = inspectModule(readModule(bytes), { capabilityFor: (m, n) => HOST_IMPORTS[n]?.capability ?? null });
 * console.log(formatInspect(report));
 * ```
 */
export function inspectModule(info: WasmModuleInfo, options: InspectOptions = {}): InspectReport {
  const { capabilityFor } = options;
  const memories: MemoryType[] = [];
  const memoryImported: boolean[] = [];
  const tables: TableType[] = [];
  const tableImported: boolean[] = [];
  const globals: GlobalType[] = [];
  const tags: number[] = [];
  const imports: InspectImport[] = [];
  for (const imp of info.imports) {
    let signature: string;
    switch (imp.kind) {
      case "function":
        signature = formatFuncType(info.types[imp.typeIndex]);
        break;
      case "table":
        tables.push(imp.table);
        tableImported.push(true);
        signature = formatTable(imp.table);
        break;
      case "memory":
        memories.push(imp.memory);
        memoryImported.push(true);
        signature = formatMemory(imp.memory);
        break;
      case "global":
        globals.push(imp.global);
        signature = formatGlobal(imp.global);
        break;
      case "tag":
        tags.push(imp.typeIndex);
        signature = formatTag(info.types[imp.typeIndex]);
        break;
    }
    const entry = { module: imp.module, name: imp.name, kind: imp.kind, signature };
    imports.push(capabilityFor ? { ...entry, needs: capabilityFor(imp.module, imp.name) } : entry);
  }
  const importedFunctions = info.imports.filter((i) => i.kind === "function").length;
  const importedGlobals = globals.length;
  for (const m of info.memories) (memories.push(m), memoryImported.push(false));
  for (const t of info.tables) (tables.push(t), tableImported.push(false));
  globals.push(...info.globals);
  tags.push(...info.tags);

  const exports = info.exports.map((e): InspectExport => {
    let signature = "?";
    if (e.type !== null) signature = formatFuncType(e.type);
    else if (e.kind === "memory" && memories[e.index]) signature = formatMemory(memories[e.index]!);
    else if (e.kind === "table" && tables[e.index]) signature = formatTable(tables[e.index]!);
    else if (e.kind === "global" && globals[e.index]) signature = formatGlobal(globals[e.index]!);
    else if (e.kind === "tag") signature = formatTag(info.types[tags[e.index] ?? -1]);
    return { name: e.name, kind: e.kind, signature };
  });

  const code = info.sections.find((s) => s.name === "code");
  const dataSegmentSizesBytes = info.data.map((d) => d.sizeBytes);
  return {
    sizeBytes: info.sizeBytes,
    moduleName: info.moduleName,
    imports,
    exports,
    memories: memories.map((m, index) => ({
      index,
      imported: memoryImported[index]!,
      minPages: m.min,
      maxPages: m.max,
      minMib: m.min / 16,
      maxMib: m.max === null ? null : m.max / 16,
      shared: m.shared,
    })),
    tables: tables.map((t, index) => ({
      index,
      imported: tableImported[index]!,
      element: t.element,
      min: t.min,
      max: t.max,
    })),
    functions: { imported: importedFunctions, defined: info.functions.length },
    globals: { imported: importedGlobals, defined: info.globals.length },
    start: info.start === null
      ? null
      : { index: info.start, name: info.functionNames.get(info.start) ?? null },
    customSections: info.customSections.map((c) => ({ name: c.name, sizeBytes: c.end - c.contentStart })),
    codeSizeBytes: code === undefined ? 0 : code.end - code.payloadStart,
    dataSegmentSizesBytes,
    dataSizeBytes: dataSegmentSizesBytes.reduce((a, b) => a + b, 0),
  };
}

/**
 * Renders an {@linkcode InspectReport} as the text `kiln inspect` prints: one section per heading, imports
 * and exports in aligned columns.
 */
export function formatInspect(report: InspectReport): string {
  const lines: string[] = [];
  const name = report.moduleName === null ? "" : ` "${report.moduleName}"`;
  lines.push(
    `Module${name}: ${report.sizeBytes} bytes, ${report.functions.defined} functions ` +
      `(${report.codeSizeBytes} bytes of code), ${report.functions.imported} imported`,
  );
  if (report.memories.length === 0) lines.push("Memory: none");
  for (const m of report.memories) {
    lines.push(
      `Memory ${m.index}${m.imported ? " (imported)" : ""}: ${
        formatMemory({ ...m, min: m.minPages, max: m.maxPages })
      }`,
    );
  }
  for (const t of report.tables) {
    lines.push(`Table ${t.index}${t.imported ? " (imported)" : ""}: ${formatTable(t)}`);
  }
  lines.push(`Globals: ${report.globals.defined} defined, ${report.globals.imported} imported`);
  lines.push(
    `Start function: ${
      report.start === null
        ? "none"
        : `${report.start.index}${report.start.name ? ` (${report.start.name})` : ""}`
    }`,
  );
  const withNeeds = report.imports.some((i) => i.needs !== undefined);
  lines.push("", `Imports (${report.imports.length}):`);
  lines.push(
    ...table(report.imports.map((i) => [
      `${i.module}.${i.name}`,
      i.kind,
      i.signature,
      ...(withNeeds ? [`needs ${i.needs ?? "-"}`] : []),
    ])),
  );
  lines.push("", `Exports (${report.exports.length}):`);
  lines.push(...table(report.exports.map((e) => [e.name, e.kind, e.signature])));
  const sizes = report.dataSegmentSizesBytes;
  lines.push(
    "",
    `Data segments (${sizes.length}): ${report.dataSizeBytes} bytes` +
      (sizes.length > 0 ? ` (${sizes.map((s) => `${s}`).join(", ")})` : ""),
  );
  lines.push(
    `Custom sections (${report.customSections.length})` +
      (report.customSections.length > 0
        ? `: ${report.customSections.map((c) => `${c.name} (${c.sizeBytes} bytes)`).join(", ")}`
        : ""),
  );
  return lines.join("\n");
}

/** Left-aligned columns, two spaces apart, indented by two. */
function table(rows: string[][]): string[] {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => `  ${row.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd()}`);
}

/** `(i32, i32) -> i32`; several results in parentheses, none as `()`. */
export function formatFuncType(type: FuncType | undefined): string {
  if (type === undefined) return "?";
  const results = type.results.length === 1 ? type.results[0] : `(${type.results.join(", ")})`;
  return `(${type.params.join(", ")}) -> ${results}`;
}

function formatTag(type: FuncType | undefined): string {
  return type === undefined ? "?" : `(${type.params.join(", ")})`;
}

function formatGlobal(g: GlobalType): string {
  return g.mutable ? `mut ${g.type}` : g.type;
}

function formatMemory(m: MemoryType): string {
  const limits = m.max === null
    ? `${m.min} pages (${formatMib(m.min)} MiB), no maximum`
    : `${m.min} to ${m.max} pages (${formatMib(m.min)} to ${formatMib(m.max)} MiB)`;
  return m.shared ? `${limits}, shared` : limits;
}

function formatTable(t: TableType): string {
  return t.max === null
    ? `${t.element}, ${t.min} ${t.min === 1 ? "entry" : "entries"}, no maximum`
    : `${t.element}, ${t.min} to ${t.max} entries`;
}
