/**
 * `kiln keys ca|create|issue|revoke|crl`: a plant's (or a lab's) Ed25519 PKI for signed modules. A CA
 * directory holds `root.key`, `root.pem`, `intermediate.key`, `intermediate.pem` and each CA's CRL
 * (`root.crl`, `intermediate.crl`); a developer's directory holds their key and CSR, then their certificate.
 * Keys are written with mode 0600, and nothing that exists is ever overwritten except a CRL, which `revoke`
 * and `crl` replace by its successor.
 *
 * @module
 */
import {
  createLabCa,
  createSigningRequest,
  issueCertificate,
  parseCertificate,
  PkiError,
  updateCrl,
} from "../signing/mod.ts";
import { parse, UsageError } from "./_usage.ts";

const USAGE = "keys takes ca, create, issue, revoke or crl";

/** The files of a CA directory. */
const CA_FILES = {
  rootKey: "root.key",
  root: "root.pem",
  rootCrl: "root.crl",
  intermediateKey: "intermediate.key",
  intermediate: "intermediate.pem",
  intermediateCrl: "intermediate.crl",
} as const;

/** Runs `kiln keys`; 0 on success. */
export async function keysCommand(args: string[]): Promise<number> {
  const [sub, ...rest] = args;
  const { values } = parse(rest, {
    options: {
      out: { type: "string" },
      name: { type: "string" },
      days: { type: "string" },
      "crl-days": { type: "string" },
      ca: { type: "string" },
      csr: { type: "string" },
      cert: { type: "string" },
    },
    allowPositionals: false,
  });
  const days = (flag: "days" | "crl-days", fallback: number) => {
    const text = values[flag];
    if (text === undefined) return fallback;
    const n = Number(text);
    if (!Number.isInteger(n) || n < 1 || n > 36500) {
      throw new UsageError(`--${flag} takes 1 to 36500 days, not "${text}"`);
    }
    return n;
  };
  const need = (flag: "out" | "ca" | "csr" | "cert" | "name", what: string) => {
    const v = values[flag];
    if (v === undefined || v === "") throw new UsageError(`keys ${sub} needs --${flag} ${what}`);
    return v;
  };
  switch (sub) {
    case "ca": {
      const out = need("out", "DIR");
      const name = values.name ?? "Kiln Lab";
      const ca = await createLabCa({ name, days: days("days", 3650), crlDays: days("crl-days", 30) });
      await Deno.mkdir(out, { recursive: true });
      await writeNew(`${out}/${CA_FILES.rootKey}`, ca.root.keyPem, 0o600);
      await writeNew(`${out}/${CA_FILES.intermediateKey}`, ca.intermediate.keyPem, 0o600);
      await writeNew(`${out}/${CA_FILES.root}`, ca.root.certPem);
      await writeNew(`${out}/${CA_FILES.intermediate}`, ca.intermediate.certPem);
      await writeNew(`${out}/${CA_FILES.rootCrl}`, ca.rootCrlPem);
      await writeNew(`${out}/${CA_FILES.intermediateCrl}`, ca.intermediateCrlPem);
      const root = parseCertificate(ca.root.certPem, CA_FILES.root);
      const int = parseCertificate(ca.intermediate.certPem, CA_FILES.intermediate);
      console.log(`lab CA written to ${out}:`);
      console.log(
        `  root          ${root.subject}  ${root.fingerprint}  (${CA_FILES.root}; gateways trust this one)`,
      );
      console.log(`  intermediate  ${int.subject}  ${int.fingerprint}  (${CA_FILES.intermediate})`);
      console.log(
        `  keys          ${CA_FILES.rootKey}, ${CA_FILES.intermediateKey} (mode 0600: keep the root key offline)`,
      );
      console.log(
        `  CRLs          ${CA_FILES.rootCrl}, ${CA_FILES.intermediateCrl} (renew with "kiln keys crl")`,
      );
      return 0;
    }
    case "create": {
      const out = need("out", "DIR");
      const name = need("name", '"Jane Doe"');
      const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "") || "developer";
      const { keyPem, csrPem } = await createSigningRequest({ name });
      await Deno.mkdir(out, { recursive: true });
      await writeNew(`${out}/${slug}.key`, keyPem, 0o600);
      await writeNew(`${out}/${slug}.csr`, csrPem);
      console.log(`signing key ${out}/${slug}.key (mode 0600, never share it)`);
      console.log(
        `request     ${out}/${slug}.csr for "CN=${name}": send it to the plant's CA ("kiln keys issue")`,
      );
      return 0;
    }
    case "issue": {
      const caDir = need("ca", "DIR");
      const csrPath = need("csr", "FILE");
      const out = values.out ?? csrPath.replace(/(\.csr)?$/, ".pem");
      const pem = await issueCertificate({
        csrPem: await readText(csrPath),
        caKeyPem: await readText(`${caDir}/${CA_FILES.intermediateKey}`),
        caCertPem: await readText(`${caDir}/${CA_FILES.intermediate}`),
        days: days("days", 365),
        source: csrPath,
      });
      await writeNew(out, pem);
      const cert = parseCertificate(pem, out);
      console.log(
        `certificate ${out}: ${cert.subject}  ${cert.fingerprint}  serial ${cert.serial}  ` +
          `valid until ${cert.node.validToDate.toISOString()}`,
      );
      console.log(
        `sign with: kiln sign MODULE.wasm --key KEY --cert ${out} --chain ${caDir}/${CA_FILES.intermediate} --attest FILE`,
      );
      return 0;
    }
    case "revoke": {
      const caDir = need("ca", "DIR");
      const certPath = need("cert", "FILE");
      const certPem = await readText(certPath);
      const cert = parseCertificate(certPem, certPath);
      const int = parseCertificate(
        await readText(`${caDir}/${CA_FILES.intermediate}`),
        CA_FILES.intermediate,
      );
      const byIntermediate = cert.node.checkIssued(int.node) && cert.node.verify(int.node.publicKey);
      const level = byIntermediate ? "intermediate" : "root";
      const crlPath = `${caDir}/${byIntermediate ? CA_FILES.intermediateCrl : CA_FILES.rootCrl}`;
      const { crlPem, revoked } = await updateCrl({
        caKeyPem: await readText(`${caDir}/${byIntermediate ? CA_FILES.intermediateKey : CA_FILES.rootKey}`),
        caCertPem: byIntermediate ? int.pem : await readText(`${caDir}/${CA_FILES.root}`),
        previousCrlPem: await readTextOrNull(crlPath),
        revoke: [certPem],
        days: days("crl-days", 30),
      });
      await Deno.writeTextFile(crlPath, crlPem);
      for (const r of revoked) console.log(`revoked ${r.subject}  ${r.fingerprint}  serial ${r.serial}`);
      console.log(`${level} CRL updated: ${crlPath} (copy it to every gateway)`);
      return 0;
    }
    case "crl": {
      const caDir = need("ca", "DIR");
      for (const level of ["root", "intermediate"] as const) {
        const crlPath = `${caDir}/${level === "root" ? CA_FILES.rootCrl : CA_FILES.intermediateCrl}`;
        const { crlPem } = await updateCrl({
          caKeyPem: await readText(
            `${caDir}/${level === "root" ? CA_FILES.rootKey : CA_FILES.intermediateKey}`,
          ),
          caCertPem: await readText(`${caDir}/${level === "root" ? CA_FILES.root : CA_FILES.intermediate}`),
          previousCrlPem: await readTextOrNull(crlPath),
          days: days("crl-days", 30),
        });
        await Deno.writeTextFile(crlPath, crlPem);
        console.log(`${level} CRL renewed: ${crlPath}`);
      }
      return 0;
    }
    default:
      throw new UsageError(`${USAGE}${sub ? `, not "${sub}"` : ""}`);
  }
}

/** Reads a text file, as a {@linkcode PkiError} naming it when it cannot be read. */
export async function readText(path: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (err) {
    throw new PkiError(path, err instanceof Deno.errors.NotFound ? "no such file" : (err as Error).message, {
      cause: err,
    });
  }
}

async function readTextOrNull(path: string): Promise<string | null> {
  try {
    return await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw err;
  }
}

/** Writes a file that must not exist yet (a key or certificate is never overwritten). */
async function writeNew(path: string, text: string, mode = 0o644): Promise<void> {
  try {
    await Deno.writeTextFile(path, text, { createNew: true, mode });
  } catch (err) {
    if (err instanceof Deno.errors.AlreadyExists) {
      throw new PkiError(path, "it exists already; kiln keys never overwrites a key or certificate", {
        cause: err,
      });
    }
    throw err;
  }
}
