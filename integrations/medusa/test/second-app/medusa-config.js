// A second store: another Medusa application with the plugin under its own platform identity and
// token, started by second-store.js beside the test's own store.
const { resolve } = require('node:path')
const { defineConfig } = require('@medusajs/framework/utils')

module.exports = defineConfig({
  projectConfig: {
    databaseUrl: process.env.DATABASE_URL,
    http: { storeCors: '*', adminCors: '*', authCors: '*', jwtSecret: process.env.JWT_SECRET, cookieSecret: process.env.COOKIE_SECRET },
  },
  plugins: [
    {
      resolve: resolve(__dirname, '../..'),
      options: { hubUrl: process.env.HUB_URL, token: process.env.HUB_SECOND_STORE_TOKEN, component: 'identity.second-store', orderPlatform: 'medusa-second' },
    },
  ],
})
