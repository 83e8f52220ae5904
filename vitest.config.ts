import { defineConfig } from 'vitest/config'

// The suite always runs on the embedded PGlite database. With TEST_DATABASE_URL set it runs a
// second time on that PostgreSQL, each test file in a schema of its own, together with the
// PostgreSQL-only files (*.pg.test.ts: several hub processes sharing one database).
const postgresUrl = process.env.TEST_DATABASE_URL || ''
const embeddedProcessTests = ['packages/hub/test/startup.test.ts', 'packages/hub/test/data-dir-lock.test.ts', 'packages/hub/test/shutdown.test.ts', 'packages/hub/test/cli.test.ts', 'packages/console/test/**']
// the longest of them, and the console's browser test, run beside the PostgreSQL suite instead (project `embedded`), which ends
// minutes before the PGlite one (scripts/run-tests.js)
const besidePostgres = ['packages/hub/test/cli.test.ts', 'packages/console/test/console.e2e.test.ts']
// set by scripts/run-tests.js for its PGlite run, whose PostgreSQL run goes on in another process
const postgresBeside = Boolean(postgresUrl || process.env.HUB_TESTS_POSTGRES_BESIDE)

export default defineConfig({
  resolve: { conditions: ['source'] },
  ssr: { resolve: { conditions: ['source'], externalConditions: ['source'] } },
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // one file at a time: the PostgreSQL files share one server, and a transaction of one file
    // holds back what the event feed shows another (the feed reads below the server's oldest
    // running transaction). `npm test` (scripts/run-tests.js) runs the two projects side by side.
    maxWorkers: 1,
    globalSetup: ['packages/hub/test/global-setup.ts'],
    projects: [
      {
        extends: true,
        test: {
          name: 'pglite',
          include: ['packages/*/src/**/*.test.ts', 'packages/*/test/**/*.test.ts'],
          // several hub processes on one database: PostgreSQL only
          exclude: ['**/*.pg.test.ts', ...(postgresBeside ? besidePostgres : []), '**/node_modules/**', '**/dist/**'],
          env: { TEST_DATABASE_URL: '' },
        },
      },
      ...(postgresUrl
        ? [
            {
              extends: true as const,
              test: { name: 'embedded', include: besidePostgres, env: { TEST_DATABASE_URL: '' } },
            },
          ]
        : []),
      ...(postgresUrl
        ? [
            {
              extends: true as const,
              test: {
                name: 'postgres',
                include: ['packages/*/src/**/*.test.ts', 'packages/*/test/**/*.test.ts'],
                // these start embedded hub processes (data-directory lock, first start, signals,
                // CLI) or run the console in a browser on the embedded database: they never touch
                // PostgreSQL, so one run of them, in the pglite project, is enough
                exclude: [...embeddedProcessTests, '**/node_modules/**', '**/dist/**'],
                env: { TEST_DATABASE_URL: postgresUrl },
              },
            },
          ]
        : []),
    ],
  },
})
