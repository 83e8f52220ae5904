// The marketplace the hooks' tests run: a Medusa application with Mercur's core plugin
// (withMercur) and the hooks added as a marketplace adds them.
const { resolve } = require('node:path')
const { withMercur } = require('@mercurjs/core')

module.exports = withMercur({
  projectConfig: {
    databaseUrl: process.env.DATABASE_URL,
    http: { storeCors: '*', adminCors: '*', authCors: '*', vendorCors: '*', jwtSecret: process.env.JWT_SECRET, cookieSecret: process.env.COOKIE_SECRET },
  },
  plugins: [{ resolve: resolve(__dirname, '../..'), options: {} }],
})
