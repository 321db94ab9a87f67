/**
 * The OPC UA connector's subscription: one per session, with a monitored item for each configured node
 * (Part 4 §5.12, §5.13), and the publish watchdog's limit that tells a hung server from a quiet one.
 *
 * @module
 */
import {
  AttributeIds,
  type ClientMonitoredItem,
  ClientSubscription,
  type DataValue,
  StatusCodes,
  TimestampsToReturn,
} from "node-opcua-client";
import type { OpcuaNode } from "./config.ts";
import { type OpcuaError, OpcuaStatusError, OpcuaTimeoutError } from "./errors.ts";
import type { Link, Timed } from "./_link.ts";

/** What {@linkcode subscribe} needs from the connector, and what it tells it. */
export interface SubscribeContext {
  /** The connector's name, for errors. */
  readonly connector: string;
  /** The nodes to monitor. */
  readonly nodes: readonly OpcuaNode[];
  /**
   * The connector's ids of points whose monitored item the server refused: cleared once the subscription
   * runs, then filled as items are refused.
   */
  readonly refused: Set<string>;
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
 */
export async function subscribe(link: Link, context: SubscribeContext): Promise<void> {
  const { connector, nodes, refused, timed } = context;
  const session = link.session!;
  const fastest = Math.min(...nodes.map((n) => n.samplingMs));
  const publishingMs = Math.max(50, fastest);
  const subscription = ClientSubscription.create(session, {
    requestedPublishingInterval: publishingMs,
    requestedMaxKeepAliveCount: 10,
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
    let item: ClientMonitoredItem;
    try {
      item = await timed(
        subscription.monitor(
          { nodeId: node.nodeId, attributeId: AttributeIds.Value },
          { samplingInterval: node.samplingMs, discardOldest: true, queueSize: 1 },
          TimestampsToReturn.Both,
        ),
        what,
      );
    } catch (err) {
      if (!(err instanceof Error) || err instanceof OpcuaTimeoutError) throw err;
      // node-opcua may reject with a plain Error naming the StatusCode (e.g. BadNodeIdUnknown).
      const name = /Bad[A-Za-z]+/.exec(err.message)?.[0] ?? "Bad";
      const code = (StatusCodes as unknown as Record<string, { value: number } | undefined>)[name]?.value ??
        0x80000000;
      refused.add(node.id);
      context.fail(new OpcuaStatusError(connector, code, name, what, { cause: err }));
      continue;
    }
    // A refused item (Part 4 §5.12.2.2, MonitoredItemCreateResult) resolves with a Bad status code.
    if (item.statusCode.value >>> 30 === 2) {
      refused.add(node.id);
      context.fail(new OpcuaStatusError(connector, item.statusCode.value, item.statusCode.name, what));
      continue;
    }
    item.on("changed", (dataValue: DataValue) => context.changed(node, dataValue));
  }
}

/**
 * How long the server may send nothing (a notification or a keep-alive) before the connector takes it as
 * hung: the subscription's keep-alive period (its publishing interval times its maximum keep-alive count,
 * Part 4 §5.13.1.1) plus `timeoutMs`.
 */
export function watchdogLimitMs(subscription: ClientSubscription | null, timeoutMs: number): number {
  const publishingMs = subscription?.publishingInterval ?? 1000;
  const keepAlive = subscription?.maxKeepAliveCount ?? 10;
  return publishingMs * keepAlive + timeoutMs;
}
