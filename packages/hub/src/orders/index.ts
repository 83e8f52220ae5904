import { defineModule } from '../module.js'
import { createOrderService, type OrderService } from './order-service.js'
import './tables.js'

declare module '../module.js' {
  interface Services {
    orders: OrderService
  }
}

/** Orders reported by platforms: facts that keep each customer's `orderCount` and `totalSpent`. */
export const ordersModule = defineModule({
  name: 'orders',
  folder: 'orders',
  tables: ['orders'],
  migrations: new URL('./migrations/', import.meta.url),
  services: ({ services }) => ({ orders: createOrderService({ customers: services.customers, events: services.events }) }),
})
