import { describe, expect, it } from 'vitest';
import { bodyOffset, encodePublishBatch } from '../../bench/load-client.js';
import { effectiveWindow, modeText } from '../../bench/run-scenario.js';
import { SCENARIOS } from '../../bench/scenarios.js';

describe("the load generator's publishes", () => {
  it('finds where the body starts in an encoded publish, so that the publisher can stamp it', () => {
    for (const bodySize of [8, 16, 4096, 65_536, 200_000]) {
      for (const routingKey of ['q', 'warren-bench-a-12345-1']) {
        const frameMax = 131_072;
        const one = encodePublishBatch(frameMax, { routingKey, bodySize, persistent: false }, 1);
        const at = bodyOffset(one);
        // The body frame's header (type 3, channel 1, its size) just before, the filler byte after.
        expect(one[at - 7]).toBe(3);
        expect(one.readUInt16BE(at - 6)).toBe(1);
        expect(one.readUInt32BE(at - 4)).toBe(Math.min(bodySize, frameMax - 8));
        expect(one.subarray(at, at + 8).every((b) => b === 0x62)).toBe(true);
        // Stamping the first 8 bytes leaves every frame intact: the batch repeats the same layout.
        const batch = encodePublishBatch(frameMax, { routingKey, bodySize, persistent: false }, 3);
        expect(batch.length).toBe(3 * one.length);
        expect(bodyOffset(batch.subarray(one.length))).toBe(at);
      }
    }
  });

  it('says -1 for bytes without a body frame', () => {
    expect(bodyOffset(Buffer.alloc(0))).toBe(-1);
  });
});

describe('open loop and windows', () => {
  it('runs every scenario open loop at window 0, and caps a window at a scenario maximum', () => {
    for (const sc of Object.values(SCENARIOS)) {
      expect(effectiveWindow(sc, 0)).toBe(0);
      expect(effectiveWindow(sc, 50)).toBe(Math.min(50, sc.maxWindow ?? 50));
      const big = effectiveWindow(sc, 1e6);
      expect(big).toBe(sc.maxWindow ?? 1e6);
    }
    expect(modeText(0)).toBe('open loop');
    expect(modeText(20_000)).toBe('window 20,000');
  });
});
