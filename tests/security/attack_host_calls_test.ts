/**
 * The attack suite (see `_attack.ts`): host calls (`kiln` and WASI) given bad pointers, lengths, topics, pins or
 * capabilities they lack: each call returns its documented error code, nothing crashes, denials are audited.
 */
import assert from "node:assert/strict";
import { waitFor, writeFixture } from "../_helpers.ts";
import { fixture, refusedFor, runHostile } from "./_harness.ts";
import { answered, type Check } from "./_attack.ts";

// ---- host-call abuse: the call returns the documented error code, nothing crashes -----------------------

Deno.test("attack: kiln.log with an out-of-bounds pointer (-1) is contained: it returns -1 (EFAULT)", async () => {
  await runHostile({ bytes: await fixture("log_bad_pointer"), expect: answered(-1) });
});

Deno.test("attack: kiln.log with a range wrapping around 2^32 is contained: it returns -1 (EFAULT)", async () => {
  await runHostile({
    bytes: await fixture("log_wrapping_range"),
    expect: answered(-1, { check: (_m, rt) => assert.deepEqual(rt.getModuleLogs("hostile"), []) }),
  });
});

Deno.test("attack: kiln.output_array with 4097 values is contained: it returns -4 (ELIMIT)", async () => {
  await runHostile({
    bytes: await fixture("output_array_too_long"),
    expect: answered(-4, {
      check: (_m, rt) => assert.deepEqual(Object.keys(rt.getModuleArrays("hostile") ?? { missing: [] }), []),
    }),
  });
});

Deno.test("attack: kiln.input with an out-of-bounds out_ptr is contained: it returns -1 (EFAULT)", async () => {
  await runHostile({
    bytes: await fixture("input_bad_pointer"),
    plan: { capabilities: ["read:sim:temp"], inputs: ["sim:temp"] },
    expect: answered(-1),
  });
});

Deno.test("attack: kiln.input with an unknown index is contained: it returns -2 (ENOENT)", async () => {
  await runHostile({
    bytes: await fixture("input_unknown_index"),
    plan: { capabilities: ["read:sim:temp"], inputs: ["sim:temp"] },
    expect: answered(-2),
  });
});

Deno.test("attack: kiln.data with an out-of-bounds out_len_ptr is contained: it returns 0", async () => {
  const dir = await Deno.makeTempDir();
  const blob = await writeFixture(dir, "blob.bin", new Uint8Array(100).fill(7));
  await runHostile({
    bytes: await fixture("data_bad_out_pointer"),
    plan: { data: [{ name: "blob", path: blob, sha256: null }] },
    // The same call with a valid length pointer finds the blob: the 0 is the bad pointer's doing.
    expect: answered(0, { check: (m) => assert.ok((m.outputs.ok ?? 0) > 0, `ok = ${m.outputs.ok}`) }),
  });
  await Deno.remove(dir, { recursive: true });
});

Deno.test("attack: kiln.publish with a 10 KB topic is contained: it returns -4 (ELIMIT)", async () => {
  await runHostile({
    bytes: await fixture("publish_long_topic"),
    plan: { capabilities: ["write:mqtt:#"] },
    expect: answered(-4, { check: (_m, rt) => assert.deepEqual(rt.listMessages(), []) }),
  });
});

Deno.test("attack: kiln.publish to a wildcard topic is contained: it returns -5 (EINVAL)", async () => {
  await runHostile({
    bytes: await fixture("publish_wildcard"),
    plan: { capabilities: ["write:mqtt:#"] },
    expect: answered(-5, { check: (_m, rt) => assert.deepEqual(rt.listMessages(), []) }),
  });
});

Deno.test("attack: kiln.gpio_read of an ungranted pin is contained: it returns -3 (EDENIED) and is audited", async () => {
  await runHostile({
    bytes: await fixture("gpio_read_ungranted_pin"),
    plan: { capabilities: ["read:gpio:pin_3"] },
    expect: answered(-3, {
      check: async (m, _rt, audit) => {
        assert.ok(m.denials > 0);
        const denials = await waitFor("the denial in the audit log", () => {
          const d = audit.listEvents({ module: "hostile", kind: "denial" });
          return d.length > 0 && d;
        });
        assert.equal(denials[0]!.capability, "read:gpio:pin_4");
        assert.match(denials[0]!.detail ?? "", /^gpio_read\(4\)/);
      },
    }),
  });
});

Deno.test("attack: kiln.gpio_write to pin 5000 is contained: it returns -5 (EINVAL)", async () => {
  await runHostile({
    bytes: await fixture("gpio_write_bad_pin"),
    plan: { capabilities: ["write:gpio:pin_8"] },
    expect: answered(-5, { check: (m) => assert.equal(m.denials, 0, "an invalid pin is not a denial") }),
  });
});

Deno.test("attack: kiln.param_f64 with an out-of-bounds key pointer is contained: it returns the default", async () => {
  await runHostile({ bytes: await fixture("param_bad_pointer"), expect: answered(42.5, { key: "value" }) });
});

// ---- WASI: filesystem and socket calls answer ENOTCAPABLE (76) and are audited -------------------------

/**
 * The module was refused a call needing `capability` (counted in its status), and the refusal reached the
 * audit log with a detail matching `detail`.
 */
function deniedAndAudited(capability: string, detail: RegExp): Check {
  return async (m, _rt, audit) => {
    assert.ok(m.denials > 0);
    const denial = await waitFor(
      "the denial in the audit log",
      () => audit.listEvents({ module: "hostile", kind: "denial" }).find((d) => d.capability === capability),
    );
    assert.match(denial.detail ?? "", detail);
  };
}

Deno.test("attack: WASI path_open is contained: it returns 76 (ENOTCAPABLE) and is audited as a denial", async () => {
  await runHostile({
    bytes: await fixture("wasi_path_open"),
    expect: answered(76, { check: deniedAndAudited("wasi:path_open", /^fd 3\b.*, path "\/etc\/passwd"/) }),
  });
});

Deno.test("attack: WASI sock_accept is contained: it returns 76 (ENOTCAPABLE) and is audited as a denial", async () => {
  await runHostile({
    bytes: await fixture("wasi_sock_accept"),
    expect: answered(76, { check: deniedAndAudited("wasi:sock_accept", /^fd 3\b/) }),
  });
});

Deno.test("attack: WASI fd_write with an iovec wrapping around 2^32 is contained: it returns 21 (EFAULT)", async () => {
  await runHostile({
    bytes: await fixture("wasi_fd_write_bad_iovec"),
    expect: answered(21, { check: (_m, rt) => assert.deepEqual(rt.getModuleLogs("hostile"), []) }),
  });
});

Deno.test("attack: a WASI import with a wrong signature (fd_write) is refused", async () => {
  await runHostile({
    bytes: await fixture("wasi_wrong_signature"),
    expect: refusedFor(
      /^import "wasi_snapshot_preview1\.fd_write": has signature \(i32, i32\) -> i32, wasi_snapshot_preview1 declares \(i32, i32, i32, i32\) -> i32/,
    ),
  });
});

Deno.test("attack: an exception inside a host function is contained as a host error of that module only", async () => {
  await runHostile({
    bytes: await fixture("host_error_wasi_in_start"),
    expect: {
      until: (m) => m.state === "failed",
      check: (m) => {
        assert.equal(m.last_fault?.kind, "host_error");
        assert.equal(m.invocations, 0);
      },
    },
  });
});
