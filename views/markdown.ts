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
