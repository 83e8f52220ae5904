import type { FastifyBaseLogger, FastifyReply, FastifyRequest } from 'fastify'
import type { AnswerOf, BodyOf, OperationId, ParamsOf, QueryOf, ResultOf, RouteSpec, Routes } from '@his-her/contract'
import type { HubConfig } from './config.js'
import type { ConfigSection } from './config-section.js'
import type { Executor, Tx } from './db/executor.js'
import type { HubDatabase } from './db/create-database.js'
import type { Principal } from './auth/principal.js'

/**
 * The services of every module, by name. Each domain adds its own from its `index.ts`
 * (`declare module '../module.js' { interface Services { customers: CustomerService } }`).
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface Services {}

export interface ServiceContext {
  config: HubConfig
  /** The time: `() => new Date()`, or a clock a test moves. */
  clock: () => Date
  /** The services of the modules listed before this one. */
  services: Services
  log: FastifyBaseLogger
}

export interface StartContext {
  db: Executor
  /** The database itself (to listen for its notifications). */
  database: HubDatabase
  /**
   * Registers work for the start of shutdown, before the requests in flight are awaited (a
   * request that waits for something, such as a long poll, is ended by it).
   */
  onClosing(fn: () => void): void
  config: HubConfig
  services: Services
  log: FastifyBaseLogger
  /**
   * `false` for a command (`customer-hub import`, `ledger`, …): the module prepares what requests
   * need (ledgers, their lanes) but starts none of a serving hub's background work — deliveries,
   * NATS, taking over imports, the feed's listener, timers.
   */
  background: boolean
}

/** What a route handler is given. */
export type HandlerContext<R extends RouteSpec> = {
  params: ParamsOf<R>
  query: QueryOf<R>
  body: BodyOf<R>
  /** Who is calling; undefined on a public route. */
  principal: R['access'] extends 'public' ? Principal | undefined : Principal
  request: FastifyRequest
  /** For headers of the answer; its status and body are the handler's result. */
  reply: FastifyReply
} & (R['method'] extends 'GET'
  ? { /** Reads run on the database. */ db: Executor }
  : R extends { upload: readonly string[] }
    ? { /** An upload (its body is a stream: `request.body`) opens the transactions it needs. */ db: Executor }
    : R['access'] extends 'public'
    ? { /** A public write opens the transactions it needs (see `withTransaction`). */ db: Executor }
    : { /** The request's transaction: the effect, its events and the Idempotency-Key answer commit together. */ tx: Tx })

type IsUnion<T, U = T> = T extends unknown ? ([U] extends [T] ? false : true) : never

/** A handler answers with the body when its route has one success status, else with `{ status, body }`. */
export type Handler<R extends RouteSpec> = (
  ctx: HandlerContext<R>,
) => Promise<true extends IsUnion<keyof R['responses']> ? AnswerOf<R> : ResultOf<R>>

/**
 * The answer of a write keyed by an idempotency key in its body (a ledger transaction, a coupon
 * redemption): 201 when it took effect now, 200 with `Idempotent-Replayed: true` when it is the
 * first request's answer again.
 */
export function postedAnswer<T>(posted: { result: T; replayed: boolean }, reply: { header(name: string, value: string): unknown }): { status: 200 | 201; body: T } {
  if (posted.replayed) reply.header('idempotent-replayed', 'true')
  return { status: posted.replayed ? 200 : 201, body: posted.result }
}

/** A handler for every operation of the route table. */
export type Handlers = { [K in OperationId]: Handler<Routes[K]> }

/**
 * One domain of the hub: its tables, migrations, configuration, services and route handlers.
 * `buildApp` registers the list in `modules.ts`; adding a domain is a folder and a line there.
 *
 * Rules a module keeps:
 * - its tables (`tables`) are read and written only by the files of its folder and by `flows/`;
 *   other domains call its services;
 * - its write functions take the transaction they run on (`Tx`) and never open one;
 * - its migrations are numbered in the one sequence shared by all modules (see `db/migrate.ts`).
 */
export interface HubModule {
  readonly name: string
  /** The folder under `src/` that owns the tables. */
  readonly folder: string
  readonly tables: readonly string[]
  /** The folder of its `.sql` migrations. */
  readonly migrations?: URL
  /** Its section of the configuration. */
  readonly config?: ConfigSection<any>
  /** Makes its services; those of the modules before it in the list exist already. */
  services?(ctx: ServiceContext): Partial<Services>
  /** Its route handlers, by operation id of the contract's route table. */
  handlers?(services: Services, config: HubConfig): Partial<Handlers>
  /** Work at start-up, once the database is migrated; may give back what stops it at shutdown. */
  start?(ctx: StartContext): Promise<void | (() => Promise<void> | void)>
}

/** Declares a module (an identity function that checks its shape). */
export function defineModule(module: HubModule): HubModule {
  return module
}
