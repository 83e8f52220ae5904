// A Mercur 1.x marketplace: Medusa 2.11 with Mercur's b2c-core plugin, and the hooks added as such
// a marketplace adds them — onboarding a seller when it is created, as Mercur 1.x has no approval.
const { resolve } = require('node:path')
const { defineConfig } = require('@medusajs/framework/utils')

module.exports = defineConfig({
  projectConfig: {
    databaseUrl: process.env.DATABASE_URL,
    http: { storeCors: '*', adminCors: '*', authCors: '*', vendorCors: '*', jwtSecret: process.env.JWT_SECRET, cookieSecret: process.env.COOKIE_SECRET },
  },
  plugins: [
    { resolve: '@mercurjs/b2c-core', options: {} },
    { resolve: resolve(__dirname, '../../.plugin'), options: { onboardOnCreate: true } },
  ],
})
