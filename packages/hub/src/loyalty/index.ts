import { sql } from 'kysely'
import { defineModule, postedAnswer as answer } from '../module.js'
import { withTransaction, type Executor } from '../db/executor.js'
import { HubError } from '../errors.js'
import type { Principal } from '../auth/principal.js'
import { createLoyaltyService, type LoyaltyService } from './loyalty-service.js'
import { createLedgerStore, type LedgerStore } from './ledger-store.js'
import { createLedgerService, HOUSE_PROVIDER, type LedgerService } from './ledger-service.js'
import { createLedgerReads, type LedgerReads } from './ledger-reads.js'
import { createValueAccounts, type ValueAccounts } from './value-accounts.js'
import { createLedgerRedaction, type LedgerRedaction } from './ledger-redaction.js'
import { defaultLedger, ledgerSection } from './settings.js'
import './tables.js'

declare module '../module.js' {
  interface Services {
    loyalty: LoyaltyService
    ledger: LedgerService
    ledgerReads: LedgerReads
    ledgerStore: LedgerStore
    valueAccounts: ValueAccounts
    ledgerRedaction: LedgerRedaction
  }
}

/** Any fixed number: one hub process at a time settles what fell due. */
const SETTLE_LOCK = 7_302_114_552
/** How often a hub looks for lots that expired, return windows that ended and holds that timed out. */
export const SETTLE_INTERVAL_MS = 30_000

/**
 * Settles every account that fell due, in batches of one transaction each, while this process
 * holds the advisory lock (another process doing it meanwhile makes this one skip); returns how
 * many accounts it settled.
 */
export async function settleDueAccounts(db: Executor, ledger: LedgerService, only?: string): Promise<number> {
  let total = 0
  for (;;) {
    const n = await withTransaction(db, async (tx) => {
      const { rows } = await sql<{ locked: boolean }>`SELECT pg_try_advisory_xact_lock(${SETTLE_LOCK}) AS locked`.execute(tx)
      if (!rows[0]!.locked) return 0
      return ledger.settleDue(tx, 100, only)
    })
    total += n
    if (n < 100) return total
  }
}

/** A customer's token reads only the customer's own accounts. */
const ownerOf = (principal: Principal): string | undefined => (principal.kind === 'customer' ? principal.customerId : undefined)

/** Points ledgers: reward accounts, double-entry transactions, lots, holds. */
export const loyaltyModule = defineModule({
  name: 'loyalty',
  folder: 'loyalty',
  tables: ['ledgers', 'reward_accounts', 'ledger_transactions', 'ledger_entries', 'ledger_lots', 'ledger_lot_uses', 'ledger_holds'],
  migrations: new URL('./migrations/', import.meta.url),
  config: ledgerSection,
  services: ({ services, config, clock }) => {
    const loyalty = createLoyaltyService({ events: services.events })
    const store = createLedgerStore({ events: services.events, clock, secret: config.secret ?? '' })
    const ledger = createLedgerService({
      store,
      events: services.events,
      customers: services.customers,
      ledgers: config.ledgers,
      secret: config.secret ?? '', // buildApp refuses to start without one
      clock,
      ensureAccount: (tx, customerId, handle) => loyalty.ensureAccount(tx, customerId, handle),
    })
    return {
      loyalty,
      ledger,
      ledgerReads: createLedgerReads({ store, clock }),
      ledgerStore: store,
      valueAccounts: createValueAccounts({ store, ledger, clock }),
      ledgerRedaction: createLedgerRedaction(config.secret ?? ''),
    }
  },
  handlers: ({ ledger, ledgerReads, loyalty, providers }) => {
    const settings = async (db: Executor, handle: string, points = false) => {
      await loyalty.assertLedger(db, handle, { points })
      return ledger.settingsOf(db, handle)
    }
    return {
      getLedger: async ({ db, params }) => ledgerReads.ledger(db, await settings(db, params.ledger)),
      postTransaction: async ({ tx, params, body, principal, reply }) => {
        await settings(tx, params.ledger, true)
        switch (body.kind) {
          case 'earn':
            // points a provider grants are its liability: it must exist and be active
            if (body.providerId !== undefined) {
              const status = await providers.statusForUse(tx, body.providerId)
              if (status !== 'active') throw new HubError(status === 'suspended' ? 'SELLER_SUSPENDED' : 'SELLER_TERMINATED', `The provider ${body.providerId} is ${status}.`)
            }
            return answer(await ledger.earn(tx, params.ledger, body), reply)
          case 'spend':
            return answer(await ledger.spend(tx, params.ledger, body), reply)
          case 'adjust':
            if (principal.role !== 'admin') throw new HubError('FORBIDDEN', 'Only an admin token adjusts points.')
            return answer(await ledger.adjust(tx, params.ledger, body), reply)
          case 'transfer':
            return answer(await ledger.transfer(tx, params.ledger, body), reply)
        }
      },
      getTransaction: async ({ db, params }) => {
        await settings(db, params.ledger)
        return ledger.transaction(db, params.ledger, params.id)
      },
      reverseTransaction: async ({ tx, params, body, reply }) => {
        await settings(tx, params.ledger, true)
        return answer(await ledger.reverse(tx, params.ledger, params.id, body), reply)
      },
      createHold: async ({ tx, params, body, reply }) => {
        await settings(tx, params.ledger, true)
        return answer(await ledger.hold(tx, params.ledger, body), reply)
      },
      getHold: async ({ db, params }) => ledger.getHold(db, params.id),
      captureHold: async ({ tx, params, body }) => ledger.capture(tx, params.id, body?.amount),
      voidHold: async ({ tx, params }) => ledger.void(tx, params.id),
      listEntries: async ({ db, params, query, principal }) => {
        await settings(db, params.ledger)
        await ledgerReads.requireAccount(db, params.ledger, params.id, ownerOf(principal))
        return ledgerReads.entries(db, params.id, query.cursor, query.limit)
      },
      accountBalance: async ({ db, params, query, principal }) => {
        await settings(db, params.ledger)
        await ledgerReads.requireAccount(db, params.ledger, params.id, ownerOf(principal))
        return ledgerReads.balanceAt(db, params.id, query.at === undefined ? undefined : new Date(query.at))
      },
      verifyLedger: async ({ db, params }) => {
        await settings(db, params.ledger)
        return ledgerReads.verify(db, params.ledger)
      },
    }
  },
  start: async ({ db, services, config, log, background }) => {
    const declared = config.ledgers.some((l) => l.handle === 'reward-points') ? config.ledgers : [defaultLedger('reward-points'), ...config.ledgers]
    const prepare = () =>
      withTransaction(db, async (tx) => {
        await services.loyalty.ensureConfigured(tx, declared)
        for (const l of declared) await services.ledgerStore.ensureLanes(tx, l.handle, HOUSE_PROVIDER)
      })
    if (config.ledgers.length > 0) await prepare()
    else {
      // reward-points exists from its migration, and postings make lanes they miss: a database
      // that is down at start-up is no reason to refuse to start (the hub answers 503 meanwhile)
      await prepare().catch((err: unknown) => log.warn({ err }, 'could not prepare the ledgers at start-up; they are prepared on first use'))
    }
    if (!background) return
    let running: Promise<unknown> = Promise.resolve()
    const timer = setInterval(() => {
      running = settleDueAccounts(db, services.ledger).catch((err: unknown) => log.error({ err }, 'settling due ledger accounts failed; retried at the next interval'))
    }, SETTLE_INTERVAL_MS)
    timer.unref()
    return async () => {
      clearInterval(timer)
      await running
    }
  },
})
