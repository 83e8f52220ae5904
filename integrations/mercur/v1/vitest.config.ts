import { defineConfig } from 'vitest/config'
import { integrationTestSettings } from '../../test-helpers'

export default defineConfig({ test: { ...integrationTestSettings, globalSetup: ['../../hub-setup.ts'] } })
