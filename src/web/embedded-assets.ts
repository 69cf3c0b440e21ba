// Which embedded file serves each browser asset in the compiled executable: asset name -> path from
// the project root. Empty when run from sources, where assets.ts finds the files itself;
// `bun run build` replaces this module with the list it embedded (scripts/build.ts).
export const embeddedAssets: Readonly<Record<string, string>> = {}
