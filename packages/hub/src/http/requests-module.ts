import { defineModule } from '../module.js'
import { httpSection } from './settings.js'
import { createAnswerRedaction, type AnswerRedaction } from './answer-redaction.js'
import './requests-tables.js'

declare module '../module.js' {
  interface Services {
    /** An erase's part here: the person's data rewritten out of the kept answers. */
    answerRedaction: AnswerRedaction
  }
}

/**
 * The HTTP layer's own table: the Idempotency-Key answers, written by the unit of work
 * (`unit-of-work.ts`) and swept after 48 hours; and its section of the configuration (`http:`,
 * which proxies are trusted to name the client).
 */
export const requestsModule = defineModule({
  name: 'requests',
  folder: 'http',
  tables: ['idempotency_keys'],
  migrations: new URL('./migrations/', import.meta.url),
  config: httpSection,
  services: ({ config }) => ({ answerRedaction: createAnswerRedaction(config.secret ?? '') }),
})
