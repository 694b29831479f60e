// Summarises a V8 .cpuprofile (from `node --cpu-prof`, or `npm run bench -- --broker-cpu-prof <dir>`):
// the functions and the files with the most self time.
//   node build/bench/profile-summary.js <file.cpuprofile> [top=25]
import { readFileSync } from 'node:fs';

interface ProfileNode {
  readonly id: number;
  readonly callFrame: {
    readonly functionName: string;
    readonly url: string;
    readonly lineNumber: number;
    readonly columnNumber: number;
  };
}

interface Profile {
  readonly nodes: ProfileNode[];
  readonly samples: number[];
  readonly timeDeltas: number[];
}

const [file, topText] = process.argv.slice(2);
if (!file) {
  process.stderr.write('usage: node build/bench/profile-summary.js <file.cpuprofile> [top]\n');
  process.exit(2);
}
const top = topText ? Number(topText) : 25;
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;

/** The part of a script URL worth printing: from dist/, src/ or node_modules/ on, or node's own modules. */
function shortUrl(url: string): string {
  const m = /(?:^|\/)((?:dist|src|build|node_modules)\/.*)$/.exec(url);
  if (m) return m[1];
  return url.replace(/^file:\/\//, '');
}

const nodeById = new Map<number, ProfileNode>();
for (const n of profile.nodes) nodeById.set(n.id, n);

// Each sample's time is the delta to the next sample: attribute it to the sampled node.
const selfByNode = new Map<number, number>();
let total = 0;
for (let i = 0; i < profile.samples.length; i++) {
  const dt = profile.timeDeltas[i + 1] ?? 0;
  selfByNode.set(profile.samples[i], (selfByNode.get(profile.samples[i]) ?? 0) + dt);
  total += dt;
}

const byFunction = new Map<string, number>();
const byFile = new Map<string, number>();
let idle = 0;
for (const [id, us] of selfByNode) {
  const n = nodeById.get(id);
  if (!n) continue;
  const { functionName, url, lineNumber } = n.callFrame;
  if (functionName === '(idle)') idle += us;
  const where = url ? `${shortUrl(url)}:${lineNumber + 1}` : '';
  const key = `${functionName || '(anonymous)'} ${where}`.trim();
  byFunction.set(key, (byFunction.get(key) ?? 0) + us);
  const fileKey = url ? shortUrl(url) : functionName;
  byFile.set(fileKey, (byFile.get(fileKey) ?? 0) + us);
}

const busy = total - idle;
const pct = (us: number) => `${((us / busy) * 100).toFixed(1).padStart(5)}%`;
console.log(
  `${file}: ${(total / 1e6).toFixed(2)} s sampled, ${(idle / 1e6).toFixed(2)} s idle; ` +
    'percentages are of the non-idle time',
);
console.log(`\ntop ${top} functions by self time:`);
for (const [key, us] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top)) {
  if (key.startsWith('(idle)')) continue;
  console.log(`${pct(us)}  ${(us / 1000).toFixed(0).padStart(7)} ms  ${key}`);
}
console.log('\nself time by file:');
for (const [key, us] of [...byFile].sort((a, b) => b[1] - a[1]).slice(0, 15)) {
  if (key === '(idle)') continue;
  console.log(`${pct(us)}  ${(us / 1000).toFixed(0).padStart(7)} ms  ${key}`);
}
