// Runs an interactive command-line UI in Bun's built-in pseudo-terminal, keeping what it drew and
// answering the one terminal query such UIs wait on (where the cursor is).

export type TerminalRun = {
  /** Everything drawn so far, escape sequences and all. */
  screen: () => string
  type(text: string): void
  exited: Promise<number>
  stop(): Promise<void>
}

export function runInTerminal(
  cmd: string[],
  opts: { cwd: string; env: Record<string, string> },
): TerminalRun {
  let screen = ''
  const decoder = new TextDecoder()
  const proc = Bun.spawn(cmd, {
    cwd: opts.cwd,
    env: { TERM: 'xterm-256color', ...opts.env },
    terminal: {
      cols: 120,
      rows: 40,
      data(term, data) {
        const text = decoder.decode(data, { stream: true })
        screen += text
        if (text.includes('\x1b[6n')) term.write('\x1b[1;1R')
      },
    },
  })
  return {
    screen: () => screen,
    type: (text) => proc.terminal!.write(text),
    exited: proc.exited,
    async stop() {
      proc.kill()
      await proc.exited
    },
  }
}
