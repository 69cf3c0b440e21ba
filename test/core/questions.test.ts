// Question formats: explicit options, Omnara's [YES/NO] and [OPTIONS] blocks, only at the end.
import { describe, expect, test } from 'bun:test'
import { normalizeGitDiff } from '../../src/core/git-diff.ts'
import { parseQuestion } from '../../src/core/questions.ts'
import { canonicalUuid, omnaraTime } from '../../src/core/wire.ts'

describe('parseQuestion', () => {
  test('explicit options win', () => {
    expect(parseQuestion('Pick [YES/NO]', ['a', 'b'])).toEqual({ text: 'Pick [YES/NO]', options: ['a', 'b'] })
  })
  test('trailing [YES/NO]', () => {
    expect(parseQuestion('Deploy now?\n\n[YES/NO]  \n')).toEqual({
      text: 'Deploy now?',
      options: ['Yes', 'No'],
    })
  })
  test('[YES/NO] in the middle is just text', () => {
    expect(parseQuestion('Say [YES/NO] later').options).toBeNull()
  })
  test('[OPTIONS] block: numbered lines, others ignored, numbers dropped', () => {
    const q = parseQuestion(
      'Which?\n[OPTIONS]\n1. Postgres\n2.SQLite \nnot an option\n10. Both\n[/OPTIONS]\n',
    )
    expect(q).toEqual({ text: 'Which?', options: ['Postgres', 'SQLite', 'Both'] })
  })
  test('open question', () => {
    expect(parseQuestion('  What next?  ')).toEqual({ text: 'What next?', options: null })
  })
})

describe('wire formats', () => {
  test('timestamps are naive UTC with microseconds', () => {
    expect(omnaraTime('2025-10-01 17:03:11.4829+00')).toBe('2025-10-01T17:03:11.482900')
    expect(omnaraTime('2025-10-01 17:03:11+00')).toBe('2025-10-01T17:03:11')
  })
  test('uuids are accepted as Postgres accepts them and canonicalised', () => {
    expect(canonicalUuid('{D941C21FCC7C4260B1A9867D405DEA33}')).toBe('d941c21f-cc7c-4260-b1a9-867d405dea33')
    expect(canonicalUuid('d941c21f-cc7c')).toBeNull()
  })
  test('git diffs: plain diff kept, huge diff truncated', () => {
    const diff = 'diff --git a/a b/a\nnew file mode 100644\n--- a/a\n+++ b/a\n@@ -0,0 +1 @@\n+x'
    expect(normalizeGitDiff(diff)).toBe(diff)
    const huge = normalizeGitDiff(`${diff}\n+${'y'.repeat(1_100_000)}`)!
    expect(huge.length).toBe(1_048_476 + '\n\n... [TRUNCATED - DIFF TOO LARGE] ...'.length)
    expect(huge.endsWith('[TRUNCATED - DIFF TOO LARGE] ...')).toBe(true)
    expect(normalizeGitDiff(null)).toBeUndefined()
    expect(normalizeGitDiff('   ')).toBe('')
  })
})
