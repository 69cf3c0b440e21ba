// Live updates arrive as htmx 4 <hx-partial> elements: each names the element it replaces or
// extends and how. Targets and swap styles are our own constants; `html` is already-rendered,
// already-escaped markup from our views.
export const hxPartial = (target: string, swap: string, html: string) =>
  `<hx-partial hx-target="${target}" hx-swap="${swap}">${html}</hx-partial>`
