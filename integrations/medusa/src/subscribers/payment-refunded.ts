import type { SubscriberArgs, SubscriberConfig } from '@medusajs/framework'
import { orderOfPayment, reportOrder } from '../lib/sync'

/**
 * A refund of an order's payment: the order is reported again with its current total (Medusa
 * lowers it by a refund beyond what a return owes; a return's own refund was counted when the
 * return was received), and the hub corrects the customer's total and the order's points.
 */
export default async function paymentRefunded({ event, container }: SubscriberArgs<{ id: string }>) {
  const orderId = await orderOfPayment(container, event.data.id)
  if (orderId) await reportOrder(container, orderId)
}

export const config: SubscriberConfig = { event: 'payment.refunded' }
