/**
 * The OPC UA connector's subscription: one per session, with a monitored item for each configured node
 * (Part 4 §5.12, §5.13), and the publish watchdog's limit that tells a hung server from a quiet one.
 *
 * @module
 */
import {
  AttributeIds,
  ClientMonitoredItem,
  ClientSubscription,
  type DataValue,
  StatusCodes,
  TimestampsToReturn,
} from "node-opcua-client";
import type { OpcuaNode } from "./config.ts";
import { type OpcuaError, OpcuaStatusError } from "./errors.ts";
import type { Link, Timed } from "./_link.ts";
import { MAX_KEEP_ALIVE_COUNT, requestedPublishingMs } from "./_publishing.ts";

/** What {@linkcode subscribe} needs from the connector, and what it tells it. */
export interface SubscribeContext {
  /** The connector's name, for errors. */
  readonly connector: string;
  /** The nodes to monitor. */
  readonly nodes: readonly OpcuaNode[];
  /**
   * The connector's points whose monitored item the server refused, by id, with why: cleared once the
   * subscription runs, then filled as items are refused.
   */
  readonly refused: Map<string, string>;
  /** Bounds each request by `timeout_ms`. */
  readonly timed: Timed;
  /** Something came from the server: a keep-alive or notifications. */
  alive(): void;
  /** The subscription ended: the server ended it or the client failed it. */
  lost(err: unknown): void;
  /** Counts an error: a refused monitored item. */
  fail(err: OpcuaError): void;
  /** A notification (Part 4 §7.22.2 DataChangeNotification) for one node. */
  changed(node: OpcuaNode, dataValue: DataValue): void;
}

/**
 * Creates the subscription on `link`'s session (set as `link.subscription` at once, so that dropping the link
 * removes its listeners) and monitors every node. A refused monitored item is counted and left out; the
 * subscription runs without it.
 *
 * @throws {OpcuaTimeoutError} when the subscription or a monitored item is not created within `timeout_ms`.
 * @throws {Error} node-opcua's, when a request fails (the channel broke, the session was closed).
 */
export async function subscribe(link: Link, context: SubscribeContext): Promise<void> {
  const { connector, nodes, refused, timed } = context;
  const session = link.session!;
  const subscription = ClientSubscription.create(session, {
    requestedPublishingInterval: requestedPublishingMs(nodes),
    requestedMaxKeepAliveCount: MAX_KEEP_ALIVE_COUNT,
    requestedLifetimeCount: 60,
    maxNotificationsPerPublish: 0,
    publishingEnabled: true,
    priority: 1,
  });
  link.subscription = subscription;
  const alive = () => context.alive();
  subscription.on("keepalive", alive);
  subscription.on("received_notifications", alive);
  // The server ended the subscription (its lifetime ran out, Part 4 §5.13.1.1) or the client failed it.
  const lost = (err?: unknown) => context.lost(err ?? "the subscription was terminated");
  subscription.on("terminated", lost);
  subscription.on("error", lost);
  await timed(
    new Promise<void>((resolve, reject) => {
      subscription.once("started", () => resolve());
      subscription.once("internal_error", reject);
    }),
    "create a subscription",
  );
  refused.clear();
  for (const node of nodes) {
    const what = `monitor node "${node.nodeId}"`;
    // The listener goes on before the item is created: the server sends the item's first value in a publish
    // response that can arrive in the same socket read as the CreateMonitoredItems response, and node-opcua
    // then emits it before an `await` on the creation could resume. A constant node sends nothing more, so
    // a listener added after the creation (as `subscription.monitor()` invites) could wait forever for the
    // value of a session that is up (seen on a loaded machine: "connected", and no value in 20 s).
    const item = ClientMonitoredItem.create(
      subscription,
      { nodeId: node.nodeId, attributeId: AttributeIds.Value },
      { samplingInterval: node.samplingMs, discardOldest: true, queueSize: 1 },
      TimestampsToReturn.Both,
    );
    item.on("changed", (dataValue: DataValue) => context.changed(node, dataValue));
    const failure = await timed(created(item), what);
    if (failure === null) continue;
    // A refused item (Part 4 §5.12.2.2, MonitoredItemCreateResult) has a Bad status code; anything else is
    // the request failing, which fails the attempt.
    const status = item.statusCode;
    if (status.value >>> 30 !== 2 || status.value === StatusCodes.BadDataUnavailable.value) throw failure;
    const error = new OpcuaStatusError(connector, status.value, status.name, what, { cause: failure });
    refused.set(node.id, error.message);
    context.fail(error);
  }
}

/**
 * Resolves once node-opcua has created `item`: with `null` when the server accepted it, with the error
 * node-opcua reported when the server refused it or the request failed.
 */
function created(item: ClientMonitoredItem): Promise<Error | null> {
  return new Promise((resolve) => {
    item.once("initialized", () => resolve(null));
    item.once("err", (message: string) => resolve(new Error(message)));
  });
}

/**
 * How long the server may send nothing (a notification or a keep-alive) before the connector takes it as
 * hung: the subscription's keep-alive period (its publishing interval times its maximum keep-alive count,
 * Part 4 §5.13.1.1) plus `timeoutMs`.
 */
export function watchdogLimitMs(subscription: ClientSubscription | null, timeoutMs: number): number {
  const publishingMs = subscription?.publishingInterval ?? 1000;
  const keepAlive = subscription?.maxKeepAliveCount ?? MAX_KEEP_ALIVE_COUNT;
  return publishingMs * keepAlive + timeoutMs;
}
