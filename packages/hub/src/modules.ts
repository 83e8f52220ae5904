import type { HubModule } from './module.js'
import { eventsModule } from './events/index.js'
import { customersModule } from './customers/index.js'
import { identityModule } from './identity/index.js'
import { ordersModule } from './orders/index.js'
import { loyaltyModule } from './loyalty/index.js'
import { authModule } from './auth/index.js'
import { sellersModule } from './sellers/index.js'
import { couponsModule } from './coupons/index.js'
import { webhooksModule } from './webhooks/index.js'
import { natsModule } from './nats/index.js'
import { importsModule } from './imports/index.js'
import { requestsModule } from './http/requests-module.js'
import { operationsModule } from './http/operations-module.js'
import { flowsModule } from './flows/index.js'

/**
 * The hub's modules, in the order their services are made (a module may use the services of
 * those before it). Adding a domain is its folder and one line here.
 */
export const hubModules: readonly HubModule[] = [
  eventsModule,
  customersModule,
  identityModule,
  ordersModule,
  loyaltyModule,
  authModule,
  sellersModule,
  couponsModule,
  webhooksModule,
  natsModule,
  importsModule,
  requestsModule,
  operationsModule,
  flowsModule,
]
