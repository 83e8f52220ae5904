// `npm run bench` after the build: without arguments, the hub's benchmarks in turn (bench/run.js,
// bench/webhook-delivery.js, bench/import.js), each in its own process with this environment;
// with `--customers N`, bench/scale.js alone with N customers (npm appends the arguments to the
// script's last command, so they arrive here); with `--console`, bench/console.js (the console's
// customer list in Chromium on 100,000 customers).
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'

const here = (file) => fileURLToPath(new URL(file, import.meta.url))
const args = process.argv.slice(2)

/** Runs one benchmark file with the given arguments; a failure ends the whole run with its status. */
function run(file, fileArgs = []) {
  const r = spawnSync(process.execPath, [here(file), ...fileArgs], { stdio: 'inherit' })
  if (r.error) throw r.error
  if (r.status !== 0) process.exit(r.status ?? 1)
}

if (args.length === 0) {
  for (const file of ['./run.js', './webhook-delivery.js', './import.js']) run(file)
} else if (args[0] === '--customers' || args[0].startsWith('--customers=')) {
  run('./scale.js', args)
} else if (args[0] === '--console' && args.length === 1) {
  run('./console.js')
} else {
  console.error(`usage: npm run bench [-- --customers N | -- --console]\nunknown arguments: ${args.join(' ')}`)
  process.exit(2)
}
