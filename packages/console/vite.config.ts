import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vite'
import react from '@vitejs/plugin-react'

// Built into the hub's dist, which serves it at /console (no second server to run).
export default defineConfig({
  base: '/console/',
  plugins: [react()],
  // the workspace packages are read from their TypeScript sources (their "source" export)
  resolve: { conditions: ['source', 'browser', 'module', 'import', 'default'] },
  build: {
    outDir: fileURLToPath(new URL('../hub/dist/console', import.meta.url)),
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 400,
  },
})
