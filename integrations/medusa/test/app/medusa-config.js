// The store the plugin's tests run: a Medusa application with the plugin added as a store adds it,
// beside Medusa's loyalty plugin.
const { resolve } = require('node:path')
const { defineConfig } = require('@medusajs/framework/utils')

module.exports = defineConfig({
  projectConfig: {
    databaseUrl: process.env.DATABASE_URL,
    http: { storeCors: '*', adminCors: '*', authCors: '*', jwtSecret: process.env.JWT_SECRET, cookieSecret: process.env.COOKIE_SECRET },
  },
  plugins: [
    // Medusa's loyalty plugin: the store issues gift cards
    { resolve: '@medusajs/loyalty-plugin', options: {} },
    // the gift cards' service-account settings come from the environment (HIS_HER_CUSTOMER_*), as giftCardEnv would give them
    { resolve: resolve(__dirname, '../..'), options: { hubUrl: process.env.HUB_URL, token: process.env.HUB_TOKEN } },
  ],
})
