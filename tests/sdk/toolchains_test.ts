/**
 * `modules/sdk/toolchains.ts`: builds are reproducible whatever folder the sources are in, and a missing
 * toolchain is named with the package that installs it.
 */
import assert from "node:assert/strict";
import {
  ASSEMBLYSCRIPT,
  buildAssemblyScriptModule,
  buildCModule,
  buildRustModule,
  ToolchainBuildError,
  ToolchainMissingError,
} from "../../modules/sdk/toolchains.ts";

const FIXTURES = new URL("./fixtures/bindings/", import.meta.url).pathname;
const BUILD_TIMEOUT_MS = 240_000;

/** Copies a fixture into a fresh folder (a different path each time). */
async function copyFixture(name: string): Promise<{ dir: string; path: string }> {
  const dir = await Deno.makeTempDir({ prefix: "kiln_tc_" });
  await Deno.copyFile(`${FIXTURES}${name}`, `${dir}/${name}`);
  return { dir, path: `${dir}/${name}` };
}

for (
  const [lang, file, build] of [
    ["C", "probe.c", (src: string, out: string) => buildCModule([src], out, { timeoutMs: BUILD_TIMEOUT_MS })],
    [
      "Rust",
      "probe.rs",
      (src: string, out: string) => buildRustModule(src, out, { timeoutMs: BUILD_TIMEOUT_MS }),
    ],
  ] as const
) {
  Deno.test(`a ${lang} module builds to the same bytes from two different folders`, async () => {
    const a = await copyFixture(file);
    const b = await copyFixture(file);
    try {
      const first = await build(a.path, `${a.dir}/out.wasm`);
      const second = await build(b.path, `${b.dir}/out.wasm`);
      assert.ok(first.length > 0);
      assert.deepEqual(first, second);
      assert.deepEqual(await Deno.readFile(`${b.dir}/out.wasm`), second);
    } finally {
      await Deno.remove(a.dir, { recursive: true });
      await Deno.remove(b.dir, { recursive: true });
    }
  });
}

Deno.test("an AssemblyScript module builds to the same bytes twice, with kiln imports only", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kiln_tc_" });
  try {
    const opts = { timeoutMs: BUILD_TIMEOUT_MS };
    const first = await buildAssemblyScriptModule(`${FIXTURES}probe.ts`, `${dir}/a.wasm`, opts);
    const second = await buildAssemblyScriptModule(`${FIXTURES}probe.ts`, `${dir}/b.wasm`, opts);
    assert.deepEqual(first, second);
    const imports = WebAssembly.Module.imports(new WebAssembly.Module(first));
    assert.deepEqual([...new Set(imports.map((i) => i.module))], ["kiln"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a missing rustc is named with the Debian packages that install it", async () => {
  await assert.rejects(
    buildRustModule(`${FIXTURES}probe.rs`, "/nonexistent/out.wasm", { rustc: "/nonexistent/rustc" }),
    (err: unknown) =>
      err instanceof ToolchainMissingError && err.code === "toolchain_missing" &&
      err.install === "apt-get install rustc libstd-rust-dev-wasm32",
  );
});

Deno.test("a missing clang-19 is named with the Debian packages that install it", async () => {
  const path = Deno.env.get("PATH") ?? "";
  Deno.env.set("PATH", "/nonexistent");
  try {
    await assert.rejects(
      buildCModule([`${FIXTURES}probe.c`], "/nonexistent/out.wasm"),
      (err: unknown) =>
        err instanceof ToolchainMissingError && err.install === "apt-get install clang-19 lld-19",
    );
  } finally {
    Deno.env.set("PATH", path);
  }
});

Deno.test("a Rust module that does not compile fails with rustc's message", async () => {
  const dir = await Deno.makeTempDir({ prefix: "kiln_tc_" });
  try {
    await Deno.writeTextFile(
      `${dir}/bad.rs`,
      "#![no_std]\nfn init() -> kiln::Result<()> { Ok(()) }\nkiln::init!(nope);\n",
    );
    await assert.rejects(
      buildRustModule(`${dir}/bad.rs`, `${dir}/bad.wasm`, { timeoutMs: BUILD_TIMEOUT_MS }),
      (err: unknown) =>
        err instanceof ToolchainBuildError && err.code === "toolchain_build_failed" &&
        /nope/.test(err.output),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("deno.json imports the AssemblyScript version the builds run", async () => {
  const config = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)));
  assert.equal(config.imports.assemblyscript, ASSEMBLYSCRIPT);
});
