import { defineConfig } from 'vitest/config';

// Integration tests share one private Redis and one private Redis Cluster (started and
// stopped by test/global-setup.ts) and the machine's two cores; each test file uses its
// own key prefix and port 0.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    maxWorkers: 2,
    fileParallelism: true,
  },
});
