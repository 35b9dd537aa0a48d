import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CACHE_DIR, ROOT } from './paths.js';
import { answers, run, runInherit, waitFor } from './process.js';
import { installPythonVenv } from './python-venv.js';

/**
 * Real schema registries for the emulator's schema-registry tests and benchmark, installed from
 * the package registries into `.cache/` and started on loopback:
 * - Apicurio Registry (Maven Central, `io.apicurio:apicurio-registry-app`), whose
 *   Confluent-compatible API (`/apis/ccompat/v7`) stands in for a Confluent registry. It needs
 *   Java 21 or newer (the broker's Java 17 is too old).
 * - moto's server (PyPI), which implements AWS Glue's schema registry API, in a virtual
 *   environment.
 * Both keep their data in memory: a started registry is empty.
 */

/** The pinned Apicurio Registry; one place to change it. */
export const APICURIO_VERSION = '3.3.3';
const APICURIO_DIR = join(CACHE_DIR, 'apicurio', APICURIO_VERSION);
const APICURIO_COMPLETE = join(APICURIO_DIR, '.complete');
const APICURIO_ARTIFACT = `io.apicurio:apicurio-registry-app:${APICURIO_VERSION}:tar.gz:all`;
/** Minimum Java for Apicurio Registry 3 (Quarkus 3.3x). */
const APICURIO_JAVA = 21;
const READY_TIMEOUT_MS = 120_000;

const MOTO_REQUIREMENTS = join(ROOT, 'scripts/moto/requirements.txt');
const MOTO_DIR = join(CACHE_DIR, 'moto');
const MOTO_SERVER = join(MOTO_DIR, 'bin', 'moto_server');

/** The pinned moto, read from its requirements file so that there is one place to change it. */
export const MOTO_VERSION = (() => {
  const match = /^moto\[[^\]]*\]==(\S+)$/m.exec(readFileSync(MOTO_REQUIREMENTS, 'utf8'));
  if (!match?.[1]) throw new Error(`No moto[...]==<version> line in ${MOTO_REQUIREMENTS}`);
  return match[1];
})();

const log = (message: string): void => {
  process.stderr.write(`[registries] ${message}\n`);
};

/** Java's major version as `<java> -version` prints it, or undefined when it does not run. */
const javaMajor = (java: string): number | undefined => {
  const out = run(java, ['-version'], { timeoutMs: 30_000 });
  if (out.code !== 0) return undefined;
  const match = /version "(\d+)(?:\.(\d+))?/.exec(out.stderr + out.stdout);
  if (!match?.[1]) return undefined;
  const major = Number(match[1]);
  return major === 1 ? Number(match[2]) : major;
};

/**
 * A Java 21+ for Apicurio: `JAVA21_HOME`, then `JAVA_HOME`, then `java` on the PATH, then each
 * JDK under /usr/lib/jvm (newest first). Throws saying what to install when none is found.
 */
export const findJava21 = (): string => {
  const candidates: string[] = [];
  for (const home of [process.env.JAVA21_HOME, process.env.JAVA_HOME]) {
    if (home) candidates.push(join(home, 'bin', 'java'));
  }
  candidates.push('java');
  const jvm = '/usr/lib/jvm';
  if (existsSync(jvm)) {
    const dirs = readdirSync(jvm).sort((a, b) => b.localeCompare(a, 'en', { numeric: true }));
    for (const dir of dirs) candidates.push(join(jvm, dir, 'bin', 'java'));
  }
  for (const java of candidates) {
    if (java !== 'java' && !existsSync(java)) continue;
    const major = javaMajor(java);
    if (major !== undefined && major >= APICURIO_JAVA) return java;
  }
  throw new Error(
    `Apicurio Registry ${APICURIO_VERSION} needs Java ${APICURIO_JAVA} or newer, and none was found (JAVA21_HOME, JAVA_HOME, java on the PATH, /usr/lib/jvm/*): install one (Debian: apt-get install openjdk-21-jre-headless, or a Temurin 21+ JDK) or point JAVA21_HOME at it`,
  );
};

/** The installed Apicurio's `quarkus-run.jar`. */
const APICURIO_JAR = join(APICURIO_DIR, 'quarkus-run.jar');

/** Resolves Apicurio Registry with Maven into `.cache/apicurio` (once). */
export const installApicurio = async (): Promise<string> => {
  if (existsSync(APICURIO_COMPLETE) && existsSync(APICURIO_JAR)) return APICURIO_DIR;
  if (!answers('mvn', ['-v'])) {
    throw new Error(
      `Maven is needed once to download Apicurio Registry ${APICURIO_VERSION}: install Maven`,
    );
  }
  log(`resolving Apicurio Registry ${APICURIO_VERSION} with Maven into ${APICURIO_DIR}`);
  const download = join(CACHE_DIR, 'apicurio', 'download');
  rmSync(download, { recursive: true, force: true });
  await runInherit('mvn', [
    '-q',
    '-B',
    'dependency:copy',
    `-Dartifact=${APICURIO_ARTIFACT}`,
    `-DoutputDirectory=${download}`,
  ]);
  const archive = join(download, `apicurio-registry-app-${APICURIO_VERSION}-all.tar.gz`);
  if (!existsSync(archive)) throw new Error(`Maven resolved no ${archive}`);
  rmSync(APICURIO_DIR, { recursive: true, force: true });
  mkdirSync(APICURIO_DIR, { recursive: true });
  await runInherit('tar', ['xzf', archive, '-C', APICURIO_DIR]);
  rmSync(download, { recursive: true, force: true });
  if (!existsSync(APICURIO_JAR)) throw new Error(`${archive} holds no quarkus-run.jar`);
  writeFileSync(APICURIO_COMPLETE, `${APICURIO_VERSION}\n`);
  return APICURIO_DIR;
};

/** Installs moto's server into a virtual environment under `.cache/moto` (once). */
export const installMoto = async (): Promise<string> => {
  const installed = () =>
    existsSync(MOTO_SERVER) &&
    run(join(MOTO_DIR, 'bin', 'python'), [
      '-c',
      'import moto; print(moto.__version__)',
    ]).stdout.trim() === MOTO_VERSION;
  if (installed()) return MOTO_VERSION;
  log(`installing moto ${MOTO_VERSION} (AWS Glue's schema registry API) into ${MOTO_DIR}`);
  await installPythonVenv('moto', MOTO_DIR, MOTO_REQUIREMENTS);
  if (!installed()) throw new Error(`moto ${MOTO_VERSION} was installed, but does not run`);
  return MOTO_VERSION;
};

/** Both registries, for `npm run registries:install` (and so `tools:install`). */
export const installRegistries = async (): Promise<void> => {
  await installApicurio();
  await installMoto();
};

/** A started registry: where it answers, and how to stop it. */
export interface RunningRegistry {
  /** Apicurio: the Confluent-compatible API's base URL; moto: the endpoint for AWS clients. */
  readonly url: string;
  readonly child: ChildProcess;
  /** What it printed, for errors. */
  output(): string;
  stop(): Promise<void>;
}

/**
 * Runs `command` through a shell that stops it when our end of its stdin closes, so that a test
 * process that dies (killed, out of memory) never leaves a registry holding its ports.
 */
const tiedSpawn = (command: string, args: readonly string[], cwd?: string): ChildProcess =>
  spawn(
    'sh',
    [
      '-c',
      '"$0" "$@" </dev/null & server=$!; cat >/dev/null; kill $server; wait $server',
      command,
      ...args,
    ],
    { cwd, stdio: ['pipe', 'pipe', 'pipe'] },
  );

const started = (child: ChildProcess, url: string): RunningRegistry => {
  let text = '';
  const keep = (chunk: Buffer) => {
    text = (text + chunk.toString('utf8')).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    url,
    child,
    output: () => text,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.stdin?.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
      await exited;
      clearTimeout(timer);
    },
  };
};

/** Whether `url` answers HTTP 200 within a second. */
const answers200 = async (url: string): Promise<boolean> => {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2_000) });
    return response.status === 200;
  } catch {
    return false;
  }
};

/** Waits for `check`, failing early (with the output) when the process exits. */
const ready = async (registry: RunningRegistry, what: string, check: () => Promise<boolean>) => {
  try {
    await waitFor(
      async () => {
        if (registry.child.exitCode !== null) {
          throw new Error(`${what} exited during start-up:\n${registry.output().slice(-3_000)}`);
        }
        return check();
      },
      READY_TIMEOUT_MS,
      what,
      250,
    );
  } catch (error) {
    await registry.stop();
    throw error;
  }
};

/**
 * Starts Apicurio Registry (in memory) with its HTTP and management ports on 127.0.0.1; resolves
 * once its Confluent-compatible API answers.
 */
export const startApicurio = async ({
  port,
  managementPort,
}: {
  port: number;
  managementPort: number;
}): Promise<RunningRegistry> => {
  if (!existsSync(APICURIO_JAR)) {
    throw new Error(
      `Apicurio Registry ${APICURIO_VERSION} is not installed: run \`npm run registries:install\``,
    );
  }
  const java = findJava21();
  const child = tiedSpawn(
    java,
    [
      '-Xms64m',
      '-Xmx256m',
      '-Dquarkus.http.host=127.0.0.1',
      `-Dquarkus.http.port=${port}`,
      '-Dquarkus.management.host=127.0.0.1',
      `-Dquarkus.management.port=${managementPort}`,
      '-Dquarkus.log.level=WARN',
      '-jar',
      APICURIO_JAR,
    ],
    APICURIO_DIR,
  );
  const base = `http://127.0.0.1:${port}/apis/ccompat/v7`;
  const registry = started(child, base);
  await ready(registry, `Apicurio Registry at ${base}`, () => answers200(`${base}/subjects`));
  return registry;
};

/** Starts moto's server on 127.0.0.1:`port`; resolves once it answers. */
export const startMoto = async ({ port }: { port: number }): Promise<RunningRegistry> => {
  if (!existsSync(MOTO_SERVER)) {
    throw new Error(`moto ${MOTO_VERSION} is not installed: run \`npm run registries:install\``);
  }
  const child = tiedSpawn(MOTO_SERVER, ['-H', '127.0.0.1', '-p', String(port)]);
  const url = `http://127.0.0.1:${port}`;
  const registry = started(child, url);
  await ready(registry, `moto at ${url}`, () => answers200(`${url}/moto-api/`));
  return registry;
};
