/**
 * The data model of a decoded module binary. Offsets are byte offsets into the binary that was read, so a
 * rewriter can splice sections and an instrumenter can find function bodies without decoding again.
 *
 * @module
 */

/** A value type (core spec §5.3.4); `funcref` and `externref` are the reference types Kiln accepts. */
export type ValType = "i32" | "i64" | "f32" | "f64" | "v128" | "funcref" | "externref" | "exnref";

/** A reference type: what a table holds. */
export type RefType = "funcref" | "externref";

/** A function signature: parameter and result types (results may be several: multi-value). */
export interface FuncType {
  readonly params: readonly ValType[];
  readonly results: readonly ValType[];
}

/** Size limits: `min` and optional `max`, in the unit of the thing limited (pages or table entries). */
export interface Limits {
  readonly min: number;
  /** `null` when the binary declares no maximum. */
  readonly max: number | null;
}

/** A linear memory's type; `min` and `max` are in 64 KiB pages. */
export interface MemoryType extends Limits {
  /** Declared `shared` (threads proposal): usable from several agents, requires a maximum. */
  readonly shared: boolean;
}

/** A table's type; `min` and `max` are in entries. */
export interface TableType extends Limits {
  readonly element: RefType;
}

/** A global's type. */
export interface GlobalType {
  readonly type: ValType;
  readonly mutable: boolean;
}

/** The kind of an import or export, spelled as `WebAssembly.Module.imports()` spells it. */
export type ExternKind = "function" | "table" | "memory" | "global" | "tag";

/** The names common to every import. */
interface ImportBase {
  /** The import's module name, e.g. `"kiln"`. */
  readonly module: string;
  /** The import's field name, e.g. `"log"`. */
  readonly name: string;
}

/** One import: its names and what it expects, by kind. */
export type ImportInfo =
  | ImportBase & { readonly kind: "function"; readonly typeIndex: number; readonly type: FuncType }
  | ImportBase & { readonly kind: "table"; readonly table: TableType }
  | ImportBase & { readonly kind: "memory"; readonly memory: MemoryType }
  | ImportBase & { readonly kind: "global"; readonly global: GlobalType }
  | ImportBase & { readonly kind: "tag"; readonly typeIndex: number };

/** One export: a name and an index into the index space of its kind (imports first, then definitions). */
export interface ExportInfo {
  readonly name: string;
  readonly kind: ExternKind;
  readonly index: number;
  /** The signature of an exported function; `null` for other kinds. */
  readonly type: FuncType | null;
}

/** The standard section names by id (core spec §5.5.2, plus `tag` from exception handling). */
export type SectionName =
  | "custom"
  | "type"
  | "import"
  | "function"
  | "table"
  | "memory"
  | "global"
  | "export"
  | "start"
  | "element"
  | "code"
  | "data"
  | "datacount"
  | "tag";

/**
 * Where a section lies: `[start, end)` is the whole section (id byte, size, payload), `[payloadStart, end)`
 * its payload. The sections of a module tile `[8, sizeBytes)` in order.
 */
export interface SectionInfo {
  readonly id: number;
  readonly name: SectionName;
  /** Offset of the section id byte. */
  readonly start: number;
  /** Offset of the first payload byte, after the size LEB128. */
  readonly payloadStart: number;
  /** Offset one past the last payload byte. */
  readonly end: number;
}

/** A custom section: its name and where its content (after the name) lies. */
export interface CustomSectionInfo {
  readonly name: string;
  /** Offset of the section id byte. */
  readonly start: number;
  /** Offset of the first content byte, after the name. */
  readonly contentStart: number;
  readonly end: number;
}

/** A defined global: its type and where its constant init expression lies (including the final `end`). */
export interface GlobalInfo extends GlobalType {
  readonly initStart: number;
  readonly initEnd: number;
}

/** One function body of the code section. */
export interface CodeBody {
  /** Index in the function index space (imported functions come first). */
  readonly funcIndex: number;
  /** Offset of the body's size LEB128. */
  readonly start: number;
  /** Offset of the first byte of the body: its local declarations. */
  readonly bodyStart: number;
  /** Offset of the first instruction, after the local declarations. */
  readonly exprStart: number;
  /** Offset one past the body's final `end` opcode. */
  readonly end: number;
  /** Number of local declaration entries (each is a count and a type). */
  readonly localDeclCount: number;
  /** Number of locals those entries declare, parameters excluded. */
  readonly localCount: number;
}

/** One data segment. */
export interface DataSegment {
  /** `active` segments are copied into memory at instantiation; `passive` ones by `memory.init`. */
  readonly mode: "active" | "passive";
  /** The memory an active segment targets; `null` for passive ones. */
  readonly memoryIndex: number | null;
  /** Where an active segment lands, when its offset is a constant (`i32.const`); null otherwise. */
  readonly offset: number | null;
  /** Size of the segment's data in bytes. */
  readonly sizeBytes: number;
  /** Offset of the segment's first data byte. */
  readonly dataStart: number;
}

/** Everything {@linkcode readModule} decodes from a binary. */
export interface WasmModuleInfo {
  /** Size of the binary in bytes. */
  readonly sizeBytes: number;
  /** Every section in file order, custom ones included. */
  readonly sections: readonly SectionInfo[];
  readonly types: readonly FuncType[];
  readonly imports: readonly ImportInfo[];
  /** Type index of each defined (non-imported) function, in order. */
  readonly functions: readonly number[];
  /** Defined tables. */
  readonly tables: readonly TableType[];
  /** Defined memories. */
  readonly memories: readonly MemoryType[];
  /** Defined globals. */
  readonly globals: readonly GlobalInfo[];
  /** Type index of each defined exception tag. */
  readonly tags: readonly number[];
  readonly exports: readonly ExportInfo[];
  /** Function index of the start function, or `null`. */
  readonly start: number | null;
  /** Number of element segments. */
  readonly elementCount: number;
  /** Entries of all element segments together. */
  readonly elementEntries: number;
  /** The data count section's value, or `null` when the module has none. */
  readonly dataCount: number | null;
  /** Function bodies, one per defined function. */
  readonly code: readonly CodeBody[];
  readonly data: readonly DataSegment[];
  readonly customSections: readonly CustomSectionInfo[];
  /** The `name` custom section's module name, when present and readable. */
  readonly moduleName: string | null;
  /** Function names from the `name` custom section, by function index (empty when absent or unreadable). */
  readonly functionNames: ReadonlyMap<number, string>;
}
