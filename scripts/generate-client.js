// Writes packages/connect/src/routes.generated.ts from the contract's route table (`npm run generate`).
import { writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { clientPatterns, clientTableSource, routes } from '../packages/contract/dist/index.js'

const target = fileURLToPath(new URL('../packages/connect/src/routes.generated.ts', import.meta.url))
writeFileSync(target, clientTableSource(routes, clientPatterns))
console.log(`wrote ${target}`)
