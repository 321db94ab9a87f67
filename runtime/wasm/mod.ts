/**
 * Kiln's WebAssembly binary tooling: read and check a module binary before V8 compiles it, cap its
 * memory at the manifest's limit, and describe it for `kiln inspect`. Hand-written against the core spec's
 * binary format (§5) so that it can grow into the load-time instrumenter: sections keep their byte ranges
 * for re-emission, and function bodies are located for a code decoder to take over.
 *
 * @example
 * ```ts ignore
 * import { capMemory, formatInspect, inspectModule, readModule } from "./runtime/wasm/mod.ts";
 *
 * const bytes = await Deno.readFile("modules/examples/rms.wasm");
 * console.log(formatInspect(inspectModule(readModule(bytes))));
 * const module = new WebAssembly.Module(capMemory(bytes, 16)); // at most 1 MiB
 * ```
 *
 * @module
 */

export { getFunctionType, readModule, SECTION_NAMES } from "./reader.ts";
export {
  capMemory,
  type Footprint,
  footprintOf,
  formatMib,
  GLOBAL_BYTES,
  PAGE_SIZE_BYTES,
  TABLE_BYTES,
  TABLE_ELEMENT_BYTES,
} from "./limits.ts";
export { SUPPORTED_FEATURES, validateModule, WasmInvalidError } from "./validate.ts";
export {
  CHECK_IMPORT,
  COUNTDOWN_EXPORT,
  DEFAULT_CHECK_INTERVAL,
  FUEL_EXPORT,
  GLOBAL_EXPORT_PREFIX,
  INITIAL_FUEL,
  instrument,
  InstrumentConflictError,
  type InstrumentOptions,
  type InstrumentResult,
  RESERVED_EXPORT_PREFIX,
} from "./instrument.ts";
export {
  formatFuncType,
  formatInspect,
  type InspectExport,
  type InspectImport,
  type InspectMemory,
  inspectModule,
  type InspectOptions,
  type InspectReport,
  type InspectTable,
} from "./inspect.ts";
export {
  ImportedMemoryError,
  LimitExceededError,
  type WasmErrorLocation,
  WasmFormatError,
  WasmUnsupportedError,
} from "./errors.ts";
export type {
  CodeBody,
  CustomSectionInfo,
  DataSegment,
  ExportInfo,
  ExternKind,
  FuncType,
  GlobalInfo,
  GlobalType,
  ImportInfo,
  Limits,
  MemoryType,
  RefType,
  SectionInfo,
  SectionName,
  TableType,
  ValType,
  WasmModuleInfo,
} from "./types.ts";
