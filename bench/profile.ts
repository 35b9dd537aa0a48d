import { readFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isMain } from './lib/figure.js';
import { ROOT } from './lib/results.js';

/**
 * Summarizes V8 CPU profiles (`node --cpu-prof`): the functions with the most self time, and
 * self time per package. Usage:
 * `npx tsx bench/profile.ts <file.cpuprofile>... [--top 25] [--callers <function name>]`;
 * `--callers` shows where a function's self time comes from (its three nearest callers).
 */

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}
interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children?: readonly number[];
}
interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface SelfTime {
  readonly name: string;
  readonly ms: number;
  readonly share: number;
}

const where = (url: string): string => {
  if (!url) return '';
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  return path.startsWith(ROOT) ? relative(ROOT, path) : path;
};

/** Which package (or our folder) a script belongs to. */
const packageOf = (url: string): string => {
  const path = where(url);
  if (!path) return '(native/V8)';
  const nm = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(path);
  if (nm?.[1]) return nm[1];
  if (path.startsWith('node:')) return 'node (core)';
  return path.split('/')[0] ?? path;
};

/** Self time per function and per package, largest first. */
export const selfTimes = (profile: CpuProfile) => {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const perFunction = new Map<string, number>();
  const perPackage = new Map<string, number>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const node = byId.get(id);
    const dt = (profile.timeDeltas[i] ?? 0) / 1000;
    if (!node) return;
    total += dt;
    const { functionName, url, lineNumber } = node.callFrame;
    const name = `${functionName || '(anonymous)'} ${where(url)}${url ? `:${lineNumber + 1}` : ''}`;
    perFunction.set(name, (perFunction.get(name) ?? 0) + dt);
    const pkg = url ? packageOf(url) : functionName.startsWith('(') ? functionName : '(native/V8)';
    perPackage.set(pkg, (perPackage.get(pkg) ?? 0) + dt);
  });
  const rank = (m: Map<string, number>): SelfTime[] =>
    [...m.entries()]
      .map(([name, ms]) => ({ name, ms, share: ms / total }))
      .sort((a, b) => b.ms - a.ms);
  return { totalMs: total, functions: rank(perFunction), packages: rank(perPackage) };
};

/** Self time of the functions named `name`, by their nearest `depth` callers. */
export const callersOf = (profile: CpuProfile, name: string, depth = 3) => {
  const parent = new Map<number, ProfileNode>();
  for (const node of profile.nodes) for (const c of node.children ?? []) parent.set(c, node);
  const self = new Map<number, number>();
  profile.samples.forEach((id, i) => {
    self.set(id, (self.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  });
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const chains = new Map<string, number>();
  for (const node of profile.nodes) {
    if (node.callFrame.functionName !== name) continue;
    const chain: string[] = [];
    for (let p = parent.get(node.id); p && chain.length < depth; p = parent.get(p.id)) {
      const f = p.callFrame;
      chain.push(`${f.functionName || '(anonymous)'} ${where(f.url)}:${f.lineNumber + 1}`);
    }
    const key = chain.join(' < ');
    chains.set(key, (chains.get(key) ?? 0) + (self.get(node.id) ?? 0));
  }
  return [...chains.entries()]
    .map(([chain, ms]) => ({ name: chain, ms, share: ms / total }))
    .sort((a, b) => b.ms - a.ms);
};

if (isMain(import.meta.url)) {
  const args = process.argv.slice(2);
  const option = (flag: string) => {
    const at = args.indexOf(flag);
    return at >= 0 ? args[at + 1] : undefined;
  };
  const top = Number(option('--top') ?? 25);
  const callers = option('--callers');
  const files = args.filter((a, i) => !a.startsWith('--') && !args[i - 1]?.startsWith('--'));
  for (const file of files) {
    const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
    if (callers) {
      console.log(`${file}: self time of ${callers}, by caller`);
      for (const s of callersOf(profile, callers).slice(0, top)) {
        console.log(
          `${s.ms.toFixed(1).padStart(9)} ms ${(s.share * 100).toFixed(1).padStart(5)}%  ${s.name}`,
        );
      }
      continue;
    }
    const { totalMs, functions, packages } = selfTimes(profile);
    const line = (s: SelfTime) =>
      `${s.ms.toFixed(1).padStart(9)} ms ${(s.share * 100).toFixed(1).padStart(5)}%  ${s.name}`;
    console.log(`${file}: ${totalMs.toFixed(0)} ms sampled\n\nself time by package:`);
    for (const s of packages.slice(0, 15)) console.log(line(s));
    console.log(`\ntop ${top} functions by self time:`);
    for (const s of functions.slice(0, top)) console.log(line(s));
    console.log();
  }
}
