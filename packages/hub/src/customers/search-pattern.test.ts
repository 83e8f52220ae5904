import { describe, expect, it } from 'vitest'
import { indexPart, likeTrigrams } from './search-pattern.js'

describe('the trigrams of a LIKE part, as pg_trgm reads them', () => {
  it('gives the windows of each word, padded only where a non-word character inside the part borders it', () => {
    expect(likeTrigrams('first1234').sort()).toEqual(['234', '123', 'fir', 'irs', 'rst', 'st1', 't12'].sort())
    // '@' ends the first word (one space after it) and starts the second (two spaces before it)
    expect(likeTrigrams('p12@scale').sort()).toEqual(['p12', '12 ', '  s', ' sc', 'sca', 'cal', 'ale'].sort())
    expect(likeTrigrams('ab')).toEqual([])
    expect(likeTrigrams('-1')).toEqual(['  1'])
    expect(likeTrigrams('émile').sort()).toEqual(['émi', 'mil', 'ile'].sort())
  })
})

describe('the part of a fragment given to the trigram index', () => {
  const common = new Map(['fir', 'irs', 'rst', 'sca', 'cal', 'ale', '  s', ' sc'].map((t) => [t, 0.9]))

  it('is the longest part whose trigrams are all uncommon', () => {
    expect(indexPart('first1234', common)).toBe('st1234')
    expect(indexPart('p12345@scale', common)).toBe('p12345@')
  })

  it('is the whole fragment when it has no common trigram, has only common ones, or nothing is known', () => {
    expect(indexPart('nguyen', common)).toBe('nguyen')
    expect(indexPart('first', common)).toBe('first')
    expect(indexPart('first1234', new Map())).toBe('first1234')
    expect(indexPart('ab', common)).toBe('ab')
  })
})
