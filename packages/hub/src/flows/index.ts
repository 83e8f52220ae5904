import { defineModule } from '../module.js'
import { componentsOf, customerIdOf, requireComponent, requirePlatform } from '../auth/principal.js'
import { listCustomers } from '../customers/customer-list.js'
import { createCustomer } from './create-customer.js'
import { updateCustomer } from './update-customer.js'
import { myCustomer, updateMe, verifyEmail, verifyPhone } from './contact-changes.js'
import { syncCustomer } from './sync-customer.js'
import { customerHistory, deleteCustomer, linkIdentity, listIdentities, lookupCustomer, unlinkIdentity } from './identities.js'
import { mergeCustomers, undoMerge } from './merge-customers.js'
import { cancelOrder, recordOrder } from './orders.js'
import { changeSellerStatus, ensurePartner, onboardSeller } from './onboard-seller.js'
import { exportPerson } from './export-person.js'
import { erasePerson } from './erase-person.js'

/**
 * The routes whose work spans domains. Each is a flow: an orchestration of the domains'
 * functions inside the request's one transaction (see `docs/architecture.md`).
 */
export const flowsModule = defineModule({
  name: 'flows',
  folder: 'flows',
  tables: [],
  handlers: (services, config) => {
    const settings = config.customer
    return {
      createCustomer: async ({ tx, body }) => {
        const result = await createCustomer(tx, services, settings, body)
        return 'pendingVerification' in result ? { status: 202, body: result } : { status: 201, body: result }
      },
      listCustomers: async ({ db, query: { email, ...query } }) =>
        listCustomers(db, query, email === undefined ? undefined : services.identities.emailHoldersSql(email), services.customerSearch),
      updateCustomer: async ({ tx, params, body }) => updateCustomer(tx, services, settings, params.id, body),
      getMe: async ({ db, principal }) => myCustomer(db, services, customerIdOf(principal)),
      updateMe: async ({ tx, principal, body }) => updateMe(tx, services, settings, customerIdOf(principal), body),
      verifyEmail: async ({ db, body }) => ({ ...(await verifyEmail(db, services, settings, body.token)), emailVerified: true as const }),
      verifyPhone: async ({ db, body }) => verifyPhone(db, services, settings, body.token),
      deleteCustomer: async ({ tx, params }) => {
        await deleteCustomer(tx, services, params.id)
        return { deleted: true as const, id: params.id }
      },
      syncCustomer: async ({ tx, body, principal, request }) => {
        requireComponent(principal, body.platform.component)
        const result = await syncCustomer(tx, services, settings, config.identity, body)
        services.metrics.syncAnswered(request, result)
        return { status: result.created ? 201 : 200, body: result }
      },
      lookupCustomer: async ({ db, query, principal }) => {
        if (query.component !== undefined) requireComponent(principal, query.component)
        return lookupCustomer(db, services, settings, config.identity, query)
      },
      customerHistory: async ({ db, params, query }) => customerHistory(db, services, params.id, query),
      listIdentities: async ({ db, params }) => ({ data: await listIdentities(db, services, params.id) }),
      myIdentities: async ({ db, principal }) => ({ data: await listIdentities(db, services, customerIdOf(principal)) }),
      linkIdentity: async ({ tx, params, body, principal }) => {
        if (body.kind === 'platform' && body.namespace !== undefined) requireComponent(principal, body.namespace)
        const { identity, created } = await linkIdentity(tx, services, params.id, body)
        return { status: created ? 201 : 200, body: identity }
      },
      unlinkIdentity: async ({ tx, params, principal }) => {
        await unlinkIdentity(tx, services, params.id, params.identityId, componentsOf(principal))
        return { deleted: true as const, id: params.identityId }
      },
      listCustomerOrders: async ({ db, params, query }) => {
        await services.customers.requireLive(db, params.id)
        return services.orders.pageOf(db, params.id, query)
      },
      listRewardAccounts: async ({ db, params }) => {
        await services.customers.requireLive(db, params.id)
        return { data: await services.ledgerReads.customerAccounts(db, params.id) }
      },
      myRewardAccounts: async ({ db, principal }) => {
        const id = customerIdOf(principal)
        await services.customers.requireLive(db, id)
        return { data: await services.ledgerReads.customerAccounts(db, id) }
      },
      recordOrder: async ({ tx, body, principal }) => {
        requirePlatform(principal, body.platform)
        const result = await recordOrder(tx, services, body)
        return { status: result.outcome === 'recorded' ? 201 : 200, body: result }
      },
      cancelOrder: async ({ tx, body, principal }) => {
        requirePlatform(principal, body.platform)
        return cancelOrder(tx, services, body)
      },
      onboardSeller: async ({ tx, body }) => {
        const result = await onboardSeller(tx, services, body, new Date())
        return { status: result.created ? 201 : 200, body: result }
      },
      ensurePartner: async ({ tx, body }) => {
        const result = await ensurePartner(tx, services, body)
        return { status: result.created ? 201 : 200, body: result }
      },
      suspendSeller: async ({ tx, params }) => changeSellerStatus(tx, services, params.id, 'suspend'),
      resumeSeller: async ({ tx, params }) => changeSellerStatus(tx, services, params.id, 'resume'),
      terminateSeller: async ({ tx, params }) => changeSellerStatus(tx, services, params.id, 'terminate'),
      ensureRewardAccount: async ({ tx, params, body }) => {
        await services.loyalty.assertLedger(tx, body.ledger, { points: true })
        await services.customers.requireLive(tx, params.id)
        const result = await services.loyalty.ensureAccount(tx, params.id, body.ledger)
        return { status: result.created ? 201 : 200, body: result }
      },
      mergeCustomers: async ({ tx, params, body }) => mergeCustomers(tx, services, params.id, body.sourceId),
      undoMerge: async ({ tx, params }) => undoMerge(tx, services, params.id),
      exportCustomer: async ({ db, params }) => exportPerson(db, services, params.id),
      exportMe: async ({ db, principal }) => exportPerson(db, services, customerIdOf(principal)),
      eraseCustomer: async ({ tx, params }) => erasePerson(tx, services, params.id),
    }
  },
})
