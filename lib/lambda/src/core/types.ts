/** Shared data types of the pipeline. See docs/design.md for the contracts. */
import type { Tick } from "./tick.ts";

/** The normalised tick; its owner is core/tick.ts (re-exported here for the modules that read the other types). */
export type { Tick };

/** The body of one ProcessingQueue message (at most 262,144 bytes). */
export interface TickMessage {
  v: 1;
  /** where the ticks came from: `s3://bucket/key` or `api:<requestId>` */
  src: string;
  ticks: Tick[];
}

/** One 1-minute window of one symbol that received data. */
export interface WindowRef {
  symbol: string;
  /** 1-minute window start, epoch ms */
  start: number;
}

/** Detail of the `TicksStored` event DataProcessor emits once per invocation. */
export interface TicksStoredDetail {
  windows: WindowRef[];
  ticks: number;
}

export const MAX_SQS_MESSAGE_BYTES = 262_144;
export const INTERVALS = { "1m": 60_000, "5m": 300_000 } as const;
export type Interval = keyof typeof INTERVALS;
