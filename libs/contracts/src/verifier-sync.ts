import { z } from 'zod';

/** Most window entries in one message: a report with more goes out in parts, under NATS's 1 MiB payload limit. */
export const MAX_CONSUMPTION_ENTRIES_PER_MESSAGE = 4000;

const count = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);

/**
 * What verifiers tell each other on `<prefix>.v1.verifiers.consumption` about their rate-limit
 * and credit windows, version 1. Every number is checked: a report that does not parse is
 * dropped whole, since one missing or negative figure would let the receivers hand out
 * shares of capacity that is not there.
 */
export const consumptionReportMessageSchema = z
  .object({
    instance: z.string().min(1).max(200),
    at: count,
    previous: count.nullable(),
    full: z.boolean(),
    /**
     * The sender has something to share (a window open, or it is starting): every replica ticks
     * at the fast period until it has not heard one for an idle period. Absent (a replica from
     * before idle ticking, which always ticks fast): taken as true.
     */
    busy: z.boolean().optional(),
    /** This message's place among the parts of one report (0-based), and how many there are. */
    part: z.number().int().min(0),
    parts: z.number().int().min(1).max(10_000),
    /** [window owner (key id or key id/credits), window length ms, window start ms, admitted, allowance held]. */
    counts: z
      .array(z.tuple([z.string().min(1).max(300), z.number().int().min(1).max(Number.MAX_SAFE_INTEGER), count, count, count]))
      .max(MAX_CONSUMPTION_ENTRIES_PER_MESSAGE),
  })
  .strict()
  .refine((message) => message.part < message.parts, 'part must be below parts');
export type ConsumptionReportMessage = z.infer<typeof consumptionReportMessageSchema>;
