import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globals: true, // Medusa's test runner declares its suite with the global describe/beforeAll/it
    pool: 'forks',
    globalSetup: ['../hub-setup.ts'],
    // Medusa's test runner makes a database for the run on this server (trust or DB_PASSWORD)
    env: { DB_HOST: process.env.DB_HOST ?? 'localhost', DB_USERNAME: process.env.DB_USERNAME ?? 'postgres', MEDUSA_DISABLE_TELEMETRY: 'true' },
    testTimeout: 60_000,
    hookTimeout: 180_000,
  },
})
