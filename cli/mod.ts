/**
 * The `kiln` command line: `run`, `validate`, `inspect`. Every user mistake ends as one clear message on
 * stderr and a non-zero exit code, never a stack trace.
 *
 * @module
 */
import { isKilnError } from "../errors.ts";
import { auditCommand } from "./audit.ts";
import { historyCommand } from "./history.ts";
import { rollbackCommand } from "./rollback.ts";
import { runCommand } from "./run.ts";
import { snapshotCommand } from "./snapshot.ts";
import { tokenCommand } from "./token.ts";
import { keysCommand } from "./keys.ts";
import { signCommand } from "./sign.ts";
import { verifyCommand } from "./verify.ts";
import { pushCommand } from "./push.ts";
import { pullCommand } from "./pull.ts";
import { FLEET_HELP, fleetCommand } from "./fleet.ts";
import { BUNDLE_HELP, bundleCommand } from "./bundle.ts";
import { inspectCommand } from "./inspect.ts";
import { validateCommand } from "./validate.ts";
import { RECORD_HELP, recordCommand } from "./record.ts";
import { SHADOW_HELP, shadowCommand } from "./shadow.ts";
import { REPLAY_HELP, replayCommand } from "./replay.ts";
import { UsageError } from "./_usage.ts";

/** Kiln's version, from `deno.json`. */
export const VERSION = "0.1.0";

const HELP = `kiln ${VERSION}: a WebAssembly edge runtime for industrial gateways

Usage:
  kiln run [--config FILE] [--data DIR] [--listen HOST:PORT] [--fault SENSOR=FAULT]... [--log-format F]
      Start the runtime. Without --config it runs the built-in demo plant (examples/demo.yaml).
      --data        directory for Kiln's state (default ./data); one kiln run at a time may use it. A
                    restart comes back to what was last accepted: the manifest's modules with the API's
                    deploys, removals, stops and rollbacks since (see kiln history)
      --listen      API address (default: the manifest's api.listen, else 127.0.0.1:8080)
      --fault       inject a simulated fault at start, e.g. vibration_1=bearing or temperature_1=overheat
      --log-format  text (default; a module's lines start "module=NAME" with its text quoted) or json (one
                    object per line); also $KILN_LOG_FORMAT
      The embedded MQTT broker (connectors.mqtt.embedded) takes the user name and password that Kiln
      generates on its first start and keeps in DIR/mqtt-embedded.json (mode 0600).
  kiln validate <manifest>
      Check a deployment manifest and every module it names; print all problems with their lines.
  kiln inspect <module.wasm>
      Show a module's imports, exports, memory limits and the capabilities its imports need.
  kiln audit [--data DIR] [--module NAME] [--kind grant|revoke|denial|signature] [--limit N] [--uses] [--json]
      Show the audit log: grants, revocations and denied calls, or with --uses the use counts per capability.
  kiln snapshot <module> [--url URL] [--token TOKEN]
      Snapshot a snapshotted module of a running runtime now (URL default http://127.0.0.1:8080; the
      token defaults to $KILN_TOKEN, else the data directory's admin.token).
  kiln snapshot --list [module] [--data DIR] [--json]
      List the snapshots in a data directory.
  kiln history [--data DIR] [--module NAME] [--limit N] [--json]
  kiln history --url URL [--token TOKEN] [--module NAME] [--json]
      The record of accepted deployments: every deploy, replace, remove, stop, start, rollback and manifest
      change, with who, when and the module's sha256; with --url, also which source (the manifest file or
      the API) won for each module at the running runtime's start, and why.
  kiln rollback <module> [--version N] [--url URL] [--token TOKEN]
      Return a module of a running runtime to a version it keeps, code and memory: version N, or the one
      before the version it runs (its versions: GET /api/v1/modules/<module>/versions).
  kiln token create --role viewer|operator|admin [--name NAME] [--data DIR]
  kiln token list [--data DIR] [--json]
  kiln token revoke <id> [--data DIR]
      API tokens. The first "kiln run" creates an admin token in DIR/admin.token (unless
      KILN_ADMIN_TOKEN is set, which is then the admin token).
  kiln keys ca --out DIR [--name NAME] [--days N] [--crl-days N]
      A lab or plant CA: root and intermediate (Ed25519), their keys (mode 0600) and CRLs.
  kiln keys create --out DIR --name "Jane Doe"
      A developer's signing key and certificate signing request (CSR).
  kiln keys issue --ca DIR --csr FILE [--days N] [--out FILE]
      The CA's intermediate issues the developer's code-signing certificate from the CSR.
  kiln keys revoke --ca DIR --cert FILE [--crl-days N]
  kiln keys crl --ca DIR [--crl-days N]
      Revoke a certificate (adds it to its CA's CRL), or renew both CRLs before they expire.
  kiln sign <module.wasm> --key KEY --cert CERT --chain INTERMEDIATE --attest FILE [--name NAME] [--out FILE]
      Sign a module: a DSSE envelope of an in-toto statement (name, sha256, the attestation's build and
      catalog, JSON or YAML) with the certificate chain, written to module.wasm.sig.
  kiln verify <module.wasm> --trust ROOT.pem [--sig FILE] [--crl FILE]... [--require-crls] [--name NAME]
              [--hardware TAG] [--runtime-version V] [--installed-version V] [--capability CAP]...
              [--max-memory-mb N] [--at TIME] [--json]
      Verify a module's signature as a gateway does; print the signer, chain and attestation, or the
      reason it is refused (unsigned, digest_mismatch, expired, revoked, ...) and exit 1.
  kiln push <module.wasm> <registry>/<repo>:<tag> [--sig FILE] [--username U --password-file F]
            [--ca-file PEM] [--plain-http] [--timeout-ms N]
      Upload a module to an OCI registry (CNCF Wasm artifact) with its signature (module.wasm.sig, or
      --sig) attached as a referrer; print the manifest digest.
  kiln pull <registry>/<repo>:<tag>[@sha256:...] [--out DIR] [--username U --password-file F]
            [--ca-file PEM] [--plain-http] [--timeout-ms N]
      Download a module, checking every digest; write NAME.wasm and NAME.wasm.sig (when signed) to DIR.
${BUNDLE_HELP}
${FLEET_HELP}
${RECORD_HELP}
${REPLAY_HELP}
${SHADOW_HELP}
  kiln --version | --help

Exit codes: 0 success, 1 invalid input (manifest, module, file), 2 wrong usage.`;

/** Runs the CLI with `args` and returns the exit code (`run` returns only when the runtime stops). */
export async function main(args: string[]): Promise<number> {
  try {
    const [command, ...rest] = args;
    switch (command) {
      case undefined:
      case "--help":
      case "-h":
      case "help":
        console.log(HELP);
        return 0;
      case "--version":
      case "-V":
        console.log(`kiln ${VERSION}`);
        return 0;
      case "run":
        return await runCommand(rest, VERSION);
      case "validate":
        return await validateCommand(rest);
      case "inspect":
        return await inspectCommand(rest);
      case "audit":
        return await auditCommand(rest);
      case "snapshot":
        return await snapshotCommand(rest);
      case "history":
        return await historyCommand(rest);
      case "rollback":
        return await rollbackCommand(rest);
      case "token":
        return await tokenCommand(rest);
      case "keys":
        return await keysCommand(rest);
      case "sign":
        return await signCommand(rest);
      case "verify":
        return await verifyCommand(rest, VERSION);
      case "push":
        return await pushCommand(rest);
      case "pull":
        return await pullCommand(rest);
      case "fleet":
        return await fleetCommand(rest, VERSION);
      case "bundle":
        return await bundleCommand(rest, VERSION);
      case "record":
        return await recordCommand(rest);
      case "replay":
        return await replayCommand(rest);
      case "shadow":
        return await shadowCommand(rest);
      default:
        throw new UsageError(`Unknown command "${command}"`);
    }
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`kiln: ${err.message}\nRun "kiln --help" for usage.`);
      return 2;
    }
    if (isKilnError(err)) {
      console.error(`kiln: ${err.message}`);
      return 1;
    }
    if (err instanceof Deno.errors.NotCapable || err instanceof Deno.errors.PermissionDenied) {
      // The command's Deno permissions (e.g. `deno task start` writes only ./data) do not allow what was asked.
      console.error(
        `kiln: ${
          err.message.replace(/, run again with.*$/, "")
        }: this command's permissions do not allow it ` +
          `(deno task start uses ./data and ./examples; use "deno task kiln run --data DIR" for other paths)`,
      );
      return 1;
    }
    if (err instanceof Error && Object.values(Deno.errors).some((E) => err instanceof E)) {
      // A file-system or network failure of the environment, e.g. a --data path that is a file.
      console.error(`kiln: ${err.message}`);
      return 1;
    }
    throw err;
  }
}
