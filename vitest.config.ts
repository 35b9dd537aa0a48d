import { defineConfig } from 'vitest/config';

/**
 * AWS SDK v3 warns once per module graph that it will need Node 22 from January 2027; the
 * lockfile pins releases that support Node 20. The SDK's documented switch silences it
 * (aws/aws-sdk-js-v3#7983).
 */
const env = { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };

/** For the projects that read topics back: kafkajs's read committed, fixed (tests/setup). */
const setupFiles = ['tests/setup/read-committed.ts'];

/**
 * Projects run in groups, one group after the other (`sequence.groupOrder`); the projects of a
 * group run at the same time. Tests assert that things happen, with timeouts that only guard
 * against hanging (how fast is for bench/), but the end-to-end, browser and fault tests run whole
 * services on a machine that may have two cores: each runs alone, after the unit, integration and
 * deploy tests, so that nothing of the same run competes with them.
 */
export default defineConfig({
  test: {
    // Once for the whole run (not per project), so that one broker serves every project and is
    // stopped only after the last test.
    globalSetup: ['tests/setup/broker.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['tests/unit/**/*.test.ts', 'plugins/**/tests/**/*.test.ts'],
          environment: 'node',
          env,
          sequence: { groupOrder: 0 },
          // A guard against hanging on a busy machine, not a speed check.
          testTimeout: 30_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['tests/integration/**/*.test.ts'],
          env,
          setupFiles,
          sequence: { groupOrder: 0 },
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          // `sls package` for an AWS stage, linted by cfn-lint: no broker, no AWS account.
          name: 'deploy',
          include: ['tests/deploy/**/*.test.ts'],
          // `sls package --stage example` once, for every file that reads the package.
          globalSetup: ['tests/setup/example-package.ts'],
          env,
          // Beside the unit and integration tests: packaging competes with no service under test.
          sequence: { groupOrder: 0 },
          testTimeout: 60_000,
          hookTimeout: 300_000,
        },
      },
      {
        test: {
          // A real headless Chromium (Debian's, `npm run chromium:install`) on the live page,
          // through `sls offline start`: after the end-to-end tests, alone.
          name: 'browser',
          include: ['tests/browser/**/*.test.ts'],
          env,
          setupFiles,
          sequence: { groupOrder: 2 },
          testTimeout: 120_000,
          hookTimeout: 240_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          // Real broker, store and `sls offline` behind a real proxy (toxiproxy) that cuts, slows
          // and restores them. One file at a time (the broker's proxy has one fixed address),
          // after every other project, alone.
          name: 'faults',
          include: ['tests/faults/**/*.test.ts'],
          env,
          setupFiles,
          sequence: { groupOrder: 3 },
          fileParallelism: false,
          testTimeout: 180_000,
          hookTimeout: 240_000,
        },
      },
      {
        test: {
          // After the unit, integration and deploy tests, alone.
          name: 'e2e',
          include: ['tests/e2e/**/*.test.ts'],
          env,
          setupFiles,
          sequence: { groupOrder: 1 },
          testTimeout: 180_000,
          hookTimeout: 240_000,
          // Each e2e file runs its own `sls offline start`; two at once would fight over ports.
          fileParallelism: false,
        },
      },
    ],
  },
});
