// What the dashboard's search box means. Message text is searched by words through a GIN index on
// messages.search_vector and the owner (a table scan with `ilike` took 645 ms at a million
// messages): every word typed must appear in a message, the last one may be the start of a word
// (so "deplo" finds "deploy", from three characters on), case does not matter, and punctuation
// separates words ("module_3.ts" is module, 3, ts). Instance names, a few per person, keep the substring match, "50%" meaning those characters.
import { type SQL, sql } from 'drizzle-orm'
import { ownedSearchVector, ownerQuery } from '../db/schema.ts'

/**
 * What separates words: anything but a letter, digit or combining mark. Wider than the ASCII
 * punctuation search_vector replaces with spaces, as Postgres's parser also splits at "’", "…" or
 * "—" when it reads the text; a query term holding one would become a phrase, which never matches
 * the stripped vector.
 */
const SEPARATORS = /[^\p{L}\p{N}\p{M}]+/u
/**
 * A shorter last word is a whole word: the start of one or two letters matches a large share of
 * all words, and the index reads every one of them (`'ts':*` cost four times `'ts'`).
 */
const MIN_PREFIX = 3

/**
 * The words of `q` as a to_tsquery text ('a' & 'b':*), or null when it has none (only
 * punctuation). Words never contain a quote or any operator: those are separators.
 */
export function searchWords(q: string): string | null {
  const words = q.split(SEPARATORS).filter(Boolean)
  const last = words.at(-1)
  if (!last) return null
  // Still typing the last word unless the text ends with a separator ("50%", "fix ").
  const typing = SEPARATORS.test(q.slice(-1)) === false && [...last].length >= MIN_PREFIX
  const terms = words.map((w) => `'${w}'`)
  if (typing) terms[terms.length - 1] += ':*'
  return terms.join(' & ')
}

/**
 * Messages of `alias` owned by `owner` whose text matches `words` (from searchWords), found through
 * the search index, which holds each message's owner beside its words (ownedSearchVector), so it
 * reads that person's matches only. `owner` is a user id, or an SQL expression giving one.
 */
export const ownMessageMatches = (alias: string, words: string, owner: string | SQL): SQL => {
  const m = (column: string) => sql.raw(`${alias}.${column}`)
  return sql`${ownedSearchVector(m('search_vector'), m('user_id'))} @@ (to_tsquery('simple'::regconfig, ${words}) && ${ownerQuery(owner)})
    and ${m('user_id')} = ${owner}`
}

/**
 * Messages of `alias` whose text matches `words`, tested row by row: for checking one instance's
 * few messages, read through its own index, where the search index would be read whole.
 */
export const messageMatches = (alias: string, words: string): SQL =>
  sql`${sql.raw(alias)}.search_vector @@ to_tsquery('simple'::regconfig, ${words})`
