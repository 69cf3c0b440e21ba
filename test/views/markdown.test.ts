// Agent Markdown renders as formatting, while anything that could run or load (raw HTML, script
// links, images, attribute break-outs) stays inert text.
import { describe, expect, test } from 'bun:test'
import { renderMarkdown } from '../../views/markdown.ts'

describe('renderMarkdown', () => {
  test('formatting, code and http links work; links open safely', () => {
    const html = renderMarkdown('**bold** `code` see https://example.com/a?b=1')
    expect(html).toContain('<strong>bold</strong>')
    expect(html).toContain('<code>code</code>')
    expect(html).toContain(
      '<a href="https://example.com/a?b=1" rel="noopener noreferrer nofollow" target="_blank">',
    )
  })

  test('raw HTML and hx-* attributes are escaped text', () => {
    for (const evil of [
      '<script>alert(1)</script>',
      '<img src=x onerror=alert(1)>',
      '<div hx-get="/x" hx-trigger="load">',
    ]) {
      const html = renderMarkdown(evil)
      expect(html).not.toContain('<script')
      expect(html).not.toContain('<img')
      expect(html).not.toContain('<div')
      expect(html).toContain('&lt;')
    }
  })

  test('script and data links are not links; images are not loaded', () => {
    for (const link of [
      '[x](javascript:alert(1))',
      '[x](JAVASCRIPT:alert(1))',
      '[x](data:text/html,hi)',
      '[x](vbscript:x)',
    ]) {
      expect(renderMarkdown(link)).not.toContain('<a')
    }
    expect(renderMarkdown('![pixel](https://tracker.example/p.png)')).not.toContain('<img')
  })

  test('quotes cannot break out of attributes', () => {
    const html = renderMarkdown(
      '[a](https://x.example "t\\" onclick=\\"alert(1)")\n\n```js" onmouseover="x\ncode\n```',
    )
    // The quotes stay inside the attribute values as &quot;: no new attribute starts.
    expect(html).toContain('title="t&quot; onclick=&quot;alert(1)"')
    expect(html).not.toMatch(/\son\w+="/)
  })
})
