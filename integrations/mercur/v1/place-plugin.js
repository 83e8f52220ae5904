// The hooks as a Mercur 1.x marketplace installs them: the build of the package one level up
// (`npm run build` there), copied here with its package.json, so that the Medusa it runs on is
// this directory's (2.11), not the one the package is built and tested with.
const { cpSync, existsSync, rmSync } = require('node:fs')
const { join } = require('node:path')

const from = join(__dirname, '..')
const to = join(__dirname, '.plugin')
if (!existsSync(join(from, '.medusa/server/src'))) throw new Error('build the hooks first: npm run build in integrations/mercur')
rmSync(to, { recursive: true, force: true })
cpSync(join(from, '.medusa/server'), join(to, '.medusa/server'), { recursive: true })
cpSync(join(from, 'package.json'), join(to, 'package.json'))
