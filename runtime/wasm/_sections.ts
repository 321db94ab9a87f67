/**
 * One decoder per section (core spec §5.5), filling a {@linkcode Builder}. Each reads only through its
 * bounded {@linkcode Cursor}; `readModule` checks that it consumed its section exactly.
 *
 * @module
 */
import { Cursor } from "./_cursor.ts";
import {
  type ConstExprScope,
  readFuncType,
  readGlobalType,
  readMemoryType,
  readRefType,
  readTableType,
  readValType,
  skipConstExpr,
} from "./_decode.ts";
import { readNameSection } from "./_names.ts";
import type {
  CodeBody,
  CustomSectionInfo,
  DataSegment,
  ExportInfo,
  ExternKind,
  FuncType,
  GlobalInfo,
  ImportInfo,
  MemoryType,
  SectionInfo,
  TableType,
} from "./types.ts";

/** V8's limit on locals per function (`kV8MaxWasmFunctionLocals`); the spec only caps them at 2^32 - 1. */
const MAX_LOCALS = 50_000;

/** Import and export kinds by their byte (core spec §5.5.5, §5.5.10). */
const EXTERN_KINDS: readonly ExternKind[] = ["function", "table", "memory", "global", "tag"];

/** Module contents while the sections are read. */
export interface Builder {
  sections: SectionInfo[];
  types: FuncType[];
  imports: ImportInfo[];
  functions: number[];
  tables: TableType[];
  memories: MemoryType[];
  globals: GlobalInfo[];
  tags: number[];
  exports: ExportInfo[];
  start: number | null;
  elementCount: number;
  elementEntries: number;
  dataCount: number | null;
  code: CodeBody[];
  data: DataSegment[];
  customSections: CustomSectionInfo[];
  moduleName: string | null;
  functionNames: Map<number, string>;
  imported: Record<ExternKind, number>;
  /** Type index of every function in the function index space, imported ones first. */
  funcTypes: number[];
  sawCode: boolean;
  sawData: boolean;
}

/** An empty builder. */
export function createBuilder(): Builder {
  return {
    sections: [],
    types: [],
    imports: [],
    functions: [],
    tables: [],
    memories: [],
    globals: [],
    tags: [],
    exports: [],
    start: null,
    elementCount: 0,
    elementEntries: 0,
    dataCount: null,
    code: [],
    data: [],
    customSections: [],
    moduleName: null,
    functionNames: new Map(),
    imported: { function: 0, table: 0, memory: 0, global: 0, tag: 0 },
    funcTypes: [],
    sawCode: false,
    sawData: false,
  };
}

/** Decodes one section's payload into the builder, leaving the cursor at the end of what it read. */
export type SectionReader = (c: Cursor, m: Builder) => void;

function checkType(c: Cursor, m: Builder, typeIndex: number, what: string, at: number): void {
  if (typeIndex >= m.types.length) {
    c.fail(
      `${c.label}: ${what} at byte ${at} uses type ${typeIndex}, but there are ${m.types.length} types`,
      at,
    );
  }
}

function functionCount(m: Builder): number {
  return m.imported.function + m.functions.length;
}

export const SECTION_READERS: Readonly<Record<number, SectionReader>> = {
  0: readCustomSection,
  1(c: Cursor, m: Builder) {
    const n = c.count("types", 3);
    for (let i = 0; i < n; i++) m.types.push(readFuncType(c, i));
  },
  2(c: Cursor, m: Builder) {
    const n = c.count("imports", 4);
    for (let i = 0; i < n; i++) {
      const at = c.pos;
      const module = c.name(`the module name of import ${i}`);
      const name = c.name(`the field name of import ${i}`);
      const what = `import ${i} ("${module}"."${name}")`;
      const kindAt = c.pos;
      const kind = c.byte(`the kind of ${what}`);
      switch (kind) {
        case 0x00: {
          const typeAt = c.pos;
          const typeIndex = c.u32(`the type of ${what}`);
          checkType(c, m, typeIndex, what, typeAt);
          m.imports.push({ module, name, kind: "function", typeIndex, type: m.types[typeIndex]! });
          m.funcTypes.push(typeIndex);
          break;
        }
        case 0x01:
          m.imports.push({ module, name, kind: "table", table: readTableType(c, what) });
          break;
        case 0x02:
          m.imports.push({ module, name, kind: "memory", memory: readMemoryType(c, what) });
          break;
        case 0x03:
          m.imports.push({ module, name, kind: "global", global: readGlobalType(c, what) });
          break;
        case 0x04:
          m.imports.push({ module, name, kind: "tag", typeIndex: readTag(c, m, what) });
          break;
        default:
          c.fail(
            `${c.label}: ${what} at byte ${at} has kind ${kind} (at byte ${kindAt}), expected 0 to 4`,
            kindAt,
          );
      }
      m.imported[m.imports[m.imports.length - 1]!.kind]++;
    }
  },
  3(c: Cursor, m: Builder) {
    const n = c.count("functions");
    for (let i = 0; i < n; i++) {
      const at = c.pos;
      const typeIndex = c.u32(`the type of function ${i}`);
      checkType(c, m, typeIndex, `function ${i}`, at);
      m.functions.push(typeIndex);
      m.funcTypes.push(typeIndex);
    }
  },
  4(c: Cursor, m: Builder) {
    const n = c.count("tables", 3);
    for (let i = 0; i < n; i++) {
      const what = `table ${m.imported.table + i}`;
      if (c.bytes[c.pos] === 0x40) {
        // Function references proposal: `0x40 0x00 tabletype expr`, a table with an initial value.
        c.pos++;
        if (c.byte(`the reserved byte of ${what}`) !== 0) {
          c.fail(`${c.label}: ${what} has a bad reserved byte`);
        }
        m.tables.push(readTableType(c, what));
        skipConstExpr(c, `the initial value of ${what}`, scope(m));
      } else {
        m.tables.push(readTableType(c, what));
      }
    }
  },
  5(c: Cursor, m: Builder) {
    const n = c.count("memories", 2);
    for (let i = 0; i < n; i++) m.memories.push(readMemoryType(c, `memory ${m.imported.memory + i}`));
  },
  13(c: Cursor, m: Builder) {
    const n = c.count("tags", 2);
    for (let i = 0; i < n; i++) m.tags.push(readTag(c, m, `tag ${m.imported.tag + i}`));
  },
  6(c: Cursor, m: Builder) {
    const n = c.count("globals", 3);
    for (let i = 0; i < n; i++) {
      const what = `global ${m.imported.global + i}`;
      const type = readGlobalType(c, what);
      const initStart = c.pos;
      skipConstExpr(c, `the initializer of ${what}`, scope(m));
      m.globals.push({ ...type, initStart, initEnd: c.pos });
    }
  },
  7(c: Cursor, m: Builder) {
    const n = c.count("exports", 3);
    const names = new Set<string>();
    const sizes: Record<ExternKind, number> = {
      function: functionCount(m),
      table: m.imported.table + m.tables.length,
      memory: m.imported.memory + m.memories.length,
      global: m.imported.global + m.globals.length,
      tag: m.imported.tag + m.tags.length,
    };
    for (let i = 0; i < n; i++) {
      const at = c.pos;
      const name = c.name(`the name of export ${i}`);
      if (names.has(name)) c.fail(`${c.label}: export ${i} at byte ${at} repeats the name "${name}"`, at);
      names.add(name);
      const kindAt = c.pos;
      const kind = EXTERN_KINDS[c.byte(`the kind of export "${name}"`)];
      if (kind === undefined) {
        c.fail(`${c.label}: export "${name}" has an unknown kind, expected 0 to 4`, kindAt);
      }
      const index = c.u32(`the index of export "${name}"`);
      if (index >= sizes[kind]) {
        c.fail(`${c.label}: export "${name}" refers to ${kind} ${index}, which does not exist`, at);
      }
      m.exports.push({ name, kind, index, type: kind === "function" ? m.types[m.funcTypes[index]!]! : null });
    }
  },
  8(c: Cursor, m: Builder) {
    const at = c.pos;
    const index = c.u32("the start function index");
    if (index >= functionCount(m)) c.fail(`${c.label}: start function ${index} does not exist`, at);
    const type = m.types[m.funcTypes[index]!]!;
    if (type.params.length > 0 || type.results.length > 0) {
      c.fail(`${c.label}: start function ${index} must take no parameters and return nothing`, at);
    }
    m.start = index;
  },
  9: readElementSection,
  12(c: Cursor, m: Builder) {
    m.dataCount = c.u32("the data segment count");
  },
  10: readCodeSection,
  11: readDataSection,
};

function scope(m: Builder): ConstExprScope {
  return { functions: functionCount(m), globals: m.imported.global + m.globals.length };
}

function readTag(c: Cursor, m: Builder, what: string): number {
  const at = c.pos;
  if (c.byte(`the attribute of ${what}`) !== 0) {
    c.fail(`${c.label}: ${what} at byte ${at} has a bad attribute`, at);
  }
  const typeAt = c.pos;
  const typeIndex = c.u32(`the type of ${what}`);
  checkType(c, m, typeIndex, what, typeAt);
  return typeIndex;
}

function readCustomSection(c: Cursor, m: Builder): void {
  const start = m.sections[m.sections.length - 1]!.start;
  const name = c.name("the custom section name");
  const contentStart = c.pos;
  m.customSections.push({ name, start, contentStart, end: c.end });
  if (name === "name") {
    const names = readNameSection(c.bytes, contentStart, c.end);
    m.moduleName = names.moduleName;
    m.functionNames = names.functionNames;
  }
  c.pos = c.end;
}

/** Element segments (core spec §5.5.12): eight encodings told apart by a flags value 0 to 7. */
function readElementSection(c: Cursor, m: Builder): void {
  const n = c.count("element segments", 3);
  const tables = m.imported.table + m.tables.length;
  for (let i = 0; i < n; i++) {
    const what = `element segment ${i}`;
    const at = c.pos;
    const flags = c.u32(`the flags of ${what}`);
    if (flags > 7) c.fail(`${c.label}: ${what} at byte ${at} has flags ${flags}, expected 0 to 7`, at);
    const active = (flags & 0x01) === 0;
    const usesExprs = (flags & 0x04) !== 0;
    if (active) {
      const tableAt = c.pos;
      const table = flags & 0x02 ? c.u32(`the table of ${what}`) : 0;
      if (table >= tables) {
        c.fail(`${c.label}: ${what} targets table ${table}, which does not exist`, tableAt);
      }
      skipConstExpr(c, `the offset of ${what}`, scope(m));
    }
    if (!active || flags & 0x02) {
      // Flags 1, 2, 3 carry an element kind (0x00, funcref); 5, 6, 7 a reference type.
      if (usesExprs) readRefType(c, `the type of ${what}`);
      else if (c.byte(`the element kind of ${what}`) !== 0x00) {
        c.fail(`${c.label}: ${what} has a bad element kind`);
      }
    }
    const count = c.count(`elements in ${what}`);
    m.elementEntries += count;
    for (let j = 0; j < count; j++) {
      if (usesExprs) {
        skipConstExpr(c, `element ${j} of ${what}`, scope(m));
      } else {
        const fAt = c.pos;
        const f = c.u32(`element ${j} of ${what}`);
        if (f >= functionCount(m)) {
          c.fail(`${c.label}: ${what} refers to function ${f}, which does not exist`, fAt);
        }
      }
    }
  }
  m.elementCount = n;
}

/** Function bodies are located and their local declarations read; instructions are left to V8. */
function readCodeSection(c: Cursor, m: Builder): void {
  m.sawCode = true;
  const at = c.pos;
  const n = c.count("function bodies", 3);
  if (n !== m.functions.length) {
    c.fail(`${c.label} has ${n} function bodies but the function section declares ${m.functions.length}`, at);
  }
  for (let i = 0; i < n; i++) {
    const funcIndex = m.imported.function + i;
    const start = c.pos;
    const size = c.length(`function body ${i}`);
    const bodyStart = c.pos;
    const end = bodyStart + size;
    const body = new Cursor(c.bytes, bodyStart, end, `Function body ${i} (function ${funcIndex})`, "code");
    const localDeclCount = body.count("local declarations", 2);
    let localCount = 0;
    for (let j = 0; j < localDeclCount; j++) {
      const declAt = body.pos;
      localCount += body.u32(`local declaration ${j}`);
      if (localCount > MAX_LOCALS) {
        body.fail(`${body.label} declares more than ${MAX_LOCALS} locals (at byte ${declAt})`, declAt);
      }
      readValType(body, `local declaration ${j}`);
    }
    const exprStart = body.pos;
    if (exprStart >= end || c.bytes[end - 1] !== 0x0b) {
      body.fail(`${body.label} at byte ${start} does not end with an "end" opcode`, start);
    }
    m.code.push({ funcIndex, start, bodyStart, exprStart, end, localDeclCount, localCount });
    c.pos = end;
  }
}

/** Data segments (core spec §5.5.14): active in memory 0 (flags 0), passive (1), active in memory x (2). */
function readDataSection(c: Cursor, m: Builder): void {
  m.sawData = true;
  const at = c.pos;
  const n = c.count("data segments", 2);
  if (m.dataCount !== null && n !== m.dataCount) {
    c.fail(`${c.label} has ${n} data segments but the data count section declares ${m.dataCount}`, at);
  }
  const memories = m.imported.memory + m.memories.length;
  for (let i = 0; i < n; i++) {
    const what = `data segment ${i}`;
    const flagsAt = c.pos;
    const flags = c.u32(`the flags of ${what}`);
    if (flags > 2) {
      c.fail(`${c.label}: ${what} at byte ${flagsAt} has flags ${flags}, expected 0 to 2`, flagsAt);
    }
    let memoryIndex: number | null = null;
    let offset: number | null = null;
    if (flags !== 1) {
      const memAt = c.pos;
      memoryIndex = flags === 2 ? c.u32(`the memory of ${what}`) : 0;
      if (memoryIndex >= memories) {
        c.fail(`${c.label}: ${what} targets memory ${memoryIndex}, which does not exist`, memAt);
      }
      offset = constantOffset(c);
      skipConstExpr(c, `the offset of ${what}`, scope(m));
    }
    const sizeBytes = c.length(what);
    const dataStart = c.pos;
    c.pos += sizeBytes;
    m.data.push({ mode: flags === 1 ? "passive" : "active", memoryIndex, offset, sizeBytes, dataStart });
  }
}

/** The offset of an active data segment when it is a plain `i32.const N end`, else null; `c` is not moved. */
function constantOffset(c: Cursor): number | null {
  const at = c.pos;
  try {
    if (c.byte("an offset") !== 0x41) return null;
    const value = c.s32("an offset");
    return c.byte("an offset") === 0x0b ? value >>> 0 : null;
  } catch {
    return null; // malformed: skipConstExpr reports it
  } finally {
    c.pos = at;
  }
}
