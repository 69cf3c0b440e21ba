// What the dashboard's search box means. Message text is searched by words through the GIN index
// on messages.search_vector (a table scan with `ilike` took 645 ms at a million messages): every
// word typed must appear in a message, the last one may be the start of a word (so "deplo" finds
// "deploy", from three characters on), case does not matter, and punctuation separates words ("module_3.ts" is module, 3,
// ts). Instance names, a few per person, keep the substring match, "50%" meaning those characters.
import { type SQL, sql } from 'drizzle-orm'

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
 * Messages of `alias` whose text matches `words` (from searchWords). `probe` is for checking one
 * instance's messages: it hides the condition from the search index, which would otherwise be
 * read whole for every instance checked, so its few messages are read and tested instead.
 */
export const messageMatches = (alias: string, words: string, probe = false): SQL => {
  const vector = probe
    ? sql`coalesce(${sql.raw(alias)}.search_vector, ''::tsvector)`
    : sql`${sql.raw(alias)}.search_vector`
  return sql`${vector} @@ to_tsquery('simple'::regconfig, ${words})`
}
