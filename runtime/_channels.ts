/**
 * The deployment's channels: each one's ring, shared by its writer's and its readers' executors, and the
 * ring's counters as the control plane sees them. Private to `runtime/`.
 *
 * @module
 */
import { createRing, ringStats } from "./executor/ring.ts";
import type { ChannelRing } from "./instance_spec.ts";
import type { ChannelPlan } from "./plan.ts";
import type { ChannelStatus } from "./status.ts";

/** A ring for each channel of the plan, by channel id. */
export function createChannels(plans: readonly ChannelPlan[]): Map<string, ChannelRing> {
  const channels = new Map<string, ChannelRing>();
  for (const c of plans) {
    const buffer = createRing({
      sizeBytes: Math.max(64, Math.ceil(c.sizeBytes / 4) * 4),
      readers: Math.max(1, c.readers.length),
      overflow: c.overflow,
      ...(c.blockTimeoutUs !== null && { blockTimeoutUs: c.blockTimeoutUs }),
    });
    channels.set(c.id, { plan: c, buffer });
  }
  return channels;
}

/** A channel with its writer, readers and counters (`GET /api/v1/channels`). */
export function channelStatus({ plan, buffer }: ChannelRing): ChannelStatus {
  const st = ringStats(buffer);
  return {
    id: plan.id,
    writer: plan.writer,
    size_bytes: st.capacityBytes,
    overflow: plan.overflow,
    written: st.written,
    dropped: st.dropped,
    evicted: st.evicted,
    blocked: st.blocked,
    timeouts: st.timeouts,
    readers: plan.readers.map((module, i) => ({
      module,
      lost: st.readers[i]?.lost ?? 0,
      pending_bytes: st.readers[i]?.pendingBytes ?? 0,
    })),
  };
}

/** Bytes a channel's reader `module` has not read yet; 0 when it is not a reader. */
export function pendingBytes({ plan, buffer }: ChannelRing, module: string): number {
  const reader = plan.readers.indexOf(module);
  return ringStats(buffer).readers[reader]?.pendingBytes ?? 0;
}
