// A process's memory from /proc/<pid>/status (Linux): resident set size now (VmRSS) and at its peak
// (VmHWM), in bytes; undefined where /proc cannot tell.
import { readFileSync } from 'node:fs';

export interface ProcessMemory {
  readonly rss: number;
  readonly peak: number;
}

export function processMemory(pid: number): ProcessMemory | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return undefined;
  }
  const kib = (field: string): number | undefined => {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(text);
    return m ? Number(m[1]) * 1024 : undefined;
  };
  const rss = kib('VmRSS');
  const peak = kib('VmHWM');
  return rss === undefined || peak === undefined ? undefined : { rss, peak };
}

/** Bytes as MiB or GiB, for the tables. */
export function formatBytes(bytes: number | undefined): string {
  if (bytes === undefined) return '-';
  const mib = bytes / (1024 * 1024);
  return mib >= 1024 ? `${(mib / 1024).toFixed(2)} GiB` : `${Math.round(mib)} MiB`;
}
