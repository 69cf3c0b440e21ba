// Agent Markdown to HTML. Agents are untrusted, so this is markdown-it (widely used, CommonMark,
// escapes everything it does not itself produce) with raw HTML off, links limited to http(s) and
// mailto, and images off (a remote image would let an agent track who reads it). Everything it
// returns sits inside an `hx-ignore` container on the page, so no htmx attribute can come alive.
import MarkdownIt from 'markdown-it'

const SAFE_LINK = /^(https?:|mailto:)/i

const md = new MarkdownIt({ html: false, linkify: true, breaks: true, typographer: false })
md.disable(['image'])
md.validateLink = (url: string) => SAFE_LINK.test(url.trim())

const defaultLinkOpen =
  md.renderer.rules.link_open ??
  ((tokens, idx, options, _env, self) => self.renderToken(tokens, idx, options))
md.renderer.rules.link_open = (tokens, idx, options, env, self) => {
  tokens[idx]?.attrSet('rel', 'noopener noreferrer nofollow')
  tokens[idx]?.attrSet('target', '_blank')
  return defaultLinkOpen(tokens, idx, options, env, self)
}

/** Safe HTML for an agent message (already escaped: render it as is). */
export const renderMarkdown = (text: string): string => md.render(text)

type Token = ReturnType<typeof md.parse>[number]

/**
 * The words of agent Markdown without its marks, on one line: for previews and titles, where
 * `**2 to destroy**` must read "2 to destroy". Link text stays, URLs go; code keeps its text.
 * Plain text, so the caller still escapes it.
 */
export function markdownToPlain(text: string): string {
  const words: string[] = []
  const walk = (tokens: Token[]) => {
    for (const t of tokens) {
      if (t.children) walk(t.children)
      else if (t.type === 'text' || t.type === 'code_inline' || t.type === 'fence' || t.type === 'code_block')
        words.push(t.content)
      else if (t.type === 'softbreak' || t.type === 'hardbreak' || t.block) words.push(' ')
    }
  }
  walk(md.parse(text, {}))
  return words.join('').replace(/\s+/g, ' ').trim()
}
