// CPU time of processes and threads from /proc (Linux): utime + stime, which count every thread of a
// process (Erlang schedulers, libuv and GC threads included) or just the one thread asked for.
import { execFileSync } from 'node:child_process';
import { readFileSync, readlinkSync } from 'node:fs';

function clockTicksPerSecond(): number {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 2000 }).trim());
    return n > 0 ? n : 100;
  } catch {
    return 100;
  }
}

const CLOCK_TICKS = clockTicksPerSecond();

/** CPU seconds used so far by a process, or by one of its threads; undefined when /proc cannot say. */
export function cpuSeconds(pid: number, tid?: number): number | undefined {
  const path = tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  // Fields after the command name (which may contain spaces and parentheses): state is field 3,
  // utime field 14, stime field 15 (proc(5)).
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) return undefined;
  return (utime + stime) / CLOCK_TICKS;
}

/** The kernel's id of the calling thread (a worker thread's own), for cpuSeconds(pid, tid). */
export function currentThreadId(): number | undefined {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
    return Number.isInteger(tid) ? tid : undefined;
  } catch {
    return undefined;
  }
}

/** CPU seconds all cores have spent busy since boot (everything in /proc/stat but idle and iowait). */
export function machineBusySeconds(): number | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/stat', 'utf8');
  } catch {
    return undefined;
  }
  // cpu user nice system idle iowait irq softirq steal guest guest_nice; guest time is inside user.
  const ticks = text.slice(0, text.indexOf('\n')).trim().split(/\s+/).slice(1, 9).map(Number);
  if (ticks.length < 8 || ticks.some((t) => !Number.isFinite(t))) return undefined;
  const busy = ticks.reduce((a, b) => a + b, 0) - ticks[3] - ticks[4];
  return busy / CLOCK_TICKS;
}
