// The git diff an agent sends becomes a file list with counts and numbered hunk lines.
import { describe, expect, test } from 'bun:test'
import { parseDiff } from '../../src/core/diff-parse.ts'

const DIFF = `diff --git a/src/app.ts b/src/app.ts
index 1111111..2222222 100644
--- a/src/app.ts
+++ b/src/app.ts
@@ -10,4 +10,5 @@ export function createApp() {
 const a = 1
-const b = 2
+const b = 3
+const c = 4
 return a
\\ No newline at end of file
diff --git a/docs/new.md b/docs/new.md
new file mode 100644
index 0000000..3333333
--- /dev/null
+++ b/docs/new.md
@@ -0,0 +1,2 @@
+# New
+text
diff --git a/old.txt b/renamed.txt
similarity index 90%
rename from old.txt
rename to renamed.txt
diff --git a/gone.ts b/gone.ts
deleted file mode 100644
--- a/gone.ts
+++ /dev/null
@@ -1 +0,0 @@
-bye`

describe('parseDiff', () => {
  test('files with their kind of change and line counts', () => {
    const files = parseDiff(DIFF)
    expect(files.map((f) => [f.path, f.change, f.additions, f.deletions])).toEqual([
      ['src/app.ts', 'modified', 2, 1],
      ['docs/new.md', 'added', 2, 0],
      ['renamed.txt', 'renamed', 0, 0],
      ['gone.ts', 'deleted', 0, 1],
    ])
    expect(files[2]!.oldPath).toBe('old.txt')
  })

  test('hunk lines carry old and new line numbers', () => {
    const [app] = parseDiff(DIFF)
    const lines = app!.hunks[0]!.lines
    expect(lines.map((l) => [l.kind, l.oldNo, l.newNo, l.text])).toEqual([
      ['ctx', 10, 10, 'const a = 1'],
      ['del', 11, null, 'const b = 2'],
      ['add', null, 11, 'const b = 3'],
      ['add', null, 12, 'const c = 4'],
      ['ctx', 12, 13, 'return a'],
      ['note', null, null, '\\ No newline at end of file'],
    ])
    expect(app!.hunks[0]!.header).toStartWith('@@ -10,4 +10,5 @@')
  })

  test('nothing or garbage gives no files', () => {
    expect(parseDiff(null)).toEqual([])
    expect(parseDiff('just some text\n+ not a diff')).toEqual([])
  })
})
