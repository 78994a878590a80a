import { describe, expect, it } from "vitest";
import { formatBytes, formatCount, formatEta, formatPercent, formatRate, progressPercent, relativeTime } from "./format";

describe("format", () => {
  it("formats bytes with three significant digits", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(999)).toBe("999 B");
    expect(formatBytes(484_220_320)).toBe("484 MB");
    expect(formatBytes(1_321_079_200)).toBe("1.32 GB");
    expect(formatBytes(18_200_000_000)).toBe("18.2 GB");
    expect(formatBytes(2_000_000_000)).toBe("2 GB");
  });

  it("formats counts, percentages and progress", () => {
    expect(formatCount(1234)).toBe("1.2K");
    expect(formatCount(null)).toBe("—");
    expect(formatPercent(0.456)).toBe("46 %");
    expect(formatPercent(undefined)).toBe("—");
    expect(progressPercent(0.421)).toBe(42);
    expect(progressPercent(1.2)).toBe(100);
    expect(progressPercent(null)).toBe(0);
  });

  it("says how long ago", () => {
    const now = Date.parse("2026-11-24T13:00:00Z");
    expect(relativeTime("2026-11-24T10:00:00Z", now)).toBe("3 h ago");
    expect(relativeTime("2026-11-24T12:59:58Z", now)).toBe("just now");
    expect(relativeTime("2026-11-24T12:59:18Z", now)).toBe("42 s ago");
    expect(relativeTime(null, now)).toBe("never");
  });
});

describe("download rate and ETA", () => {
  it("formats bytes per second and seconds left", () => {
    expect(formatRate(12_345_678)).toBe("12.3 MB/s");
    expect(formatRate(null)).toBe("—");
    expect(formatEta(45)).toBe("45 s");
    expect(formatEta(200)).toBe("3 min 20 s");
    expect(formatEta(7_500)).toBe("2 h 5 min");
    expect(formatEta(null)).toBe("—");
  });
});
