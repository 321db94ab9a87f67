/**
 * `/api/v1/audit`: grants, revocations and denied calls, and per-capability use counts.
 *
 * @module
 */
import { Hono } from "hono";
import { queryCount } from "../_query.ts";
import { BadRequestError, NotFoundError } from "../errors.ts";
import type { Observability } from "../ports.ts";

const KINDS = ["grant", "revoke", "denial", "signature"] as const;

/** Routes under `/api/v1/audit`: `?module=&kind=grant|revoke|denial|signature&after=ID&limit=N`, and `/uses?module=`. */
export function auditRoutes(observability: Pick<Observability, "audit">): Hono {
  const app = new Hono();
  const noStore = () => new NotFoundError("audit_unavailable", "This runtime has no store, so no audit log");
  app.get("/", (c) => {
    const kind = c.req.query("kind");
    if (kind !== undefined && !(KINDS as readonly string[]).includes(kind)) {
      throw new BadRequestError(`Query parameter "kind" must be one of ${KINDS.join(", ")}, got "${kind}"`);
    }
    const module = c.req.query("module");
    const query = {
      after: queryCount(c, "after", 0),
      limit: queryCount(c, "limit", 100),
      ...(module !== undefined && { module }),
      ...(kind !== undefined && { kind: kind as (typeof KINDS)[number] }),
    };
    const audit = observability.audit;
    if (audit === null) throw noStore();
    return c.json({ events: audit.listEvents(query) });
  });
  app.get("/uses", (c) => {
    const audit = observability.audit;
    if (audit === null) throw noStore();
    return c.json({ uses: audit.listUses(c.req.query("module")) });
  });
  return app;
}
